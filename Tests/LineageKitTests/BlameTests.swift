import Foundation
import LineageCore
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
}
