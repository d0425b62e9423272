/// The protobuf wire format is broken: a rejection by `ProtobufReader`, before any message meaning.
public enum ProtobufError: FormatProblem, Equatable {
  /// A varint runs past 10 bytes or past 64 bits.
  case varintOverflow(offset: UInt64)
  /// A value (varint, fixed, or length-delimited payload) runs past the end of its enclosing message.
  case valuePastEnd(field: UInt32, offset: UInt64, length: UInt64, messageEnd: UInt64)
  /// A group (wire type 3 or 4): deprecated in protobuf and never written by ONNX.
  case groupWireType(field: UInt32, offset: UInt64)
  /// Wire type 6 or 7, which protobuf does not define.
  case invalidWireType(field: UInt32, wireType: UInt8, offset: UInt64)
  /// A tag whose field number is 0 or above 2^29 − 1.
  case invalidFieldNumber(UInt64, offset: UInt64)
  /// A known field encoded with a wire type its declared type cannot have.
  case wireTypeMismatch(field: UInt32, wireType: UInt8, offset: UInt64)
  /// Messages nested deeper than `ProtobufReader.maxDepth` (subgraphs recurse).
  case nestingTooDeep(depth: Int, offset: UInt64)
  /// A string field that is not valid UTF-8.
  case invalidUTF8(field: UInt32, offset: UInt64)
  /// A string field longer than `ProtobufReader.maxStringLength` bytes.
  case stringTooLong(field: UInt32, length: UInt64, offset: UInt64)
  /// A packed fixed-width field whose length is not a whole number of elements.
  case packedLengthMismatch(field: UInt32, length: UInt64, width: Int, offset: UInt64)

  public var description: String {
    switch self {
    case .varintOverflow(let o): return "protobuf: varint at offset \(o) is longer than 10 bytes or overflows 64 bits"
    case .valuePastEnd(let f, let o, let n, let end):
      return "protobuf: field \(f) at offset \(o) needs \(n) bytes, past the end of its message at offset \(end)"
    case .groupWireType(let f, let o): return "protobuf: field \(f) at offset \(o) is a group (wire type 3/4), which is not read"
    case .invalidWireType(let f, let w, let o): return "protobuf: field \(f) at offset \(o) has undefined wire type \(w)"
    case .invalidFieldNumber(let n, let o): return "protobuf: invalid field number \(n) at offset \(o)"
    case .wireTypeMismatch(let f, let w, let o): return "protobuf: field \(f) at offset \(o) has wire type \(w), which its type does not allow"
    case .nestingTooDeep(let d, let o): return "protobuf: messages nest deeper than \(d) levels at offset \(o)"
    case .invalidUTF8(let f, let o): return "protobuf: string field \(f) at offset \(o) is not valid UTF-8"
    case .stringTooLong(let f, let n, let o): return "protobuf: string field \(f) at offset \(o) is \(n) bytes long, over the limit"
    case .packedLengthMismatch(let f, let n, let w, let o):
      return "protobuf: packed field \(f) at offset \(o) is \(n) bytes, not a multiple of \(w)"
    }
  }
}

/// Protobuf wire types (the low three bits of a tag).
enum WireType: UInt8 {
  case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

/// One field's tag: its number, wire type, and the file offset of the tag.
struct ProtobufField {
  var number: UInt32
  var wireType: WireType
  var offset: UInt64
}

/// How the elements of a repeated scalar field are encoded.
enum ScalarEncoding {
  case varint, fixed32, fixed64
  var wireType: WireType {
    switch self {
    case .varint: return .varint
    case .fixed32: return .fixed32
    case .fixed64: return .fixed64
    }
  }
}

/// Where some elements of a repeated scalar field lie in the file, without decoding them: one
/// packed payload, or a run of consecutive unpacked tag + value pairs of the same field.
struct ScalarSpan: Equatable, Sendable {
  var field: UInt32
  var offset: UInt64
  var length: UInt64
  var packed: Bool
  var count: UInt64
}

/// A bounded cursor over one protobuf message inside a `ByteSource`.
///
/// It reads tags and values in file order, reports file offsets (so that callers can keep payloads
/// such as ONNX `raw_data` in place), checks every length against the enclosing message's end, and
/// never reads past it. Unknown fields are skipped by the caller through `skip(_:)`; groups are
/// rejected; nested messages deeper than `maxDepth` are rejected.
struct ProtobufReader {
  /// The deepest message nesting accepted (protobuf's own default recursion limit).
  static let maxDepth = 100
  /// The longest string field read (names, keys); longer ones are rejected, not allocated.
  static let maxStringLength: UInt64 = 1 << 20

  private let window: ByteWindow
  private(set) var position: UInt64
  let end: UInt64
  let depth: Int

