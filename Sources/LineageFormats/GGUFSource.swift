import LineageCore

/// The type of a GGUF metadata value, by its id in the file.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
  case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

  /// The fewest bytes one value of this type takes in the file (an array: its type and count).
  var minimumBytes: UInt64 {
    switch self {
    case .uint8, .int8, .bool: return 1
    case .uint16, .int16: return 2
    case .uint32, .int32, .float32: return 4
    case .uint64, .int64, .float64, .string: return 8
    case .array: return 12
    }
  }
}

/// One GGUF metadata value. Arrays carry their element type (an empty array still has one).
/// Not `indirect`: an array's storage already boxes its elements, and boxing every scalar would
/// cost a heap allocation per token of a 150 000-token vocabulary.
public enum GGUFValue: Equatable, Sendable {
  case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
  case float32(Float), bool(Bool), string(String)
  case array(GGUFValueType, [GGUFValue])
  case uint64(UInt64), int64(Int64), float64(Double)

  public var type: GGUFValueType {
    switch self {
    case .uint8: return .uint8
    case .int8: return .int8
    case .uint16: return .uint16
    case .int16: return .int16
    case .uint32: return .uint32
    case .int32: return .int32
    case .float32: return .float32
    case .bool: return .bool
    case .string: return .string
    case .array: return .array
    case .uint64: return .uint64
    case .int64: return .int64
    case .float64: return .float64
    }
  }
}

/// A GGUF file (version 2 or 3, little-endian) as a `TensorSource` (Docs/Formats.md, GGUF).
///
/// Layout: magic `GGUF`, version u32, tensor count u64, metadata count u64, the metadata
/// key-values, the tensor infos, padding to `alignment`, then the data section. Each tensor's
/// bytes are verbatim in the data section at `dataStart + offset`, so each is one region; the
/// header and the padding are stored as opaque chunks.
public struct GGUFSource: TensorSource {
  /// Arrays inside arrays deeper than this are refused (real files nest none).
  public static let maxArrayDepth = 8
  /// Array elements in all the metadata together, at most: 64 times the largest real
  /// vocabulary (tokens, scores, types and merges of 262 144 tokens), so that a hostile array
  /// of one-byte elements cannot make the reader hold twenty times the file in memory.
  public static let maxArrayElements: UInt64 = 1 << 24

  public let source: any ByteSource
  public var format: ModelFormat { .gguf }
  public let version: UInt32
  /// Data-section alignment in bytes: `general.alignment`, 32 when absent.
  public let alignment: UInt64
  /// File offset of the data section: the end of the tensor infos rounded up to `alignment`.
  public let dataStart: UInt64
  /// The metadata key-values in file order.
  public let metadata: [(key: String, value: GGUFValue)]
  /// Tensors in tensor-info order; shapes outermost first (GGML's ne reversed).
  public let tensors: [TensorEntry]
  public let regions: [TensorRegion]

  /// GGML type ids (ggml.h `enum ggml_type`) read as lineage dtypes; ids not listed are refused.
  public static let ggmlTypes: [UInt32: DType] = [
    0: .f32, 1: .f16, 2: .q4_0, 3: .q4_1, 6: .q5_0, 7: .q5_1, 8: .q8_0, 9: .q8_1, 10: .q2_k, 11: .q3_k,
    12: .q4_k, 13: .q5_k, 14: .q6_k, 15: .q8_k, 16: .iq2_xxs, 17: .iq2_xs, 18: .iq3_xxs, 19: .iq1_s,
    20: .iq4_nl, 21: .iq3_s, 22: .iq2_s, 23: .iq4_xs, 24: .i8, 25: .i16, 26: .i32, 27: .i64, 28: .f64,
    29: .iq1_m, 30: .bf16, 34: .tq1_0, 35: .tq2_0, 39: .mxfp4,
  ]

