/// A JSON value that keeps object members in document order and numbers as their source text.
public indirect enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  /// The number's text exactly as written, so no precision is lost before a caller decides.
  case number(String)
  case string(String)
  case array([JSONValue])
  /// Members in document order; the strict parser guarantees the keys are unique.
  case object([(String, JSONValue)])

  public static func == (a: JSONValue, b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x == y
    case (.object(let x), .object(let y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    default: return false
    }
  }

  /// The member named `key` of an object, or nil.
  public subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.0.utf8.elementsEqual(key.utf8) }?.1
  }

  public var stringValue: String? {
    if case .string(let s) = self { return s }
    return nil
  }

  /// An integer, when the number is written without fraction or exponent and fits in Int64.
  public var int64Value: Int64? {
    guard case .number(let text) = self else { return nil }
    return Int64(text)
  }

  public var arrayValue: [JSONValue]? {
    if case .array(let a) = self { return a }
    return nil
  }

  public var objectValue: [(String, JSONValue)]? {
    if case .object(let o) = self { return o }
    return nil
  }
}

/// Why bytes are not strict JSON.
public enum JSONError: Error, Equatable, Sendable {
  /// The bytes are not valid UTF-8; carries the byte offset of the first bad sequence.
  case invalidUTF8(offset: Int)
  /// A syntax error at a byte offset, with what was expected.
  case syntax(offset: Int, expected: String)
  /// An object repeats a key (RFC 8259 leaves this undefined; lineage rejects it).
  case duplicateKey(offset: Int, key: String)
  /// Nesting deeper than the parser's limit.
  case tooDeep(offset: Int, limit: Int)
}

/// A strict RFC 8259 parser: UTF-8 only, duplicate keys rejected, nesting limited.
///
/// Written for untrusted headers: Foundation's parser silently keeps one of two duplicate keys,
/// which would let two readers of one safetensors header disagree about a tensor.
public struct StrictJSONParser {
  private let bytes: [UInt8]
  private var i = 0
  private let depthLimit: Int

  /// Parse a whole document; whitespace may surround the value, nothing else.
  public static func parse(_ bytes: [UInt8], depthLimit: Int = 64) throws(JSONError) -> JSONValue {
    if String(validating: bytes, as: UTF8.self) == nil {
      throw .invalidUTF8(offset: firstInvalidUTF8(bytes))
    }
    var p = StrictJSONParser(bytes: bytes, depthLimit: depthLimit)
    p.skipSpace()
    let v = try p.value(depth: 0)
    p.skipSpace()
    guard p.i == bytes.count else { throw .syntax(offset: p.i, expected: "end of document") }
    return v
  }

  private init(bytes: [UInt8], depthLimit: Int) {
    self.bytes = bytes
    self.depthLimit = depthLimit
  }

