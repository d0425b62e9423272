import Foundation
import LineageCore
@testable import LineageStore
import LineageTestSupport
import LineageTensor
import Testing
import LineageNative

func sha256(_ bytes: [UInt8]) -> [UInt8] { SHA256Hasher.hash(bytes).bytes }

/// Float-like bytes (bf16 of a norm, 1 + N(0, 0.05²)) whose exponent plane compresses and mantissa does not.
func floatBytes(_ count: Int, seed: UInt64) -> [UInt8] {
  var out = [UInt8](repeating: 0, count: count)
  let spec = SyntheticCheckpoint.TensorSpec(name: "t", shape: [UInt64(count / 2)], dtype: .bf16)
  out.withUnsafeMutableBytes { SyntheticCheckpoint.fill(spec, seed: seed, into: $0) }
  return out
}

@Suite struct CodecTests {
  func roundTrip(_ content: [UInt8], width: Int) throws -> EncodedObject {
    let e = content.withUnsafeBytes { ChunkCodec.encode($0, width: width) }
    #expect(try ChunkCodec.decode(codec: e.codec, payload: e.payload, rawLength: content.count, base: nil) == content)
    return e
  }

  @Test func floatPlanesCompressAndRoundTrip() throws {
    let e = try roundTrip(floatBytes(65_536, seed: 1), width: 2)
    #expect(e.codec == .planes)
    #expect(e.payload.count < 65_536 * 3 / 4)
  }

  @Test func randomBytesStayRaw() throws {
    let e = try roundTrip(seededBytes(65_536, seed: 2), width: 4)
    #expect(e.codec == .raw)
    #expect(e.payload.count == 65_536)
  }

  @Test func opaqueTextUsesZstd() throws {
    let text = Array(String(repeating: "{\"vocab\": [\"hello\", \"world\"]}\n", count: 500).utf8)
    #expect(try roundTrip(text, width: 1).codec == .zstd)
  }

  @Test(arguments: [1, 2, 4, 8])
  func oddSizesRoundTrip(_ width: Int) throws {
    for n in [0, 1, 7, 64 * width, 64 * width + width, 1000 * width] {
      let bytes = floatBytes(n + n % 2, seed: UInt64(n)).prefix(n)
      _ = try roundTrip(Array(bytes), width: width)
    }
  }

  @Test func xorDeltaOfASmallStepIsSmallAndExact() throws {
    let base = floatBytes(65_536, seed: 3)
    var child = base
    for k in stride(from: 0, to: child.count, by: 2) { child[k] ^= 1 }  // last mantissa bit of every value
    let d = try #require(
      child.withUnsafeBytes { c in
        base.withUnsafeBytes { b in
          ChunkCodec.encodeDelta(c, base: b, baseID: ObjectID.of(.chunk, content: base), baseDepth: 0, width: 2, limit: 65_536)
        }
      })
    #expect(d.codec == .xorDelta && d.depth == 1)
    #expect(d.payload.count < 65_536 / 10)
    #expect(try ChunkCodec.decode(codec: .xorDelta, payload: d.payload, rawLength: 65_536, base: base) == child)
  }

  @Test func malformedPayloadsAreRejected() {
    let good = floatBytes(4096, seed: 4).withUnsafeBytes { ChunkCodec.encode($0, width: 2) }
    #expect(good.codec == .planes)
    let cases: [(Codec, [UInt8], Int)] = [
      (.raw, [1, 2, 3], 4),
      (.zstd, [0x28, 0xB5, 0x2F, 0xFD, 0, 0], 10),
      (.planes, [], 4),
      (.planes, [9, 0, 0, 0, 0, 0], 9),
      (.planes, Array(good.payload.dropLast(3)), 4096),
      (.planes, good.payload + [0], 4096),
      (.planes, good.payload, 4094),
    ]
    for (codec, payload, length) in cases {
      #expect(throws: CodecFailure.self) { try ChunkCodec.decode(codec: codec, payload: payload, rawLength: length, base: nil) }
    }
    #expect(throws: CodecFailure.self) { try ChunkCodec.decode(codec: .xorDelta, payload: good.payload, rawLength: 4096, base: [1]) }
  }
}

@Suite struct PackStoreTests {
  func makeStore(_ dir: TemporaryDirectory) throws -> Store { try Store.create(at: dir.path + "/.lineage") }

