import Foundation
import LineageCore
import LineageKit
import LineageStore
import LineageTensor
import LineageTestSupport
import Testing

/// Ulp-distance chunks in a repository: codec 5 (ulp-bits) chosen for float children in a new
/// (version 3) store, codec 4 (sub-delta) in a version 2 store, XOR in a version 1 store; bit-exact
/// on checkout, verified by fsck, and never written into a store whose version forbids them.
@Suite struct SubDeltaStoreTests {
  /// Chunk codecs in the store, counted.
  func codecs(_ repo: Repository) -> [Codec: Int] {
    var n: [Codec: Int] = [:]
    for (_, loc) in repo.store.objects.allObjects() where loc.type == .chunk { n[loc.codec, default: 0] += 1 }
    return n
  }

  @Test(arguments: [DType.f32, .bf16, .f16])
  func aFineTunedFloatChildIsStoredAsUlpBitsAndChecksOutBitExact(_ dtype: DType) throws {
    let s = try Sandbox()
    let base = try s.base(bytes: 1 << 20, dtype: dtype)
    let child = try s.child(of: base, "child.safetensors", fraction: 1, scale: dtype == .f32 ? 0.001 : 0.02)
    _ = try s.repo.commit(commitOptions([base], "base", tags: ["base"]))
    let c = try s.repo.commit(commitOptions([child], "child", parents: ["base"]))
    #expect(c.deltaChunks > 0)
    #expect(codecs(s.repo)[.ulpBits, default: 0] == c.deltaChunks)
    #expect(codecs(s.repo)[.xorDelta] == nil && codecs(s.repo)[.subDelta] == nil)
    // A grandchild deltas against ulp-bits chunks: depth 2.
    let grand = try s.child(of: child, "grand.safetensors", fraction: 1, scale: dtype == .f32 ? 0.001 : 0.02, seed: 5)
    let g = try s.repo.commit(commitOptions([grand], "grandchild", parents: [c.commit.hex]))
    #expect(s.repo.store.objects.allObjects().contains { $0.1.codec == .ulpBits && $0.1.depth == 2 })
    for (commit, file, name) in [(c.commit, child, "child.safetensors"), (g.commit, grand, "grand.safetensors")] {
      let out = s.dir.path + "/out-\(name)"
      _ = try s.repo.checkout(commit.hex, to: out, force: false)
      #expect(readBytes("\(out)/\(name)") == readBytes(file))
    }
    let report = try s.repo.fsck(full: true)
    #expect(report.isClean, "\(report.problems)")
    // cat-object names the codec and its base; du counts the chunks.
    let (id, loc) = try #require(s.repo.store.objects.allObjects().first { $0.1.codec == .ulpBits })
    guard case .chunk(_, let codec, _, let baseID, let depth) = try s.repo.describeObject(id) else {
      Issue.record("not a chunk")
      return
    }
    #expect(codec == .ulpBits && baseID != nil && depth == loc.depth)
    let usage = try s.repo.diskUsage()
    #expect(usage.commits.count == 3 && usage.commits[1].newStoredBytes < usage.commits[0].newStoredBytes)
  }

  @Test func aCorruptUlpBitsChunkIsFoundByFsckAndRefusedByCheckout() throws {
    let s = try Sandbox()
    let base = try s.base(bytes: 1 << 20, dtype: .f32)
    _ = try s.repo.commit(commitOptions([base], "base", tags: ["base"]))
    let child = try s.child(of: base, "child.safetensors", fraction: 1, scale: 0.001)
    let c = try s.repo.commit(commitOptions([child], "child", parents: ["base"]))
    let (id, loc) = try #require(s.repo.store.objects.allObjects().first { $0.1.codec == .ulpBits })
    // Flip a byte in the middle of that chunk's payload (after the 51-byte entry header and the
    // 32-byte base id).
    let pack = s.repo.store.objects.packFiles()[loc.pack].pack
    let stored = try s.repo.store.objects.stored(id)
    var bytes = readBytes(pack)
    bytes[Int(loc.offset) + 51 + 32 + stored.payload.count / 2] ^= 0x55
    try Data(bytes).write(to: URL(fileURLWithPath: pack))
    let reopened = try Repository.discover(from: s.dir.path)
    let report = try reopened.fsck(full: true)
    #expect(report.problems.contains { $0.kind == .corruptObject && $0.subject == id.hex }, "\(report.problems)")
    let out = s.dir.path + "/out"
    #expect(throws: KitError.self) { try reopened.checkout(c.commit.hex, to: out, force: false) }
    let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
    #expect(leftovers.isEmpty, "checkout left \(leftovers)")
  }

