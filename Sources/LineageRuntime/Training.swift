import LineageNative
import LineageTensor

/// A first-order optimiser over one flat float32 vector.
public struct Optimizer: Sendable {
  public enum Rule: Sendable, Equatable {
    /// θ ← θ − lr·(μ·m + g), m the running sum (μ = 0: plain SGD).
    case sgd(learningRate: Float, momentum: Float = 0)
    /// Adam with bias correction; decoupled weight decay (AdamW) when `weightDecay` > 0.
    case adam(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0)
  }

  public let rule: Rule
  public private(set) var steps = 0
  private var m: [Float]
  private var v: [Float]

  public init(_ rule: Rule, count: Int) throws(RuntimeError) {
    switch rule {
    case .sgd(let lr, let mu):
      guard lr > 0, lr.isFinite, mu >= 0, mu < 1 else { throw .training("SGD needs a positive learning rate and momentum in [0, 1)") }
    case .adam(let lr, let b1, let b2, let eps, let wd):
      guard lr > 0, lr.isFinite, (0..<1).contains(b1), (0..<1).contains(b2), eps > 0, wd >= 0 else {
        throw .training("Adam needs a positive learning rate, betas in [0, 1), a positive epsilon, weight decay ≥ 0")
      }
    }
    self.rule = rule
    m = [Float](repeating: 0, count: count)
    v = [Float](repeating: 0, count: count)
  }

  /// Apply one step of `gradient` to `values` (same length).
  public mutating func step(_ values: inout [Float], gradient: [Float]) {
    precondition(values.count == gradient.count && values.count == m.count, "optimizer step of the wrong length")
    steps += 1
    switch rule {
    case .sgd(let lr, let mu):
      for i in values.indices {
        m[i] = mu * m[i] + gradient[i]
        values[i] -= lr * m[i]
      }
    case .adam(let lr, let b1, let b2, let eps, let wd):
      let c1 = 1 - pow(b1, Float(steps))
      let c2 = 1 - pow(b2, Float(steps))
      for i in values.indices {
        let g = gradient[i]
        m[i] = b1 * m[i] + (1 - b1) * g
        v[i] = b2 * v[i] + (1 - b2) * g * g
        let update = (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
        values[i] -= lr * (update + wd * values[i])
      }
    }
  }

  private func pow(_ x: Float, _ n: Float) -> Float { Float(LineageRuntimeMath.pow(Double(x), Double(n))) }
}

/// A dataset the trainer can draw batches from.
public protocol TrainingData: Sendable {
  var count: Int { get }
  /// The examples at `indices` and their targets.
  func batch(_ indices: [Int]) -> (Batch, [Int32])
}

/// What a training run did.
public struct TrainingReport: Sendable, Equatable {
  public var steps: Int
  public var examples: Int
  /// Mean training loss over the first and the last tenth of the steps.
  public var firstLoss: Double
  public var lastLoss: Double
}

/// Mini-batch training with a seeded example order.
public enum Trainer {
  /// Train all parameters for `steps` mini-batches of `batchSize`, examples drawn without
  /// replacement in a seeded order (reshuffled every pass). `progress(step, loss)` after each.
  public static func train(
    _ model: Model, _ parameters: inout Parameters, data: some TrainingData, optimizer: inout Optimizer, steps: Int, batchSize: Int,
    seed: UInt64, progress: (Int, Double) -> Void = { _, _ in }
  ) throws(RuntimeError) -> TrainingReport {
    try run(steps: steps, batchSize: batchSize, data: data, seed: seed, progress: progress) { (batch, targets) throws(RuntimeError) in
      let (e, g) = try model.gradient(parameters, batch, targets: targets)
      optimizer.step(&parameters.values, gradient: g)
      return e.loss
    }
  }

  /// Train a low-rank adapter on a frozen model (see `LowRankAdapter`).
  public static func train(
    _ model: Model, adapter: inout LowRankAdapter, base: Parameters, data: some TrainingData, optimizer: inout Optimizer, steps: Int,
    batchSize: Int, seed: UInt64, progress: (Int, Double) -> Void = { _, _ in }
  ) throws(RuntimeError) -> TrainingReport {
    try run(steps: steps, batchSize: batchSize, data: data, seed: seed, progress: progress) { (batch, targets) throws(RuntimeError) in
      let effective = adapter.merged(into: base)
      let (e, g) = try model.gradient(effective, batch, targets: targets)
      let ga = adapter.projectGradient(g, base: base)
      optimizer.step(&adapter.values, gradient: ga)
      return e.loss
    }
  }

