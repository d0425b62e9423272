import Foundation
import LineageCore
import LineageKit
import LineageStore
import LineageTensor
import LineageTestSupport
import Testing

/// A repository in a temporary directory with a small family of fixtures.
final class Sandbox {
  let dir = TemporaryDirectory("lineage-kit")
  let repo: Repository

  init() throws { repo = try Repository.initialize(at: dir.path) }

  /// A seeded base checkpoint of about `bytes`.
  func base(_ name: String = "base.safetensors", bytes: Int = 2 << 20, dtype: DType = .bf16, seed: UInt64 = 1) throws -> String {
    let path = dir.file(name)
    _ = try Fixtures.generate(to: path, targetBytes: bytes, dtype: dtype, seed: seed)
    return path
  }

  func child(of parent: String, _ name: String, fraction: Double, scale: Float = 0.05, seed: UInt64 = 2) throws -> String {
    let path = dir.file(name)
    _ = try Fixtures.derive(from: parent, to: path, fraction: fraction, scale: scale, seed: seed)
    return path
  }

  func packs() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/.lineage/packs"))?.sorted() ?? [] }
}

@Suite struct CommitCheckoutTests {
  @Test func aDirectoryRoundTripsBitExact() throws {
    let s = try Sandbox()
    let model = s.dir.path + "/model"
    _ = try Fixtures.generate(to: s.dir.file("model/model-00001-of-00002.safetensors"), targetBytes: 1 << 20, dtype: .f32, seed: 3)
    _ = try Fixtures.generate(to: s.dir.file("model/model-00002-of-00002.safetensors"), targetBytes: 1 << 20, dtype: .bf16, seed: 4)
    s.dir.write("model/config.json", Array(#"{"hidden_size": 128}"#.utf8))
    s.dir.write("model/tokenizer/vocab.txt", seededBytes(300_000, seed: 5))
    s.dir.write("model/empty.txt", [])
    let script = s.dir.write("model/run.sh", Array("#!/bin/sh\necho hi\n".utf8))
    chmod(script, 0o755)
    let summary = try s.repo.commit(commitOptions([model], "sharded model", tags: ["v1"]))
    #expect(summary.files.map(\.path) == [
      "config.json", "empty.txt", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "run.sh", "tokenizer/vocab.txt",
    ])
    #expect(summary.files.first { $0.path.hasSuffix("00001-of-00002.safetensors") }?.format == "safetensors")
    let out = s.dir.path + "/out"
    let co = try s.repo.checkout("v1", to: out, force: false)
    #expect(co.written.count == 6)
    for f in summary.files {
      #expect(readBytes("\(out)/\(f.path)") == readBytes("\(model)/\(f.path)"), "\(f.path) differs")
    }
    #expect(FileManager.default.isExecutableFile(atPath: "\(out)/run.sh"))
    // Checking out again finds every file identical and writes nothing.
    #expect(try s.repo.checkout("v1", to: out, force: false).unchanged.count == 6)
  }

