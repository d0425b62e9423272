import Foundation
import LineageCore
import LineageForensics
@testable import LineageKit
import LineageRuntime
import LineageTensor
import LineageTestSupport
import Testing

/// Stored sketches (Docs/ObjectFormat.md §7): written at commit without changing commit ids,
/// checked by fsck, kept by gc, backfilled by `sketch`, and used by infer's shortlist.
@Suite struct SketchStoreTests {
  let arch = InferScaleBenchmark.architecture

  func model(_ seed: UInt64) -> Parameters {
    InferScaleBenchmark.perturbed(Parameters.initialise(arch, seed: seed), seed: seed &+ 1, scale: 0.02)
  }

  /// Commit `p` as `name` (tagged) from a directory under `dir`.
  @discardableResult
  func commit(_ repo: Repository, _ dir: TemporaryDirectory, _ name: String, _ p: Parameters, parents: [String] = [], sketch: Bool = true, time: Int64 = 1_767_322_800)
    throws -> CommitSummary
  {
    let path = dir.file("m/\(name)")
    if !FileManager.default.fileExists(atPath: path) { try RunnableModel(label: name, architecture: arch, parameters: p).write(to: path) }
    var o = commitOptions([path], name, parents: parents, tags: [name], time: time)
    o.sketch = sketch
    return try repo.commit(o)
  }

  @Test func aCommitStoresItsSketchAndKeepsItsId() throws {
    let a = TemporaryDirectory()
    let b = TemporaryDirectory()
    let ra = try Repository.initialize(at: a.path + "/r")
    let rb = try Repository.initialize(at: b.path + "/r")
    let p = model(1)
    let with = try commit(ra, a, "x", p)
    let without = try commit(rb, b, "x", p, sketch: false)
    #expect(with.commit == without.commit && without.sketch == nil)
    guard case .stored(_, let tensors, _)? = with.sketch else {
      Issue.record("no sketch stored: \(String(describing: with.sketch))")
      return
    }
    #expect(tensors == p.layout.specs.count)
    let index = try ra.sketchIndex()
    let file = try #require(index[with.tree])
    let s = try ra.storedSketch(file)
    #expect(s.tensors.count == p.layout.specs.count && s.tensors.allSatisfy { $0.values != nil })
    #expect(try rb.sketchIndex().isEmpty)
    // The same model sketched again (another repository, another sketcher) gives the same bytes.
    _ = try rb.backfillSketches(revisions: nil, time: 1_767_322_900)
    #expect(try rb.sketchIndex()[with.tree] == file)
    #expect(try ra.fsck(full: true).isClean)
    // Sketch records are not models: not listed as commits, not infer candidates.
    #expect(try ra.allRefTargets() == [with.commit])
  }

