import LineageNative
import LineageTensor
import Testing

@testable import LineageRuntime

/// Small architectures covering every norm and activation.
let tinyMLP = Architecture.mlp(inputs: 5, outputs: 4, hidden: 6, layers: 2, intermediate: 7, norm: .layer, activation: .gelu)
let tinyTransformer = Architecture.transformer(vocab: 7, context: 5, hidden: 8, layers: 2, heads: 2, intermediate: 6)

/// Weights with every parameter away from its initial value (norm weights not 1, biases not 0),
/// so that every term of the backward pass matters.
func perturbed(_ a: Architecture, seed: UInt64) -> Parameters {
  var p = Parameters.initialise(a, seed: seed)
  var rng = Xoshiro(seed: seed ^ 0xABCD)
  for i in p.values.indices { p.values[i] += 0.3 * rng.normal() }
  return p
}

/// The central difference of a float64 loss in coordinate `i` of float32 values, ±1e-3, divided
/// by the step the float32 values actually took.
func centralDifference(_ values: [Float], _ i: Int, loss: ([Float]) throws -> Double) rethrows -> Double {
  var plus = values
  var minus = values
  plus[i] += 1e-3
  minus[i] -= 1e-3
  return (try loss(plus) - loss(minus)) / (Double(plus[i]) - Double(minus[i]))
}

func randomBatch(_ a: Architecture, rows: Int, length: Int = 4, seed: UInt64) -> (Batch, [Int32]) {
  var rng = Xoshiro(seed: seed)
  switch a.kind {
  case .mlp:
    let x = (0..<(rows * a.inputs)).map { _ in rng.normal() }
    return (.features(x, rows: rows), (0..<rows).map { _ in Int32(rng.below(a.outputs)) })
  case .transformer:
    let t = (0..<(rows * length)).map { _ in Int32(rng.below(a.outputs)) }
    // One ignored position, to check that -1 is skipped.
    let y = (0..<(rows * length)).map { i in i == 1 ? -1 : Int32(rng.below(a.outputs)) }
    return (.tokens(t, rows: rows, length: length), y)
  }
}

@Suite struct ModelTests {
  static let architectures: [Architecture] = [
    tinyMLP,
    .mlp(inputs: 5, outputs: 4, hidden: 6, layers: 1, intermediate: 9, norm: .rms, activation: .relu),
    .mlp(inputs: 3, outputs: 2, hidden: 4, layers: 3, intermediate: 4, norm: .rms, activation: .silu),
    tinyTransformer,
    .transformer(vocab: 9, context: 6, hidden: 12, layers: 1, heads: 3, intermediate: 10, norm: .layer, activation: .gelu),
  ]

  /// The documented tolerance: |a − r| ≤ 1e-4 + 1e-3·|r| per logit.
  @Test(arguments: architectures)
  func forwardAgreesWithTheFloat64Reference(a: Architecture) throws {
    let p = perturbed(a, seed: 7)
    let (batch, _) = randomBatch(a, rows: 3, length: a.kind == .transformer ? min(a.context, 5) : 4, seed: 8)
    let fast = try Model(a).forward(p, batch)
    let slow = try Reference.forward(p, batch)
    #expect(fast.logits.count == slow.count)
    for (x, r) in zip(fast.logits, slow) {
      #expect(abs(Double(x) - r) <= 1e-4 + 1e-3 * abs(r), "logit \(x) vs reference \(r)")
    }
  }

  /// Every coordinate of the gradient against central differences of the float64 loss.
  @Test(arguments: [tinyMLP, tinyTransformer, architectures[2], architectures[4]])
  func gradientMatchesFiniteDifferences(a: Architecture) throws {
    let p = perturbed(a, seed: 11)
    let (batch, targets) = randomBatch(a, rows: 2, length: 4, seed: 12)
    let (_, g) = try Model(a).gradient(p, batch, targets: targets)
    var worst = 0.0
    for i in p.values.indices {
      let fd = try centralDifference(p.values, i) { v in try Reference.loss(Parameters(layout: p.layout, values: v), batch, targets: targets) }
      let error = abs(Double(g[i]) - fd) / (1e-4 + 1e-2 * abs(fd))
      worst = max(worst, error)
      #expect(error <= 1, "parameter \(i): gradient \(g[i]) vs finite difference \(fd)")
    }
    #expect(worst <= 1)
  }

