import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

@testable import LineageFormats

/// Builds GGUF byte strings for tests, valid or deliberately broken: every count, length and
/// offset can be set to a lie.
struct GGUFBytes {
  struct Tensor {
    var name: String
    var ne: [UInt64]
    var type: UInt32
    var offset: UInt64
  }
  var magic = Array("GGUF".utf8)
  var version: UInt32 = 3
  /// Key, value type id, encoded value.
  var kvs: [(String, UInt32, [UInt8])] = []
  var tensors: [Tensor] = []
  var data: [UInt8] = []
  var alignment = 32
  var tensorCount: UInt64? = nil
  var kvCount: UInt64? = nil

  static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
  static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
  static func str(_ s: String) -> [UInt8] { raw(Array(s.utf8)) }
  static func raw(_ b: [UInt8]) -> [UInt8] { u64(UInt64(b.count)) + b }
  /// An array value: element type, count, encoded elements.
  static func array(_ type: UInt32, _ items: [[UInt8]]) -> [UInt8] { u32(type) + u64(UInt64(items.count)) + items.flatMap { $0 } }

  mutating func kv(_ key: String, _ type: UInt32, _ value: [UInt8]) { kvs.append((key, type, value)) }

  func bytes() -> [UInt8] {
    var out = magic + Self.u32(version) + Self.u64(tensorCount ?? UInt64(tensors.count)) + Self.u64(kvCount ?? UInt64(kvs.count))
    for (key, type, value) in kvs { out += Self.str(key) + Self.u32(type) + value }
    for t in tensors {
      out += Self.str(t.name) + Self.u32(UInt32(t.ne.count)) + t.ne.flatMap { Self.u64($0) } + Self.u32(t.type) + Self.u64(t.offset)
    }
    while out.count % alignment != 0 { out.append(0) }
    return out + data
  }

  /// A small valid file: two metadata entries, an F32 [2, 3] tensor and a Q8_0 [1, 32] tensor.
  static func valid() -> GGUFBytes {
    var g = GGUFBytes()
    g.kv("general.architecture", 8, str("llama"))
    g.kv("x.list", 9, array(5, [u32(7), u32(8)]))
    g.tensors = [.init(name: "a", ne: [3, 2], type: 0, offset: 0), .init(name: "b", ne: [32], type: 8, offset: 32)]
    g.data = (0..<24).map { UInt8($0) } + [UInt8](repeating: 0, count: 8) + [0x00, 0x3C] + (0..<32).map { UInt8($0) }
    return g
  }
}

/// `body` throws exactly `expected`.
func expectGGUF(_ expected: GGUFError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(throws: expected, sourceLocation: sourceLocation) { try GGUFSource(MemoryBytes(bytes)) }
}

@Suite struct GGUFSourceTests {
  @Test func aValidFileGivesTensorsRegionsAndMetadata() throws {
    let g = GGUFBytes.valid()
    let file = g.bytes()
    let s = try GGUFSource(MemoryBytes(file))
    #expect(s.version == 3 && s.alignment == 32)
    #expect(s.dataStart == UInt64(file.count - g.data.count))
    #expect(s.string("general.architecture") == "llama")
    #expect(s.value("x.list") == .array(.int32, [.int32(7), .int32(8)]))
    #expect(s.metadata.map(\.key) == ["general.architecture", "x.list"])
    #expect(s.tensors.map(\.name) == ["a", "b"])
    #expect(s.tensors[0].shape == [2, 3] && s.tensors[0].dtype == .f32 && s.tensors[0].byteLength == 24)
    #expect(s.tensors[1].shape == [32] && s.tensors[1].dtype == .q8_0 && s.tensors[1].byteLength == 34)
    #expect(s.tensors[1].layout == .contiguous(offset: s.dataStart + 32))
    #expect(s.regions.map(\.offset) == [s.dataStart, s.dataStart + 32])
    #expect(try s.bytes(of: s.tensors[0]) == (0..<24).map { UInt8($0) })
    #expect(try s.floats(of: s.tensors[1]) == (0..<32).map { Float($0) })
  }