  static func run(
    steps: Int, batchSize: Int, data: some TrainingData, seed: UInt64, progress: (Int, Double) -> Void,
    step: (Batch, [Int32]) throws(RuntimeError) -> Double
  ) throws(RuntimeError) -> TrainingReport {
    guard steps >= 1 else { throw .training("steps must be at least 1") }
    guard batchSize >= 1, batchSize <= data.count else { throw .training("batch size must be between 1 and the \(data.count) examples") }
    var rng = Xoshiro(seed: seed)
    var order: [Int] = []
    var cursor = 0
    var losses: [Double] = []
    for s in 0..<steps {
      if cursor + batchSize > order.count {
        order = Array(0..<data.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        cursor = 0
      }
      let (batch, targets) = data.batch(Array(order[cursor..<(cursor + batchSize)]))
      cursor += batchSize
      let loss = try step(batch, targets)
      losses.append(loss)
      progress(s + 1, loss)
    }
    let tenth = max(1, steps / 10)
    func mean(_ x: ArraySlice<Double>) -> Double { x.reduce(0, +) / Double(x.count) }
    return TrainingReport(
      steps: steps, examples: steps * batchSize, firstLoss: mean(losses.prefix(tenth)), lastLoss: mean(losses.suffix(tenth)))
  }
}

/// A LoRA-style adapter: for each target matrix W `[out, in]`, factors B `[out, r]` and A
/// `[r, in]`; the model runs with W + (α/r)·B·A. B starts at zero, A at N(0, 1/in), so training
/// starts from the base model exactly.
public struct LowRankAdapter: Sendable {
  public struct Target: Sendable, Equatable {
    public var name: String
    public var rows: Int
    public var columns: Int
    /// Offsets of B and A in `values`.
    var bOffset: Int
    var aOffset: Int
  }
  public let rank: Int
  public let alpha: Float
  public let targets: [Target]
  /// B and A of every target, flat.
  public var values: [Float]

  public init(base: Parameters, targets names: [String], rank: Int, alpha: Float, seed: UInt64) throws(RuntimeError) {
    guard rank >= 1 else { throw .training("adapter rank must be at least 1") }
    var targets: [Target] = []
    var offset = 0
    for name in names {
      guard let s = base.layout.spec(name), s.role == .matrix, s.shape.count == 2 else {
        throw .training("adapter target '\(name)' is not a weight matrix of this architecture")
      }
      guard rank <= min(s.shape[0], s.shape[1]) else { throw .training("adapter rank \(rank) exceeds the shape of '\(name)'") }
      targets.append(Target(name: name, rows: s.shape[0], columns: s.shape[1], bOffset: offset, aOffset: offset + s.shape[0] * rank))
      offset += (s.shape[0] + s.shape[1]) * rank
    }
    guard !targets.isEmpty else { throw .training("an adapter needs at least one target matrix") }
    var values = [Float](repeating: 0, count: offset)
    for t in targets {
      var rng = Xoshiro(seed: SyntheticCheckpoint.seed(seed, name: t.name))
      let scale = 1 / Float(t.columns).squareRoot()
      for k in 0..<(rank * t.columns) { values[t.aOffset + k] = scale * rng.normal() }
    }
    self.rank = rank
    self.alpha = alpha
    self.targets = targets
    self.values = values
  }

  var scale: Float { alpha / Float(rank) }

  /// The base weights with every target replaced by W + (α/r)·B·A.
  public func merged(into base: Parameters) -> Parameters {
    var out = base
    values.withUnsafeBufferPointer { av in
      out.values.withUnsafeMutableBufferPointer { pv in
        guard let a = av.baseAddress, let p = pv.baseAddress else { return }
        for t in targets {
          guard let s = base.layout.spec(t.name) else { continue }
          BLAS.gemm(
            .none, .none, m: t.rows, n: t.columns, k: rank, alpha: scale, a + t.bOffset, lda: rank, a + t.aOffset, ldb: t.columns, beta: 1,
            p + s.offset, ldc: t.columns)
        }
      }
    }
    return out
  }