  @Test func objectsSurviveReopenAndAreVerifiedOnRead() throws {
    let dir = TemporaryDirectory()
    let store = try makeStore(dir)
    let content = floatBytes(65_536, seed: 5)
    let id = ObjectID.of(.chunk, content: content)
    let w = store.objects.writer()
    try content.withUnsafeBytes { try w.add(id, type: .chunk, rawLength: 65_536, encoded: ChunkCodec.encode($0, width: 2)) }
    let meta = try w.addMetadata(.tree, content: [1, 0, 0, 0, 0])
    #expect(!store.objects.contains(id), "nothing is visible before finish")
    try w.finish()
    let reopened = try Store(directory: dir.path + "/.lineage")
    #expect(try reopened.objects.read(id, as: .chunk) == content)
    #expect(try reopened.objects.read(meta, as: .tree) == [1, 0, 0, 0, 0])
    #expect(throws: StoreError.wrongType(meta, expected: .chunk, actual: .tree)) { try reopened.objects.read(meta, as: .chunk) }
    let missing = ObjectID.of(.chunk, content: [9])
    #expect(throws: StoreError.objectMissing(missing)) { try reopened.objects.read(missing, as: .chunk) }
  }

  @Test func aFlippedPayloadByteIsCaught() throws {
    let dir = TemporaryDirectory()
    let store = try makeStore(dir)
    let content = seededBytes(10_000, seed: 6)
    let id = ObjectID.of(.chunk, content: content)
    let w = store.objects.writer()
    try content.withUnsafeBytes { try w.add(id, type: .chunk, rawLength: content.count, encoded: ChunkCodec.encode($0, width: 1)) }
    try w.finish()
    let pack = try #require(store.objects.packFiles().first?.pack)
    var bytes = readBytes(pack)
    bytes[bytes.count - 100] ^= 0xFF
    try Data(bytes).write(to: URL(fileURLWithPath: pack))
    #expect(throws: StoreError.objectCorrupt(id, reason: "content does not hash to its id")) { try store.objects.read(id, as: .chunk) }
  }

  @Test func aDamagedIndexIsRefused() throws {
    let dir = TemporaryDirectory()
    let store = try makeStore(dir)
    let w = store.objects.writer()
    try w.addMetadata(.tree, content: [1, 0, 0, 0, 0])
    try w.finish()
    let index = try #require(store.objects.packFiles().first?.index)
    var bytes = readBytes(index)
    bytes[12] ^= 1
    try Data(bytes).write(to: URL(fileURLWithPath: index))
    #expect(throws: StoreError.corruptIndex(path: index, reason: "checksum mismatch")) { try Store(directory: dir.path + "/.lineage") }
  }

  @Test func anIndexClaimingAHugeChunkIsRefused() throws {
    let dir = TemporaryDirectory()
    let store = try makeStore(dir)
    let w = store.objects.writer()
    let content = seededBytes(1000, seed: 1)
    try content.withUnsafeBytes { try w.add(ObjectID.of(.chunk, content: content), type: .chunk, rawLength: 1000, encoded: ChunkCodec.encode($0, width: 1)) }
    try w.finish()
    let index = try #require(store.objects.packFiles().first?.index)
    var bytes = readBytes(index)
    // Record layout: magic(8) count(4) id(32) offset(8) rawLength(8)…; claim 2^50 bytes and
    // re-seal the checksum, as a deliberate forger would.
    withUnsafeBytes(of: (UInt64(1) << 50).littleEndian) { bytes.replaceSubrange(52..<60, with: $0) }
    let body = Array(bytes.dropLast(32))
    bytes = body + SHA256Digest(bytes: sha256(body)).bytes
    try Data(bytes).write(to: URL(fileURLWithPath: index))
    #expect(throws: StoreError.self) { try Store(directory: dir.path + "/.lineage") }
  }

  @Test func unknownFormatVersionIsRefused() throws {
    let dir = TemporaryDirectory()
    _ = try makeStore(dir)
    try Data("lineage-store\nversion 9\n".utf8).write(to: URL(fileURLWithPath: dir.path + "/.lineage/format"))
    #expect(throws: StoreError.unsupportedFormat(path: dir.path + "/.lineage/format", found: "lineage-store\nversion 9\n")) {
      try Store(directory: dir.path + "/.lineage")
    }
    #expect(throws: StoreError.alreadyExists(path: dir.path + "/.lineage")) { try Store.create(at: dir.path + "/.lineage") }
  }
}