  /// A Hugging Face cache snapshot: a directory of links into a blob store.
  @Test func linksToFilesAreStoredAsTheFilesTheyNameUnderTheLinksPaths() throws {
    let s = try Sandbox()
    let blob = try s.base("blobs/0f3a9c", bytes: 512 << 10, dtype: .f32)
    s.dir.write("blobs/77aa", Array(#"{"model_type":"llama"}"#.utf8))
    let snapshot = s.dir.path + "/snapshots/abc"
    try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: snapshot + "/model.safetensors", withDestinationPath: "../../blobs/0f3a9c")
    try FileManager.default.createSymbolicLink(atPath: snapshot + "/config.json", withDestinationPath: "../../blobs/77aa")
    let c = try s.repo.commit(commitOptions([snapshot], "from the HF cache"))
    #expect(c.files.map(\.path) == ["config.json", "model.safetensors"])
    #expect(c.files[1].format == "safetensors" && c.files[1].tensors > 0)
    _ = try s.repo.checkout("HEAD", to: s.dir.path + "/out", force: false)
    #expect(readBytes(s.dir.path + "/out/model.safetensors") == readBytes(blob))
    #expect(entryIsRegularFile(s.dir.path + "/out/model.safetensors"))
  }

  func entryIsRegularFile(_ path: String) -> Bool {
    (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular
  }

  @Test func wholeFileDigestIsWhatSha256sumPrints() throws {
    let s = try Sandbox()
    let path = s.dir.write("x.bin", Array("hello\n".utf8))
    let summary = try s.repo.commit(commitOptions([path], "x"))
    // printf 'hello\n' | sha256sum
    #expect(summary.files[0].sha256 == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
  }

  @Test func identicalContentIsStoredOnce() throws {
    let s = try Sandbox()
    let a = try s.base()
    let first = try s.repo.commit(commitOptions([a], "a"))
    let copy = s.dir.file("copy/base.safetensors")
    try FileManager.default.copyItem(atPath: a, toPath: copy)
    var again = commitOptions([copy], "copy")
    again.useStatCache = false
    let second = try s.repo.commit(again)
    #expect(first.newStoredBytes > 1 << 20)
    #expect(second.newRawBytes < 4096, "only the commit and tree are new")
    #expect(second.files[0].file == first.files[0].file)
  }

  @Test func aChildIsStoredAsDeltasAgainstItsDeclaredParent() throws {
    let s = try Sandbox()
    // A bf16 step of 2% of the weights' scale changes over 90% of values (bf16 keeps 8 bits of
    // precision, so smaller steps leave many values as they were). Docs/Benchmarks.md has the
    // fp32 numbers and the byte-plane entropy bound behind them.
    let base = try s.base(bytes: 4 << 20, dtype: .bf16)
    let child = try s.child(of: base, "child.safetensors", fraction: 1, scale: 0.02)
    let (pb, cb) = (readBytes(base), readBytes(child))
    var changed = 0
    for k in stride(from: 0, to: pb.count - 1, by: 2) where pb[k] != cb[k] || pb[k + 1] != cb[k + 1] { changed += 1 }
    #expect(Double(changed) > 0.9 * Double(pb.count / 2))
    let b = try s.repo.commit(commitOptions([base], "base", tags: ["base"]))
    let c = try s.repo.commit(commitOptions([child], "child", parents: ["base"]))
    #expect(c.parents == [b.commit])
    #expect(c.deltaChunks > 0)
    #expect(Double(c.newStoredBytes) < 0.5 * Double(c.logicalBytes))
    let out = s.dir.path + "/out"
    _ = try s.repo.checkout(c.commit.hex, to: out, force: false)
    #expect(readBytes("\(out)/child.safetensors") == readBytes(child))
    // Without a declared parent the same file gets no deltas.
    let plain = try Sandbox()
    let solo = try plain.repo.commit(commitOptions([child], "alone"))
    #expect(solo.deltaChunks == 0)
  }

  @Test func aChildChangingFivePercentAddsLittle() throws {
    let s = try Sandbox()
    let base = try s.base(bytes: 4 << 20)
    let child = try s.child(of: base, "child.safetensors", fraction: 0.05)
    _ = try s.repo.commit(commitOptions([base], "base", tags: ["base"]))
    let c = try s.repo.commit(commitOptions([child], "child", parents: ["base"]))
    #expect(Double(c.newStoredBytes) < 0.06 * Double(c.logicalBytes))
  }

  @Test func theStatCacheSkipsUnchangedFilesAndNoticesChanges() throws {
    let s = try Sandbox()
    let path = s.dir.write("w.bin", seededBytes(200_000, seed: 7))
    // Make the file older than the read so the cache may trust it.
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: path)
    _ = try s.repo.commit(commitOptions([path], "one"))
    #expect(try s.repo.commit(commitOptions([path], "two")).files[0].reused)
    s.dir.write("w.bin", seededBytes(200_000, seed: 8))
    let three = try s.repo.commit(commitOptions([path], "three"))
    #expect(!three.files[0].reused)
    #expect(three.newRawBytes > 100_000)
  }

  @Test func oneTensorCanBeCheckedOutAlone() throws {
    let s = try Sandbox()
    let base = try s.base(bytes: 1 << 20, dtype: .f32)
    _ = try s.repo.commit(commitOptions([base], "base"))
    let (_, files) = try s.repo.list("HEAD")
    let t = try #require(files[0].tensors.first { $0.name == "model.layers.0.mlp.up_proj.weight" })
    let out = s.dir.path + "/up.safetensors"
    _ = try s.repo.checkoutTensor("HEAD", name: t.name, to: out, force: false)
    let bytes = readBytes(out)
    let n = try SafetensorsLayout.headerLength(prefix: Array(bytes.prefix(8)), fileSize: UInt64(bytes.count))
    let layout = try SafetensorsLayout.parse(header: Array(bytes[8..<(8 + Int(n))]), fileSize: UInt64(bytes.count))
    #expect(layout.tensors.map(\.name) == [t.name] && layout.tensors[0].shape == t.shape)
    #expect(throws: KitError.tensorNotFound(name: "nope", revision: "HEAD")) { try s.repo.checkoutTensor("HEAD", name: "nope", to: out + "2", force: false) }
    #expect(throws: KitError.outputExists(path: out)) { try s.repo.checkoutTensor("HEAD", name: t.name, to: out, force: false) }
  }

  @Test func checkoutRefusesToOverwriteDifferentFiles() throws {
    let s = try Sandbox()
    let path = s.dir.write("a.txt", Array("one".utf8))
    _ = try s.repo.commit(commitOptions([path], "a"))
    let out = s.dir.path + "/out"
    s.dir.write("out/a.txt", Array("local edit".utf8))
    #expect(throws: KitError.outputExists(path: out + "/a.txt")) { try s.repo.checkout("HEAD", to: out, force: false) }
    #expect(readBytes(out + "/a.txt") == Array("local edit".utf8))
    _ = try s.repo.checkout("HEAD", to: out, force: true)
    #expect(readBytes(out + "/a.txt") == Array("one".utf8))
  }
}

@Suite struct BadInputTests {
  @Test(arguments: [
    ("truncated", [UInt8](repeating: 0, count: 5)),
    ("lying header length", SafetensorsBytes.make(header: "{}", data: [], lengthOverride: 999)),
    ("invalid JSON", SafetensorsBytes.make(header: "{\"a\":", data: [])),
    ("overlapping offsets", SafetensorsBytes.make(
      header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
      data: [UInt8](repeating: 0, count: 8))),
  ])
  func badSafetensorsWritesNothing(_ label: String, _ bytes: [UInt8]) throws {
    let s = try Sandbox()
    let good = s.dir.write("good.bin", Array("fine".utf8))
    let bad = s.dir.write("bad.safetensors", bytes)
    #expect(throws: KitError.self, "\(label)") { try s.repo.commit(commitOptions([good, bad], "mixed")) }
    do {
      _ = try s.repo.commit(commitOptions([good, bad], "mixed"))
    } catch KitError.safetensors(let path, _) {
      #expect(path == bad)
    } catch {
      Issue.record("expected a safetensors error, got \(error)")
    }
    #expect(s.packs().isEmpty, "no pack may be left behind")
    #expect(throws: KitError.emptyBranch("main")) { try s.repo.resolve("HEAD") }
    #expect(try s.repo.store.refs.opLog().entries.isEmpty)
  }