  @Test func aVersionOneStoreGetsXorDeltasAndStaysVersionOne() throws {
    let s = try Sandbox()
    let format = s.dir.path + "/.lineage/format"
    #expect(readBytes(format) == Array("lineage-store\nversion 3\n".utf8))
    try Data("lineage-store\nversion 1\n".utf8).write(to: URL(fileURLWithPath: format))
    let repo = try Repository.discover(from: s.dir.path)
    #expect(repo.store.formatVersion == 1 && !repo.store.allowsSubDelta && !repo.store.allowsUlpBits)
    let base = try s.base(bytes: 1 << 20, dtype: .f32)
    _ = try repo.commit(commitOptions([base], "base", tags: ["base"]))
    let child = try s.child(of: base, "child.safetensors", fraction: 1, scale: 0.001)
    let c = try repo.commit(commitOptions([child], "child", parents: ["base"]))
    #expect(c.deltaChunks > 0)
    #expect(codecs(repo)[.xorDelta, default: 0] == c.deltaChunks && codecs(repo)[.subDelta] == nil && codecs(repo)[.ulpBits] == nil)
    _ = try repo.checkout(c.commit.hex, to: s.dir.path + "/out", force: false)
    #expect(readBytes(s.dir.path + "/out/child.safetensors") == readBytes(child))
    #expect(readBytes(format) == Array("lineage-store\nversion 1\n".utf8))
  }

  @Test func aVersionTwoStoreGetsSubDeltasAndStaysVersionTwo() throws {
    let s = try Sandbox()
    let format = s.dir.path + "/.lineage/format"
    try Data("lineage-store\nversion 2\n".utf8).write(to: URL(fileURLWithPath: format))
    let repo = try Repository.discover(from: s.dir.path)
    #expect(repo.store.formatVersion == 2 && repo.store.allowsSubDelta && !repo.store.allowsUlpBits)
    let base = try s.base(bytes: 1 << 20, dtype: .bf16)
    _ = try repo.commit(commitOptions([base], "base", tags: ["base"]))
    let child = try s.child(of: base, "child.safetensors", fraction: 1, scale: 0.02)
    let c = try repo.commit(commitOptions([child], "child", parents: ["base"]))
    #expect(c.deltaChunks > 0)
    #expect(codecs(repo)[.subDelta, default: 0] == c.deltaChunks && codecs(repo)[.ulpBits] == nil)
    _ = try repo.checkout(c.commit.hex, to: s.dir.path + "/out", force: false)
    #expect(readBytes(s.dir.path + "/out/child.safetensors") == readBytes(child))
    #expect(try repo.fsck(full: true).isClean)
    #expect(readBytes(format) == Array("lineage-store\nversion 2\n".utf8))
  }

  @Test func anUpgradedVersionTwoStoreGetsUlpBitsAndKeepsItsCodecFourChunks() throws {
    let s = try Sandbox()
    let format = s.dir.path + "/.lineage/format"
    try Data("lineage-store\nversion 2\n".utf8).write(to: URL(fileURLWithPath: format))
    let old = try Repository.discover(from: s.dir.path)
    let base = try s.base(bytes: 1 << 20, dtype: .f32)
    _ = try old.commit(commitOptions([base], "base", tags: ["base"]))
    let child = try s.child(of: base, "child.safetensors", fraction: 1, scale: 0.001)
    let c = try old.commit(commitOptions([child], "child", parents: ["base"], tags: ["child"]))
    #expect(codecs(old)[.subDelta, default: 0] == c.deltaChunks && c.deltaChunks > 0)
    #expect(try old.upgradeStore() == StoreUpgrade(from: 2, to: 3))
    #expect(try old.upgradeStore() == StoreUpgrade(from: 3, to: 3), "a second upgrade changes nothing")
    #expect(readBytes(format) == Array("lineage-store\nversion 3\n".utf8))
    // Reopened, the store writes codec 5, also against codec 4 bases; everything checks out.
    let repo = try Repository.discover(from: s.dir.path)
    #expect(repo.store.formatVersion == 3 && repo.store.allowsUlpBits)
    let grand = try s.child(of: child, "grand.safetensors", fraction: 1, scale: 0.001, seed: 5)
    let g = try repo.commit(commitOptions([grand], "grandchild", parents: ["child"]))
    #expect(codecs(repo)[.ulpBits, default: 0] == g.deltaChunks && g.deltaChunks > 0)
    #expect(codecs(repo)[.subDelta, default: 0] == c.deltaChunks)
    for (commit, file, name) in [(c.commit, child, "child.safetensors"), (g.commit, grand, "grand.safetensors")] {
      let out = s.dir.path + "/out-\(name)"
      _ = try repo.checkout(commit.hex, to: out, force: false)
      #expect(readBytes("\(out)/\(name)") == readBytes(file))
    }
    #expect(try repo.fsck(full: true).isClean)
  }
}
