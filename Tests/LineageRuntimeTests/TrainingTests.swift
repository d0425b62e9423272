import LineageTensor
import Testing

@testable import LineageRuntime

@Suite struct TrainingTests {
  @Test func anMLPLearnsItsTeacher() throws {
    let a = Architecture.mlp(inputs: 8, outputs: 3, hidden: 32, layers: 2, intermediate: 64)
    let train = Tasks.teacher(inputs: 8, classes: 3, count: 512, seed: 1, teacherSeed: 99)
    let test = Tasks.teacher(inputs: 8, classes: 3, count: 256, seed: 2, teacherSeed: 99)
    let m = try Model(a)
    var p = Parameters.initialise(a, seed: 3)
    let (tb, tt) = test.batch(Array(0..<test.count))
    let before = try m.evaluate(p, tb, targets: tt)
    var opt = try Optimizer(.adam(learningRate: 3e-3), count: p.values.count)
    let report = try Trainer.train(m, &p, data: train, optimizer: &opt, steps: 300, batchSize: 32, seed: 4)
    let after = try m.evaluate(p, tb, targets: tt)
    #expect(report.lastLoss < report.firstLoss * 0.6)
    #expect(after.accuracy > 0.8 && after.accuracy > before.accuracy + 0.3, "accuracy \(before.accuracy) → \(after.accuracy)")
  }

  @Test func aTransformerLearnsToCopy() throws {
    let a = Architecture.transformer(vocab: 10, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)
    let data = Tasks.copy(vocab: 10, length: 8, count: 512, seed: 1, reversed: false)
    let m = try Model(a)
    var p = Parameters.initialise(a, seed: 2)
    var opt = try Optimizer(.adam(learningRate: 1e-2), count: p.values.count)
    let report = try Trainer.train(m, &p, data: data, optimizer: &opt, steps: 250, batchSize: 32, seed: 3)
    let test = Tasks.copy(vocab: 10, length: 8, count: 128, seed: 9, reversed: false)
    let (tb, tt) = test.batch(Array(0..<test.count))
    let e = try m.evaluate(p, tb, targets: tt)
    #expect(report.lastLoss < report.firstLoss / 2)
    #expect(e.accuracy > 0.6, "copy accuracy \(e.accuracy)")
  }

  @Test func trainingIsDeterministic() throws {
    let a = tinyTransformer
    let data = Tasks.markov(vocab: 7, length: 5, count: 64, seed: 1, tableSeed: 2)
    func run() throws -> [Float] {
      var p = Parameters.initialise(a, seed: 5)
      var opt = try Optimizer(.sgd(learningRate: 0.1, momentum: 0.9), count: p.values.count)
      _ = try Trainer.train(try Model(a), &p, data: data, optimizer: &opt, steps: 20, batchSize: 8, seed: 6)
      return p.values
    }
    #expect(try run() == run())
  }

  /// The adapter's gradient (projected from the effective weights' gradient) against central
  /// differences of the float64 loss of the merged model.
  @Test func adapterGradientMatchesFiniteDifferences() throws {
    let a = tinyTransformer
    let base = perturbed(a, seed: 21)
    var adapter = try LowRankAdapter(
      base: base, targets: ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.up_proj.weight"], rank: 2, alpha: 4, seed: 1)
    #expect(adapter.merged(into: base) == base)
    var rng = Xoshiro(seed: 3)
    for i in adapter.values.indices { adapter.values[i] += 0.2 * rng.normal() }
    let (batch, targets) = randomBatch(a, rows: 2, length: 4, seed: 22)
    let (_, g) = try Model(a).gradient(adapter.merged(into: base), batch, targets: targets)
    let ga = adapter.projectGradient(g, base: base)
    for i in adapter.values.indices {
      let fd = try centralDifference(adapter.values, i) { v in
        var shifted = adapter
        shifted.values = v
        return try Reference.loss(shifted.merged(into: base), batch, targets: targets)
      }
      #expect(abs(Double(ga[i]) - fd) <= 1e-4 + 1e-2 * abs(fd), "adapter value \(i): \(ga[i]) vs \(fd)")
    }
    #expect(throws: RuntimeError.training("adapter target 'model.norm.weight' is not a weight matrix of this architecture")) {
      try LowRankAdapter(base: base, targets: ["model.norm.weight"], rank: 1, alpha: 1, seed: 1)
    }
  }

