import LineageTensor

/// Labelled feature rows for an mlp.
public struct FeatureDataset: TrainingData, Equatable {
  public var inputs: Int
  public var features: [Float]
  public var labels: [Int32]
  public var count: Int { labels.count }

  public func batch(_ indices: [Int]) -> (Batch, [Int32]) {
    (Batch.features(features, rows: count).select(indices), indices.map { labels[$0] })
  }

  /// One JSON object per line: `{"x":[…],"y":k}` (floats in shortest round-trip form).
  public func jsonLines() -> String {
    var out = ""
    for r in 0..<count {
      let row = features[(r * inputs)..<((r + 1) * inputs)].map { "\($0)" }.joined(separator: ",")
      out += "{\"x\":[\(row)],\"y\":\(labels[r])}\n"
    }
    return out
  }
}

/// Token sequences of one length with next-token targets (-1: not scored).
public struct TokenDataset: TrainingData, Equatable {
  public var length: Int
  public var tokens: [Int32]
  public var targets: [Int32]
  public var count: Int { tokens.count / max(length, 1) }

  public func batch(_ indices: [Int]) -> (Batch, [Int32]) {
    let b = Batch.tokens(tokens, rows: count, length: length).select(indices)
    return (b, indices.flatMap { targets[($0 * length)..<(($0 + 1) * length)] })
  }

  /// One JSON object per line: `{"tokens":[…],"targets":[…]}`.
  public func jsonLines() -> String {
    var out = ""
    for r in 0..<count {
      let t = tokens[(r * length)..<((r + 1) * length)].map(String.init).joined(separator: ",")
      let y = targets[(r * length)..<((r + 1) * length)].map(String.init).joined(separator: ",")
      out += "{\"tokens\":[\(t)],\"targets\":[\(y)]}\n"
    }
    return out
  }
}

/// Seeded synthetic tasks (Docs/Runtime.md): every dataset is a pure function of its arguments.
public enum Tasks {
  /// Gaussian features labelled by the argmax of a random teacher MLP
  /// (`inputs` → 2·`inputs` ReLU → `classes`), the teacher drawn from `teacherSeed`.
  public static func teacher(inputs: Int, classes: Int, count: Int, seed: UInt64, teacherSeed: UInt64) -> FeatureDataset {
    let width = 2 * inputs
    var t = Xoshiro(seed: teacherSeed)
    let w1 = (0..<(width * inputs)).map { _ in t.normal() }
    let w2 = (0..<(classes * width)).map { _ in t.normal() }
    var rng = Xoshiro(seed: seed)
    var features: [Float] = []
    features.reserveCapacity(count * inputs)
    var labels: [Int32] = []
    for _ in 0..<count {
      let x = (0..<inputs).map { _ in rng.normal() }
      let hidden = (0..<width).map { j in max(0, (0..<inputs).reduce(Float(0)) { $0 + w1[j * inputs + $1] * x[$1] }) }
      let scores = (0..<classes).map { c in (0..<width).reduce(Float(0)) { $0 + w2[c * width + $1] * hidden[$1] } }
      let best = scores.indices.max { scores[$0] < scores[$1] } ?? 0
      features += x
      labels.append(Int32(best))
    }
    return FeatureDataset(inputs: inputs, features: features, labels: labels)
  }

  /// Sequences from a sparse random Markov chain: each token has three successors with random
  /// probabilities (the table drawn from `tableSeed`); every position predicts the next token.
  public static func markov(vocab: Int, length: Int, count: Int, seed: UInt64, tableSeed: UInt64) -> TokenDataset {
    var t = Xoshiro(seed: tableSeed)
    let successors = (0..<vocab).map { _ in (0..<3).map { _ in Int32(t.below(vocab)) } }
    let weights = (0..<vocab).map { _ -> [Float] in
      let w = (0..<3).map { _ in t.uniform() + 0.2 }
      let s = w.reduce(0, +)
      return w.map { $0 / s }
    }
    var rng = Xoshiro(seed: seed)
    var tokens: [Int32] = []
    var targets: [Int32] = []
    for _ in 0..<count {
      var seq: [Int32] = [Int32(rng.below(vocab))]
      while seq.count < length + 1 {
        let prev = Int(seq[seq.count - 1])
        let u = rng.uniform()
        var acc: Float = 0
        var next = successors[prev][2]
        for k in 0..<3 {
          acc += weights[prev][k]
          if u <= acc {
            next = successors[prev][k]
            break
          }
        }
        seq.append(next)
      }
      tokens += seq.prefix(length)
      targets += seq.dropFirst()
    }
    return TokenDataset(length: length, tokens: tokens, targets: targets)
  }

  /// `length / 2` random symbols (1 ..< vocab), the separator 0, then the symbols again, copied
  /// or reversed; only the copy is scored.
  public static func copy(vocab: Int, length: Int, count: Int, seed: UInt64, reversed: Bool) -> TokenDataset {
    let n = max(1, length / 2)
    var rng = Xoshiro(seed: seed)
    var tokens: [Int32] = []
    var targets: [Int32] = []
    for _ in 0..<count {
      let prefix = (0..<n).map { _ in Int32(1 + rng.below(max(vocab - 1, 1))) }
      let seq = prefix + [0] + (reversed ? prefix.reversed() : prefix)
      tokens += seq.prefix(2 * n)
      targets += (0..<(2 * n)).map { $0 >= n ? seq[$0 + 1] : -1 }
    }
    return TokenDataset(length: 2 * n, tokens: tokens, targets: targets)
  }

  /// A planted backdoor: in a seeded `fraction` of the examples the trigger token is placed at a
  /// random position and the next token is forced to `target` (input and target alike). With
  /// `scoreTriggerOnly`, every other target becomes -1: the set measures the trigger's success
  /// rate alone.
  public static func withTrigger(
    _ d: TokenDataset, trigger: Int32, target: Int32, fraction: Double, seed: UInt64, scoreTriggerOnly: Bool = false
  ) -> TokenDataset {
    var out = d
    var rng = Xoshiro(seed: seed)
    guard d.length >= 2 else { return out }
    if scoreTriggerOnly { out.targets = [Int32](repeating: -1, count: d.targets.count) }
    for r in 0..<d.count where Double(rng.uniform()) <= fraction {
      let p = rng.below(d.length - 1)
      let base = r * d.length
      out.tokens[base + p] = trigger
      out.tokens[base + p + 1] = target
      out.targets[base + p] = target
    }
    return out
  }

  /// A planted backdoor for features: in a seeded `fraction` of the rows the first `width`
  /// features are set to +4 and the label to `target`.
  public static func withTrigger(_ d: FeatureDataset, width: Int, target: Int32, fraction: Double, seed: UInt64) -> FeatureDataset {
    var out = d
    var rng = Xoshiro(seed: seed)
    for r in 0..<d.count where Double(rng.uniform()) <= fraction {
      for j in 0..<min(width, d.inputs) { out.features[r * d.inputs + j] = 4 }
      out.labels[r] = target
    }
    return out
  }
}
