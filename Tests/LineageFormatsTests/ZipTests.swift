import Foundation
import Testing

@testable import LineageFormats

/// A minimal zip writer for tests: stored or raw-deflate entries (compressed by zlib through
/// Python-free means: the bytes given are written as is), with knobs to write hostile archives.
struct TestZip {
  struct Item {
    var name: String
    var data: [UInt8]
    var method: UInt16 = 0
    var uncompressedSize: UInt32? = nil
    var crc: UInt32? = nil
  }
  var items: [Item]
  /// Central-directory offsets to use instead of the real ones (index → offset of another entry).
  var pointAt: [Int: Int] = [:]

  static func crc32(_ b: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for x in b {
      c ^= UInt32(x)
      for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
    }
    return ~c
  }

  func bytes() -> [UInt8] {
    var out: [UInt8] = []
    func u16(_ v: UInt16, _ o: inout [UInt8]) { o += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: UInt32, _ o: inout [UInt8]) { for k in 0..<4 { o.append(UInt8((v >> (8 * k)) & 0xFF)) } }
    var offsets: [Int] = []
    for it in items {
      offsets.append(out.count)
      let crc = it.crc ?? Self.crc32(it.data)
      u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(it.method, &out); u16(0, &out); u16(0, &out)
      u32(crc, &out); u32(UInt32(it.data.count), &out); u32(it.uncompressedSize ?? UInt32(it.data.count), &out)
      u16(UInt16(it.name.utf8.count), &out); u16(0, &out)
      out += Array(it.name.utf8) + it.data
    }
    let cdStart = out.count
    for (k, it) in items.enumerated() {
      let crc = it.crc ?? Self.crc32(it.data)
      u32(0x0201_4B50, &out); u16(20, &out); u16(20, &out); u16(0, &out); u16(it.method, &out); u16(0, &out); u16(0, &out)
      u32(crc, &out); u32(UInt32(it.data.count), &out); u32(it.uncompressedSize ?? UInt32(it.data.count), &out)
      u16(UInt16(it.name.utf8.count), &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0, &out); u32(0, &out)
      u32(UInt32(offsets[pointAt[k] ?? k]), &out)
      out += Array(it.name.utf8)
    }
    let cdSize = out.count - cdStart
    u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(UInt16(items.count), &out); u16(UInt16(items.count), &out)
    u32(UInt32(cdSize), &out); u32(UInt32(cdStart), &out); u16(0, &out)
    return out
  }
}

@Suite struct ZipTests {
  @Test func storedEntriesAreRangesOfTheFile() throws {
    let a = Array("hello".utf8), b = (0..<300).map { UInt8($0 & 0xFF) }
    let file = TestZip(items: [.init(name: "archive/data.pkl", data: a), .init(name: "archive/data/0", data: b)]).bytes()
    let zip = try ZipArchive(MemoryBytes(file))
    #expect(zip.entries.map(\.name) == ["archive/data.pkl", "archive/data/0"])
    let e = try #require(zip.entry(named: "archive/data/0"))
    #expect(Array(file[Int(e.dataOffset)..<Int(e.dataOffset) + 300]) == b)
    #expect(try zip.read(e) == b)
  }

  @Test func deflatedEntriesInflateWithSizeAndCRCChecked() throws {
    // Raw deflate of "aaaa…" (1000 × 'a') produced once by zlib (level 6, wbits -15).
    let plain = [UInt8](repeating: 0x61, count: 1000)
    let deflated: [UInt8] = [0x4b, 0x4c, 0x1c, 0x05, 0xa3, 0x60, 0x14, 0x0c, 0x77, 0x00, 0x00]
    let good = TestZip(items: [.init(name: "x.npy", data: deflated, method: 8, uncompressedSize: 1000, crc: TestZip.crc32(plain))])
    let zip = try ZipArchive(MemoryBytes(good.bytes()))
    #expect(try zip.read(zip.entries[0]) == plain)
    let lying = TestZip(items: [.init(name: "x.npy", data: deflated, method: 8, uncompressedSize: 999, crc: TestZip.crc32(plain))])
    let z2 = try ZipArchive(MemoryBytes(lying.bytes()))
    // minizip stops at the declared size; the CRC over the short output then fails.
    #expect(throws: ZipError.corruptEntry(name: "x.npy", reason: "CRC mismatch")) { try z2.read(z2.entries[0]) }
    let badCRC = TestZip(items: [.init(name: "x.npy", data: deflated, method: 8, uncompressedSize: 1000, crc: 7)])
    let z3 = try ZipArchive(MemoryBytes(badCRC.bytes()))
    #expect(throws: ZipError.corruptEntry(name: "x.npy", reason: "CRC mismatch")) { try z3.read(z3.entries[0]) }
  }

  @Test func hostileArchivesAreRefusedByName() throws {
    for name in ["../evil", "/etc/passwd", "a/../../b", "a\\b", "a//b", "./x"] {
      let file = TestZip(items: [.init(name: name, data: [1])]).bytes()
      #expect(throws: ZipError.unsafeEntryName(name)) { try ZipArchive(MemoryBytes(file)) }
    }
    let dup = TestZip(items: [.init(name: "a", data: [1]), .init(name: "a", data: [2])]).bytes()
    #expect(throws: ZipError.duplicateEntry("a")) { try ZipArchive(MemoryBytes(dup)) }
    var overlap = TestZip(items: [.init(name: "a", data: [1, 2, 3]), .init(name: "b", data: [1, 2, 3])])
    overlap.pointAt = [1: 0]
    #expect(throws: ZipError.self) { try ZipArchive(MemoryBytes(overlap.bytes())) }
    let bomb = TestZip(items: [.init(name: "bomb", data: [0x03, 0x00], method: 8, uncompressedSize: 4_000_000_000)])
    #expect(throws: ZipError.compressionRatio(name: "bomb", compressed: 2, uncompressed: 4_000_000_000)) {
      try ZipArchive(MemoryBytes(bomb.bytes()))
    }
    let stored = TestZip(items: [.init(name: "s", data: [1, 2], method: 0, uncompressedSize: 5)]).bytes()
    #expect(throws: ZipError.storedSizeMismatch(name: "s", compressed: 2, uncompressed: 5)) { try ZipArchive(MemoryBytes(stored)) }
    #expect(throws: ZipError.self) { try ZipArchive(MemoryBytes(Array("not a zip at all, just words".utf8))) }
    let full = TestZip(items: [.init(name: "a", data: [UInt8](repeating: 9, count: 100))]).bytes()
    #expect(throws: (any Error).self) { try ZipArchive(MemoryBytes(Array(full.prefix(60)))) }
  }
}
