import Foundation
import LineageCore
import LineageKit
import LineageRuntime
import LineageTensor
import LineageTestSupport
import Testing

/// Incidents recorded and replayed with the native runtime.
@Suite struct IncidentTests {
  let arch = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)
  let input = Array(#"{"tokens": [[1, 2, 3, 4], [5, 6, 7, 8]]}"#.utf8)

  func commit(_ repo: Repository, _ dir: TemporaryDirectory, _ name: String, _ p: Parameters, time: Int64) throws {
    try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file("m/\(name)"))
    _ = try repo.commit(commitOptions([dir.file("m/\(name)")], name, tags: [name], time: time))
  }

  @Test func anIncidentReplaysExactlyAndNamesTheFirstStageThatDiffers() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path)
    let a = Parameters.initialise(arch, seed: 1)
    // b differs from a only in layer 1: replays of a's incident on b diverge there first.
    var b = a
    var rng = Xoshiro(seed: 2)
    let name = "model.layers.1.mlp.down_proj.weight"
    b.setTensor(name, (a.tensor(name) ?? []).map { $0 + 0.5 * rng.normal() })
    try commit(repo, dir, "a", a, time: 1_767_322_800)
    try commit(repo, dir, "b", b, time: 1_767_322_801)
    // The oracle: a's own last-position argmax of both rows, when they agree; else a margin that holds for a.
    let m = try Model(arch)
    let r = try m.forward(a, .tokens([1, 2, 3, 4, 5, 6, 7, 8], rows: 2, length: 4))
    let k = r.predictions[3]
    let oracle: Oracle = r.predictions[7] == k ? .argmaxIs(k) : .argmaxIsNot(15 - k == r.predictions[7] ? (k + 1) % 16 : 15 - k)
    let rec = try repo.recordIncident(revision: "a", input: input, oracle: oracle, message: "seen in production", threads: 1, author: "sec", time: 1_767_323_000, key: nil)
    #expect(rec.reproduced)
    let incident = try repo.incident(String(rec.record.hex.prefix(8)))
    #expect(incident.commit == (try repo.resolve("a")) && incident.activations.map(\.name).last == "lm_head")
    let same = try repo.replay(incident)
    #expect(same.verdict == .exact && same.reproduces && same.firstDivergence == nil && same.environmentChanges.isEmpty)
    let other = try repo.replay(incident, revision: "b")
    let holdsOnB = try oracle.holds(try m.forward(b, .tokens([1, 2, 3, 4, 5, 6, 7, 8], rows: 2, length: 4)), rows: 2)
    #expect(other.verdict == (holdsOnB ? .equivalent : .diverged) && other.reproduces == holdsOnB)
    #expect(other.firstDivergence == "model.layers.1")
    let threads = try repo.replay(incident, threads: 2)
    #expect(threads.environmentChanges == ["threads: 1 → 2"] && threads.verdict != .diverged)
    // Kept by gc, listed newest first, and unknown ids are refused.
    _ = try repo.gc(refsOnly: false)
    #expect(try repo.incidents().map(\.record) == [rec.record])
    #expect(throws: KitError.unknownRevision("ffff")) { try repo.incident("ffff") }
  }

  @Test func inputsAndOraclesThatDoNotFitAreRefused() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path)
    try commit(repo, dir, "a", Parameters.initialise(arch, seed: 1), time: 1_767_322_800)
    #expect(throws: KitError.runtime(what: "a (\(try repo.resolve("a").short))", reason: "input: oracle class 99 is outside the model's 16 outputs")) {
      try repo.recordIncident(revision: "a", input: input, oracle: .argmaxIs(99), message: "x", threads: 1, author: "s", time: 1, key: nil)
    }
    #expect(throws: KitError.runtime(what: "incident input", reason: "token rows have different lengths")) {
      try repo.recordIncident(revision: "a", input: Array(#"{"tokens": [[1], [1, 2]]}"#.utf8), oracle: .argmaxIs(1), message: "x", threads: 1, author: "s", time: 1, key: nil)
    }
    #expect(try repo.incidents().isEmpty)
  }

  @Test(arguments: [
    ("argmax==7", Oracle.argmaxIs(7)), ("argmax != 3", .argmaxIsNot(3)), ("margin(2)>0.5", .margin(2, 0.5)),
    ("max_abs_diff(expected)<0.25", .maxAbsDiff(below: true, 0.25)), ("max_abs_diff(expected) > 2", .maxAbsDiff(below: false, 2)),
    ("metric_on_probe_set(accuracy)<0.9", .probeMetric(.accuracy, below: true, 0.9)),
    ("metric_on_probe_set(loss)>1.5", .probeMetric(.loss, below: false, 1.5)), ("external", .external),
  ])
  func oraclesParse(text: String, expected: Oracle) throws {
    #expect(try Oracle.parse(text) == expected)
    #expect(try Oracle.parse(expected.description) == expected)
  }

  @Test func badOraclesAreRefused() {
    for text in [
      "argmax=7", "argmax==-1", "margin(2)", "max_abs_diff(x)<1", "", "max_abs_diff(expected)<-1", "max_abs_diff(expected)=1",
      "metric_on_probe_set(f1)<0.5", "metric_on_probe_set(loss)<nan", "externally",
    ] {
      #expect(throws: RuntimeError.self) { try Oracle.parse(text) }
    }
  }
}
