/// Why a binary object could not be decoded.
public enum DecodeError: Error, Equatable, Sendable {
  /// A field needed more bytes than remain; carries the offset and the field.
  case truncated(offset: Int, field: String)
  /// Bytes remain after the last field.
  case trailingBytes(offset: Int, count: Int)
  /// A version this build does not know.
  case unsupportedVersion(field: String, version: Int)
  /// A string field is not valid UTF-8 or contains NUL.
  case invalidString(offset: Int, field: String)
  /// A value is outside what the format allows; carries the field and a reason.
  case invalidValue(field: String, reason: String)
}

/// Appends little-endian primitives (Docs/ObjectFormat.md §2).
public struct ByteWriter: Sendable {
  public private(set) var bytes: [UInt8] = []

  public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

  public mutating func u8(_ v: UInt8) { bytes.append(v) }
  public mutating func u32(_ v: UInt32) {
    withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
  }
  public mutating func u64(_ v: UInt64) {
    withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
  }
  public mutating func id(_ v: ObjectID) { bytes.append(contentsOf: v.bytes) }
  public mutating func raw(_ v: some Sequence<UInt8>) { bytes.append(contentsOf: v) }
  /// A `u32` length followed by the UTF-8 bytes.
  public mutating func string(_ s: String) {
    let utf8 = Array(s.utf8)
    u32(UInt32(utf8.count))
    bytes.append(contentsOf: utf8)
  }
}

/// Reads little-endian primitives with every length checked against what remains.
public struct ByteReader {
  private let bytes: [UInt8]
  public private(set) var offset: Int

  public init(_ bytes: [UInt8], offset: Int = 0) {
    self.bytes = bytes
    self.offset = offset
  }

  public var remaining: Int { bytes.count - offset }

  mutating func take(_ n: Int, _ field: String) throws(DecodeError) -> ArraySlice<UInt8> {
    guard n >= 0, n <= remaining else { throw .truncated(offset: offset, field: field) }
    defer { offset += n }
    return bytes[offset..<(offset + n)]
  }

  public mutating func u8(_ field: String) throws(DecodeError) -> UInt8 {
    try take(1, field).first ?? 0
  }

  public mutating func u32(_ field: String) throws(DecodeError) -> UInt32 {
    let s = try take(4, field)
    return s.reversed().reduce(0) { $0 << 8 | UInt32($1) }
  }

  public mutating func u64(_ field: String) throws(DecodeError) -> UInt64 {
    let s = try take(8, field)
    return s.reversed().reduce(0) { $0 << 8 | UInt64($1) }
  }

  public mutating func id(_ field: String) throws(DecodeError) -> ObjectID {
    let s = try take(32, field)
    return s.withUnsafeBytes { ObjectID(unchecked: $0, offset: 0) }
  }

  public mutating func raw(_ n: Int, _ field: String) throws(DecodeError) -> [UInt8] {
    Array(try take(n, field))
  }

  /// A `u32`-length-prefixed UTF-8 string without NUL.
  public mutating func string(_ field: String) throws(DecodeError) -> String {
    let start = offset
    let n = Int(try u32(field))
    let s = try take(n, field)
    guard !s.contains(0), let text = String(validating: s, as: UTF8.self) else {
      throw .invalidString(offset: start, field: field)
    }
    return text
  }

  /// A `u32` element count, rejected when even one byte per element could not fit.
  public mutating func count(_ field: String, minimumElementSize: Int) throws(DecodeError) -> Int {
    let at = offset
    let n = Int(try u32(field))
    let (need, overflow) = n.multipliedReportingOverflow(by: max(1, minimumElementSize))
    guard !overflow, need <= remaining else { throw .truncated(offset: at, field: field) }
    return n
  }

  /// Throws when bytes remain.
  public func expectEnd() throws(DecodeError) {
    if remaining != 0 { throw .trailingBytes(offset: offset, count: remaining) }
  }
}
