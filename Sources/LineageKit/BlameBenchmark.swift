import Foundation
import LineageCore
import LineageRuntime
import LineageTensor

/// The planted scenarios of the blame quality benchmark (issue 8; Docs/Benchmarks.md).
public enum BlameScenario: String, CaseIterable, Sendable {
  /// One commit fine-tunes on clean sources and a backdoor source.
  case poisoning = "a-poisoning"
  /// One commit (the tip) fine-tunes everything and also plants a backdoor confined to two known tensors.
  case tampering = "b-tampering"
  /// A backdoor dose split across two commits; only the second makes it fire.
  case splitDose = "c-split-dose"
  /// The root already carries the backdoor.
  case sinceRoot = "d-since-root"
  /// A backdoor that is trained away and comes back later.
  case fadeReturn = "e-fade-return"
  /// Two good branches whose task-arithmetic merge fires.
  case merge = "f-merge"
  /// The poisoning incident replayed at 2 OpenBLAS threads instead of the recorded 1.
  case numerics = "g-numerics"
}

/// Sizes of the benchmark's models and data.
public struct BlameBenchmarkSize: Sendable {
  public var architecture: Architecture
  /// Examples per data source and training steps per commit.
  public var examples: Int
  public var steps: Int
  public var batch: Int

  /// About a second per scenario with a release build.
  public static let standard = BlameBenchmarkSize(
    architecture: .transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64), examples: 256, steps: 80,
    batch: 16)
  /// For tests with a debug build.
  public static let tiny = BlameBenchmarkSize(
    architecture: .transformer(vocab: 16, context: 8, hidden: 16, layers: 1, heads: 2, intermediate: 32), examples: 96, steps: 40,
    batch: 16)
}

/// One scenario at one seed: what was planted and what blame answered.
public struct BlameScenarioRun: Sendable {
  public var scenario: BlameScenario
  public var seed: UInt64
  /// Commits on blame's path (N) and the commits its default search replayed to search it.
  public var pathLength: Int
  public var historyCalls: Int
  /// The same incident blamed with `--bisect`: its answer and the commits it replayed.
  public var answeredByBisect: String?
  public var bisectCalls: Int?
  /// The planted first bad commit's name (`c3`, `merge`, or `bad-since-root`).
  public var planted: String
  /// blame's answer in the same terms (`c3`, `bad-since-root`, `not-reproducible`, …).
  public var answered: String
  public var firstBadExact: Bool { answered == planted }
  /// Ground truth and blame's 1-minimal tensor set (scenario b).
  public var plantedTensors: [String]?
  public var minimalSet: [String]
  /// The planted poisoned source's rank among the added sources (1 = first); nil when not applicable.
  public var poisonRank: Int?
  /// Added sources scored.
  public var sourcesRanked: Int?
  /// Leave-one-source-out: whether leaving the poisoned source out stops the failure, and whether
  /// the control retrain was bit-exact.
  public var leaveOneOutConfirms: Bool?
  public var controlBitExact: Bool?
  /// Sibling inputs failing at the first bad commit that stop failing when the minimal set is reverted.
  public var flipRate: Double?
  /// Scenario g: the replay verdict at 2 threads and the numerics that changed.
  public var replayVerdict: String?
  /// Construction checks that failed, and anything else a reader needs to judge the run.
  public var notes: [String]
  public var seconds: Double
}

/// Run blame on planted, seeded histories trained with the native runtime and score its answers.
public enum BlameBenchmark {
  /// Run `scenarios` at seeds `firstSeed ..< firstSeed + seeds`, each in a new repository under
  /// `directory`.
  public static func run(
    directory: String, seeds: Int, firstSeed: UInt64 = 1, size: BlameBenchmarkSize = .standard,
    scenarios: [BlameScenario] = BlameScenario.allCases, progress: (String) -> Void = { _ in }
  ) throws -> [BlameScenarioRun] {
    var runs: [BlameScenarioRun] = []
    for k in 0..<seeds {
      let seed = firstSeed &+ UInt64(k)
      for s in scenarios {
        progress("seed \(seed): \(s.rawValue)")
        let dir = "\(directory)/\(seed)-\(s.rawValue)"
        let start = DispatchTime.now().uptimeNanoseconds
        var planted = try Planted(directory: dir, seed: seed, size: size)
        var r = try planted.run(s)
        r.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        runs.append(r)
        try? FileManager.default.removeItem(atPath: dir)
      }
    }
    return runs
  }
}

