/// Appends SSH wire primitives (RFC 4251 §5): big-endian `uint32`, length-prefixed `string`, `mpint`.
///
/// `LineageCore.ByteWriter` writes lineage's own little-endian canonical encoding; the SSH formats
/// are big-endian, so they get their own small writer.
struct SSHWriter {
  private(set) var bytes: [UInt8] = []

  mutating func raw(_ v: some Sequence<UInt8>) { bytes.append(contentsOf: v) }

  mutating func u32(_ v: UInt32) {
    bytes.append(contentsOf: [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)])
  }

  /// A `uint32` length followed by the bytes. Lengths here are always far below 4 GiB.
  mutating func string(_ v: [UInt8]) {
    u32(UInt32(truncatingIfNeeded: v.count))
    bytes.append(contentsOf: v)
  }

  mutating func string(_ s: String) { string(Array(s.utf8)) }

  /// An unsigned big-endian magnitude as an `mpint`: shortest form, a zero byte added when the
  /// top bit is set, and the empty string for zero.
  mutating func mpint(unsigned magnitude: [UInt8]) {
    let trimmed = Array(magnitude.drop { $0 == 0 })
    if let first = trimmed.first, first & 0x80 != 0 {
      string([0] + trimmed)
    } else {
      string(trimmed)
    }
  }
}

/// Reads SSH wire primitives with every length checked against what remains.
///
/// Offsets in errors are relative to the start of the buffer given to `init`.
struct SSHReader {
  private let bytes: [UInt8]
  private(set) var offset: Int

  init(_ bytes: [UInt8]) {
    self.bytes = bytes
    offset = 0
  }

  var remaining: Int { bytes.count - offset }

  mutating func raw(_ n: Int, _ field: String) throws(SigningError) -> [UInt8] {
    guard n >= 0, n <= remaining else { throw .truncated(offset: offset, field: field) }
    defer { offset += n }
    return Array(bytes[offset..<(offset + n)])
  }

  mutating func u8(_ field: String) throws(SigningError) -> UInt8 {
    guard remaining >= 1 else { throw .truncated(offset: offset, field: field) }
    defer { offset += 1 }
    return bytes[offset]
  }

  mutating func u32(_ field: String) throws(SigningError) -> UInt32 {
    let b = try raw(4, field)
    return b.reduce(0) { $0 << 8 | UInt32($1) }
  }

  /// A length-prefixed byte string. The length is checked against what remains before any copy.
  mutating func string(_ field: String) throws(SigningError) -> [UInt8] {
    let start = offset
    let length = try u32(field)
    guard let n = Int(exactly: length), n <= remaining else {
      offset = start
      throw .truncated(offset: start, field: field)
    }
    return try raw(n, field)
  }

  /// A length-prefixed UTF-8 string without NUL.
  mutating func text(_ field: String) throws(SigningError) -> String {
    let start = offset
    let b = try string(field)
    guard !b.contains(0), let s = String(validating: b, as: UTF8.self) else {
      throw .invalidString(offset: start, field: field)
    }
    return s
  }

  /// A non-negative `mpint` in shortest form, returned as its unsigned magnitude (no leading zeros).
  ///
  /// `maxBytes` bounds the magnitude (the sign byte is not counted).
  mutating func mpint(_ field: String, maxBytes: Int) throws(SigningError) -> [UInt8] {
    let start = offset
    let b = try string(field)
    guard let first = b.first else { return [] }
    if first & 0x80 != 0 { throw .negativeMPInt(offset: start, field: field) }
    var magnitude = b[...]
    if first == 0 {
      // A leading zero is only allowed to keep the next byte's top bit from reading as a sign.
      guard b.count >= 2, b[1] & 0x80 != 0 else { throw .nonMinimalMPInt(offset: start, field: field) }
      magnitude = b.dropFirst()
    }
    guard magnitude.count <= maxBytes else { throw .mpintTooLarge(offset: start, field: field, bytes: magnitude.count) }
    return Array(magnitude)
  }

  /// Throws when bytes remain after `structure`.
  func expectEnd(_ structure: String) throws(SigningError) {
    if remaining != 0 { throw .trailingBytes(structure: structure, offset: offset, count: remaining) }
  }
}