  /// A reader over the whole of `source`, as the top-level message.
  init(_ source: any ByteSource) {
    window = ByteWindow(source)
    position = 0
    end = source.size
    depth = 0
  }

  private init(window: ByteWindow, position: UInt64, end: UInt64, depth: Int) {
    self.window = window
    self.position = position
    self.end = end
    self.depth = depth
  }

  var isAtEnd: Bool { position >= end }

  /// The next field's tag, or nil at the end of the message.
  mutating func next() throws -> ProtobufField? {
    guard position < end else { return nil }
    let offset = position
    let tag = try readVarint(field: 0)
    let number = tag >> 3
    guard number >= 1, number <= (1 << 29) - 1 else { throw ProtobufError.invalidFieldNumber(number, offset: offset) }
    let raw = UInt8(tag & 7)
    guard let wire = WireType(rawValue: raw) else {
      throw ProtobufError.invalidWireType(field: UInt32(number), wireType: raw, offset: offset)
    }
    if wire == .startGroup || wire == .endGroup { throw ProtobufError.groupWireType(field: UInt32(number), offset: offset) }
    return ProtobufField(number: UInt32(number), wireType: wire, offset: offset)
  }

  /// Skip the value of a field not read.
  mutating func skip(_ field: ProtobufField) throws {
    switch field.wireType {
    case .varint: _ = try readVarint(field: field.number)
    case .fixed64: try advance(8, field: field.number)
    case .fixed32: try advance(4, field: field.number)
    case .lengthDelimited: _ = try lengthDelimited(field)
    case .startGroup, .endGroup: throw ProtobufError.groupWireType(field: field.number, offset: field.offset)
    }
  }

  /// A varint field's value (int32, int64, uint64, enum, bool).
  mutating func varint(_ field: ProtobufField) throws -> UInt64 {
    try expect(field, .varint)
    return try readVarint(field: field.number)
  }

  /// A length-delimited field's payload: its file offset and length, which is skipped over.
  mutating func lengthDelimited(_ field: ProtobufField) throws -> (offset: UInt64, length: UInt64) {
    try expect(field, .lengthDelimited)
    let length = try readVarint(field: field.number)
    let offset = position
    try advance(length, field: field.number)
    return (offset, length)
  }

  /// A string field, checked for length and UTF-8.
  mutating func string(_ field: ProtobufField) throws -> String {
    let (offset, length) = try lengthDelimited(field)
    guard length <= Self.maxStringLength else {
      throw ProtobufError.stringTooLong(field: field.number, length: length, offset: offset)
    }
    let bytes = try window.source.read(count: Int(length), at: offset, what: "protobuf string field \(field.number)")
    guard let s = String(validating: bytes, as: UTF8.self) else {
      throw ProtobufError.invalidUTF8(field: field.number, offset: offset)
    }
    return s
  }

  /// A reader over an embedded message field, one level deeper; this reader moves past it.
  mutating func message(_ field: ProtobufField) throws -> ProtobufReader {
    let (offset, length) = try lengthDelimited(field)
    guard depth + 1 <= Self.maxDepth else { throw ProtobufError.nestingTooDeep(depth: Self.maxDepth, offset: offset) }
    return ProtobufReader(window: window, position: offset, end: offset + length, depth: depth + 1)
  }

  /// Append a repeated varint field's values, packed (one payload) or unpacked (this one value).
  mutating func repeatedVarints(_ field: ProtobufField, into values: inout [UInt64]) throws {
    if field.wireType == .varint {
      values.append(try readVarint(field: field.number))
      return
    }
    var sub = try packedPayload(field)
    while !sub.isAtEnd { values.append(try sub.readVarint(field: field.number)) }
  }

  /// Record where a repeated scalar field's elements lie (packed or unpacked) and count them,
  /// without decoding them. An unpacked element right after the previous span of the same field
  /// extends that span, so a long unpacked run costs one span.
  mutating func scalarSpan(_ field: ProtobufField, _ encoding: ScalarEncoding, into spans: inout [ScalarSpan]) throws {
    if field.wireType == .lengthDelimited {
      var sub = try packedPayload(field)
      let start = sub.position
      let length = sub.end - start
      var count: UInt64
      switch encoding {
      case .fixed32, .fixed64:
        let width: UInt64 = encoding == .fixed32 ? 4 : 8
        guard length % width == 0 else {
          throw ProtobufError.packedLengthMismatch(field: field.number, length: length, width: Int(width), offset: start)
        }
        count = length / width
      case .varint:
        count = 0
        while !sub.isAtEnd {
          _ = try sub.readVarint(field: field.number)
          count += 1
        }
      }
      spans.append(ScalarSpan(field: field.number, offset: start, length: length, packed: true, count: count))
      return
    }
    try expect(field, encoding.wireType)
    switch encoding {
    case .varint: _ = try readVarint(field: field.number)
    case .fixed32: try advance(4, field: field.number)
    case .fixed64: try advance(8, field: field.number)
    }
    let length = position - field.offset
    if var last = spans.last, !last.packed, last.field == field.number, last.offset + last.length == field.offset {
      last.length += length
      last.count += 1
      spans[spans.count - 1] = last
    } else {
      spans.append(ScalarSpan(field: field.number, offset: field.offset, length: length, packed: false, count: 1))
    }
  }

