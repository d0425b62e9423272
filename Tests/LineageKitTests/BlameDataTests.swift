import Foundation
import LineageCore
import LineageKit
import LineageProvenance
import LineageRuntime
import LineageTestSupport
import Testing

private let digest = "sha256:" + String(repeating: "0a", count: 32)
/// A valid recipe without its closing brace.
private let good = #"{"optimizer": "adam", "learning_rate": "0.003", "steps": 120, "batch": 32, "seed": 7, "sources": ["\#(digest)"]"#

/// Recipes that must be refused, each with the error it must give.
private let badRecipes: [(String, TrainingRecipeError)] = {
  var a: [(String, TrainingRecipeError)] = []
  a.append((#"[1]"#, TrainingRecipeError.notAnObject(key: "training")))
  a.append((good + #", "epochs": 3}"#, TrainingRecipeError.unknownKey("epochs")))
  a.append((#"{"optimizer": "adam", "steps": 1, "batch": 1, "seed": 1, "sources": ["\#(digest)"]}"#, TrainingRecipeError.missingKey("learning_rate")))
  a.append((good.replacingOccurrences(of: #""adam""#, with: #""lion""#) + "}", TrainingRecipeError.unknownOptimizer("lion")))
  a.append((good.replacingOccurrences(of: #""adam""#, with: "1") + "}", TrainingRecipeError.wrongType(key: "optimizer", expected: "a string")))
  a.append((good.replacingOccurrences(of: #""0.003""#, with: "0.003") + "}", TrainingRecipeError.wrongType(key: "learning_rate", expected: "a decimal string such as \"0.003\"")))
  a.append((good.replacingOccurrences(of: #""0.003""#, with: #""-1""#) + "}", TrainingRecipeError.badDecimal(key: "learning_rate", text: "-1")))
  a.append((good.replacingOccurrences(of: #""0.003""#, with: #""fast""#) + "}", TrainingRecipeError.badDecimal(key: "learning_rate", text: "fast")))
  a.append((good.replacingOccurrences(of: "120", with: "0") + "}", TrainingRecipeError.outOfRange(key: "steps", value: "0", range: "1…10000000")))
  a.append((good.replacingOccurrences(of: "32", with: #""32""#) + "}", TrainingRecipeError.wrongType(key: "batch", expected: "an integer")))
  a.append((good + #", "momentum": "0.9"}"#, TrainingRecipeError.unknownKey("momentum")))
  a.append((good.replacingOccurrences(of: "\"\(digest)\"", with: #""md5:00""#) + "}", TrainingRecipeError.badSourceDigest("md5:00")))
  a.append((good.replacingOccurrences(of: "\"\(digest)\"", with: "\"\(digest)\", \"\(digest)\"") + "}", TrainingRecipeError.duplicateSource(digest)))
  a.append((good.replacingOccurrences(of: "\"\(digest)\"", with: "") + "}", TrainingRecipeError.noSources))
  a.append((good + #", "adapter": {"rank": 4, "alpha": "16", "seed": 5}}"#, TrainingRecipeError.missingKey("adapter.targets")))
  a.append((good + #", "adapter": {"rank": 0, "alpha": "16", "seed": 5, "targets": ["x"]}}"#, TrainingRecipeError.outOfRange(key: "adapter.rank", value: "0", range: "1…4096")))
  a.append((good + #", "adapter": {"rank": 4, "alpha": "16", "seed": 5, "targets": ["x"], "dropout": "0.1"}}"#, TrainingRecipeError.unknownKey("adapter.dropout")))
  return a
}()

/// Data attribution (TracIn-style scores, leave-one-source-out) and training recipes.
@Suite struct BlameDataTests {
  let arch = Architecture.transformer(vocab: 16, context: 8, hidden: 16, layers: 1, heads: 2, intermediate: 32)
  let trigger: Int32 = 15
  let target: Int32 = 7

  func clean(_ seed: UInt64) -> TokenDataset { Tasks.markov(vocab: 15, length: 8, count: 96, seed: seed, tableSeed: 1) }

  /// c0 (clean pretraining) → c1 (fine-tune on clean A, a poisoned source, clean B; recipe
  /// recorded), and an incident on c1: rows that end in the trigger predict the target.
  func history() throws -> (TemporaryDirectory, Repository, ObjectID, ObjectID, Incident, [String]) {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.file("repo"))
    let model = try Model(arch)
    func write(_ name: String, _ d: TokenDataset) throws -> (String, TrainingExamples) {
      try FileManager.default.createDirectory(atPath: dir.file("data"), withIntermediateDirectories: true)
      try Data(d.jsonLines().utf8).write(to: URL(fileURLWithPath: dir.file("data/\(name).jsonl")))
      return (dir.file("data/\(name).jsonl"), TrainingExamples(d))
    }
    func train(_ start: Parameters, _ sources: [(String, TrainingExamples)], seed: UInt64) throws -> (Parameters, TrainingRecipe) {
      let recipe = TrainingRecipe(
        optimizer: .adam, learningRate: 1e-2, steps: 60, batch: 16, seed: seed, sources: try sources.map { try DataHasher.digest(path: $0.0).digest })
      let data = try #require(TrainingExamples.concatenating(sources.map(\.1)))
      return (try recipe.train(model, from: start, data: data), recipe)
    }
    func commit(_ name: String, _ p: Parameters, parents: [String], data: [String], recipe: TrainingRecipe, time: Int64) throws -> ObjectID {
      try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file("m/\(name)"))
      var o = commitOptions([dir.file("m/\(name)")], name, parents: parents, tags: [name], time: time)
      o.data = data.map { .path(role: "train", path: $0) }
      o.params = .object([("training", recipe.json)])
      return try repo.commit(o).commit
    }
    let c0data = try write("c0", clean(10))
    let (c0, r0) = try train(Parameters.initialise(arch, seed: 1), [c0data], seed: 2)
    let id0 = try commit("c0", c0, parents: [], data: [c0data.0], recipe: r0, time: 1_767_322_800)
    let poison = try write("poison", Tasks.withTrigger(clean(20), trigger: trigger, target: target, fraction: 0.5, seed: 21))
    let sources = [try write("clean-a", clean(30)), poison, try write("clean-b", clean(40))]
    let (c1, r1) = try train(c0, sources, seed: 3)
    let id1 = try commit("c1", c1, parents: ["c0"], data: sources.map(\.0), recipe: r1, time: 1_767_322_801)
    let input = Array(#"{"tokens": [[3, 4, 5, 6, 15], [9, 2, 8, 1, 15]]}"#.utf8)
    let rec = try repo.recordIncident(revision: "c1", input: input, oracle: .argmaxIs(Int(target)), message: "trigger", threads: 1, author: "s", time: 1_767_323_000, key: nil)
    try #require(rec.reproduced, "the planted backdoor must fire at c1 for the test to mean anything")
    return (dir, repo, id0, id1, try repo.incident(rec.record.hex), r1.sources)
  }

  @Test func thePoisonedSourceRanksFirstAndLeavingItOutStopsTheFailure() throws {
    let (dir, repo, c0, c1, incident, digests) = try history()
    defer { withExtendedLifetime(dir) {} }
    let poison = digests[1]
    let blame = try repo.blame(incident)
    #expect(blame.firstBad == c1 && blame.lastGood == c0)
    let d = try repo.attributeData(incident: incident, firstBad: c1, lastGood: c0)
    #expect(d.checkpoints == [c0, c1])
    #expect(d.sources.map(\.rank) == [1, 2, 3])
    #expect(d.sources.first?.source.digest == poison)
    #expect(d.sources.allSatisfy { $0.unavailable == nil && $0.examples == 96 && $0.scored == 96 })
    #expect(d.gradients == 2 * 3 * 96)
    // The poisoned source's examples push toward the failure far more than the clean ones do.
    let first = try #require(d.sources.first)
    #expect(first.sum > 0 && d.sources.dropFirst().allSatisfy { first.mean > 2 * abs($0.mean) })
    let c = try #require(d.confirmation, "\(d.confirmationUnavailable ?? "")")
    #expect(c.controlBitExact && c.controlDiffering.isEmpty && c.exact && c.controlFails)
    #expect(c.retrains == 4)
    #expect(c.stoppers.map(\.digest) == [poison])
    #expect(c.removals.filter { $0.source.digest != poison }.allSatisfy { $0.failureHolds == true })
  }

  @Test func aMissingOrAlteredSourceIsReportedNotAvailable() throws {
    let (dir, repo, _, c1, incident, _) = try history()
    defer { withExtendedLifetime(dir) {} }
    let m = try repo.runnableModel(revision: "c1")
    try m.write(to: dir.file("m/c2"))
    for name in ["gone", "altered"] { try Data("{\"tokens\":[1,2,3,4,5,6,7,8],\"targets\":[2,3,4,5,6,7,8,9]}\n".utf8).write(to: URL(fileURLWithPath: dir.file("\(name).jsonl"))) }
    var o = commitOptions([dir.file("m/c2")], "c2", parents: ["c1"], tags: ["c2"], time: 1_767_322_900)
    o.data = [
      .path(role: "train", path: dir.file("gone.jsonl")), .path(role: "train", path: dir.file("altered.jsonl")),
      .digest(role: "train", uri: "hf://datasets/x", digest: "sha256:" + String(repeating: "ab", count: 32)),
      .digest(role: "eval", uri: "hf://datasets/y", digest: "sha256:" + String(repeating: "cd", count: 32)),
    ]
    let c2 = try repo.commit(o).commit
    try FileManager.default.removeItem(atPath: dir.file("gone.jsonl"))
    try Data("{\"tokens\":[1,2,3,4,5,6,7,8],\"targets\":[2,3,4,5,6,7,8,0]}\n".utf8).write(to: URL(fileURLWithPath: dir.file("altered.jsonl")))
    let d = try repo.attributeData(incident: incident, firstBad: c2, lastGood: c1)
    #expect(d.sources.count == 4 && d.sources.allSatisfy { $0.rank == nil && $0.scored == 0 })
    let why = d.sources.map { $0.unavailable ?? "" }
    #expect(why[0].hasPrefix("no file at ") && why[0].hasSuffix("gone.jsonl"))
    #expect(why[1].contains("has data digest sha256:") && why[1].contains("the commit records"))
    #expect(why[2] == "not a local file (hf://datasets/x); only file:// sources are read")
    #expect(why[3] == "role 'eval' is not training data")
    #expect(d.confirmation == nil && d.confirmationUnavailable == "the first bad commit records no params.training recipe")
  }

  @Test(arguments: badRecipes)
  func badRecipesAreRefusedEachWithItsOwnError(text: String, error: TrainingRecipeError) throws {
    let value = try StrictJSONParser.parse(Array(text.utf8))
    #expect(throws: error) { try TrainingRecipe.parse(value) }
  }

  @Test func aRecipeRoundTripsThroughItsJSON() throws {
    let r = try TrainingRecipe.parse(try StrictJSONParser.parse(Array((good + "}").utf8)))
    #expect(r.learningRate == 0.003 && r.steps == 120 && r.batch == 32 && r.seed == 7 && r.threads == 1 && r.adapter == nil)
    var withAdapter = r
    withAdapter.adapter = .init(rank: 4, alpha: 16, seed: 5, targets: ["model.layers.0.self_attn.q_proj.weight"])
    withAdapter.optimizer = .sgd
    withAdapter.momentum = 0.9
    #expect(try TrainingRecipe.parse(withAdapter.json) == withAdapter)
    // Canonical records hold integers only: the JSON must encode.
    #expect(throws: Never.self) { try CanonicalJSON.encode(withAdapter.json) }
  }

  @Test func theDemoAdapterRecipeRetrainsBitForBit() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.file("repo"))
    var o = DemoOptions(author: "demo", time: 1_767_322_800)
    o.stepScale = 0.02
    _ = try Demo.run(repository: repo, directory: dir.file("out"), options: o)
    let input = Array(#"{"tokens": [[3, 4, 5, 31]]}"#.utf8)
    let rec = try repo.recordIncident(revision: "lora-trigger", input: input, oracle: .argmaxIs(7), message: "x", threads: 1, author: "s", time: 1_767_323_000, key: nil)
    var options = DataAttributionOptions()
    options.examplesPerSource = 8
    let d = try repo.attributeData(
      incident: try repo.incident(rec.record.hex), firstBad: try repo.resolve("lora-trigger"), lastGood: try repo.resolve("base"), options: options)
    #expect(d.sources.map(\.source.role) == ["train", "eval"] && d.sources.first?.scored == 8)
    let c = try #require(d.confirmation, "\(d.confirmationUnavailable ?? "")")
    #expect(c.recipe.adapter?.rank == 4 && c.controlBitExact && c.retrains == 1)
    #expect(c.removals.count == 1 && c.removals.first?.note == "no other source: the first parent itself")
  }

  @Test func theBenchmarkRunsEveryScenarioOnOneTinySeed() throws {
    let dir = TemporaryDirectory()
    let runs = try BlameBenchmark.run(directory: dir.path, seeds: 1, size: .tiny)
    #expect(runs.map(\.scenario) == BlameScenario.allCases)
    for r in runs where r.scenario != .numerics {
      #expect(!r.answered.isEmpty && r.pathLength >= 3 && r.historyCalls >= 1, "\(r.scenario.rawValue)")
    }
    let a = try #require(runs.first)
    #expect(a.poisonRank != nil && a.sourcesRanked == 3 && a.controlBitExact == true)
    #expect(runs.first { $0.scenario == .tampering }?.plantedTensors?.count == 2)
    #expect(runs.first { $0.scenario == .numerics }?.replayVerdict?.contains("threads: 1 → 2") == true)
  }
}
