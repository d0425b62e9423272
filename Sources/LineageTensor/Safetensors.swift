import LineageCore

/// Why bytes are not a valid safetensors file. Every case names what was wrong and where.
public enum SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file is shorter than the 8-byte header length prefix.
  case truncatedPrefix(fileSize: UInt64)
  /// The header length prefix points past the end of the file.
  case headerLengthBeyondFile(headerLength: UInt64, fileSize: UInt64)
  /// The header is larger than the 100 MB limit the safetensors specification sets.
  case headerTooLarge(headerLength: UInt64, limit: UInt64)
  /// The header is not valid UTF-8; carries the byte offset within the header.
  case headerNotUTF8(offset: Int)
  /// The header is not valid JSON; carries the parser's message.
  case headerNotJSON(String)
  /// The header's JSON is not an object.
  case headerNotObject
  /// Two entries share a name.
  case duplicateName(String)
  /// An entry lacks a field or has one of the wrong type.
  case invalidEntry(name: String, reason: String)
  /// `__metadata__` is not a map of strings to strings.
  case invalidMetadata(reason: String)
  /// A tensor has more dimensions than lineage stores (64).
  case rankTooLarge(name: String, rank: Int)
  /// A tensor name contains NUL, which no lineage object may hold.
  case invalidName(String)
  /// An entry names a dtype this version does not know.
  case unknownDType(name: String, dtype: String)
  /// The shape's element count overflows 64 bits.
  case shapeOverflow(name: String)
  /// `data_offsets` span a different length than dtype × shape requires.
  case sizeMismatch(name: String, expected: UInt64, actual: UInt64)
  /// `data_offsets` has begin after end.
  case invalidOffsets(name: String, begin: UInt64, end: UInt64)
  /// Two tensors' byte ranges overlap.
  case overlap(name: String, other: String)
  /// A gap of unused bytes before a tensor (offsets relative to the data section).
  case hole(before: String, from: UInt64, to: UInt64)
  /// A tensor's range runs past the end of the file's data section.
  case pastEnd(name: String, end: UInt64, dataSize: UInt64)
  /// The data section has bytes after the last tensor.
  case trailingBytes(dataEnd: UInt64, dataSize: UInt64)

  public var description: String {
    switch self {
    case .truncatedPrefix(let size): return "file is \(size) bytes, shorter than the 8-byte header length"
    case .headerLengthBeyondFile(let n, let size): return "header length \(n) runs past the end of the \(size)-byte file"
    case .headerTooLarge(let n, let limit): return "header length \(n) exceeds the \(limit)-byte limit"
    case .headerNotUTF8(let o): return "header is not UTF-8 (byte \(o))"
    case .headerNotJSON(let m): return "header is not JSON: \(m)"
    case .headerNotObject: return "header is not a JSON object"
    case .duplicateName(let n): return "tensor '\(n)' appears twice in the header"
    case .invalidEntry(let n, let r): return "entry '\(n)': \(r)"
    case .invalidMetadata(let r): return "__metadata__: \(r)"
    case .unknownDType(let n, let d): return "tensor '\(n)' has unknown dtype \(d)"
    case .rankTooLarge(let n, let r): return "tensor '\(n)' has \(r) dimensions; at most 64 are stored"
    case .invalidName(let n): return "tensor name \(n.debugDescription) contains NUL"
    case .shapeOverflow(let n): return "tensor '\(n)' has a shape whose size overflows"
    case .sizeMismatch(let n, let e, let a): return "tensor '\(n)': dtype × shape is \(e) bytes but data_offsets span \(a)"
    case .invalidOffsets(let n, let b, let e): return "tensor '\(n)': data_offsets begin \(b) is after end \(e)"
    case .overlap(let n, let o): return "tensors '\(n)' and '\(o)' overlap"
    case .hole(let n, let f, let t): return "unused bytes \(f)..<\(t) before tensor '\(n)'"
    case .pastEnd(let n, let end, let size): return "tensor '\(n)' ends at \(end), past the \(size)-byte data section"
    case .trailingBytes(let end, let size): return "data section is \(size) bytes but tensors end at \(end)"
    }
  }}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensor: Equatable, Sendable {
  public var name: String
  public var dtype: DType
  public var shape: [UInt64]
  /// Byte range relative to the start of the data section.
  public var begin: UInt64
  public var end: UInt64
  public var byteLength: UInt64 { end - begin }
}

/// The parsed layout of a safetensors file: header size, tensors in data order, metadata.
public struct SafetensorsLayout: Equatable, Sendable {
  /// The specification's limit on the header length.
  public static let headerLimit: UInt64 = 100_000_000

  /// Length of the JSON header (the value of the 8-byte prefix).
  public var headerLength: UInt64
  /// Tensors sorted by their position in the data section.
  public var tensors: [SafetensorsTensor]
  /// `__metadata__`, in document order.
  public var metadata: [(String, String)]

  /// Where the data section starts in the file.
  public var dataStart: UInt64 { 8 + headerLength }

  public static func == (a: SafetensorsLayout, b: SafetensorsLayout) -> Bool {
    a.headerLength == b.headerLength && a.tensors == b.tensors
      && a.metadata.map { $0.0 + "\u{0}" + $0.1 } == b.metadata.map { $0.0 + "\u{0}" + $0.1 }
  }