  @Test func sameInputSameBitsAndTheProfileSaysHow() throws {
    let a = tinyTransformer
    let p = perturbed(a, seed: 3)
    let (batch, targets) = randomBatch(a, rows: 4, seed: 4)
    let m = try Model(a, threads: 1)
    let one = try m.forward(p, batch, record: true)
    let two = try m.forward(p, batch, record: true)
    #expect(one.logits == two.logits && one.digest == two.digest)
    #expect(one.activations == two.activations)
    let g1 = try m.gradient(p, batch, targets: targets).gradient
    let g2 = try m.gradient(p, batch, targets: targets).gradient
    #expect(g1 == g2)
    let profile = m.profile
    #expect(profile.runtime == "lineage-runtime/1" && profile.threads == 1 && !profile.core.isEmpty)
    #expect(try Model(a, threads: 2).profile.threads == 2)
  }

  @Test func recordingNamesEveryStageAndDigestsItsValues() throws {
    let a = tinyMLP
    let p = perturbed(a, seed: 5)
    let (batch, _) = randomBatch(a, rows: 2, seed: 6)
    let r = try Model(a).forward(p, batch, record: true)
    #expect(r.activations.map(\.name) == ["model.input_proj", "model.layers.0", "model.layers.1", "model.norm", "lm_head"])
    for rec in r.activations {
      #expect(rec.values.withUnsafeBytes { SHA256Hasher.hash($0) } == rec.digest)
      #expect(rec.shape.reduce(1, *) == rec.values.count)
    }
    #expect(r.activations.last?.values == r.logits)
    #expect(try Model(a).forward(p, batch).activations.isEmpty)
  }

  /// The batch gradient of a mean loss is the mean of the examples' gradients.
  @Test func perExampleGradientsAverageToTheBatchGradient() throws {
    let a = tinyMLP
    let p = perturbed(a, seed: 9)
    let (batch, targets) = randomBatch(a, rows: 3, seed: 10)
    let m = try Model(a)
    let full = try m.gradient(p, batch, targets: targets).gradient
    let each = try (0..<3).map { try m.gradient(p, batch, targets: targets, example: $0) }
    for i in full.indices {
      let mean = (each[0][i] + each[1][i] + each[2][i]) / 3
      #expect(abs(mean - full[i]) <= 1e-5 + 1e-4 * abs(full[i]))
    }
    #expect(throws: RuntimeError.input("example 3 is outside the batch of 3")) { try m.gradient(p, batch, targets: targets, example: 3) }
  }

  /// Severity agrees with every logit oracle's verdict on real forward passes: positive exactly
  /// when the oracle holds, `argmax!=K` its negation, `margin(K)>T` shifted by T, and the smallest
  /// over rows; `max_abs_diff` is the distance past T.
  @Test func severityAgreesWithTheOracles() throws {
    let m = try Model(tinyMLP)
    var rng = Xoshiro(seed: 7)
    for seed in 1...20 as ClosedRange<UInt64> {
      let p = perturbed(tinyMLP, seed: seed)
      let x = (0..<15).map { _ in rng.normal() }
      let r = try m.forward(p, .features(x, rows: 3))
      for k in 0..<tinyMLP.outputs {
        let s = try Oracle.argmaxIs(k).severity(r, rows: 3)
        #expect((s > 0) == (try Oracle.argmaxIs(k).holds(r, rows: 3)))
        #expect(try Oracle.argmaxIsNot(k).severity(r, rows: 3) <= -s + 1e-6)
        #expect(abs(try Oracle.margin(k, 0.5).severity(r, rows: 3) - (s - 0.5)) < 1e-5)
        #expect((try Oracle.margin(k, 0.5).severity(r, rows: 3) > 0) == (try Oracle.margin(k, 0.5).holds(r, rows: 3)))
        // The smallest over rows: no row's own severity is below it.
        let rows = try (0..<3).map { i in
          try Oracle.argmaxIs(k).severity(try m.forward(p, .features(Array(x[(5 * i)..<(5 * i + 5)]), rows: 1)), rows: 1)
        }
        #expect(abs(rows.min()! - s) < 1e-5)
      }
      let shifted = r.logits.map { $0 + 0.25 }
      #expect(abs(try Oracle.maxAbsDiff(below: true, 1).severity(r, rows: 3, expected: shifted) - 0.75) < 1e-6)
      #expect(abs(try Oracle.maxAbsDiff(below: false, 1).severity(r, rows: 3, expected: shifted) + 0.75) < 1e-6)
    }
    #expect(throws: RuntimeError.self) { try Oracle.external.severity(try m.forward(perturbed(tinyMLP, seed: 1), .features([1, 2, 3, 4, 5], rows: 1)), rows: 1) }
  }