  @Test func inputErrorsAreNamed() throws {
    let s = try Sandbox()
    #expect(throws: KitError.pathNotFound("/no/such")) { try s.repo.commit(commitOptions(["/no/such"], "m")) }
    let target = s.dir.write("t.txt", [1])
    let dirLink = s.dir.path + "/dirlink"
    try FileManager.default.createSymbolicLink(atPath: dirLink, withDestinationPath: s.dir.path)
    #expect(throws: KitError.unsupportedFileType(path: dirLink, kind: "symbolic link to a directory")) {
      try s.repo.commit(commitOptions([dirLink], "m"))
    }
    let dangling = s.dir.path + "/dangling"
    try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: s.dir.path + "/nowhere")
    #expect(throws: KitError.unsupportedFileType(path: dangling, kind: "dangling symbolic link")) {
      try s.repo.commit(commitOptions([dangling], "m"))
    }
    let a = s.dir.write("x/same.txt", [1])
    let b = s.dir.write("y/same.txt", [2])
    #expect(throws: KitError.pathConflict("same.txt")) { try s.repo.commit(commitOptions([a, b], "m")) }
    let emptyDir = s.dir.path + "/empty"
    try FileManager.default.createDirectory(atPath: emptyDir, withIntermediateDirectories: true)
    #expect(throws: KitError.nothingToCommit) { try s.repo.commit(commitOptions([emptyDir], "m")) }
    #expect(throws: KitError.invalidName("bad..name")) { try s.repo.commit(commitOptions([target], "m", tags: ["bad..name"])) }
  }

  @Test func anExistingTagFailsBeforeAnythingIsWritten() throws {
    let s = try Sandbox()
    let a = s.dir.write("a.txt", [1])
    let first = try s.repo.commit(commitOptions([a], "a", tags: ["v1"]))
    let packs = s.packs()
    let b = s.dir.write("b.txt", [2])
    #expect(throws: KitError.tagExists("v1")) { try s.repo.commit(commitOptions([b], "b", tags: ["v1"])) }
    #expect(s.packs() == packs)
    #expect(try s.repo.resolve("v1") == first.commit)
  }
}