  public init(_ source: any ByteSource) throws {
    let size = source.size
    var c = GGUFCursor(source)
    let magic = try c.bytes(4, "the GGUF magic")
    guard magic == Array("GGUF".utf8) else { throw GGUFError.badMagic(magic) }
    let version = try c.u32("the GGUF version")
    guard version == 2 || version == 3 else {
      // A big-endian writer stores 3 as 00 00 00 03: the low half reads as zero here.
      if version & 0xFFFF == 0, (2...3).contains(version.byteSwapped) { throw GGUFError.bigEndian(version: version.byteSwapped) }
      throw GGUFError.unsupportedVersion(version)
    }
    let tensorCount = try c.u64("the tensor count")
    let kvCount = try c.u64("the metadata count")
    // 13 = key length (8) + value type (4) + the smallest value (1).
    guard kvCount <= c.remaining / 13 else { throw GGUFError.keyValueCountTooLarge(count: kvCount, remaining: c.remaining) }

    var metadata: [(key: String, value: GGUFValue)] = []
    metadata.reserveCapacity(Int(min(kvCount, 1 << 12)))
    var keys = Set<String>()
    for _ in 0..<kvCount {
      let key = try c.string("metadata key", validated: true)
      let typeOffset = c.offset
      let raw = try c.u32("the type of metadata '\(key)'")
      guard let type = GGUFValueType(rawValue: raw) else {
        throw GGUFError.unknownValueType(key: key, type: raw, offset: typeOffset)
      }
      let value = try c.value(type, key: key, depth: 0)
      guard keys.insert(key).inserted else { throw GGUFError.duplicateKey(key) }
      metadata.append((key, value))
    }

    var alignment: UInt64 = 32
    if let a = metadata.first(where: { $0.key == "general.alignment" })?.value {
      guard case .uint32(let v) = a else { throw GGUFError.alignmentNotUInt32(type: "\(a.type)") }
      guard v != 0, v & (v - 1) == 0 else { throw GGUFError.badAlignment(v) }
      alignment = UInt64(v)
    }

    // 24 = name length (8) + n_dims (4) + type (4) + offset (8), for a tensor with no dimensions.
    guard tensorCount <= c.remaining / 24 else {
      throw GGUFError.tensorCountTooLarge(count: tensorCount, remaining: c.remaining)
    }
    struct Info {
      var name: String
      var dtype: DType
      var ne: [UInt64]
      var offset: UInt64
    }
    var infos: [Info] = []
    infos.reserveCapacity(Int(min(tensorCount, 1 << 12)))
    var names = Set<String>()
    for _ in 0..<tensorCount {
      let name = try c.string("tensor name", validated: true)
      let nDims = try c.u32("the dimension count of tensor '\(name)'")
      guard nDims <= 4 else { throw GGUFError.tooManyDimensions(name: name, count: nDims) }
      var ne: [UInt64] = []
      for k in 0..<nDims { ne.append(try c.u64("dimension \(k) of tensor '\(name)'")) }
      let rawType = try c.u32("the type of tensor '\(name)'")
      guard let dtype = Self.ggmlTypes[rawType] else { throw GGUFError.unknownTensorType(name: name, type: rawType) }
      let offset = try c.u64("the data offset of tensor '\(name)'")
      guard names.insert(name).inserted else { throw GGUFError.duplicateTensor(name) }
      infos.append(Info(name: name, dtype: dtype, ne: ne, offset: offset))
    }

    let (padded, overflow) = c.offset.addingReportingOverflow(alignment - 1)
    guard !overflow else { throw GGUFError.truncated(what: "the data section", offset: c.offset, needed: alignment, size: size) }
    let dataStart = padded / alignment * alignment

    var tensors: [TensorEntry] = []
    tensors.reserveCapacity(infos.count)
    for info in infos {
      guard let count = DType.elementCount(info.ne), count <= UInt64(Int64.max) else {
        throw GGUFError.shapeOverflow(name: info.name)
      }
      let ne0 = info.ne.first ?? 1
      guard ne0 % UInt64(info.dtype.blockElements) == 0 else {
        throw GGUFError.rowNotWholeBlocks(name: info.name, ne0: ne0, blockElements: info.dtype.blockElements)
      }
      let shape = Array(info.ne.reversed())
      guard let byteLength = info.dtype.byteLength(shape: shape) else { throw GGUFError.shapeOverflow(name: info.name) }
      guard info.offset % alignment == 0 else {
        throw GGUFError.misalignedTensor(name: info.name, offset: info.offset, alignment: alignment)
      }
      let (start, o1) = dataStart.addingReportingOverflow(info.offset)
      let (end, o2) = start.addingReportingOverflow(byteLength)
      guard !o1, !o2, end <= size else {
        throw GGUFError.tensorPastEnd(name: info.name, end: o1 || o2 ? .max : end, fileSize: size)
      }
      tensors.append(
        TensorEntry(name: info.name, dtype: info.dtype, shape: shape, layout: .contiguous(offset: start), byteLength: byteLength))
    }

    var regions = tensors.compactMap { t -> TensorRegion? in
      guard case .contiguous(let offset) = t.layout else { return nil }
      return TensorRegion(name: t.name, dtype: t.dtype, shape: t.shape, offset: offset, byteLength: t.byteLength)
    }
    // Zero-byte tensors sort before a tensor at the same offset (the writer gives them its offset).
    regions.sort { ($0.offset, $0.byteLength) < ($1.offset, $1.byteLength) }
    for (a, b) in zip(regions, regions.dropFirst()) where b.offset < a.offset + a.byteLength {
      throw GGUFError.tensorsOverlap(a.name, b.name)
    }
    try RegionCheck.validate(regions, fileSize: size)

    self.source = source
    self.version = version
    self.alignment = alignment
    self.dataStart = dataStart
    self.metadata = metadata
    self.tensors = tensors
    self.regions = regions
  }

  /// The metadata value of `key`, if any.
  public func value(_ key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }

  /// The string value of `key` (`general.architecture`, `general.name`, …), if it is a string.
  public func string(_ key: String) -> String? {
    guard case .string(let s) = value(key) else { return nil }
    return s
  }

