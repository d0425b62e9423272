import Foundation
import LineageCore
import LineageForensics
import LineageKit
import LineageRuntime
import LineageTensor
import LineageTestSupport
import Testing

/// blame on a planted history: root → c1 (good) → c2 (bad: one tensor tampered while every
/// tensor takes a small step, and a new data source) → c3 (still bad).
@Suite struct BlameTests {
  let arch = Architecture.mlp(inputs: 6, outputs: 5, hidden: 16, layers: 2, intermediate: 24)
  let input = Array(#"{"features": [[0.5, -1, 0.25, 2, 0, 1], [1, 1, -0.5, 0.3, -2, 0.1]]}"#.utf8)
  let poison = "sha256:" + String(repeating: "66", count: 32)

  func step(_ p: Parameters, seed: UInt64) -> Parameters {
    var out = p
    var rng = Xoshiro(seed: seed)
    for i in out.values.indices { out.values[i] += 0.001 * rng.normal() }
    return out
  }

  func history() throws -> (TemporaryDirectory, Repository) {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path)
    let root = Parameters.initialise(arch, seed: 1)
    let c1 = step(root, seed: 2)
    var c2 = step(c1, seed: 3)
    var bias = c2.tensor("lm_head.bias") ?? []
    bias[4] += 100  // the tampering: class 4 always wins
    c2.setTensor("lm_head.bias", bias)
    let c3 = step(c2, seed: 4)
    for (k, (name, p)) in [("root", root), ("c1", c1), ("c2", c2), ("c3", c3)].enumerated() {
      try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file("m/\(name)"))
      var o = commitOptions([dir.file("m/\(name)")], name, parents: k == 0 ? [] : [["root", "c1", "c2"][k - 1]], tags: [name], time: 1_767_322_800 + Int64(k))
      if name == "c2" { o.data = [.digest(role: "train", uri: "hf://scraped", digest: poison)] }
      _ = try repo.commit(o)
    }
    return (dir, repo)
  }

  @Test(arguments: [BlameSearch.bisect, .scan])
  func theFirstBadCommitItsTensorItsDataAndItsImpact(search: BlameSearch) throws {
    let (dir, repo) = try history()
    defer { withExtendedLifetime(dir) {} }
    let rec = try repo.recordIncident(revision: "c3", input: input, oracle: .argmaxIs(4), message: "always 4", threads: 1, author: "s", time: 1_767_323_000, key: nil)
    #expect(rec.reproduced)
    let r = try repo.blame(try repo.incident(rec.record.hex), search: search)
    let (c1, c2, c3) = (try repo.resolve("c1"), try repo.resolve("c2"), try repo.resolve("c3"))
    #expect(r.outcome == .blamed)
    #expect(r.firstBad == c2 && r.lastGood == c1)
    #expect(r.minimalSet == ["lm_head.bias"])
    #expect(r.tensors.count == ParameterLayout(arch).specs.count)  // every tensor took a step
    #expect(r.tensors.filter(\.revertFixes).map(\.name) == ["lm_head.bias"])
    #expect(r.tensors.filter(\.transplantBreaks).map(\.name) == ["lm_head.bias"])
    #expect(r.dataAdded.map(\.digest) == [poison])
    #expect(r.impact == [c3])
    if search == .scan { #expect(r.transitions.count == 1) }
    // Attribution asked for: the added source is not a local file, so it is reported unscored
    // with the reason, in the report and in the record's params.
    let ranked = try repo.blame(try repo.incident(rec.record.hex), search: search, attribution: DataAttributionOptions())
    let source = try #require(ranked.attribution?.sources.first)
    #expect(source.source.digest == poison && source.unavailable != nil && source.rank == nil)
    let params = Repository.blameParams(ranked, incident: try repo.incident(rec.record.hex))
    #expect(params["blame"]?["data_attribution"]?["sources"]?.arrayValue?.first?["unavailable"] != nil)
  }

  @Test func notReproducibleBadSinceRootAndBudget() throws {
    let (dir, repo) = try history()
    defer { withExtendedLifetime(dir) {} }
    let never = try repo.recordIncident(revision: "c1", input: input, oracle: .argmaxIs(4), message: "x", threads: 1, author: "s", time: 1, key: nil)
    if !never.reproduced {
      #expect(try repo.blame(try repo.incident(never.record.hex)).outcome == .notReproducible)
    }
    // An oracle every commit meets: "not class x" for an x no commit predicts.
    let batch = Batch.features([0.5, -1, 0.25, 2, 0, 1, 1, 1, -0.5, 0.3, -2, 0.1], rows: 2)
    var predicted = Set<Int>()
    for tag in ["root", "c1", "c2", "c3"] {
      predicted.formUnion(try Model(arch).forward(try repo.runnableModel(revision: tag).parameters, batch).predictions)
    }
    if let x = (0..<5).first(where: { !predicted.contains($0) }) {
      let always = try repo.recordIncident(revision: "c3", input: input, oracle: .argmaxIsNot(x), message: "y", threads: 1, author: "s", time: 2, key: nil)
      #expect(try repo.blame(try repo.incident(always.record.hex), search: .scan).outcome == .badSinceRoot)
      #expect(try repo.blame(try repo.incident(always.record.hex), search: .bisect).outcome == .badSinceRoot)
    }
    let tight = try repo.recordIncident(revision: "c3", input: input, oracle: .argmaxIs(4), message: "z", threads: 1, author: "s", time: 3, key: nil)
    #expect(try repo.blame(try repo.incident(tight.record.hex), search: .scan, budget: 2).outcome == .budgetExhausted)
  }

  /// A merge of two good fine-tunes that is bad itself: bisect and scan over the DAG blame the
  /// merge, with both parents good, and find the tampered tensor against the first parent.
  @Test(arguments: [BlameSearch.bisect, .scan])
  func aMergeOnThePathIsBlamedWithBothParents(search: BlameSearch) throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path)
    let root = Parameters.initialise(arch, seed: 1)
    let a = step(root, seed: 2)
    let a2 = step(a, seed: 5)
    let b = step(root, seed: 3)
    var m = a2
    for i in m.values.indices { m.values[i] = 0.5 * (a2.values[i] + b.values[i]) }
    var bias = m.tensor("lm_head.bias") ?? []
    bias[4] += 100
    m.setTensor("lm_head.bias", bias)
    let after = step(m, seed: 4)
    let plan: [(String, Parameters, [String])] = [("root", root, []), ("a", a, ["root"]), ("a2", a2, ["a"]), ("b", b, ["root"]), ("m", m, ["a2", "b"]), ("after", after, ["m"])]
    for (k, (name, p, parents)) in plan.enumerated() {
      try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file("m/\(name)"))
      _ = try repo.commit(commitOptions([dir.file("m/\(name)")], name, parents: parents, tags: [name], time: 1_767_322_800 + Int64(k)))
    }
    let rec = try repo.recordIncident(revision: "after", input: input, oracle: .argmaxIs(4), message: "4", threads: 1, author: "s", time: 1_767_323_000, key: nil)
    let r = try repo.blame(try repo.incident(rec.record.hex), search: search)
    #expect(r.outcome == .blamed)
    #expect(r.firstBad == (try repo.resolve("m")))
    #expect(r.goodParents == [try repo.resolve("a2"), try repo.resolve("b")])
    #expect(r.path.count == 6)  // every ancestor, both sides of the merge
    #expect(r.minimalSet == ["lm_head.bias"])
    if search == .bisect { #expect(r.replays <= 4 + r.tensors.count * 2 + 8) }
  }

  /// A failure that fades and returns: root → c1 → c2 (tampered) → c3 (tamper undone) → c4
  /// (tampered again) → c5. The default search scans so short a path and blames the return (c4),
  /// with both transitions; --bisect assumes bad stays bad and lands on c2, as git bisect would.
  @Test func aFailureThatFadesAndReturnsIsBlamedOnItsReturn() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path)
    func tampered(_ p: Parameters, _ by: Float) -> Parameters {
      var out = p
      var bias = out.tensor("lm_head.bias") ?? []
      bias[4] += by
      out.setTensor("lm_head.bias", bias)
      return out
    }
    let root = Parameters.initialise(arch, seed: 1)
    let c1 = step(root, seed: 2)
    let c2 = tampered(step(c1, seed: 3), 100)
    let c3 = tampered(step(c2, seed: 4), -100)
    let c4 = tampered(step(c3, seed: 5), 100)
    let c5 = step(c4, seed: 6)
    let plan = [("root", root), ("c1", c1), ("c2", c2), ("c3", c3), ("c4", c4), ("c5", c5)]
    for (k, (name, p)) in plan.enumerated() {
      try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file("m/\(name)"))
      _ = try repo.commit(commitOptions([dir.file("m/\(name)")], name, parents: k == 0 ? [] : [plan[k - 1].0], tags: [name], time: 1_767_322_800 + Int64(k)))
    }
    let rec = try repo.recordIncident(revision: "c5", input: input, oracle: .argmaxIs(4), message: "4", threads: 1, author: "s", time: 1_767_323_000, key: nil)
    let incident = try repo.incident(rec.record.hex)
    let r = try repo.blame(incident)
    #expect(r.search == .scan)
    let (id2, id3, id4) = (try repo.resolve("c2"), try repo.resolve("c3"), try repo.resolve("c4"))
    #expect(r.firstBad == id4 && r.lastGood == id3)
    #expect(r.transitions.map(\.bad) == [id4, id2])
    #expect(r.minimalSet == ["lm_head.bias"])
    // The tampered bias carries the failure: reverting it alone gives the lowest severity, below zero.
    let bias = try #require(r.tensors.first { $0.name == "lm_head.bias" }?.revertedSeverity)
    #expect(bias < 0 && r.tensors.allSatisfy { $0.name == "lm_head.bias" || ($0.revertedSeverity ?? -1) > bias })
    let b = try repo.blame(incident, search: .bisect)
    #expect(b.search == .bisect && b.firstBad == id2)
    #expect(Repository.blameParams(r, incident: incident)["blame"]?["search"]?.stringValue == "scan")
  }

  /// --units layers groups the differing tensors by block; the tampered head stays its own unit.
  @Test func layerUnitsAndTheSignedRecord() throws {
    let (dir, repo) = try history()
    defer { withExtendedLifetime(dir) {} }
    let rec = try repo.recordIncident(revision: "c3", input: input, oracle: .argmaxIs(4), message: "4", threads: 1, author: "s", time: 1_767_323_000, key: nil)
    let incident = try repo.incident(rec.record.hex)
    let r = try repo.blame(incident, units: .layers)
    let layers = Set(ParameterLayout(arch).specs.compactMap { Grouping.llama.group($0.name).layer })
    #expect(r.units == .layers && r.minimalSet == ["lm_head.bias"] && r.minimalTensors == ["lm_head.bias"])
    #expect(r.tensors.filter { $0.name.hasPrefix("layer ") }.count == layers.count)
    #expect(r.tensors.filter(\.revertFixes).map(\.name) == ["lm_head.bias"])
    // The record: on refs/blame, with the culprit, kept by gc and readable as a commit record.
    let id = try repo.recordBlame(r, incident: incident, author: "s", time: 1_767_323_100, key: nil)
    #expect(try repo.blameHead() == id)
    let b = try #require(try repo.commitInfo(id.hex).record.params?["blame"])
    #expect(b["first_bad"]?.stringValue == (try repo.resolve("c2")).hex && b["outcome"]?.stringValue == "blamed")
    #expect(b["minimal_set"]?.arrayValue?.compactMap(\.stringValue) == ["lm_head.bias"] && b["units"]?.stringValue == "layers")
    _ = try repo.gc(refsOnly: false)
    #expect(try repo.commitInfo(id.hex).record.params?["blame"] != nil)
  }

  /// The oracles that need more than logits: an expected output and a probe set, each stored in
  /// the record's tree; a safetensors input; blame with each.
  @Test func expectedOutputProbeSetAndTensorInputs() throws {
    let (dir, repo) = try history()
    defer { withExtendedLifetime(dir) {} }
    let batch = Batch.features([0.5, -1, 0.25, 2, 0, 1, 1, 1, -0.5, 0.3, -2, 0.1], rows: 2)
    let c3 = try Model(arch).forward(try repo.runnableModel(revision: "c3").parameters, batch)
    let logits = "{\"logits\": [" + c3.logits.map { "\($0)" }.joined(separator: ", ") + "]}"
    let close = IncidentSpec(
      revision: "c3", input: NamedBytes(name: "in.json", bytes: input), oracle: try Oracle.parse("max_abs_diff(expected)<5"),
      expected: NamedBytes(name: "bad.json", bytes: Array(logits.utf8)), observed: NamedBytes(name: "seen.json", bytes: Array(logits.utf8)),
      message: "reproduces the bad output")
    let rec = try repo.recordIncident(close, author: "s", time: 1_767_323_000, key: nil)
    #expect(rec.reproduced)
    let incident = try repo.incident(rec.record.hex)
    #expect(incident.files.map(\.role).sorted() == ["expected", "input", "observed"])
    #expect(incident.file("expected")?.path == "expected.json")
    let replay = try repo.replay(incident)
    #expect(replay.verdict == .exact && replay.observedMaxAbsDiff == 0)
    #expect(try repo.blame(incident).firstBad == (try repo.resolve("c2")))
    // A probe set labelled with c1's answers ([3, 4]): accuracy falls to 0.5 once class 4 always wins.
    let c1 = try Model(arch).forward(try repo.runnableModel(revision: "c1").parameters, batch).predictions
    #expect(c1 == [3, 4])
    let probe = #"{"x": [0.5, -1, 0.25, 2, 0, 1], "y": \#(c1[0])}"# + "\n" + #"{"x": [1, 1, -0.5, 0.3, -2, 0.1], "y": \#(c1[1])}"#
    let metric = IncidentSpec(
      revision: "c3", input: nil, oracle: try Oracle.parse("metric_on_probe_set(accuracy)<0.75"),
      probeSet: NamedBytes(name: "probe.jsonl", bytes: Array(probe.utf8)), message: "accuracy collapsed")
    let m = try repo.recordIncident(metric, author: "s", time: 1_767_323_001, key: nil)
    #expect(m.reproduced)
    #expect(try repo.blame(try repo.incident(m.record.hex), search: .scan).firstBad == (try repo.resolve("c2")))
    // The same input as a safetensors file with a features tensor.
    let values: [Float] = [0.5, -1, 0.25, 2, 0, 1, 1, 1, -0.5, 0.3, -2, 0.1]
    let file = SafetensorsWriter.header([.init(name: "features", dtype: .f32, shape: [2, 6])]) + values.withUnsafeBytes { Array($0) }
    let t = try repo.recordIncident(
      IncidentSpec(revision: "c3", input: NamedBytes(name: "in.safetensors", bytes: file), oracle: .argmaxIs(4), message: "st"),
      author: "s", time: 1_767_323_002, key: nil)
    let ti = try repo.incident(t.record.hex)
    #expect(t.reproduced && ti.file("input")?.path == "input.safetensors" && ti.observed == c3.digest.hex)
    // Refusals: a missing expected file, a probe set without targets, a wrong-sized expected output.
    #expect(throws: KitError.self) {
      try repo.recordIncident(IncidentSpec(revision: "c3", input: NamedBytes(name: "i.json", bytes: input), oracle: try Oracle.parse("max_abs_diff(expected)<1"), message: "x"), author: "s", time: 1, key: nil)
    }
    #expect(throws: KitError.self) {
      try repo.recordIncident(IncidentSpec(revision: "c3", input: nil, oracle: try Oracle.parse("metric_on_probe_set(loss)>1"), probeSet: NamedBytes(name: "p.json", bytes: input), message: "x"), author: "s", time: 1, key: nil)
    }
    #expect(throws: KitError.self) {
      try repo.recordIncident(IncidentSpec(revision: "c3", input: NamedBytes(name: "i.json", bytes: input), oracle: try Oracle.parse("max_abs_diff(expected)<1"), expected: NamedBytes(name: "e.json", bytes: Array(#"{"logits": [1, 2]}"#.utf8)), message: "x"), author: "s", time: 1, key: nil)
    }
  }

  /// --emit-fix: the incident's model minus the first bad commit's change on the minimal set;
  /// the incident stops, the written model loads, and accuracy on c1's answers comes back.
  @Test func emitFixWritesAModelThatStopsTheIncident() throws {
    let (dir, repo) = try history()
    defer { withExtendedLifetime(dir) {} }
    let rec = try repo.recordIncident(revision: "c3", input: input, oracle: .argmaxIs(4), message: "4", threads: 1, author: "s", time: 1_767_323_000, key: nil)
    let incident = try repo.incident(rec.record.hex)
    let r = try repo.blame(incident)
    let batch = Batch.features([0.5, -1, 0.25, 2, 0, 1, 1, 1, -0.5, 0.3, -2, 0.1], rows: 2)
    let c1 = try Model(arch).forward(try repo.runnableModel(revision: "c1").parameters, batch).predictions
    let probe = #"{"x": [0.5, -1, 0.25, 2, 0, 1], "y": \#(c1[0])}"# + "\n" + #"{"x": [1, 1, -0.5, 0.3, -2, 0.1], "y": \#(c1[1])}"#
    let fix = try repo.emitFix(r, incident: incident, to: dir.file("fix"), probeSet: NamedBytes(name: "p.jsonl", bytes: Array(probe.utf8)))
    #expect(fix.tensors == ["lm_head.bias"] && fix.flipRate == 1 && fix.incidents.count == 1)
    #expect(fix.probeAccuracy?.before == 0.5 && fix.probeAccuracy?.after == 1)
    let written = try Repository.runnableModel(atPath: dir.file("fix"))
    let (b3, b2, b1) = try (repo.runnableModel(revision: "c3"), repo.runnableModel(revision: "c2"), repo.runnableModel(revision: "c1"))
    let expected = (0..<5).map { b3.parameters.tensor("lm_head.bias")![$0] - (b2.parameters.tensor("lm_head.bias")![$0] - b1.parameters.tensor("lm_head.bias")![$0]) }
    #expect(written.parameters.tensor("lm_head.bias") == expected)
    #expect(written.parameters.tensor("lm_head.weight") == b3.parameters.tensor("lm_head.weight"))
    #expect(throws: KitError.outputExists(path: dir.file("fix"))) { try repo.emitFix(r, incident: incident, to: dir.file("fix")) }
  }
}