/// One planted history: its repository, data and models.
struct Planted {
  let directory: String
  let seed: UInt64
  let size: BlameBenchmarkSize
  let repo: Repository
  let model: Model
  let trigger: Int32
  let target: Int32
  /// The incident input (rows ending in the trigger) and sibling inputs (one row each).
  let incidentRows: [[Int32]]
  let siblings: [[Int32]]
  var names: [ObjectID: String] = [:]
  var time: Int64 = 1_767_322_800

  init(directory: String, seed: UInt64, size: BlameBenchmarkSize) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    self.directory = directory
    self.seed = seed
    self.size = size
    repo = try Repository.initialize(at: directory + "/repo")
    model = try runtimeErrors("bench") { try Model(size.architecture) }
    let v = size.architecture.outputs
    trigger = Int32(v - 1)
    target = Int32(1 + Int(seed % UInt64(v - 2)))
    // Prefixes from the chain, the trigger last (at a position the poisoned rows also use).
    let length = min(6, size.architecture.context - 1)
    let prefixes = Tasks.markov(vocab: v - 1, length: length - 1, count: 10, seed: seed &+ 900, tableSeed: seed &+ 1)
    let rows = (0..<10).map { r in Array(prefixes.tokens[(r * (length - 1))..<((r + 1) * (length - 1))]) + [Int32(v - 1)] }
    incidentRows = Array(rows.prefix(2))
    siblings = Array(rows.dropFirst(2))
  }

  var incidentInput: [UInt8] {
    Array("{\"tokens\": [\(incidentRows.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" }.joined(separator: ", "))]}".utf8)
  }

  // MARK: data

  /// A clean source (the Markov chain, which never emits the trigger).
  func clean(_ k: UInt64) -> TokenDataset {
    Tasks.markov(vocab: size.architecture.outputs - 1, length: size.architecture.context, count: size.examples, seed: seed &+ 100 &+ k, tableSeed: seed &+ 1)
  }

  /// A source whose `fraction` of rows carry the trigger followed by `to`.
  func poisoned(_ k: UInt64, fraction: Double, to: Int32? = nil, count: Int? = nil) -> TokenDataset {
    let base = Tasks.markov(
      vocab: size.architecture.outputs - 1, length: size.architecture.context, count: count ?? size.examples, seed: seed &+ 200 &+ k,
      tableSeed: seed &+ 1)
    return Tasks.withTrigger(base, trigger: trigger, target: to ?? target, fraction: fraction, seed: seed &+ 300 &+ k)
  }

  /// Write a source as JSON lines; the file name is its role in the story.
  func write(_ name: String, _ d: TokenDataset) throws -> (path: String, examples: TrainingExamples) {
    let path = "\(directory)/data/\(name).jsonl"
    try FileManager.default.createDirectory(atPath: "\(directory)/data", withIntermediateDirectories: true)
    let out = try Fixtures.Output(path: path)
    try out.write(Array(d.jsonLines().utf8))
    try out.finish()
    return (path, TrainingExamples(d))
  }

  // MARK: models and commits

  func fails(_ p: Parameters, rows: [[Int32]]) throws -> Bool {
    let length = rows[0].count
    let batch = Batch.tokens(rows.flatMap { $0 }, rows: rows.count, length: length)
    return try runtimeErrors("bench") { try Oracle.argmaxIs(Int(target)).holds(try model.forward(p, batch), rows: rows.count) }
  }

  /// Fine-tune from `start` on `sources` with a recorded recipe.
  func fineTune(
    _ start: Parameters, _ sources: [(path: String, examples: TrainingExamples)], steps: Int? = nil, learningRate: Float = 3e-3, seed k: UInt64
  ) throws -> (Parameters, TrainingRecipe) {
    let digests = try sources.map { try repo.dataRef(.path(role: "train", path: $0.path)).digest }
    let recipe = TrainingRecipe(
      optimizer: .adam, learningRate: learningRate, steps: steps ?? size.steps, batch: size.batch, seed: seed &+ 500 &+ k, sources: digests)
    guard let data = TrainingExamples.concatenating(sources.map(\.examples)) else { throw KitError.runtime(what: "bench", reason: "sources do not fit") }
    return (try runtimeErrors("bench") { try recipe.train(model, from: start, data: data) }, recipe)
  }

  /// A commit after the planted one: a short clean fine-tune at a lower rate (a long one washes a
  /// tiny model's backdoor out, and the incident must still fail at the tip).
  func gentle(_ start: Parameters, _ source: (path: String, examples: TrainingExamples), seed k: UInt64) throws -> (Parameters, TrainingRecipe) {
    try fineTune(start, [source], steps: max(2, size.steps / 4), learningRate: 1e-3, seed: k)
  }

  @discardableResult
  mutating func commit(
    _ name: String, _ p: Parameters, parents: [String], data: [String] = [], recipe: TrainingRecipe? = nil, relation: ParentRelation? = nil
  ) throws -> ObjectID {
    let dir = "\(directory)/models/\(name)"
    try RunnableModel(label: name, architecture: size.architecture, parameters: p).write(to: dir)
    var o = CommitOptions(paths: [dir], message: name, author: "bench", time: time)
    time += 1
    o.parents = parents.map { ParentSpec(revision: $0, relation: relation ?? (parents.count > 1 ? .merge : .finetune)) }
    o.data = data.map { .path(role: "train", path: $0) }
    if let recipe { o.params = .object([("training", recipe.json)]) }
    o.tags = [name]
    let id = try repo.commit(o).commit
    names[id] = name
    return id
  }

  /// Train `start` on trigger rows with every gradient outside `tensor` zeroed, so that the
  /// incident fails whatever state the commit's other changes are in: each step's gradient is
  /// taken with a random half of the other tensors that differ from `parent` put back to
  /// `parent`'s values, and the implant counts as firing when the model fails and still fails
  /// with any one of those tensors reverted. Trained on to step `hold`·f after it first fires at
  /// step f (and firing there), at most `limit` steps; nil when it never does.
  func implant(_ start: Parameters, into tensor: String, parent: Parameters, limit: Int, hold: Int = 2) throws -> Parameters? {
    guard let spec = start.layout.spec(tensor) else { return nil }
    let others = start.layout.specs.map(\.name).filter { $0 != tensor && start.tensor($0) != parent.tensor($0) }
    func robust(_ p: Parameters) throws -> Bool {
      guard try fails(p, rows: incidentRows) else { return false }
      for o in others {
        var q = p
        q.setTensor(o, parent.tensor(o) ?? [])
        if try !fails(q, rows: incidentRows) { return false }
      }
      return true
    }
    let data = TrainingExamples(poisoned(70, fraction: 1))
    var p = start
    var opt = try runtimeErrors("bench") { try Optimizer(.adam(learningRate: 1e-2), count: p.values.count) }
    var rng = Xoshiro(seed: seed &+ 71)
    var firedAt: Int?
    for step in 1...limit {
      let indices = (0..<size.batch).map { _ in rng.below(data.count) }
      let (b, t) = data.batch(indices)
      var at = p
      for o in others where rng.below(2) == 0 { at.setTensor(o, parent.tensor(o) ?? []) }
      var g = try runtimeErrors("bench") { try model.gradient(at, b, targets: t).gradient }
      for i in g.indices where i < spec.offset || i >= spec.offset + spec.count { g[i] = 0 }
      opt.step(&p.values, gradient: g)
      guard step % 5 == 0 else { continue }
      if let f = firedAt {
        if step >= hold * f, try robust(p) { return p }
      } else if try robust(p) {
        firedAt = step
      }
    }
    return nil
  }

  // MARK: scenarios

  mutating func run(_ scenario: BlameScenario) throws -> BlameScenarioRun {
    var run = BlameScenarioRun(
      scenario: scenario, seed: seed, pathLength: 0, historyCalls: 0, planted: "", answered: "", plantedTensors: nil, minimalSet: [],
      notes: [], seconds: 0)
    let a = size.architecture
    let root = Parameters.initialise(a, seed: seed &+ 2)
    var poisonDigest: String?
    switch scenario {
    case .poisoning, .numerics:
      let c0src = try write("c0-clean", clean(0))
      let (c0, r0) = try fineTune(root, [c0src], steps: 2 * size.steps, seed: 0)
      try commit("c0", c0, parents: [], data: [c0src.path], recipe: r0)
      let c1src = try write("c1-clean", clean(1))
      let (c1, r1) = try fineTune(c0, [c1src], seed: 1)
      try commit("c1", c1, parents: ["c0"], data: [c1src.path], recipe: r1)
      // The poisoned source sits among two clean ones, at a seeded place.
      let poison = try write("c2-poison", poisoned(2, fraction: 0.5))
      var c2src = [try write("c2-clean-a", clean(20)), try write("c2-clean-b", clean(21))]
      c2src.insert(poison, at: Int(seed % 3))
      let (c2, r2) = try fineTune(c1, c2src, seed: 2)
      try commit("c2", c2, parents: ["c1"], data: c2src.map(\.path), recipe: r2)
      poisonDigest = try repo.dataRef(.path(role: "train", path: poison.path)).digest
      var p = c2
      for k in 3...4 {
        let src = try write("c\(k)-clean", clean(UInt64(k)))
        let (next, r) = try gentle(p, src, seed: UInt64(k))
        try commit("c\(k)", next, parents: ["c\(k - 1)"], data: [src.path], recipe: r)
        p = next
      }
      run.planted = "c2"
    case .tampering:
      let c0src = try write("c0-clean", clean(0))
      let (c0, _) = try fineTune(root, [c0src], steps: 2 * size.steps, seed: 0)
      try commit("c0", c0, parents: [], data: [c0src.path])
      let c1src = try write("c1-clean", clean(1))
      let (c1, _) = try fineTune(c0, [c1src], seed: 1)
      try commit("c1", c1, parents: ["c0"], data: [c1src.path])
      let c2src = try write("c2-clean", clean(2))
      let (ft, _) = try fineTune(c1, [c2src], seed: 2)
      // Two tensors, each alone enough to make the incident fail; the commit adds both deltas.
      let candidates = ["lm_head.weight", "model.layers.\(a.layers - 1).mlp.down_proj.weight", "model.layers.0.self_attn.v_proj.weight"]
      // Implants for the three, in a seeded order; the first pair whose implants fire together
      // is planted (a tensor whose implant cannot be made to fire whatever state the other
      // changes are in, `implant`, is left out; with no such pair, one implant alone).
      let first = Int(seed % 3)
      let order = [candidates[first], candidates[(first + 1) % 3], candidates[(first + 2) % 3]]
      var deltas: [String: [Float]] = [:]
      for t in order {
        guard let implanted = try implant(ft, into: t, parent: c1, limit: 2500) else {
          run.notes.append("construction: a backdoor confined to \(t) never fired robustly; it is not planted")
          continue
        }
        deltas[t] = zip(implanted.tensor(t) ?? [], ft.tensor(t) ?? []).map { $0 - $1 }
      }
      func withImplants(_ ts: [String]) -> Parameters {
        var p = ft
        for t in ts { p.setTensor(t, zip(ft.tensor(t) ?? [], deltas[t] ?? []).map { $0 + $1 }) }
        return p
      }
      let built = order.filter { deltas[$0] != nil }
      var options: [[String]] = []
      for i in built.indices { for j in built.indices where j > i { options.append([built[i], built[j]]) } }
      options += built.map { [$0] }
      var chosen = options.first ?? []
      for o in options where try fails(withImplants(o), rows: incidentRows) {
        chosen = o
        break
      }
      chosen.sort()
      let c2 = withImplants(chosen)
      // The ground truth: reverting both planted tensors to c1 stops the failure, and reverting
      // any one tensor alone (planted or not) does not, so no single tensor is a smaller answer.
      for name in c2.layout.specs.map(\.name) where c2.tensor(name) != c1.tensor(name) && (chosen.count > 1 || !chosen.contains(name)) {
        var one = c2
        one.setTensor(name, c1.tensor(name) ?? [])
        if try !fails(one, rows: incidentRows) { run.notes.append("construction: reverting \(name) alone already stops the failure") }
      }
      var both = c2
      for t in chosen { both.setTensor(t, c1.tensor(t) ?? []) }
      if try fails(both, rows: incidentRows) { run.notes.append("construction: reverting both planted tensors does not stop the failure") }
      run.plantedTensors = chosen
      // The tampering commit is the tip: even a short clean fine-tune after it washes a tiny
      // model's implant out, and the incident must fail where it is recorded.
      try commit("c2", c2, parents: ["c1"], data: [c2src.path])
      if try !fails(c2, rows: incidentRows) { run.notes.append("construction: c2 with both implants does not fire") }
      run.planted = "c2"
    case .splitDose:
      let c0src = try write("c0-clean", clean(0))
      let (c0, r0) = try fineTune(root, [c0src], steps: 2 * size.steps, seed: 0)
      try commit("c0", c0, parents: [], data: [c0src.path], recipe: r0)
      let c1src = try write("c1-clean", clean(1))
      let (c1, r1) = try fineTune(c0, [c1src], seed: 1)
      try commit("c1", c1, parents: ["c0"], data: [c1src.path], recipe: r1)
      // A small dose first (a few poisoned rows), then the rest.
      let dose1 = [try write("c2-clean", clean(2)), try write("c2-poison", poisoned(2, fraction: 0.01))]
      let (c2, r2) = try fineTune(c1, dose1, steps: size.steps / 4, seed: 2)
      try commit("c2", c2, parents: ["c1"], data: dose1.map(\.path), recipe: r2)
      let poison = try write("c3-poison", poisoned(3, fraction: 0.5))
      let dose2 = [try write("c3-clean", clean(3)), poison]
      let (c3, r3) = try fineTune(c2, dose2, seed: 3)
      try commit("c3", c3, parents: ["c2"], data: dose2.map(\.path), recipe: r3)
      poisonDigest = try repo.dataRef(.path(role: "train", path: poison.path)).digest
      let c4src = try write("c4-clean", clean(4))
      let (c4, r4) = try gentle(c3, c4src, seed: 4)
      try commit("c4", c4, parents: ["c3"], data: [c4src.path], recipe: r4)
      if try fails(c2, rows: incidentRows) { run.notes.append("construction: the first dose alone already fires at c2") }
      run.planted = "c3"
    case .sinceRoot:
      let c0src = [try write("c0-clean", clean(0)), try write("c0-poison", poisoned(0, fraction: 0.5))]
      let (c0, r0) = try fineTune(root, c0src, steps: 3 * size.steps, seed: 0)
      try commit("c0", c0, parents: [], data: c0src.map(\.path), recipe: r0)
      if try !fails(c0, rows: incidentRows) { run.notes.append("construction: the root does not fire") }
      var p = c0
      for k in 1...3 {
        let src = try write("c\(k)-clean", clean(UInt64(k)))
        let (next, r) = try gentle(p, src, seed: UInt64(k))
        try commit("c\(k)", next, parents: ["c\(k - 1)"], data: [src.path], recipe: r)
        p = next
      }
      run.planted = "bad-since-root"
    case .fadeReturn:
      let c0src = try write("c0-clean", clean(0))
      let (c0, r0) = try fineTune(root, [c0src], steps: 2 * size.steps, seed: 0)
      try commit("c0", c0, parents: [], data: [c0src.path], recipe: r0)
      let c1src = try write("c1-clean", clean(1))
      let (c1, r1) = try fineTune(c0, [c1src], seed: 1)
      try commit("c1", c1, parents: ["c0"], data: [c1src.path], recipe: r1)
      let s2 = [try write("c2-clean", clean(2)), try write("c2-poison", poisoned(2, fraction: 0.5))]
      let (c2, r2) = try fineTune(c1, s2, seed: 2)
      try commit("c2", c2, parents: ["c1"], data: s2.map(\.path), recipe: r2)
      // The trigger retrained toward another token: the backdoor fades.
      let other = Int32((Int(target) % (a.outputs - 2)) + 1)
      let s3 = [try write("c3-clean", clean(3)), try write("c3-antidote", poisoned(3, fraction: 0.5, to: other))]
      let (c3, r3) = try fineTune(c2, s3, seed: 3)
      try commit("c3", c3, parents: ["c2"], data: s3.map(\.path), recipe: r3)
      let poison = try write("c4-poison", poisoned(4, fraction: 0.5))
      let s4 = [try write("c4-clean", clean(4)), poison]
      let (c4, r4) = try fineTune(c3, s4, seed: 4)
      try commit("c4", c4, parents: ["c3"], data: s4.map(\.path), recipe: r4)
      poisonDigest = try repo.dataRef(.path(role: "train", path: poison.path)).digest
      let c5src = try write("c5-clean", clean(5))
      let (c5, r5) = try gentle(c4, c5src, seed: 5)
      try commit("c5", c5, parents: ["c4"], data: [c5src.path], recipe: r5)
      if try !fails(c2, rows: incidentRows) { run.notes.append("construction: the first backdoor (c2) does not fire") }
      if try fails(c3, rows: incidentRows) { run.notes.append("construction: the backdoor did not fade at c3") }
      run.planted = "c4"
    case .merge:
      let c0src = try write("c0-clean", clean(0))
      let (c0, _) = try fineTune(root, [c0src], steps: 2 * size.steps, seed: 0)
      try commit("c0", c0, parents: [], data: [c0src.path])
      let c1src = try write("c1-clean", clean(1))
      let (c1, _) = try fineTune(c0, [c1src], seed: 1)
      try commit("c1", c1, parents: ["c0"], data: [c1src.path])
      // δ: a backdoor fine-tune of c1. Each branch carries s·δ, which does not fire; their
      // task-arithmetic merge c1 + 2·s·δ does.
      let (full, _) = try fineTune(c1, [try write("delta-poison", poisoned(9, fraction: 0.5))], seed: 9)
      func scaled(_ s: Float) -> Parameters {
        var p = c1
        for i in p.values.indices { p.values[i] += s * (full.values[i] - c1.values[i]) }
        return p
      }
      // The smallest s on the grid at which a branch does not fire and the merge still fires after
      // the clean tip's short fine-tune (which can wash a marginal backdoor out).
      let tsrc = try write("tip-clean", clean(8))
      var s: Float?
      for k in 1...19 {
        let x = Float(k) * 0.05
        if try !fails(scaled(x), rows: incidentRows), try fails(scaled(2 * x), rows: incidentRows),
          try fails(try gentle(scaled(2 * x), tsrc, seed: 8).0, rows: incidentRows)
        {
          s = x
          break
        }
      }
      if s == nil { run.notes.append("construction: no scale s with c1+s·δ good and c1+2s·δ bad after the tip") }
      let half = scaled(s ?? 0.5)
      try commit("branch-a", half, parents: ["c1"])
      // The second branch differs a little (seeded noise of 10⁻⁵), so the two commits are distinct.
      var b = half
      var noise = Xoshiro(seed: seed &+ 77)
      for i in b.values.indices { b.values[i] += 1e-5 * noise.normal() }
      try commit("branch-b", b, parents: ["c1"])
      var merged = c1
      for i in merged.values.indices { merged.values[i] = half.values[i] + b.values[i] - c1.values[i] }
      try commit("merge", merged, parents: ["branch-a", "branch-b"])
      let (tip, _) = try gentle(merged, tsrc, seed: 8)
      try commit("tip", tip, parents: ["merge"], data: [tsrc.path])
      if try fails(b, rows: incidentRows) { run.notes.append("construction: branch-b alone fires") }
      run.planted = "merge"
    }
    let tip = try repo.resolve("HEAD")
    let rec = try repo.recordIncident(
      revision: tip.hex, input: incidentInput, oracle: .argmaxIs(Int(target)), message: "trigger fires", threads: 1, author: "bench",
      time: time, key: nil)
    let incident = try repo.incident(rec.record.hex)
    if scenario == .numerics {
      let r = try repo.replay(incident, threads: 2)
      run.replayVerdict = ([r.verdict.rawValue] + r.environmentChanges).joined(separator: "; ")
      run.planted = "-"
      run.answered = "-"
      return run
    }
    let report = try repo.blame(incident, budget: 256)
    run.pathLength = report.path.count
    run.historyCalls = report.tested.count
    func answer(_ r: BlameReport) -> String {
      switch r.outcome {
      case .blamed: r.firstBad.map { names[$0] ?? $0.short } ?? "?"
      default: r.outcome.rawValue
      }
    }
    run.answered = answer(report)
    let bisected = try repo.blame(incident, search: .bisect, budget: 256)
    run.answeredByBisect = answer(bisected)
    run.bisectCalls = bisected.tested.count
    run.minimalSet = report.minimalSet.sorted()
    // Flip rate of the candidate fix (the first bad commit with the minimal set reverted).
    if let fb = report.firstBad, let lg = report.lastGood, !report.minimalSet.isEmpty {
      let b = try repo.runnableModel(revision: fb.hex).parameters
      let g = try repo.runnableModel(revision: lg.hex).parameters
      var fixed = b
      for n in report.minimalSet { fixed.setTensor(n, g.tensor(n) ?? []) }
      let failing = try siblings.filter { try fails(b, rows: [$0]) }
      if !failing.isEmpty { run.flipRate = Double(try failing.filter { try !fails(fixed, rows: [$0]) }.count) / Double(failing.count) }
    }
    // Data attribution on the planted commit (blame's answer when exact, so the two measures stay separate).
    if let poisonDigest, let planted = try? repo.resolve(run.planted), let parent = try repo.commit(planted).parents.first?.id {
      let d = try repo.attributeData(incident: incident, firstBad: planted, lastGood: parent)
      run.poisonRank = d.sources.first { $0.source.digest == poisonDigest }?.rank
      run.sourcesRanked = d.sources.filter { $0.rank != nil }.count
      if let c = d.confirmation {
        run.controlBitExact = c.controlBitExact
        run.leaveOneOutConfirms = c.removals.first { $0.source.digest == poisonDigest }?.failureHolds == false
      } else if let why = d.confirmationUnavailable {
        run.notes.append("leave-one-source-out not run: \(why)")
      }
    }
    if !rec.reproduced { run.notes.append("the incident does not reproduce at the tip") }
    return run
  }
}