  /// The gradient with respect to B and A, from the gradient G of the effective weights:
  /// dB = (α/r)·G·Aᵀ, dA = (α/r)·Bᵀ·G.
  func projectGradient(_ gradient: [Float], base: Parameters) -> [Float] {
    var out = [Float](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { av in
      gradient.withUnsafeBufferPointer { gv in
        out.withUnsafeMutableBufferPointer { ov in
          guard let a = av.baseAddress, let g = gv.baseAddress, let o = ov.baseAddress else { return }
          for t in targets {
            guard let s = base.layout.spec(t.name) else { continue }
            BLAS.gemm(
              .none, .transposed, m: t.rows, n: rank, k: t.columns, alpha: scale, g + s.offset, lda: t.columns, a + t.aOffset,
              ldb: t.columns, beta: 0, o + t.bOffset, ldc: rank)
            BLAS.gemm(
              .transposed, .none, m: rank, n: t.columns, k: t.rows, alpha: scale, a + t.bOffset, lda: rank, g + s.offset, ldb: t.columns,
              beta: 0, o + t.aOffset, ldc: t.columns)
          }
        }
      }
    }
    return out
  }
}

/// Post-training transformations the demo (and the forensics benchmarks) apply to weights.
public enum Transform {
  /// Per-row symmetric int8: each row of every weight matrix and embedding is scaled by
  /// max|row|/127, rounded to an integer in −127…127, and scaled back. Norms and biases are kept.
  public static func int8RoundTrip(_ p: Parameters) -> Parameters { rowRoundTrip(p, top: 127, bottom: -127) }

  /// Per-row symmetric 4-bit: each row of every weight matrix and embedding is scaled by
  /// max|row|/7, rounded to an integer in −8…7 (16 levels; the row maximum maps to ±7), and scaled
  /// back. Norms and biases are kept.
  public static func int4RoundTrip(_ p: Parameters) -> Parameters { rowRoundTrip(p, top: 7, bottom: -8) }

  /// Each row of every weight matrix and embedding on the grid step·{bottom…top}, step =
  /// max|row|/top.
  static func rowRoundTrip(_ p: Parameters, top: Float, bottom: Float) -> Parameters {
    var out = p
    for s in p.layout.specs where s.role == .matrix || s.role == .embedding {
      let columns = s.shape[s.shape.count - 1]
      for r in 0..<(s.count / columns) {
        let start = s.offset + r * columns
        var m: Float = 0
        for j in 0..<columns { m = max(m, abs(out.values[start + j])) }
        guard m > 0 else { continue }
        let step = m / top
        for j in 0..<columns { out.values[start + j] = min(top, max(bottom, (out.values[start + j] / step).rounded())) * step }
      }
    }
    return out
  }

  /// Permute the hidden units of every MLP block (a function-preserving change): the rows of
  /// `up_proj` and `gate_proj` (and `up_proj`'s bias) and the columns of `down_proj` move together,
  /// by a seeded random permutation per block.
  public static func permuteHiddenUnits(_ p: Parameters, seed: UInt64) -> Parameters {
    var out = p
    var rng = Xoshiro(seed: seed)
    for layer in 0..<p.layout.architecture.layers {
      let prefix = "model.layers.\(layer).mlp."
      guard let down = p.layout.spec(prefix + "down_proj.weight") else { continue }
      let units = down.shape[1]
      var order = Array(0..<units)
      for i in stride(from: units - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
      for name in ["up_proj.weight", "gate_proj.weight", "up_proj.bias"] {
        guard let s = p.layout.spec(prefix + name) else { continue }
        let width = s.count / units
        for u in 0..<units {
          for c in 0..<width { out.values[s.offset + u * width + c] = p.values[s.offset + order[u] * width + c] }
        }
      }
      let rows = down.shape[0]
      for r in 0..<rows {
        for c in 0..<units { out.values[down.offset + r * units + c] = p.values[down.offset + r * units + order[c]] }
      }
    }
    return out
  }

  /// Zero the `fraction` of smallest-magnitude entries of each weight matrix (ties broken by
  /// position). Embeddings, norms and biases are kept.
  public static func magnitudePrune(_ p: Parameters, fraction: Double) -> Parameters {
    var out = p
    for s in p.layout.specs where s.role == .matrix {
      let k = Int((Double(s.count) * min(max(fraction, 0), 1)).rounded(.down))
      guard k > 0 else { continue }
      let order = (0..<s.count).sorted {
        let a = abs(p.values[s.offset + $0])
        let b = abs(p.values[s.offset + $1])
        return a != b ? a < b : $0 < $1
      }
      for i in order.prefix(k) { out.values[s.offset + i] = 0 }
    }
    return out
  }

  /// Σ wᵢ·θᵢ over models of one architecture (weights should sum to 1 for an average).
  public static func weightedAverage(_ models: [(Parameters, Float)]) throws(RuntimeError) -> Parameters {
    guard let first = models.first?.0 else { throw .training("a merge needs at least one model") }
    guard models.allSatisfy({ $0.0.layout == first.layout }) else { throw .training("merged models must share one architecture") }
    var values = [Float](repeating: 0, count: first.values.count)
    for (p, w) in models {
      for i in values.indices { values[i] += w * p.values[i] }
    }
    return Parameters(layout: first.layout, values: values)
  }
}