  /// A commit over the size limit defers its sketch (and says so) instead of slowing down;
  /// `lineage sketch` adds it afterwards.
  @Test func aLargeCommitDefersItsSketch() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path + "/r")
    let path = dir.file("m/big")
    try RunnableModel(label: "big", architecture: arch, parameters: model(1)).write(to: path)
    var o = commitOptions([path], "big", tags: ["big"])
    o.sketchLimit = 1024
    let s = try repo.commit(o)
    guard case .deferred(let bytes)? = s.sketch else {
      Issue.record("expected a deferred sketch, got \(String(describing: s.sketch))")
      return
    }
    #expect(try bytes > 1024 && repo.sketchIndex().isEmpty)
    _ = try repo.backfillSketches(revisions: ["big"], time: 1_767_322_900)
    #expect(try repo.sketchIndex()[s.tree] != nil)
  }

  @Test func fsckReportsABrokenSketchAndGcKeepsGoodOnes() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path + "/r")
    let x = try commit(repo, dir, "x", model(1))
    let y = try commit(repo, dir, "y", model(2), time: 1_767_322_801)
    // A repack keeps the sketches.
    _ = try repo.gc(refsOnly: true)
    let before = try repo.sketchIndex()
    #expect(before.count == 2 && before[x.tree] != nil && before[y.tree] != nil)
    for file in before.values { _ = try repo.storedSketch(file) }
    #expect(try repo.fsck(full: true).isClean)
    // A sketch whose bytes hash correctly but break §7.2 (wrong version): fsck names it.
    var bytes = try repo.storedSketchBytes(try #require(before[x.tree]))
    bytes[0] = 9
    _ = try repo.appendSketches([(x.tree, bytes)], time: 1_767_322_900)
    let broken = try #require(try repo.sketchIndex()[x.tree])
    let report = try repo.fsck(full: false)
    #expect(report.problems.contains { $0.kind == .corruptObject && $0.subject == broken.hex && $0.message.contains("version 9") }, "\(report.problems)")
    // The broken one still counts as present: backfill adds only what is missing.
    let fixed = try repo.backfillSketches(revisions: nil, time: 1_767_322_901)
    #expect(fixed.added == 0 && fixed.present == 2)
  }

  @Test func gcKeepsEverySketchTheIndexNames() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path + "/r")
    for (i, name) in ["a", "b", "c"].enumerated() { try commit(repo, dir, name, model(UInt64(i) + 10), time: 1_767_322_800 + Int64(i)) }
    let index = try repo.sketchIndex()
    let r = try repo.gc(refsOnly: true)
    #expect(r.packsAfter == 1)
    #expect(try repo.sketchIndex() == index)
    for file in index.values { #expect(try repo.storedSketch(file).tensors.count > 0) }
    #expect(try repo.fsck(full: true).isClean)
  }

  @Test func backfillSketchesOldCommitsOnce() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path + "/r")
    try commit(repo, dir, "a", model(1), sketch: false)
    try commit(repo, dir, "b", model(2), sketch: false, time: 1_767_322_801)
    #expect(try repo.sketchIndex().isEmpty)
    let first = try repo.backfillSketches(revisions: nil, time: 1_767_322_900)
    #expect(first.added == 2 && first.present == 0 && first.record != nil)
    let again = try repo.backfillSketches(revisions: ["a"], time: 1_767_322_901)
    #expect(again.added == 0 && again.present == 1 && again.record == nil)
    #expect(try repo.sketchIndex().count == 2)
  }

  /// A store of one family and many unrelated models: a fine-tune's and a permuted copy's true
  /// parents are in a shortlist of 4, the full test names them, and the Holm correction counts
  /// every screened candidate.
  @Test func theShortlistHoldsTheTrueParentOfAFineTuneAndAPermutedCopy() throws {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path + "/r")
    let base = model(1)
    try commit(repo, dir, "base", base)
    let ft = InferScaleBenchmark.perturbed(base, seed: 3, scale: 0.004)
    try commit(repo, dir, "ft", ft, parents: ["base"], time: 1_767_322_801)
    for i in 0..<14 { try commit(repo, dir, "other\(i)", model(UInt64(100 + 10 * i)), time: 1_767_322_802 + Int64(i)) }
    func query(_ name: String, _ p: Parameters) throws -> ModelTensors {
      try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file("q/\(name)"))
      return try Repository.modelTensors(atPath: dir.file("q/\(name)"))
    }
    let tuned = try repo.inferScreened(try query("tuned", InferScaleBenchmark.perturbed(ft, seed: 5, scale: 0.002)), screening: ScreeningOptions(shortlist: 4))
    #expect(tuned.screened.count == 16 && tuned.testedInFull == 4 && tuned.sketchedNow == 0)
    #expect(tuned.matches.first?.candidate.label.hasPrefix("ft (") == true && tuned.matches.first?.candidate.relation == .finetunedFrom)
    let permuted = InferScaleBenchmark.permuteHiddenUnits(InferScaleBenchmark.perturbed(base, seed: 6, scale: 0.002), architecture: arch, seed: 7)
    let p = try repo.screen(try query("permuted", permuted), screening: ScreeningOptions(shortlist: 4))
    let original = try #require(p.screened.first { $0.label.hasPrefix("base (") })
    #expect(original.shortlisted, "\(p.screened.map { ($0.label, $0.estimate) })")
    #expect((original.estimate.profileCorrelation ?? 0) > 0.9)
    #expect(p.screened.filter { $0.label.hasPrefix("other") }.allSatisfy { ($0.estimate.profileCorrelation ?? 1) < 0.5 })
    // Through the full test the permuted copy is still related to base (unit matching).
    let full = try repo.inferScreened(try query("permuted2", permuted), screening: ScreeningOptions(shortlist: 4))
    #expect(full.matches.contains { $0.candidate.label.hasPrefix("base (") && $0.candidate.relation != .unrelated })
    #expect(full.matches.filter { $0.candidate.label.hasPrefix("other") }.allSatisfy { $0.candidate.relation == .unrelated })
  }

  /// Recall on `bench infer`'s trained lake: every declared parent (merges: both) is in its
  /// child's shortlist of 8, at two seeds.
  @Test(arguments: [UInt64(1), 2])
  func everyDeclaredParentIsShortlistedOnTheBenchLake(seed: UInt64) throws {
    let dir = TemporaryDirectory()
    _ = try InferBenchmark.run(directory: dir.path + "/lake", families: 2, seed: seed)
    let r = try InferScaleBenchmark.recall(try Repository.discover(from: dir.path + "/lake"), shortlist: 8)
    #expect(r.queries == 14 && r.parents == 16)
    #expect(r.parentsShortlisted == r.parents, "\(r.misses)")
  }
}