  /// Decode the elements `scalarSpan` recorded, calling `body` with each as a 64-bit pattern
  /// (fixed32 values zero-extended; varints as written, so negative int32 values are sign-extended).
  static func decode(_ span: ScalarSpan, _ encoding: ScalarEncoding, in source: any ByteSource, body: (UInt64) -> Void) throws {
    let (end, overflow) = span.offset.addingReportingOverflow(span.length)
    guard !overflow, end <= source.size else {
      throw ProtobufError.valuePastEnd(field: span.field, offset: span.offset, length: span.length, messageEnd: source.size)
    }
    var r = ProtobufReader(window: ByteWindow(source), position: span.offset, end: end, depth: 0)
    while !r.isAtEnd {
      if !span.packed {
        // A span records a run of one field's tags; anything else means the bytes changed.
        let at = r.position
        guard let f = try r.next(), f.number == span.field else { throw ProtobufError.invalidFieldNumber(UInt64(span.field), offset: at) }
        try r.expect(f, encoding.wireType)
      }
      switch encoding {
      case .varint: body(try r.readVarint(field: span.field))
      case .fixed32: body(UInt64(try r.readFixed(4, field: span.field)))
      case .fixed64: body(try r.readFixed(8, field: span.field))
      }
    }
  }

  // MARK: - Primitives

  private mutating func packedPayload(_ field: ProtobufField) throws -> ProtobufReader {
    let (offset, length) = try lengthDelimited(field)
    return ProtobufReader(window: window, position: offset, end: offset + length, depth: depth)
  }

  private func expect(_ field: ProtobufField, _ wire: WireType) throws {
    guard field.wireType == wire else {
      throw ProtobufError.wireTypeMismatch(field: field.number, wireType: field.wireType.rawValue, offset: field.offset)
    }
  }

  private mutating func advance(_ count: UInt64, field: UInt32) throws {
    let (next, overflow) = position.addingReportingOverflow(count)
    guard !overflow, next <= end else {
      throw ProtobufError.valuePastEnd(field: field, offset: position, length: count, messageEnd: end)
    }
    position = next
  }

  mutating func readVarint(field: UInt32) throws -> UInt64 {
    let start = position
    var value: UInt64 = 0
    for k in 0..<10 {
      guard position < end else { throw ProtobufError.valuePastEnd(field: field, offset: start, length: UInt64(k + 1), messageEnd: end) }
      let b = try window.byte(at: position)
      position += 1
      // The tenth byte may carry only the top bit of a 64-bit value.
      if k == 9 && b > 1 { throw ProtobufError.varintOverflow(offset: start) }
      value |= UInt64(b & 0x7F) << (7 * UInt64(k))
      if b & 0x80 == 0 { return value }
    }
    throw ProtobufError.varintOverflow(offset: start)
  }

  private mutating func readFixed(_ width: Int, field: UInt32) throws -> UInt64 {
    let start = position
    try advance(UInt64(width), field: field)
    var value: UInt64 = 0
    for k in 0..<width { value |= UInt64(try window.byte(at: start + UInt64(k))) << (8 * UInt64(k)) }
    return value
  }
}

/// A moving window over a `ByteSource`, so that tag-by-tag parsing does not read byte by byte
/// from a file. Parsing moves forward, so one window mostly suffices.
private final class ByteWindow {
  let source: any ByteSource
  private var bytes: [UInt8] = []
  private var start: UInt64 = 0
  private static let size: UInt64 = 1 << 16

  init(_ source: any ByteSource) { self.source = source }

  /// The byte at `offset`, which callers keep below `source.size`.
  func byte(at offset: UInt64) throws -> UInt8 {
    if offset >= start, offset - start < UInt64(bytes.count) { return bytes[Int(offset - start)] }
    guard offset < source.size else { throw FormatError.truncated(what: "a protobuf value", offset: offset, needed: 1, size: source.size) }
    let count = min(Self.size, source.size - offset)
    bytes = try source.read(count: Int(count), at: offset, what: "protobuf bytes")
    start = offset
    return bytes[0]
  }
}