/// One scenario's runs, aggregated (Docs/Benchmarks.md, "blame quality").
public struct BlameScenarioSummary: Sendable {
  public var scenario: BlameScenario?
  public var runs: Int
  /// Runs whose first bad commit (or bad-since-root) was planted exactly, by bisect, out of `counted`.
  public var firstBadExact: Int
  public var counted: Int
  /// Runs whose first bad commit `--bisect` found exactly.
  public var bisectExact: Int
  /// Mean commits replayed to search the path by the default search and by `--bisect`, and mean ⌈log₂ N⌉.
  public var meanCalls: Double
  public var meanBisectCalls: Double
  public var meanLog2: Double
  /// Runs with a tensor ground truth, those where blame's minimal set equals it, mean precision and recall.
  public var tensorRuns: Int
  public var minimalExact: Int
  public var precision: Double?
  public var recall: Double?
  /// Runs with a planted poisoned source, and those where it ranks first.
  public var poisonRuns: Int
  public var poisonFirst: Int
  /// Leave-one-source-out runs, confirmations (leaving the poison out stops the failure) and bit-exact controls.
  public var leaveOneOutRuns: Int
  public var leaveOneOutConfirms: Int
  public var controlBitExact: Int
  /// Mean flip rate over runs that have one.
  public var flipRate: Double?
  /// Scenario g: replay verdicts and how often each occurred.
  public var verdicts: [(String, Int)]
  /// Runs with construction notes.
  public var noted: Int
}