@Suite struct RefTests {
  let a = ObjectID.of(.commit, content: [1])
  let b = ObjectID.of(.commit, content: [2])

  @Test func compareAndSwapAndOpLog() throws {
    let dir = TemporaryDirectory()
    let store = try Store.create(at: dir.path + "/.lineage")
    let refs = store.refs
    try refs.transaction(op: "commit", updates: [RefUpdate(ref: "refs/heads/main", expected: .absent, new: a)], time: 1)
    #expect(throws: StoreError.refConflict(ref: "refs/heads/main", expected: b.hex, actual: a.hex)) {
      try refs.transaction(op: "x", updates: [RefUpdate(ref: "refs/heads/main", expected: .value(b), new: b)], time: 2)
    }
    #expect(throws: StoreError.refConflict(ref: "refs/tags/v1", expected: "absent", actual: a.hex)) {
      try refs.transaction(op: "t", updates: [RefUpdate(ref: "refs/tags/v1", expected: .absent, new: a)], time: 3)
      try refs.transaction(op: "t", updates: [RefUpdate(ref: "refs/tags/v1", expected: .absent, new: b)], time: 4)
    }
    // All or nothing: the failed transaction changed neither ref.
    #expect(throws: StoreError.self) {
      try refs.transaction(
        op: "both",
        updates: [RefUpdate(ref: "refs/heads/main", expected: .value(a), new: b), RefUpdate(ref: "refs/tags/v1", expected: .absent, new: b)],
        time: 5)
    }
    #expect(try refs.read("refs/heads/main") == a)
    #expect(try refs.read("refs/tags/v1") == a)
    let log = try refs.opLog()
    #expect(log.entries.map(\.op) == ["commit", "t"])
    #expect(log.entries[0].updates[0].old == nil && log.entries[0].updates[0].new == a)
    #expect(try refs.list().map(\.ref) == ["refs/heads/main", "refs/tags/v1"])
    #expect(try refs.headRef() == "refs/heads/main")
  }

  @Test(arguments: ["", "-x", "a..b", "a.lock", "x//y", ".hidden", "sp ace", "HEAD", "ünï"])
  func invalidNamesAreRejected(_ name: String) {
    #expect(!RefStore.isValidName(name))
    #expect(throws: StoreError.invalidRefName("refs/heads/\(name)")) { try RefStore.validateRef("refs/heads/\(name)") }
  }

  @Test func aTornOpLogTailIsIgnoredThenDropped() throws {
    let dir = TemporaryDirectory()
    let store = try Store.create(at: dir.path + "/.lineage")
    try store.refs.transaction(op: "one", updates: [RefUpdate(ref: "refs/heads/main", expected: .any, new: a)], time: 1)
    let path = dir.path + "/.lineage/oplog"
    let handle = try #require(FileHandle(forWritingAtPath: path))
    handle.seekToEndOfFile()
    handle.write(Data(#"{"op":"two","ti"#.utf8))
    handle.closeFile()
    #expect(try store.refs.opLog().tornTail)
    #expect(try store.refs.opLog().entries.count == 1)
    try store.refs.transaction(op: "three", updates: [RefUpdate(ref: "refs/heads/main", expected: .any, new: b)], time: 2)
    let log = try store.refs.opLog()
    #expect(!log.tornTail)
    #expect(log.entries.map(\.op) == ["one", "three"])
  }

  @Test func aDamagedRefIsReported() throws {
    let dir = TemporaryDirectory()
    let store = try Store.create(at: dir.path + "/.lineage")
    try Data("not an id\n".utf8).write(to: URL(fileURLWithPath: dir.path + "/.lineage/refs/heads/main"))
    #expect(throws: StoreError.corruptRef(ref: "refs/heads/main", content: "not an id\n")) { try store.refs.read("refs/heads/main") }
  }
}

@Suite struct LockAndCacheTests {
  @Test func anExclusiveLockTimesOutWhileHeld() throws {
    let dir = TemporaryDirectory()
    let store = try Store.create(at: dir.path + "/.lineage")
    let shared = try store.lock(exclusive: false)
    let alsoShared = try store.lock(exclusive: false, timeout: 0.1)
    #expect(throws: StoreError.lockTimeout(path: dir.path + "/.lineage/lock", seconds: 0)) { try store.lock(exclusive: true, timeout: 0.1) }
    withExtendedLifetime((shared, alsoShared)) {}
  }

  @Test func statCacheTrustsOnlyOldUnchangedFiles() throws {
    let dir = TemporaryDirectory()
    let store = try Store.create(at: dir.path + "/.lineage")
    let id = ObjectID.of(.file, content: [1])
    let st = FileStat(size: 10, mtimeNanoseconds: 1_000, ctimeNanoseconds: 1_000, inode: 5, device: 1)
    let cache = store.statCache()
    let x = dir.write("x", [1])
    cache.record(x, stat: st, readStarted: 2_000, file: id)
    cache.record(dir.path + "/gone", stat: st, readStarted: 2_000, file: id)
    try cache.save()
    let reloaded = store.statCache()
    #expect(reloaded.lookup(x, stat: st) == id)
    #expect(reloaded.lookup(dir.path + "/gone", stat: st) == nil, "entries for vanished files are dropped")
    var changed = st
    changed.size = 11
    #expect(reloaded.lookup(x, stat: changed) == nil)
    // Modified at or after the read began: racily clean, never trusted.
    let racy = FileStat(size: 10, mtimeNanoseconds: 2_000, ctimeNanoseconds: 2_000, inode: 5, device: 1)
    reloaded.record("/y", stat: racy, readStarted: 2_000, file: id)
    #expect(reloaded.lookup("/y", stat: racy) == nil)
  }
}

@Suite struct DigestCacheTests {
  @Test func entriesRoundTripAndDamagedLinesAreIgnored() throws {
    let dir = TemporaryDirectory("lineage-digest-cache")
    let path = dir.file("file-digests")
    let a = ObjectID.of(.commit, content: [1])
    let b = ObjectID.of(.commit, content: [2])
    let d1 = [UInt8](repeating: 0xAB, count: 32)
    let d2 = [UInt8](repeating: 0xCD, count: 32)
    let cache = DigestCache(path: path, tmpDirectory: dir.path)
    cache.record(a, [d1, d2])
    cache.record(b, [])
    try cache.save()
    #expect(DigestCache(path: path, tmpDirectory: dir.path).entries == [a: [d1, d2], b: []])
    // Flip one digest character in a's line: that line no longer matches its checksum.
    var bytes = readBytes(path)
    let text = String(decoding: bytes, as: UTF8.self)
    let at = try #require(text.range(of: "abab")).lowerBound.utf16Offset(in: text)
    bytes[at] = UInt8(ascii: "c")
    dir.write("file-digests", bytes)
    #expect(DigestCache(path: path, tmpDirectory: dir.path).entries == [b: []])
    dir.write("file-digests", Array("garbage\n\n".utf8))
    #expect(DigestCache(path: path, tmpDirectory: dir.path).entries.isEmpty)
  }
}

@Suite struct BackgroundWriterTests {
  /// Pieces of awkward sizes across block boundaries, through the page cache and past it.
  @Test(arguments: [true, false])
  func piecesArriveInOrderAndComplete(_ bypassingCache: Bool) throws {
    let dir = TemporaryDirectory()
    let path = dir.path + "/out"
    let writer = try BackgroundWriter(creating: path, bypassingCache: bypassingCache)
    if !bypassingCache { #expect(!writer.bypassesCache) }
    var expected: [UInt8] = []
    let sizes = [1, 4095, 4097, BackgroundWriter.blockSize - 3, 12_345, BackgroundWriter.blockSize + 1, 7]
    for (k, n) in sizes.enumerated() {
      let piece = seededBytes(n, seed: UInt64(k))
      try piece.withUnsafeBytes { try writer.write($0) }
      expected += piece
    }
    #expect(writer.length == UInt64(expected.count))
    try writer.finish()
    #expect(try POSIX.readWholeFile(path) == expected)
  }

  @Test func anExistingFileIsNotOverwritten() throws {
    let dir = TemporaryDirectory()
    let path = dir.path + "/out"
    try AtomicFile.write([1, 2, 3], to: path, tmpDirectory: dir.path)
    #expect(throws: StoreError.self) { try BackgroundWriter(creating: path) }
    #expect(try POSIX.readWholeFile(path) == [1, 2, 3])
  }

  @Test func anEmptyFileAndACancelledOne() throws {
    let dir = TemporaryDirectory()
    let empty = try BackgroundWriter(creating: dir.path + "/empty")
    try empty.finish()
    #expect(try POSIX.readWholeFile(dir.path + "/empty").isEmpty)
    let cancelled = try BackgroundWriter(creating: dir.path + "/cancelled")
    try seededBytes(BackgroundWriter.blockSize + 10, seed: 3).withUnsafeBytes { try cancelled.write($0) }
    cancelled.cancel()
    // Whatever reached the disk is a prefix; the caller removes the file.
    let left = try POSIX.readWholeFile(dir.path + "/cancelled")
    #expect(left.count <= BackgroundWriter.blockSize)
  }
}

@Suite struct PlaneCompressionTests {
  /// An exponent plane: Huffman-coded literals are as small as zstd's match search.
  @Test func literalsMatchTheMatchSearchOnAnExponentPlane() throws {
    // A weight matrix (a 1-D spec would be a norm, whose exponents hardly vary).
    var bytes = [UInt8](repeating: 0, count: 65_536)
    let spec = SyntheticCheckpoint.TensorSpec(name: "w", shape: [128, 256], dtype: .bf16)
    bytes.withUnsafeMutableBytes { SyntheticCheckpoint.fill(spec, seed: 11, into: $0) }
    let plane = stride(from: 1, to: bytes.count, by: 2).map { bytes[$0] }
    let h = plane.withUnsafeBytes { ChunkCodec.estimatedEntropy($0, stride: 4) }
    #expect(h > ChunkCodec.matchSearchLimit && h < ChunkCodec.entropyLimit, "entropy \(h)")
    let literals = try plane.withUnsafeBytes { try Zstd.compress($0, profile: .literals) }
    let planes = try plane.withUnsafeBytes { try Zstd.compress($0, profile: .planes) }
    #expect(Double(literals.count) <= Double(planes.count) * 1.01)
    var back = [UInt8](repeating: 0, count: plane.count)
    try literals.withUnsafeBytes { f in try back.withUnsafeMutableBytes { try Zstd.decompress(f, into: $0) } }
    #expect(back == plane)
  }

  /// A plane of long runs (a mostly-zero tensor) keeps the match search: Huffman alone cannot
  /// code a byte in under one bit, which would cost 1/8 of the plane.
  @Test func aPlaneOfRunsKeepsTheMatchSearch() throws {
    var bytes = [UInt8](repeating: 0, count: 65_536)
    for k in stride(from: 0, to: bytes.count, by: 2) where k % 1_000 < 20 { bytes[k + 1] = 0x3c }
    let e = try CodecTests().roundTrip(bytes, width: 2)
    #expect(e.codec == .planes)
    #expect(e.payload.count < 65_536 / 64, "\(e.payload.count) bytes")
  }
}

@Suite struct ZstdDestinationTests {
  /// A frame that does not fit is refused without touching a byte past the destination (libzstd
  /// 1.5.4's ZSTD_compressSequences overran small destinations before lineage stopped giving it any).
  @Test(arguments: [Zstd.Profile.literals, .planes, .fast])
  func aFrameThatDoesNotFitLeavesTheBytesAfterTheDestinationAlone(_ profile: Zstd.Profile) {
    var rng = Xoshiro(seed: 7)
    for trial in 0..<300 {
      let n = 1 + Int(rng.next() % 40_000)
      let bits = Int(rng.next() % 8)
      let source = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) & UInt8((1 << bits) - 1) }
      let capacity = Int(rng.next() % UInt64(n + 64))
      var buffer = [UInt8](repeating: 0xAB, count: capacity + 65_536)
      let written = source.withUnsafeBytes { src in
        buffer.withUnsafeMutableBytes { Zstd.compress(src, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<capacity]), profile: profile) }
      }
      #expect(buffer[capacity...].allSatisfy { $0 == 0xAB }, "trial \(trial): n \(n), capacity \(capacity)")
      if let written {
        var back = [UInt8](repeating: 0, count: n)
        #expect(throws: Never.self) {
          try buffer.withUnsafeBytes { f in try back.withUnsafeMutableBytes { try Zstd.decompress(UnsafeRawBufferPointer(rebasing: f[0..<written]), into: $0) } }
        }
        #expect(back == source)
      }
    }
  }
}