  @Test func versionTwoAndEveryValueTypeAreRead() throws {
    var g = GGUFBytes()
    g.version = 2
    typealias B = GGUFBytes
    g.kv("u8", 0, [200])
    g.kv("i8", 1, [0x9C])
    g.kv("u16", 2, [0x60, 0xEA])
    g.kv("i16", 3, [0xD0, 0x8A])
    g.kv("u32", 4, B.u32(4_000_000_000))
    g.kv("i32", 5, B.u32(UInt32(bitPattern: -5)))
    g.kv("f32", 6, B.u32(Float(0.5).bitPattern))
    g.kv("bool", 7, [1])
    g.kv("str", 8, B.str("héllo"))
    g.kv("u64", 10, B.u64(.max))
    g.kv("i64", 11, B.u64(UInt64(bitPattern: -7)))
    g.kv("f64", 12, B.u64(Double(-0.25).bitPattern))
    g.kv("nested", 9, B.array(9, [B.array(8, [B.str("x")]), B.array(8, [])]))
    g.kv("lossy", 8, B.raw([0x61, 0xFF]))
    let s = try GGUFSource(MemoryBytes(g.bytes()))
    #expect(s.version == 2 && s.tensors.isEmpty && s.regions.isEmpty)
    var expected: [GGUFValue] = [.uint8(200), .int8(-100), .uint16(60000), .int16(-30000), .uint32(4_000_000_000)]
    expected += [.int32(-5), .float32(0.5), .bool(true), .string("héllo"), .uint64(.max), .int64(-7), .float64(-0.25)]
    let nested: GGUFValue = .array(.array, [.array(.string, [.string("x")]), .array(.string, [])])
    expected += [nested, .string("a\u{FFFD}")]
    #expect(s.metadata.map(\.value) == expected)
  }