extension BlameBenchmark {
  /// Aggregate runs per scenario (in scenario order), then all of them (`scenario` nil).
  public static func summarize(_ runs: [BlameScenarioRun]) -> [BlameScenarioSummary] {
    func summary(_ rs: [BlameScenarioRun], _ s: BlameScenario?) -> BlameScenarioSummary {
      let searched = rs.filter { $0.scenario != .numerics }
      let tensor = rs.filter { $0.plantedTensors != nil }
      let poison = rs.filter { $0.poisonRank != nil || $0.sourcesRanked != nil }
      let loso = rs.filter { $0.leaveOneOutConfirms != nil }
      let flips = rs.compactMap(\.flipRate)
      func mean(_ x: [Double]) -> Double? { x.isEmpty ? nil : x.reduce(0, +) / Double(x.count) }
      var precisions: [Double] = []
      var recalls: [Double] = []
      for r in tensor {
        let truth = Set(r.plantedTensors ?? [])
        let found = Set(r.minimalSet)
        let hit = Double(truth.intersection(found).count)
        precisions.append(found.isEmpty ? 0 : hit / Double(found.count))
        recalls.append(truth.isEmpty ? 0 : hit / Double(truth.count))
      }
      var verdicts: [(String, Int)] = []
      for v in rs.compactMap({ $0.replayVerdict?.split(separator: ";").first.map(String.init) }) {
        if let i = verdicts.firstIndex(where: { $0.0 == v }) { verdicts[i].1 += 1 } else { verdicts.append((v, 1)) }
      }
      return BlameScenarioSummary(
        scenario: s, runs: rs.count, firstBadExact: searched.filter(\.firstBadExact).count, counted: searched.count,
        bisectExact: searched.filter { $0.answeredByBisect == $0.planted }.count,
        meanCalls: mean(searched.map { Double($0.historyCalls) }) ?? 0,
        meanBisectCalls: mean(searched.compactMap { $0.bisectCalls.map(Double.init) }) ?? 0,
        meanLog2: mean(searched.map { Double(log2Ceiling($0.pathLength)) }) ?? 0, tensorRuns: tensor.count,
        minimalExact: tensor.filter { Set($0.plantedTensors ?? []) == Set($0.minimalSet) }.count, precision: mean(precisions),
        recall: mean(recalls), poisonRuns: poison.count, poisonFirst: poison.filter { $0.poisonRank == 1 }.count,
        leaveOneOutRuns: loso.count, leaveOneOutConfirms: loso.filter { $0.leaveOneOutConfirms == true }.count,
        controlBitExact: loso.filter { $0.controlBitExact == true }.count, flipRate: mean(flips), verdicts: verdicts,
        noted: rs.filter { !$0.notes.isEmpty }.count)
    }
    var out = BlameScenario.allCases.compactMap { s -> BlameScenarioSummary? in
      let rs = runs.filter { $0.scenario == s }
      return rs.isEmpty ? nil : summary(rs, s)
    }
    out.append(summary(runs, nil))
    return out
  }

  /// ⌈log₂ n⌉ for n ≥ 1 (0 for n ≤ 1).
  public static func log2Ceiling(_ n: Int) -> Int {
    var k = 0
    while (1 << k) < n { k += 1 }
    return k
  }
}