  public func bytes(of tensor: TensorEntry) throws -> [UInt8] {
    guard case .contiguous(let offset) = tensor.layout, let n = Int(exactly: tensor.byteLength) else {
      throw FormatError.unsupported(format: "gguf", reason: "tensor '\(tensor.name)' is not contiguous")
    }
    return try source.read(count: n, at: offset, what: "tensor '\(tensor.name)'")
  }
}

/// Reads the GGUF header front to back through a window of the source, so a vocabulary of
/// 150 000 strings costs a few large reads rather than 300 000 small ones. Every read is
/// checked against the bytes left in the file before anything is allocated.
struct GGUFCursor {
  let source: any ByteSource
  /// The next byte to read; never past `source.size`.
  private(set) var offset: UInt64 = 0
  private var window: [UInt8] = []
  private var windowStart: UInt64 = 0
  private static let windowBytes: UInt64 = 1 << 20
  /// Array elements read so far, for `GGUFSource.maxArrayElements`.
  private var arrayElements: UInt64 = 0

  init(_ source: any ByteSource) { self.source = source }

  var remaining: UInt64 { source.size - offset }

  /// The index in `window` of `n` bytes at `offset`, loading them if needed.
  private mutating func load(_ n: UInt64, _ what: @autoclosure () -> String) throws -> Int {
    guard n <= remaining else { throw GGUFError.truncated(what: what(), offset: offset, needed: n, size: source.size) }
    let windowEnd = windowStart + UInt64(window.count)
    if offset < windowStart || offset + n > windowEnd {
      let count = max(n, min(Self.windowBytes, remaining))
      guard let k = Int(exactly: count) else {
        throw GGUFError.truncated(what: what(), offset: offset, needed: n, size: source.size)
      }
      window = try source.read(count: k, at: offset, what: what())
      windowStart = offset
    }
    return Int(offset - windowStart)
  }

  mutating func bytes(_ n: UInt64, _ what: @autoclosure () -> String) throws -> [UInt8] {
    let i = try load(n, what())
    offset += n
    return Array(window[i..<(i + Int(n))])
  }

  private mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
    let n = MemoryLayout<T>.size
    let i = try load(UInt64(n), what())
    var v: T = 0
    for k in 0..<n { v |= T(truncatingIfNeeded: window[i + k]) << (8 * k) }
    offset += UInt64(n)
    return v
  }

  mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try integer(UInt32.self, what()) }
  mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try integer(UInt64.self, what()) }

  /// A u64-length-prefixed string. Keys and tensor names must be valid UTF-8 (`validated`);
  /// string values are decoded with U+FFFD for invalid bytes, since the file's bytes are kept
  /// verbatim anyway and some tokenizers store partial UTF-8 sequences as tokens.
  mutating func string(_ what: String, validated: Bool) throws -> String {
    let at = offset
    let length = try u64("the length of a \(what)")
    guard length <= remaining else { throw GGUFError.stringPastEnd(what: what, offset: at, length: length) }
    let i = try load(length, what)
    offset += length
    let raw = window[i..<(i + Int(length))]
    let s = String(decoding: raw, as: UTF8.self)
    if validated && !s.utf8.elementsEqual(raw) { throw GGUFError.invalidUTF8(what: what, offset: at) }
    return s
  }

  /// One value of `type` (for an array: its element type, count and elements).
  mutating func value(_ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
    let what = "metadata '\(key)'"
    switch type {
    case .uint8: return .uint8(try integer(UInt8.self, what))
    case .int8: return .int8(try integer(Int8.self, what))
    case .uint16: return .uint16(try integer(UInt16.self, what))
    case .int16: return .int16(try integer(Int16.self, what))
    case .uint32: return .uint32(try integer(UInt32.self, what))
    case .int32: return .int32(try integer(Int32.self, what))
    case .float32: return .float32(Float(bitPattern: try integer(UInt32.self, what)))
    case .bool: return .bool(try integer(UInt8.self, what) != 0)
    case .string: return .string(try string("string value of '\(key)'", validated: false))
    case .uint64: return .uint64(try integer(UInt64.self, what))
    case .int64: return .int64(try integer(Int64.self, what))
    case .float64: return .float64(Double(bitPattern: try integer(UInt64.self, what)))
    case .array:
      let at = offset
      guard depth < GGUFSource.maxArrayDepth else { throw GGUFError.nestingTooDeep(key: key, offset: at) }
      let raw = try u32("the element type of array '\(key)'")
      guard let element = GGUFValueType(rawValue: raw) else {
        throw GGUFError.unknownValueType(key: key, type: raw, offset: at)
      }
      let count = try u64("the length of array '\(key)'")
      guard count <= remaining / element.minimumBytes else {
        throw GGUFError.arrayTooLong(key: key, count: count, offset: at)
      }
      arrayElements += count  // no overflow: each count is at most the file size
      guard arrayElements <= GGUFSource.maxArrayElements else {
        throw GGUFError.tooManyArrayElements(key: key, offset: at, limit: GGUFSource.maxArrayElements)
      }
      var items: [GGUFValue] = []
      items.reserveCapacity(Int(count))
      for _ in 0..<count { items.append(try value(element, key: key, depth: depth + 1)) }
      return .array(element, items)
    }
  }
}