@Suite struct RevisionTests {
  @Test func resolvesRefsPrefixesAndAncestors() throws {
    let s = try Sandbox()
    var ids: [ObjectID] = []
    for k in 0..<3 {
      let p = s.dir.write("f\(k).txt", [UInt8(k)])
      ids.append(try s.repo.commit(commitOptions([p], "c\(k)", parents: k == 0 ? [] : ["HEAD"], tags: ["t\(k)"])).commit)
    }
    #expect(try s.repo.resolve("HEAD") == ids[2])
    #expect(try s.repo.resolve("main") == ids[2])
    #expect(try s.repo.resolve("t0") == ids[0])
    #expect(try s.repo.resolve("HEAD~2") == ids[0])
    #expect(try s.repo.resolve("t2^") == ids[1])
    #expect(try s.repo.resolve("HEAD~1^") == ids[0])
    #expect(try s.repo.resolve(String(ids[1].hex.prefix(8))) == ids[1])
    #expect(try s.repo.resolve("refs/tags/t1") == ids[1])
    #expect(throws: KitError.noSuchAncestor("HEAD~3")) { try s.repo.resolve("HEAD~3") }
    #expect(throws: KitError.unknownRevision("nope")) { try s.repo.resolve("nope") }
    #expect(throws: KitError.unknownRevision("abc")) { try s.repo.resolve("abc") }
    #expect(try s.repo.history(from: "HEAD", limit: 10).map(\.record.message) == ["c2", "c1", "c0"])
  }
}

