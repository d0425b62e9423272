import Foundation
import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

@testable import LineageFormats

private let numpyTestPython = ProcessInfo.processInfo.environment["LINEAGE_TEST_PYTHON"]

/// `.npy` bytes with a version-1 header padded to 64 bytes, as NumPy writes them.
func npyBytes(_ dict: String, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
  let prefix = version == 1 ? 10 : 12
  var header = Array(dict.utf8)
  while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
  header.append(0x0A)
  var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
  let n = header.count
  out += version == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), 0, 0]
  return out + header + data
}

@Suite struct NumPyTests {
  @Test func aLittleEndianArrayIsOneRegion() throws {
    let data = (0..<24).map { UInt8($0) }
    let file = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data: data)
    let s = try NumPySource(MemoryBytes(file), name: "w")
    #expect(s.regions == [TensorRegion(name: "w", dtype: .f32, shape: [2, 3], offset: 128, byteLength: 24)])
    #expect(try s.bytes(of: s.tensors[0]) == data)
    let v2 = try NumPySource(MemoryBytes(npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", data: [1, 2, 3], version: 2)), name: "b")
    #expect(v2.tensors[0].dtype == .u8 && v2.tensors[0].shape == [3])
  }

  @Test func bigEndianAndFortranArraysReadAsLittleEndianCOrder() throws {
    let big = npyBytes("{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", data: [0x01, 0x02, 0x03, 0x04])
    let s = try NumPySource(MemoryBytes(big), name: "x")
    #expect(s.regions.isEmpty)
    #expect(try s.bytes(of: s.tensors[0]) == [0x02, 0x01, 0x04, 0x03])
    // Fortran order, shape (2, 3): memory holds columns [a00 a10] [a01 a11] [a02 a12].
    let fortran = npyBytes("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }", data: [0, 10, 1, 11, 2, 12])
    let f = try NumPySource(MemoryBytes(fortran), name: "f")
    #expect(try f.bytes(of: f.tensors[0]) == [0, 1, 2, 10, 11, 12])
    #expect(f.regions.map(\.shape) == [[3, 2]])
  }

  @Test(arguments: [
    (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: [0, 0, 0, 0]), NumPyError.dataSize(expected: 8, actual: 4)),
    (npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", data: [0]), .unsupportedDescr("|O")),
    (npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data: [0]), .unsupportedDescr("<c8")),
    (npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", data: [0]), .invalidHeader(reason: "expected a string", offset: 10)),
    (npyBytes("{'descr': '<f4', 'shape': (1,), }", data: [0, 0, 0, 0]), .headerKey("fortran_order")),
    (npyBytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", data: [0]), .headerKey("descr")),
    (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", data: []), .shapeOverflow),
    (npyBytes("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", data: []), .invalidHeader(reason: "expected True or False", offset: 34)),
    ([0x93] + Array("NUMPZ".utf8) + [1, 0, 0, 0], .badMagic),
    ([0x93] + Array("NUMPY".utf8) + [4, 0, 0, 0], .unsupportedVersion(major: 4, minor: 0)),
  ] as [([UInt8], NumPyError)])
  func malformedArraysAreRefusedByName(_ bytes: [UInt8], _ expected: NumPyError) {
    #expect(throws: expected) { try NumPySource(MemoryBytes(bytes), name: "x") }
  }

  @Test func anArchiveWithOtherEntriesIsRefused() {
    let file = TestZip(items: [.init(name: "a.npy", data: npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }", data: [7])), .init(name: "evil.pkl", data: [0x80])]).bytes()
    #expect(throws: NumPyError.unexpectedEntry("evil.pkl")) { try NumPyArchiveSource(MemoryBytes(file)) }
    let inner = TestZip(items: [.init(name: "a.npy", data: [0x93, 1, 2])]).bytes()
    #expect(throws: NumPyError.entry("a.npy", "not a NumPy .npy file (no \\x93NUMPY magic)")) { try NumPyArchiveSource(MemoryBytes(inner)) }
  }

  @Test func mutatedArraysNeverCrash() {
    let seed = npyBytes("{'descr': '<f2', 'fortran_order': True, 'shape': (3, 2), }", data: seededBytes(12, seed: 3))
    var state: UInt64 = 0x5EED
    for _ in 0..<3000 {
      var b = seed
      for _ in 0...(SplitMix64.next(&state) % 3) {
        let r = SplitMix64.next(&state)
        let at = Int(r >> 8) % b.count
        if r % 3 == 0 { b = Array(b.prefix(at)) } else { b[at] = UInt8(truncatingIfNeeded: r >> 40) }
        if b.isEmpty { break }
      }
      if let s = try? NumPySource(MemoryBytes(b), name: "m") {
        #expect((try? RegionCheck.validate(s.regions, fileSize: UInt64(b.count))) != nil)
        #expect((try? s.bytes(of: s.tensors[0]))?.count == Int(s.tensors[0].byteLength))
      }
    }
  }
}

@Suite(.serialized, .enabled(if: numpyTestPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
struct NumPyInteropTests {
  /// numpy writes every kind of array; each reads back with numpy's values, little-endian C order.
  @Test func arraysWrittenByNumPyReadExactly() throws {
    let python = try #require(numpyTestPython)
    let dir = TemporaryDirectory("lineage-numpy")
    let script = """
      import numpy as np, json
      rng = np.random.default_rng(11)
      arrays = {
          "f32": rng.standard_normal((5, 7)).astype(np.float32),
          "f16": rng.standard_normal((4,)).astype(np.float16),
          "f64_fortran": np.asfortranarray(rng.standard_normal((3, 4, 2))),
          "i64_big": np.arange(6, dtype=">i8").reshape(2, 3),
          "u16": np.arange(10, dtype=np.uint16),
          "bool": rng.integers(0, 2, size=(3, 3)).astype(np.bool_),
          "scalar": np.array(2.5, dtype=np.float32),
          "empty": np.zeros((0, 3), dtype=np.int32),
      }
      np.savez("plain.npz", **arrays)
      np.savez_compressed("packed.npz", **arrays)
      for k, v in arrays.items():
          np.save(k + ".npy", v)
          np.ascontiguousarray(v).astype(v.dtype.newbyteorder("<")).tofile(k + ".expected")
      json.dump({k: [list(v.shape), v.dtype.str] for k, v in arrays.items()}, open("index.json", "w"))
      """
    let r = try runProcess(python, ["-c", script], in: dir.path)
    try #require(r.status == 0, "\(r.stderr)")
    let index = try #require(parseJSON(String(decoding: readBytes(dir.file("index.json")), as: UTF8.self)) as? [String: [Any]])
    let plain = try NumPyArchiveSource(MemoryBytes(readBytes(dir.file("plain.npz"))))
    let packed = try NumPyArchiveSource(MemoryBytes(readBytes(dir.file("packed.npz"))))
    #expect(Set(plain.tensors.map(\.name)) == Set(index.keys))
    #expect(packed.regions.isEmpty)
    for (name, info) in index {
      let expected = readBytes(dir.file("\(name).expected"))
      let shape = try #require(info[0] as? [Int]).map { UInt64($0) }
      let single = try NumPySource(MemoryBytes(readBytes(dir.file("\(name).npy"))), name: name)
      for source in [single as any TensorSource, plain, packed] {
        let t = try #require(source.tensor(named: name))
        #expect(t.shape == shape, "\(name)")
        #expect(try source.bytes(of: t) == expected, "\(name) from \(source.format)")
      }
    }
    // Stored little-endian C-order entries are regions holding exactly the expected bytes.
    let file = readBytes(dir.file("plain.npz"))
    let f32 = try #require(plain.regions.first { $0.name == "f32" })
    #expect(Array(file[Int(f32.offset)..<Int(f32.offset + f32.byteLength)]) == readBytes(dir.file("f32.expected")))
    #expect(!plain.regions.contains { $0.name == "i64_big" })
  }
}
