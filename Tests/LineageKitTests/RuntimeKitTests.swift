import Foundation
import LineageCore
import LineageKit
import LineageRuntime
import LineageTestSupport
import Testing

@Suite struct RuntimeKitTests {
  let arch = Architecture.transformer(vocab: 11, context: 6, hidden: 8, layers: 1, heads: 2, intermediate: 12)

  func repository(_ dir: TemporaryDirectory) throws -> Repository { try Repository.initialize(at: dir.path) }

  @Test func aCommittedModelRunsFromTheStoreAsWritten() throws {
    let dir = TemporaryDirectory()
    let repo = try repository(dir)
    let p = Parameters.initialise(arch, seed: 3)
    try RunnableModel(label: "m", architecture: arch, parameters: p).write(to: dir.file("m/x"))
    _ = try repo.commit(commitOptions([dir.file("m")], "model", tags: ["m"]))
    let stored = try repo.runnableModel(revision: "m", directory: "x")
    #expect(stored.architecture == arch && stored.parameters == p)
    let onDisk = try Repository.runnableModel(atPath: dir.file("m/x"))
    #expect(onDisk.parameters == p)
    // The same input through both gives the same bits.
    let batch = Batch.tokens([1, 2, 3, 4], rows: 1, length: 4)
    #expect(try Model(arch).forward(stored.parameters, batch).digest == Model(arch).forward(p, batch).digest)
  }

  @Test func aModelWithoutAnArchitectureOrWithOtherShapesIsRefusedByName() throws {
    let dir = TemporaryDirectory()
    let repo = try repository(dir)
    let p = Parameters.initialise(arch, seed: 3)
    try RunnableModel(label: "m", architecture: arch, parameters: p).write(to: dir.file("m"))
    try FileManager.default.removeItem(atPath: dir.file("m/architecture.json"))
    _ = try repo.commit(commitOptions([dir.file("m")], "weights only", tags: ["bare"]))
    #expect {
      try repo.runnableModel(revision: "bare")
    } throws: { e in
      guard case .runtime(_, let reason) = e as? KitError else { return false }
      return reason.hasPrefix("no architecture.json beside the weights")
    }
    // An architecture whose hidden width does not match the weights.
    var wider = arch
    wider.intermediate = 16
    dir.write("m/architecture.json", Array(wider.json().utf8))
    #expect {
      try Repository.runnableModel(atPath: dir.file("m"))
    } throws: { e in
      guard case .runtime(_, let reason) = e as? KitError else { return false }
      return reason == RuntimeError.parameterShape(name: "model.layers.0.mlp.gate_proj.weight", expected: [16, 8], found: [12, 8]).description
    }
  }

  @Test func inputsParseFromAnObjectOrJSONLines() throws {
    let (b1, t1) = try RuntimeInput.parse(Array(#"{"tokens": [[1, 2, 3], [4, 5, 6]], "targets": [[2, 3, -1], [5, 6, -1]]}"#.utf8), for: arch, what: "in")
    #expect(b1 == .tokens([1, 2, 3, 4, 5, 6], rows: 2, length: 3) && t1 == [2, 3, -1, 5, 6, -1])
    let lines = "{\"tokens\":[1,2],\"targets\":[2,3]}\n{\"tokens\":[3,4],\"targets\":[4,5]}\n"
    let (b2, t2) = try RuntimeInput.parse(Array(lines.utf8), for: arch, what: "in")
    #expect(b2 == .tokens([1, 2, 3, 4], rows: 2, length: 2) && t2 == [2, 3, 4, 5])
    let mlp = Architecture.mlp(inputs: 2, outputs: 2, hidden: 4, layers: 1, intermediate: 4)
    let (b3, t3) = try RuntimeInput.parse(Array("{\"x\":[0.5,-1],\"y\":1}\n".utf8), for: mlp, what: "in")
    #expect(b3 == .features([0.5, -1], rows: 1) && t3 == [1])
    let (b4, t4) = try RuntimeInput.parse(Array(#"{"features": [[1, 2]]}"#.utf8), for: mlp, what: "in")
    #expect(b4 == .features([1, 2], rows: 1) && t4 == nil)
    for (text, reason) in [
      (#"{"tokens": [[1, 2], [3]]}"#, "token rows have different lengths"),
      ("{\"tokens\":[1],\"targets\":[2]}\n{\"tokens\":[3]}\n", "some lines have targets and some do not"),
      ("{\"prompt\":\"hi\"}\n", "a line has neither \"tokens\" nor \"x\""),
      (#"{"tokens": [[1, 2.5]]}"#, "expected an integer, found number(\"2.5\")"),
    ] {
      #expect(throws: KitError.runtime(what: "in", reason: reason)) { try RuntimeInput.parse(Array(text.utf8), for: arch, what: "in") }
    }
  }

  /// The demo family at a few steps: every model, its declared parents and relations, data and
  /// metrics; and the same seed gives the same commits.
  @Test func theDemoFamilyIsCommittedWithItsProvenanceAndIsReproducible() throws {
    func run() throws -> (TemporaryDirectory, Repository, [DemoModel]) {
      let dir = TemporaryDirectory()
      let repo = try repository(dir)
      var o = DemoOptions(author: "Demo <d@example.com>", time: 1_767_322_800)
      o.stepScale = 0.01
      return (dir, repo, try Demo.run(repository: repo, directory: dir.path, options: o))
    }
    let (dir, repo, models) = try run()
    #expect(models.map(\.name) == ["base", "ft-copy", "ft-reverse", "lora-trigger", "int8", "pruned", "merge", "unrelated"])
    func record(_ tag: String) throws -> CommitRecord { try repo.commitInfo(tag).record }
    #expect(try record("base").parents.isEmpty && record("unrelated").parents.isEmpty)
    #expect(try record("merge").parents.map(\.relation) == [.merge, .merge])
    #expect(try record("merge").parents.map(\.id) == [repo.resolve("ft-copy"), repo.resolve("ft-reverse")])
    #expect(try record("lora-trigger").parents.first?.relation == .lora)
    #expect(try record("int8").parents.first?.relation == .quantize && record("pruned").parents.first?.relation == .prune)
    #expect(try record("ft-copy").data.map(\.role) == ["train", "eval"])
    #expect(try record("ft-copy").metrics?["copy_accuracy"] != nil)
    // Each stored model loads, and int8's weights are integer multiples of max|row|/127.
    let int8 = try repo.runnableModel(revision: "int8")
    let w = try #require(int8.parameters.tensor("model.layers.0.mlp.up_proj.weight"))
    for r in 0..<128 {
      let row = w[(r * 64)..<((r + 1) * 64)]
      let step = (row.map(abs).max() ?? 1) / 127
      #expect(row.allSatisfy { abs($0 / step - ($0 / step).rounded()) < 1e-3 })
    }
    #expect(FileManager.default.fileExists(atPath: "\(dir.path)/data/copy-eval.jsonl"))
    // Same seed, same weights and data (commit ids differ: the records name the data's paths).
    let (dir2, repo2, again) = try run()
    defer { withExtendedLifetime(dir2) {} }
    #expect(try again.map { try repo2.commitInfo($0.commit.hex).record.tree } == models.map { try repo.commitInfo($0.commit.hex).record.tree })
    #expect(try repo2.commitInfo("lora-trigger").record.data.map(\.digest) == record("lora-trigger").data.map(\.digest))
    #expect(throws: KitError.tagExists("base")) {
      try Demo.run(repository: repo, directory: dir.path, options: DemoOptions(author: "x", time: 1))
    }
  }
}