  /// Read the header length from the first 8 bytes and check it against the file size.
  public static func headerLength(prefix: [UInt8], fileSize: UInt64) throws(SafetensorsError) -> UInt64 {
    guard prefix.count >= 8, fileSize >= 8 else { throw .truncatedPrefix(fileSize: fileSize) }
    let n = prefix[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    guard n <= headerLimit else { throw .headerTooLarge(headerLength: n, limit: headerLimit) }
    guard n <= fileSize - 8 else { throw .headerLengthBeyondFile(headerLength: n, fileSize: fileSize) }
    return n
  }

  /// Parse and validate a header against the file size.
  ///
  /// The data section must be covered exactly: no overlaps, no holes, nothing past the end and
  /// nothing left over, as the safetensors specification requires.
  public static func parse(header: [UInt8], fileSize: UInt64) throws(SafetensorsError) -> SafetensorsLayout {
    let headerLength = UInt64(header.count)
    guard headerLength <= headerLimit else { throw .headerTooLarge(headerLength: headerLength, limit: headerLimit) }
    guard fileSize >= 8, headerLength <= fileSize - 8 else {
      throw .headerLengthBeyondFile(headerLength: headerLength, fileSize: fileSize)
    }
    let value: JSONValue
    do {
      value = try StrictJSONParser.parse(header)
    } catch {
      switch error {
      case .invalidUTF8(let offset): throw .headerNotUTF8(offset: offset)
      case .duplicateKey(_, let key): throw .duplicateName(key)
      default: throw .headerNotJSON("\(error)")
      }
    }
    guard let members = value.objectValue else { throw .headerNotObject }
    var tensors: [SafetensorsTensor] = []
    var metadata: [(String, String)] = []
    for (name, entry) in members {
      if name == "__metadata__" {
        guard let pairs = entry.objectValue else { throw .invalidMetadata(reason: "not an object") }
        for (k, v) in pairs {
          guard let s = v.stringValue else { throw .invalidMetadata(reason: "value of \(k) is not a string") }
          metadata.append((k, s))
        }
        continue
      }
      tensors.append(try tensor(name: name, entry: entry))
    }
    tensors.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
    let dataSize = fileSize - 8 - headerLength
    var cursor: UInt64 = 0
    var previous: String?
    for t in tensors {
      if t.begin < cursor, let previous { throw .overlap(name: t.name, other: previous) }
      if t.begin > cursor { throw .hole(before: t.name, from: cursor, to: t.begin) }
      guard t.end <= dataSize else { throw .pastEnd(name: t.name, end: t.end, dataSize: dataSize) }
      cursor = t.end
      previous = t.name
    }
    guard cursor == dataSize else { throw .trailingBytes(dataEnd: cursor, dataSize: dataSize) }
    return SafetensorsLayout(headerLength: headerLength, tensors: tensors, metadata: metadata)
  }

  /// Most dimensions a tensor may have (Docs/ObjectFormat.md §3).
  public static let maximumRank = 64

  private static func tensor(name: String, entry: JSONValue) throws(SafetensorsError) -> SafetensorsTensor {
    guard !name.utf8.contains(0) else { throw .invalidName(name) }
    guard entry.objectValue != nil else { throw .invalidEntry(name: name, reason: "not an object") }
    guard let dtypeName = entry["dtype"]?.stringValue else {
      throw .invalidEntry(name: name, reason: "missing string \"dtype\"")
    }
    guard let dtype = DType(rawValue: dtypeName), dtype.isSafetensors else { throw .unknownDType(name: name, dtype: dtypeName) }
    guard let dims = entry["shape"]?.arrayValue else {
      throw .invalidEntry(name: name, reason: "missing array \"shape\"")
    }
    guard dims.count <= maximumRank else { throw .rankTooLarge(name: name, rank: dims.count) }
    var shape: [UInt64] = []
    for d in dims {
      guard case .number(let text) = d, let v = UInt64(text) else {
        throw .invalidEntry(name: name, reason: "shape holds a non-integer or negative value")
      }
      shape.append(v)
    }
    guard let offsets = entry["data_offsets"]?.arrayValue, offsets.count == 2,
      case .number(let b) = offsets[0], case .number(let e) = offsets[1],
      let begin = UInt64(b), let end = UInt64(e)
    else { throw .invalidEntry(name: name, reason: "\"data_offsets\" is not two non-negative integers") }
    guard begin <= end else { throw .invalidOffsets(name: name, begin: begin, end: end) }
    guard let expected = dtype.byteLength(shape: shape) else { throw .shapeOverflow(name: name) }
    guard expected == end - begin else { throw .sizeMismatch(name: name, expected: expected, actual: end - begin) }
    return SafetensorsTensor(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
  }
}

/// Writes safetensors headers (the 8-byte prefix and JSON), padded with spaces to 8 bytes.
public enum SafetensorsWriter {
  /// A tensor to describe: its bytes follow the header in the order given.
  public struct Entry: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [UInt64]
    public init(name: String, dtype: DType, shape: [UInt64]) {
      self.name = name
      self.dtype = dtype
      self.shape = shape
    }
  }

  /// The prefix and header for tensors laid out back to back in `entries` order.
  public static func header(_ entries: [Entry], metadata: [(String, String)] = []) -> [UInt8] {
    var members: [(String, JSONValue)] = []
    if !metadata.isEmpty {
      members.append(("__metadata__", .object(metadata.map { ($0.0, .string($0.1)) })))
    }
    var offset: UInt64 = 0
    for e in entries {
      let n = e.dtype.byteLength(shape: e.shape) ?? 0
      members.append(
        (
          e.name,
          .object([
            ("dtype", .string(e.dtype.rawValue)),
            ("shape", .array(e.shape.map { .number(String($0)) })),
            ("data_offsets", .array([.number(String(offset)), .number(String(offset + n))])),
          ])
        ))
      offset += n
    }
    // Canonical JSON cannot fail here: keys are unique and numbers are integers below 2^53.
    var json = (try? CanonicalJSON.encode(.object(members))) ?? Array("{}".utf8)
    while (json.count + 8) % 8 != 0 { json.append(0x20) }
    var out = [UInt8]()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
    return out + json
  }
}