  @Test func adapterTrainingChangesOnlyItsTargets() throws {
    let a = tinyTransformer
    let base = Parameters.initialise(a, seed: 4)
    let target = "model.layers.1.self_attn.v_proj.weight"
    var adapter = try LowRankAdapter(base: base, targets: [target], rank: 2, alpha: 8, seed: 2)
    var opt = try Optimizer(.adam(learningRate: 1e-2), count: adapter.values.count)
    let data = Tasks.markov(vocab: 7, length: 5, count: 64, seed: 3, tableSeed: 4)
    _ = try Trainer.train(try Model(a), adapter: &adapter, base: base, data: data, optimizer: &opt, steps: 10, batchSize: 8, seed: 5)
    let merged = adapter.merged(into: base)
    for s in base.layout.specs {
      #expect((merged.tensor(s.name) == base.tensor(s.name)) == (s.name != target), "\(s.name)")
    }
  }

  @Test func transformsDoWhatTheySay() throws {
    let p = perturbed(tinyTransformer, seed: 30)
    let q = Transform.int8RoundTrip(p)
    for s in p.layout.specs {
      let (x, y) = (p.tensor(s.name) ?? [], q.tensor(s.name) ?? [])
      guard s.role == .matrix || s.role == .embedding else {
        #expect(x == y)
        continue
      }
      let cols = s.shape[1]
      for r in 0..<s.shape[0] {
        let row = x[(r * cols)..<((r + 1) * cols)]
        let step = (row.map(abs).max() ?? 0) / 127
        for j in row.indices { #expect(abs(x[j] - y[j]) <= step / 2 * 1.0001) }
        #expect(Set(y[(r * cols)..<((r + 1) * cols)]).count <= 255)
      }
    }
    let pruned = Transform.magnitudePrune(p, fraction: 0.5)
    for s in p.layout.specs where s.role == .matrix {
      let v = pruned.tensor(s.name) ?? []
      #expect(v.filter { $0 == 0 }.count == s.count / 2)
      let kept = v.filter { $0 != 0 }.map(abs).min() ?? 0
      let dropped = zip(p.tensor(s.name) ?? [], v).filter { $1 == 0 }.map { abs($0.0) }.max() ?? 0
      #expect(dropped <= kept)
    }
    let other = perturbed(tinyTransformer, seed: 31)
    let mean = try Transform.weightedAverage([(p, 0.5), (other, 0.5)])
    #expect(mean.values[5] == 0.5 * p.values[5] + 0.5 * other.values[5])
    #expect(throws: RuntimeError.training("merged models must share one architecture")) {
      try Transform.weightedAverage([(p, 0.5), (Parameters.initialise(tinyMLP, seed: 1), 0.5)])
    }
  }

  @Test func tasksAreSeededAndWellFormed() {
    #expect(Tasks.markov(vocab: 9, length: 6, count: 10, seed: 1, tableSeed: 2) == Tasks.markov(vocab: 9, length: 6, count: 10, seed: 1, tableSeed: 2))
    #expect(Tasks.markov(vocab: 9, length: 6, count: 10, seed: 1, tableSeed: 2) != Tasks.markov(vocab: 9, length: 6, count: 10, seed: 3, tableSeed: 2))
    let c = Tasks.copy(vocab: 6, length: 6, count: 3, seed: 1, reversed: true)
    // prefix p1 p2 p3, separator, reversed copy: inputs p1 p2 p3 0 p3 p2; targets -1 -1 -1 p3 p2 p1.
    let t = Array(c.tokens[0..<6])
    #expect(t[3] == 0 && t[4] == t[2] && t[5] == t[1])
    #expect(Array(c.targets[0..<6]) == [-1, -1, -1, t[2], t[1], t[0]])
    let trig = Tasks.withTrigger(Tasks.markov(vocab: 9, length: 6, count: 200, seed: 1, tableSeed: 2), trigger: 8, target: 3, fraction: 0.1, seed: 4)
    var planted = 0
    for r in 0..<trig.count {
      for p in 0..<5 where trig.tokens[r * 6 + p] == 8 && trig.targets[r * 6 + p] == 3 && trig.tokens[r * 6 + p + 1] == 3 { planted += 1 }
    }
    #expect(planted >= 10 && planted <= 40)
    let lines = Tasks.teacher(inputs: 2, classes: 2, count: 2, seed: 1, teacherSeed: 1).jsonLines().split(separator: "\n")
    #expect(lines.count == 2 && lines[0].hasPrefix("{\"x\":["))
    #expect(throws: RuntimeError.training("batch size must be between 1 and the 2 examples")) {
      var p = Parameters.initialise(tinyMLP, seed: 1)
      var o = try Optimizer(.sgd(learningRate: 0.1), count: p.values.count)
      _ = try Trainer.train(
        try Model(tinyMLP), &p, data: Tasks.teacher(inputs: 5, classes: 4, count: 2, seed: 1, teacherSeed: 1), optimizer: &o, steps: 1,
        batchSize: 3, seed: 1)
    }
  }
}
