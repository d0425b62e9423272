import LineageNative

/// The kinds of object in the store (see Docs/ObjectFormat.md §1).
public enum ObjectType: String, Sendable, CaseIterable, Codable {
  case chunk, tensor, file, tree, commit
}

/// A content address: SHA-256 of `type SP decimal(len) NUL content`.
///
/// Held as four big-endian words so that ids hash and compare without heap allocation.
public struct ObjectID: Hashable, Comparable, Sendable, CustomStringConvertible {
  let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

  /// Wrap 32 digest bytes; nil for any other length.
  public init?(bytes: some Collection<UInt8>) {
    guard bytes.count == 32 else { return nil }
    var words: [UInt64] = [0, 0, 0, 0]
    for (k, b) in bytes.enumerated() { words[k / 8] = words[k / 8] << 8 | UInt64(b) }
    (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
  }

  /// Read 32 bytes at `offset` of a buffer the caller has bounds-checked.
  public init(unchecked buffer: UnsafeRawBufferPointer, offset: Int) {
    func word(_ k: Int) -> UInt64 {
      UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: offset + 8 * k, as: UInt64.self))
    }
    (w0, w1, w2, w3) = (word(0), word(1), word(2), word(3))
  }

  /// Parse 64 hex digits; nil for anything else.
  public init?(hex: String) {
    guard hex.utf8.count == 64, let b = HexEncoding.decode(hex) else { return nil }
    self.init(bytes: b)
  }

  /// The 32 digest bytes.
  public var bytes: [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(32)
    for w in [w0, w1, w2, w3] { withUnsafeBytes(of: w.bigEndian) { out.append(contentsOf: $0) } }
    return out
  }

  /// The id of `content` as an object of `type`.
  public static func of(_ type: ObjectType, content: UnsafeRawBufferPointer) -> ObjectID {
    let hasher = SHA256Hasher()
    hasher.update(header(type, length: content.count))
    hasher.update(content)
    return ObjectID(digest: hasher.finalize())
  }

  /// The id of `content` as an object of `type`.
  public static func of(_ type: ObjectType, content: [UInt8]) -> ObjectID {
    content.withUnsafeBytes { of(type, content: $0) }
  }

  /// The bytes hashed before the content.
  public static func header(_ type: ObjectType, length: Int) -> [UInt8] {
    Array("\(type.rawValue) \(length)".utf8) + [0]
  }

  init(digest: SHA256Digest) {
    self = digest.bytes.withUnsafeBytes { ObjectID(unchecked: $0, offset: 0) }
  }

  /// 64 lowercase hex digits.
  public var hex: String { HexEncoding.encode(bytes) }
  /// The first 12 hex digits, for display.
  public var short: String { String(hex.prefix(12)) }
  public var description: String { hex }

  public static func < (a: ObjectID, b: ObjectID) -> Bool {
    (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
  }
}