  @Test func badInputsAndTargetsAreNamed() throws {
    let t = try Model(tinyTransformer)
    let pt = Parameters.initialise(tinyTransformer, seed: 1)
    #expect(throws: RuntimeError.input("token 7 is outside the vocabulary 0..<7")) { try t.forward(pt, .tokens([1, 7], rows: 1, length: 2)) }
    #expect(throws: RuntimeError.input("sequence length 6 exceeds the context of 5")) {
      try t.forward(pt, .tokens([1, 1, 1, 1, 1, 1], rows: 1, length: 6))
    }
    #expect(throws: RuntimeError.input("3 tokens for 1 row(s) of length 2")) { try t.forward(pt, .tokens([1, 1, 1], rows: 1, length: 2)) }
    #expect(throws: RuntimeError.input("a transformer takes tokens, not feature rows")) { try t.forward(pt, .features([1], rows: 1)) }
    #expect(throws: RuntimeError.targets("1 targets for 2 position(s)")) { try t.evaluate(pt, .tokens([1, 2], rows: 1, length: 2), targets: [1]) }
    #expect(throws: RuntimeError.targets("target 9 is outside -1..<7")) {
      try t.evaluate(pt, .tokens([1, 2], rows: 1, length: 2), targets: [1, 9])
    }
    #expect(throws: RuntimeError.targets("every target is -1 (ignored)")) {
      try t.evaluate(pt, .tokens([1, 2], rows: 1, length: 2), targets: [-1, -1])
    }
    let m = try Model(tinyMLP)
    let pm = Parameters.initialise(tinyMLP, seed: 1)
    #expect(throws: RuntimeError.input("the batch is empty")) { try m.forward(pm, .features([], rows: 0)) }
    #expect(throws: RuntimeError.input("4 values for 1 row(s) of 5 features")) { try m.forward(pm, .features([1, 2, 3, 4], rows: 1)) }
    #expect(throws: RuntimeError.input("features hold NaN or infinity")) { try m.forward(pm, .features([1, 2, 3, 4, .nan], rows: 1)) }
    #expect(throws: RuntimeError.input("an mlp takes feature rows, not tokens")) { try m.forward(pm, .tokens([1], rows: 1, length: 1)) }
    #expect(throws: RuntimeError.input("the weights belong to another architecture")) { try m.forward(pt, .features([1, 2, 3, 4, 5], rows: 1)) }
    #expect(throws: RuntimeError.training("threads must be between 1 and 256, is 0")) { try Model(tinyMLP, threads: 0) }
  }

  @Test func weightsFromNamedTensorsAreCheckedAgainstTheArchitecture() throws {
    let a = tinyMLP
    let p = Parameters.initialise(a, seed: 2)
    var tensors = Dictionary(uniqueKeysWithValues: p.layout.specs.map { ($0.name, (shape: $0.shape, values: p.tensor($0.name) ?? [])) })
    #expect(try Parameters(architecture: a, tensors: tensors) == p)
    var wrong = tensors
    wrong["lm_head.bias"] = (shape: [4, 1], values: [0, 0, 0, 0])
    #expect(throws: RuntimeError.parameterShape(name: "lm_head.bias", expected: [4], found: [4, 1])) {
      try Parameters(architecture: a, tensors: wrong)
    }
    tensors["extra.weight"] = (shape: [1], values: [0])
    #expect(throws: RuntimeError.unexpectedParameters(["extra.weight"])) { try Parameters(architecture: a, tensors: tensors) }
    tensors["extra.weight"] = nil
    tensors["model.norm.bias"] = nil
    #expect(throws: RuntimeError.missingParameter("model.norm.bias")) { try Parameters(architecture: a, tensors: tensors) }
  }
}