  static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
    var lo = 0
    var hi = bytes.count
    // Binary search on the longest valid prefix (a prefix cut inside a sequence is also invalid,
    // so this finds the start of the first bad sequence to within one character).
    while lo < hi {
      let mid = (lo + hi + 1) / 2
      if String(validating: bytes[0..<mid], as: UTF8.self) != nil { lo = mid } else { hi = mid - 1 }
    }
    return lo
  }

  private mutating func skipSpace() {
    while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
  }

  private mutating func expect(_ c: UInt8, _ what: String) throws(JSONError) {
    guard i < bytes.count, bytes[i] == c else { throw .syntax(offset: i, expected: what) }
    i += 1
  }

  private mutating func value(depth: Int) throws(JSONError) -> JSONValue {
    guard depth <= depthLimit else { throw .tooDeep(offset: i, limit: depthLimit) }
    guard i < bytes.count else { throw .syntax(offset: i, expected: "a value") }
    switch bytes[i] {
    case UInt8(ascii: "{"): return try object(depth: depth)
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): try literal("true"); return .bool(true)
    case UInt8(ascii: "f"): try literal("false"); return .bool(false)
    case UInt8(ascii: "n"): try literal("null"); return .null
    default: return .number(try number())
    }
  }

  private mutating func literal(_ word: String) throws(JSONError) {
    for c in word.utf8 { try expect(c, word) }
  }

  private mutating func object(depth: Int) throws(JSONError) -> JSONValue {
    i += 1
    var members: [(String, JSONValue)] = []
    // Bytes, not Strings: "café" in NFC and in NFD are different keys to every other parser.
    var seen = Set<[UInt8]>()
    skipSpace()
    if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
      i += 1
      return .object([])
    }
    while true {
      skipSpace()
      let keyOffset = i
      guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
        throw .syntax(offset: i, expected: "a string key")
      }
      let key = try string()
      guard seen.insert(Array(key.utf8)).inserted else { throw .duplicateKey(offset: keyOffset, key: key) }
      skipSpace()
      try expect(UInt8(ascii: ":"), "':'")
      skipSpace()
      members.append((key, try value(depth: depth + 1)))
      skipSpace()
      guard i < bytes.count else { throw .syntax(offset: i, expected: "',' or '}'") }
      if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
      try expect(UInt8(ascii: "}"), "',' or '}'")
      return .object(members)
    }
  }

  private mutating func array(depth: Int) throws(JSONError) -> JSONValue {
    i += 1
    var items: [JSONValue] = []
    skipSpace()
    if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
      i += 1
      return .array([])
    }
    while true {
      skipSpace()
      items.append(try value(depth: depth + 1))
      skipSpace()
      guard i < bytes.count else { throw .syntax(offset: i, expected: "',' or ']'") }
      if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
      try expect(UInt8(ascii: "]"), "',' or ']'")
      return .array(items)
    }
  }

  private mutating func string() throws(JSONError) -> String {
    i += 1
    var out = [UInt8]()
    while true {
      guard i < bytes.count else { throw .syntax(offset: i, expected: "closing '\"'") }
      let c = bytes[i]
      if c == UInt8(ascii: "\"") { i += 1; break }
      if c < 0x20 { throw .syntax(offset: i, expected: "an escaped control character") }
      if c != UInt8(ascii: "\\") {
        out.append(c)
        i += 1
        continue
      }
      i += 1
      guard i < bytes.count else { throw .syntax(offset: i, expected: "an escape") }
      let e = bytes[i]
      i += 1
      switch e {
      case UInt8(ascii: "\""): out.append(0x22)
      case UInt8(ascii: "\\"): out.append(0x5C)
      case UInt8(ascii: "/"): out.append(0x2F)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var scalar = try hex4()
        if (0xD800...0xDBFF).contains(scalar) {
          guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u")
          else { throw .syntax(offset: i, expected: "a low surrogate") }
          i += 2
          let low = try hex4()
          guard (0xDC00...0xDFFF).contains(low) else { throw .syntax(offset: i, expected: "a low surrogate") }
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
          throw .syntax(offset: i, expected: "a high surrogate first")
        }
        guard let u = Unicode.Scalar(scalar) else { throw .syntax(offset: i, expected: "a scalar value") }
        out.append(contentsOf: Array(String(Character(u)).utf8))
      default: throw .syntax(offset: i - 1, expected: "a valid escape")
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  private mutating func hex4() throws(JSONError) -> UInt32 {
    var v: UInt32 = 0
    for _ in 0..<4 {
      guard i < bytes.count else { throw .syntax(offset: i, expected: "4 hex digits") }
      let c = bytes[i]
      let d: UInt32
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
      default: throw .syntax(offset: i, expected: "4 hex digits")
      }
      v = v << 4 | d
      i += 1
    }
    return v
  }

  private mutating func number() throws(JSONError) -> String {
    let start = i
    if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
    guard i < bytes.count, isDigit(bytes[i]) else { throw .syntax(offset: start, expected: "a value") }
    if bytes[i] == UInt8(ascii: "0") {
      i += 1
    } else {
      while i < bytes.count, isDigit(bytes[i]) { i += 1 }
    }
    if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
      i += 1
      guard i < bytes.count, isDigit(bytes[i]) else { throw .syntax(offset: i, expected: "a digit") }
      while i < bytes.count, isDigit(bytes[i]) { i += 1 }
    }
    if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
      i += 1
      if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
      guard i < bytes.count, isDigit(bytes[i]) else { throw .syntax(offset: i, expected: "a digit") }
      while i < bytes.count, isDigit(bytes[i]) { i += 1 }
    }
    return String(decoding: bytes[start..<i], as: UTF8.self)
  }

  private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}

/// Writes canonical JSON (Docs/ObjectFormat.md §5): sorted keys, no whitespace, fixed escaping.
public enum CanonicalJSON {
  /// Why a value cannot be written canonically.
  public enum EncodingError: Error, Equatable, Sendable {
    /// A number is not an integer within ±(2^53−1); carries its text.
    case nonCanonicalNumber(String)
    /// An object repeats a key.
    case duplicateKey(String)
  }

  /// The canonical bytes of `value`.
  public static func encode(_ value: JSONValue) throws(EncodingError) -> [UInt8] {
    var out = [UInt8]()
    try write(value, into: &out)
    return out
  }

  private static func write(_ value: JSONValue, into out: inout [UInt8]) throws(EncodingError) {
    switch value {
    case .null: out += Array("null".utf8)
    case .bool(let b): out += Array((b ? "true" : "false").utf8)
    case .number(let text):
      guard let n = Int64(text), abs(n) <= (1 << 53) - 1, String(n) == text else {
        throw .nonCanonicalNumber(text)
      }
      out += Array(text.utf8)
    case .string(let s): writeString(s, into: &out)
    case .array(let items):
      out.append(UInt8(ascii: "["))
      for (k, item) in items.enumerated() {
        if k > 0 { out.append(UInt8(ascii: ",")) }
        try write(item, into: &out)
      }
      out.append(UInt8(ascii: "]"))
    case .object(let members):
      let sorted = members.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
      out.append(UInt8(ascii: "{"))
      for (k, member) in sorted.enumerated() {
        if k > 0 {
          if Array(sorted[k - 1].0.utf8) == Array(member.0.utf8) { throw .duplicateKey(member.0) }
          out.append(UInt8(ascii: ","))
        }
        writeString(member.0, into: &out)
        out.append(UInt8(ascii: ":"))
        try write(member.1, into: &out)
      }
      out.append(UInt8(ascii: "}"))
    }
  }

  private static func writeString(_ s: String, into out: inout [UInt8]) {
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for c in s.utf8 {
      switch c {
      case 0x22: out += [0x5C, 0x22]
      case 0x5C: out += [0x5C, 0x5C]
      case 0x08: out += [0x5C, UInt8(ascii: "b")]
      case 0x09: out += [0x5C, UInt8(ascii: "t")]
      case 0x0A: out += [0x5C, UInt8(ascii: "n")]
      case 0x0C: out += [0x5C, UInt8(ascii: "f")]
      case 0x0D: out += [0x5C, UInt8(ascii: "r")]
      case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(c >> 4)], hex[Int(c & 0xF)]]
      default: out.append(c)
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}