@Suite struct IntegrityTests {
  /// Flip one byte inside the pack's last chunk payload.
  func damageLargestPack(_ s: Sandbox) throws {
    let dir = s.dir.path + "/.lineage/packs"
    let pack = try #require(s.packs().filter { $0.hasSuffix(".pack") }.max { a, b in
      readBytes("\(dir)/\(a)").count < readBytes("\(dir)/\(b)").count
    })
    var bytes = readBytes("\(dir)/\(pack)")
    bytes[bytes.count / 2] ^= 0x55
    try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/\(pack)"))
  }

  @Test func fsckIsCleanOnAHealthyStore() throws {
    let s = try Sandbox()
    let base = try s.base(bytes: 1 << 20)
    _ = try s.repo.commit(commitOptions([base], "b", tags: ["b"]))
    _ = try s.repo.commit(commitOptions([try s.child(of: base, "c.safetensors", fraction: 1)], "c", parents: ["b"]))
    let r = try s.repo.fsck(full: true)
    #expect(r.isClean, "\(r.problems)")
    // Two model files and the two sketches stored with them (Docs/ObjectFormat.md §7).
    #expect(r.filesRehashed == 4 && r.chunksRehashed > 20)
  }

  @Test func aCorruptChunkIsFoundByFsckAndRefusedByCheckout() throws {
    let s = try Sandbox()
    let base = try s.base(bytes: 1 << 20, dtype: .f32)
    _ = try s.repo.commit(commitOptions([base], "b"))
    try damageLargestPack(s)
    let reopened = try Repository.discover(from: s.dir.path)
    let report = try reopened.fsck(full: true)
    #expect(!report.isClean)
    #expect(report.problems.contains { $0.kind == .corruptObject })
    let out = s.dir.path + "/out"
    #expect(throws: KitError.self) { try reopened.checkout("HEAD", to: out, force: false) }
    let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
    #expect(leftovers.isEmpty, "checkout left \(leftovers)")
  }

  @Test func aMissingPackIsFoundByFsck() throws {
    let s = try Sandbox()
    _ = try s.repo.commit(commitOptions([s.dir.write("a.bin", seededBytes(300_000, seed: 1))], "a"))
    let dir = s.dir.path + "/.lineage/packs"
    for p in s.packs() where p.hasSuffix(".idx") { try FileManager.default.removeItem(atPath: "\(dir)/\(p)") }
    let report = try Repository.discover(from: s.dir.path).fsck(full: false)
    #expect(report.problems.contains { $0.kind == .badRef || $0.kind == .missingObject })
  }
}

@Suite struct GCTests {
  @Test func gcKeepsHistoryRemembersMovedBranchesAndDropsGarbage() throws {
    let s = try Sandbox()
    let a = try s.repo.commit(commitOptions([s.dir.write("a.bin", seededBytes(200_000, seed: 1))], "a"))
    // An unrelated model moves main; a still lives in the op log.
    let b = try s.repo.commit(commitOptions([s.dir.write("b.bin", seededBytes(200_000, seed: 2))], "b"))
    // Objects written without a ref: what an interrupted commit leaves.
    let w = s.repo.store.objects.writer()
    let garbage = seededBytes(100_000, seed: 3)
    let gid = ObjectID.of(.chunk, content: garbage)
    try garbage.withUnsafeBytes { try w.add(gid, type: .chunk, rawLength: garbage.count, encoded: ChunkCodec.encode($0, width: 1)) }
    try w.finish()
    s.dir.write(".lineage/tmp/pack-stale.pack", [1, 2, 3])
    let report = try s.repo.gc(refsOnly: false)
    #expect(report.objectsKept < report.objectsBefore)
    #expect(report.packsAfter == 1 && report.temporaryFilesRemoved == 1)
    let repo = try Repository.discover(from: s.dir.path)
    #expect(!repo.store.objects.contains(gid))
    #expect(repo.store.objects.contains(a.commit) && repo.store.objects.contains(b.commit))
    #expect(try repo.fsck(full: true).isClean)
    _ = try repo.checkout(a.commit.hex, to: s.dir.path + "/outa", force: false)
    #expect(readBytes(s.dir.path + "/outa/a.bin") == seededBytes(200_000, seed: 1))
    // --refs-only forgets what only the op log remembers.
    _ = try repo.gc(refsOnly: true)
    let after = try Repository.discover(from: s.dir.path)
    #expect(!after.store.objects.contains(a.commit))
    #expect(after.store.objects.contains(b.commit))
  }

  @Test func diskUsageCountsDedupAndPerCommitAdditions() throws {
    let s = try Sandbox()
    let base = try s.base(bytes: 2 << 20)
    _ = try s.repo.commit(commitOptions([base], "base", tags: ["base"]))
    _ = try s.repo.commit(commitOptions([try s.child(of: base, "c.safetensors", fraction: 0.05)], "child", parents: ["base"]))
    let u = try s.repo.diskUsage()
    #expect(u.commits.map(\.message) == ["base", "child"])
    #expect(u.logicalBytes == u.commits.reduce(0) { $0 + $1.logicalBytes })
    #expect(u.dedupRatio > 1.5)
    #expect(u.commits[1].newStoredBytes < u.commits[0].newStoredBytes / 10)
  }
}