  /// Counts the reads a parser makes.
  final class CountingBytes: ByteSource, @unchecked Sendable {
    let base: MemoryBytes
    var reads = 0
    init(_ bytes: [UInt8]) { base = MemoryBytes(bytes) }
    var size: UInt64 { base.size }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
      reads += 1
      try base.read(into: buffer, at: offset)
    }
  }

  @Test func aHeaderLargerThanTheReadWindowIsReadInFewReads() throws {
    var g = GGUFBytes.valid()
    let tokens = (0..<50_000).map { "token-\($0)-" + String(repeating: "x", count: $0 % 13) }
    g.kv("tokenizer.ggml.tokens", 9, GGUFBytes.array(8, tokens.map { GGUFBytes.str($0) }))
    g.kv("after", 8, GGUFBytes.str(String(repeating: "y", count: 3 << 20)))  // longer than the window
    g.kv("last", 4, GGUFBytes.u32(9))
    let file = g.bytes()
    #expect(file.count > 4 << 20)
    let source = CountingBytes(file)
    let s = try GGUFSource(source)
    guard case .array(.string, let values) = s.value("tokenizer.ggml.tokens") else {
      Issue.record("tokens not read")
      return
    }
    #expect(values.count == tokens.count && values.last == .string(tokens[tokens.count - 1]))
    #expect(s.string("after")?.utf8.count == 3 << 20 && s.value("last") == .uint32(9))
    #expect(try s.floats(of: s.tensors[1]) == (0..<32).map { Float($0) })
    #expect(source.reads < 12)
  }

  @Test func zeroByteTensorsShareTheNextTensorsOffset() throws {
    var g = GGUFBytes()
    g.tensors = [.init(name: "empty", ne: [4, 0], type: 0, offset: 0), .init(name: "x", ne: [2], type: 0, offset: 0)]
    g.data = [UInt8](repeating: 1, count: 8)
    let s = try GGUFSource(MemoryBytes(g.bytes()))
    #expect(s.regions.map(\.name) == ["empty", "x"])
    #expect(s.tensors[0].shape == [0, 4] && s.tensors[0].byteLength == 0)
  }

  @Test func customAlignmentMovesTheDataSection() throws {
    var g = GGUFBytes()
    g.kv("general.alignment", 4, GGUFBytes.u32(64))
    g.alignment = 64
    g.tensors = [.init(name: "a", ne: [5], type: 0, offset: 0), .init(name: "b", ne: [1], type: 0, offset: 64)]
    g.data = [UInt8](repeating: 0, count: 68)
    let s = try GGUFSource(MemoryBytes(g.bytes()))
    #expect(s.alignment == 64 && s.dataStart % 64 == 0 && s.regions[1].offset == s.dataStart + 64)
  }

  // One test per rejection, each with a small hand-made file.

  @Test func rejectsBadMagicAndVersions() {
    var g = GGUFBytes.valid()
    g.magic = Array("GGML".utf8)
    expectGGUF(.badMagic(Array("GGML".utf8)), g.bytes())
    for v: UInt32 in [0, 1, 4, 0xFFFF_FFFF] {
      g = GGUFBytes.valid()
      g.version = v
      expectGGUF(.unsupportedVersion(v), g.bytes())
    }
    g = GGUFBytes.valid()
    g.version = UInt32(3).byteSwapped
    expectGGUF(.bigEndian(version: 3), g.bytes())
  }

  @Test func rejectsTruncationAnywhere() {
    let file = GGUFBytes.valid().bytes()
    expectGGUF(.truncated(what: "the GGUF magic", offset: 0, needed: 4, size: 2), Array(file.prefix(2)))
    expectGGUF(.truncated(what: "the metadata count", offset: 16, needed: 8, size: 20), Array(file.prefix(20)))
    for n in 0..<(file.count - 1) {
      #expect(throws: GGUFError.self) { try GGUFSource(MemoryBytes(Array(file.prefix(n)))) }
    }
  }

  @Test func rejectsStringsPastTheEnd() {
    var g = GGUFBytes()
    g.kvs = [("k", 8, GGUFBytes.u64(1000) + [0x61])]
    expectGGUF(.stringPastEnd(what: "string value of 'k'", offset: 37, length: 1000), g.bytes())
  }

  @Test func rejectsInvalidUTF8InKeysAndNames() {
    var g = GGUFBytes()
    g.kvs = [("a", 0, [1])]
    var bytes = g.bytes()
    bytes[32] = 0xFF  // the key's one byte
    expectGGUF(.invalidUTF8(what: "metadata key", offset: 24), bytes)
    g = GGUFBytes()
    g.tensors = [.init(name: "é", ne: [1], type: 0, offset: 0)]
    g.data = [0, 0, 0, 0]
    bytes = g.bytes()
    bytes[33] = 0x41  // cut the two-byte sequence: C3 41
    expectGGUF(.invalidUTF8(what: "tensor name", offset: 24), bytes)
  }

  @Test func rejectsCountsTheFileCannotHold() {
    var g = GGUFBytes.valid()
    g.kvCount = 1 << 40
    expectGGUF(.keyValueCountTooLarge(count: 1 << 40, remaining: UInt64(g.bytes().count - 24)), g.bytes())
    g = GGUFBytes()
    g.tensorCount = 3
    g.data = [UInt8](repeating: 0, count: 40)
    expectGGUF(.tensorCountTooLarge(count: 3, remaining: 48), g.bytes())
    g = GGUFBytes()
    g.kv("arr", 9, GGUFBytes.u32(6) + GGUFBytes.u64(1_000_000) + [0, 0, 0, 0])
    expectGGUF(.arrayTooLong(key: "arr", count: 1_000_000, offset: 39), g.bytes())
  }

  @Test func rejectsMoreArrayElementsThanTheLimit() {
    // Refused at the array's header, before its elements are read.
    let n = Int(GGUFSource.maxArrayElements) + 1
    var g = GGUFBytes()
    g.kv("x", 0, [7])
    g.kv("a", 9, GGUFBytes.u32(0) + GGUFBytes.u64(UInt64(n)) + [UInt8](repeating: 1, count: n))
    expectGGUF(.tooManyArrayElements(key: "a", offset: 24 + 14 + 13, limit: GGUFSource.maxArrayElements), g.bytes())
  }

  @Test func rejectsArraysNestedTooDeep() {
    var value = GGUFBytes.array(0, [[1]])
    for _ in 0..<GGUFSource.maxArrayDepth { value = GGUFBytes.array(9, [value]) }
    var g = GGUFBytes()
    g.kv("deep", 9, value)
    expectGGUF(.nestingTooDeep(key: "deep", offset: 40 + 12 * UInt64(GGUFSource.maxArrayDepth)), g.bytes())
  }

  @Test func rejectsUnknownValueTypes() {
    var g = GGUFBytes()
    g.kv("k", 13, [0])
    expectGGUF(.unknownValueType(key: "k", type: 13, offset: 33), g.bytes())
    g = GGUFBytes()
    g.kv("k", 9, GGUFBytes.array(99, [[0]]))
    expectGGUF(.unknownValueType(key: "k", type: 99, offset: 37), g.bytes())
  }

  @Test func rejectsDuplicateKeysAndTensorNames() {
    var g = GGUFBytes()
    g.kv("k", 0, [1])
    g.kv("k", 0, [2])
    expectGGUF(.duplicateKey("k"), g.bytes())
    g = GGUFBytes.valid()
    g.tensors[1].name = "a"
    expectGGUF(.duplicateTensor("a"), g.bytes())
  }

  @Test func rejectsBadAlignment() {
    for a: UInt32 in [0, 48] {
      var g = GGUFBytes.valid()
      g.kv("general.alignment", 4, GGUFBytes.u32(a))
      expectGGUF(.badAlignment(a), g.bytes())
    }
    var g = GGUFBytes.valid()
    g.kv("general.alignment", 10, GGUFBytes.u64(32))
    expectGGUF(.alignmentNotUInt32(type: "uint64"), g.bytes())
  }

  @Test func rejectsBadTensorInfos() {
    var g = GGUFBytes.valid()
    g.tensors[1].type = 4  // Q4_2, removed from ggml
    expectGGUF(.unknownTensorType(name: "b", type: 4), g.bytes())
    g = GGUFBytes.valid()
    g.tensors[0].ne = [1, 1, 1, 1, 1]
    expectGGUF(.tooManyDimensions(name: "a", count: 5), g.bytes())
    g = GGUFBytes.valid()
    g.tensors[0].ne = [1 << 32, 1 << 32]
    expectGGUF(.shapeOverflow(name: "a"), g.bytes())
    g = GGUFBytes.valid()
    g.tensors[0].ne = [1 << 31, 1 << 31]  // 2^62 elements fit, 2^64 bytes do not
    expectGGUF(.shapeOverflow(name: "a"), g.bytes())
    g = GGUFBytes.valid()
    g.tensors[1].ne = [33]
    expectGGUF(.rowNotWholeBlocks(name: "b", ne0: 33, blockElements: 32), g.bytes())
  }

  @Test func rejectsMisplacedTensorData() {
    var g = GGUFBytes.valid()
    g.tensors[1].offset = 16
    expectGGUF(.misalignedTensor(name: "b", offset: 16, alignment: 32), g.bytes())
    g = GGUFBytes.valid()
    g.tensors[1].offset = 64
    let file = g.bytes()
    let dataStart = UInt64(file.count - g.data.count)
    expectGGUF(.tensorPastEnd(name: "b", end: dataStart + 64 + 34, fileSize: UInt64(file.count)), file)
    g = GGUFBytes.valid()
    g.tensors[1].offset = .max - 31
    expectGGUF(.tensorPastEnd(name: "b", end: .max, fileSize: UInt64(g.bytes().count)), g.bytes())
    g = GGUFBytes.valid()
    g.tensors[0].ne = [16]  // 64 bytes from 0 runs into b at 32
    expectGGUF(.tensorsOverlap("a", "b"), g.bytes())
  }
}