/// Standard base64 (RFC 4648 §4) with strict decoding: no characters outside the alphabet,
/// padding only at the end, and zero padding bits (as OpenSSH's `b64_pton` demands).
enum Base64 {
  private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  static func encode(_ bytes: [UInt8], padded: Bool = true) -> String {
    var out = [UInt8]()
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var i = 0
    while i < bytes.count {
      let b0 = bytes[i]
      let b1: UInt8 = i + 1 < bytes.count ? bytes[i + 1] : 0
      let b2: UInt8 = i + 2 < bytes.count ? bytes[i + 2] : 0
      out.append(alphabet[Int(b0 >> 2)])
      out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
      if i + 1 < bytes.count {
        out.append(alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)])
      } else if padded {
        out.append(UInt8(ascii: "="))
      }
      if i + 2 < bytes.count {
        out.append(alphabet[Int(b2 & 0x3F)])
      } else if padded {
        out.append(UInt8(ascii: "="))
      }
      i += 3
    }
    return String(decoding: out, as: UTF8.self)
  }

  private static func value(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"): c - UInt8(ascii: "A")
    case UInt8(ascii: "a")...UInt8(ascii: "z"): c - UInt8(ascii: "a") + 26
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0") + 52
    case UInt8(ascii: "+"): 62
    case UInt8(ascii: "/"): 63
    default: nil
    }
  }

  /// Decode padded base64; `field` names the input in errors.
  static func decode(_ text: some Collection<UInt8>, field: String) throws(SigningError) -> [UInt8] {
    let chars = Array(text)
    guard chars.count % 4 == 0 else { throw .invalidBase64(offset: chars.count, field: field) }
    var out = [UInt8]()
    out.reserveCapacity(chars.count / 4 * 3)
    var i = 0
    while i < chars.count {
      let isLast = i + 4 == chars.count
      var quad = [UInt8](repeating: 0, count: 4)
      var pad = 0
      for j in 0..<4 {
        let c = chars[i + j]
        if c == UInt8(ascii: "=") && isLast && j >= 2 {
          pad += 1
          continue
        }
        // A data character after '=' or a character outside the alphabet.
        guard pad == 0, let v = value(c) else { throw .invalidBase64(offset: i + j, field: field) }
        quad[j] = v
      }
      out.append(quad[0] << 2 | quad[1] >> 4)
      if pad < 2 { out.append((quad[1] & 0x0F) << 4 | quad[2] >> 2) }
      if pad < 1 { out.append((quad[2] & 0x03) << 6 | quad[3]) }
      // Bits below the last whole byte must be zero, or one byte string has many encodings.
      if pad == 2 && quad[1] & 0x0F != 0 { throw .invalidBase64(offset: i + 1, field: field) }
      if pad == 1 && quad[2] & 0x03 != 0 { throw .invalidBase64(offset: i + 2, field: field) }
      i += 4
    }
    return out
  }
}

/// ASCII armor as OpenSSH writes it: a `-----BEGIN X-----` line, base64 wrapped at 70 columns,
/// a `-----END X-----` line.
enum Armor {
  /// The armored text, ending with a newline, byte-identical to `sshbuf_dtob64(…, wrap=1)` output.
  static func encode(_ bytes: [UInt8], label: String) -> String {
    let b64 = Array(Base64.encode(bytes).utf8)
    var out = "-----BEGIN \(label)-----\n"
    var i = 0
    while i < b64.count {
      let end = min(i + 70, b64.count)
      out += String(decoding: b64[i..<end], as: UTF8.self) + "\n"
      i = end
    }
    return out + "-----END \(label)-----\n"
  }

  /// The decoded bytes between the header and footer.
  ///
  /// The text must start with the header line; line breaks (`\n` or `\r\n`) inside the base64 are
  /// ignored; only white space may follow the footer.
  static func decode(_ text: String, label: String) throws(SigningError) -> [UInt8] {
    let header = "-----BEGIN \(label)-----"
    let footer = "-----END \(label)-----"
    let utf8 = Array(text.utf8)
    let head = Array(header.utf8)
    guard utf8.starts(with: head) else { throw .missingArmorHeader(expected: header) }
    var body = utf8[head.count...]
    guard body.first == UInt8(ascii: "\n") || body.starts(with: [13, 10]) else { throw .missingArmorHeader(expected: header) }
    // The footer must start a line, as OpenSSH looks for "\n-----END".
    let foot = [UInt8(ascii: "\n")] + Array(footer.utf8)
    guard let footStart = firstIndex(of: foot, in: body) else { throw .missingArmorFooter(expected: footer) }
    let after = utf8[(footStart + foot.count)...]
    let stray = after.filter { !($0 == 10 || $0 == 13 || $0 == 32 || $0 == 9) }.count
    if stray > 0 { throw .textAfterArmor(count: after.count) }
    body = body[body.startIndex..<footStart]
    let b64 = body.filter { $0 != 10 && $0 != 13 }
    return try Base64.decode(b64, field: label)
  }

  private static func firstIndex(of needle: [UInt8], in hay: ArraySlice<UInt8>) -> Int? {
    guard needle.count <= hay.count else { return nil }
    var i = hay.startIndex
    while i + needle.count <= hay.endIndex {
      if hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
      i += 1
    }
    return nil
  }
}