@Suite struct DequantizeTests {
  @Test func blocksAndScalarsDequantize() throws {
    // Q4_0: d = 1 (f16 0x3C00); nibbles 0…15 then 15…0, minus 8.
    let nibbles: [UInt8] = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
    let q4: [UInt8] = [0x00, 0x3C] + nibbles
    let f = try q4.withUnsafeBytes { try Dequantize.floats($0, dtype: .q4_0) }
    let low: [Float] = (0..<16).map { Float($0 - 8) }
    let high: [Float] = (0..<16).map { Float(7 - $0) }
    #expect(f == low + high)
    let i16: [UInt8] = [0xFE, 0xFF, 0x03, 0x00]
    #expect(try i16.withUnsafeBytes { try Dequantize.floats($0, dtype: .i16) } == [-2, 3])
  }

  @Test(arguments: Array(Dequantize.quantizedTypes).sorted { $0.rawValue < $1.rawValue })
  func anyBlockBytesGiveOneValuePerElement(dtype: DType) throws {
    let bytes = seededBytes(3 * dtype.blockBytes, seed: 11)
    let values = try bytes.withUnsafeBytes { try Dequantize.floats($0, dtype: dtype) }
    #expect(values.count == 3 * dtype.blockElements)
    #expect(try [UInt8]().withUnsafeBytes { try Dequantize.floats($0, dtype: dtype) }.isEmpty)
  }

  @Test func halfConversionIsExact() {
    for h in UInt16.min...UInt16.max {
      let mine = Dequantize.half(h), reference = TensorValues.halfToFloat(h)
      #expect(mine.isNaN ? reference.isNaN : mine.bitPattern == reference.bitPattern)
    }
  }

  @Test func rejectsPartialBlocksAndTypesWithoutDequantization() {
    let b = [UInt8](repeating: 0, count: 35)
    #expect(throws: GGUFError.partialBlock(dtype: "Q8_0", byteCount: 35, blockBytes: 34)) {
      try b.withUnsafeBytes { try Dequantize.floats($0, dtype: .q8_0) }
    }
    #expect(throws: GGUFError.partialBlock(dtype: "F32", byteCount: 35, blockBytes: 4)) {
      try b.withUnsafeBytes { try Dequantize.floats($0, dtype: .f32) }
    }
    let iq = [UInt8](repeating: 0, count: 66)
    #expect(throws: FormatError.noDequantization(dtype: "IQ2_XXS")) {
      try iq.withUnsafeBytes { try Dequantize.floats($0, dtype: .iq2_xxs) }
    }
  }
}
