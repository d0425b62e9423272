/// A reference to a chunk with its length in bytes.
public struct ChunkRef: Hashable, Sendable {
  public var id: ObjectID
  public var length: UInt32
  public init(id: ObjectID, length: UInt32) {
    self.id = id
    self.length = length
  }
}

/// The largest chunk the format allows (Docs/ObjectFormat.md §3).
public let maximumChunkLength = 16 << 20

/// A tensor: dtype, shape and the chunks holding its bytes.
public struct TensorObject: Equatable, Sendable {
  public var dtype: DType
  public var shape: [UInt64]
  public var byteLength: UInt64
  public var chunks: [ChunkRef]

  public init(dtype: DType, shape: [UInt64], byteLength: UInt64, chunks: [ChunkRef]) {
    self.dtype = dtype
    self.shape = shape
    self.byteLength = byteLength
    self.chunks = chunks
  }

  /// Canonical content bytes.
  public func encoded() -> [UInt8] {
    var w = ByteWriter(capacity: 32 + shape.count * 8 + chunks.count * 36)
    w.u8(1)
    w.string(dtype.rawValue)
    w.u32(UInt32(shape.count))
    for d in shape { w.u64(d) }
    w.u64(byteLength)
    w.u32(UInt32(chunks.count))
    for c in chunks {
      w.id(c.id)
      w.u32(c.length)
    }
    return w.bytes
  }

  /// Decode and validate canonical content bytes.
  public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> TensorObject {
    var r = ByteReader(bytes)
    let version = try r.u8("tensor.version")
    guard version == 1 else { throw .unsupportedVersion(field: "tensor.version", version: Int(version)) }
    let name = try r.string("tensor.dtype")
    guard let dtype = DType(rawValue: name) else {
      throw .invalidValue(field: "tensor.dtype", reason: "unknown dtype \(name)")
    }
    let rank = try r.count("tensor.rank", minimumElementSize: 8)
    guard rank <= 64 else { throw .invalidValue(field: "tensor.rank", reason: "rank \(rank) > 64") }
    var shape: [UInt64] = []
    for _ in 0..<rank { shape.append(try r.u64("tensor.shape")) }
    let byteLength = try r.u64("tensor.byteLength")
    guard dtype.byteLength(shape: shape) == byteLength else {
      throw .invalidValue(field: "tensor.byteLength", reason: "\(byteLength) ≠ shape × width")
    }
    let chunks = try decodeChunkList(&r, field: "tensor.chunks", total: byteLength)
    try r.expectEnd()
    return TensorObject(dtype: dtype, shape: shape, byteLength: byteLength, chunks: chunks)
  }
}

func decodeChunkList(_ r: inout ByteReader, field: String, total: UInt64?) throws(DecodeError) -> [ChunkRef] {
  let n = try r.count(field, minimumElementSize: 36)
  var chunks: [ChunkRef] = []
  chunks.reserveCapacity(n)
  var sum: UInt64 = 0
  for _ in 0..<n {
    let id = try r.id(field)
    let length = try r.u32(field)
    guard length > 0, Int(length) <= maximumChunkLength else {
      throw .invalidValue(field: field, reason: "chunk length \(length) outside 1…\(maximumChunkLength)")
    }
    sum += UInt64(length)
    chunks.append(ChunkRef(id: id, length: length))
  }
  if let total, sum != total {
    throw .invalidValue(field: field, reason: "chunks sum to \(sum), expected \(total)")
  }
  return chunks
}

/// One piece of a file: a run of chunks, or a tensor.
public enum FileSegment: Equatable, Sendable {
  case bytes([ChunkRef])
  case tensor(name: String, id: ObjectID)
}

/// A file: its format, size, whole-file SHA-256 and segments.
public struct FileObject: Equatable, Sendable {
  /// How the file was read: `safetensors` or `opaque`.
  public var format: String
  public var size: UInt64
  /// Plain SHA-256 of the file (what `sha256sum` prints).
  public var sha256: [UInt8]
  public var segments: [FileSegment]

  public init(format: String, size: UInt64, sha256: [UInt8], segments: [FileSegment]) {
    self.format = format
    self.size = size
    self.sha256 = sha256
    self.segments = segments
  }

  public func encoded() -> [UInt8] {
    var w = ByteWriter()
    w.u8(1)
    w.string(format)
    w.u64(size)
    w.raw(sha256)
    w.u32(UInt32(segments.count))
    for s in segments {
      switch s {
      case .bytes(let chunks):
        w.u8(0)
        w.u32(UInt32(chunks.count))
        for c in chunks {
          w.id(c.id)
          w.u32(c.length)
        }
      case .tensor(let name, let id):
        w.u8(1)
        w.string(name)
        w.id(id)
      }
    }
    return w.bytes
  }

  /// Decode canonical content bytes. Segment lengths are checked against `size` by the store,
  /// which can see the tensors' lengths.
  public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> FileObject {
    var r = ByteReader(bytes)
    let version = try r.u8("file.version")
    guard version == 1 else { throw .unsupportedVersion(field: "file.version", version: Int(version)) }
    let format = try r.string("file.format")
    let size = try r.u64("file.size")
    let sha = try r.raw(32, "file.sha256")
    let n = try r.count("file.segments", minimumElementSize: 5)
    var segments: [FileSegment] = []
    for _ in 0..<n {
      switch try r.u8("file.segment.kind") {
      case 0: segments.append(.bytes(try decodeChunkList(&r, field: "file.segment.chunks", total: nil)))
      case 1:
        let name = try r.string("file.segment.name")
        segments.append(.tensor(name: name, id: try r.id("file.segment.tensor")))
      case let k: throw .invalidValue(field: "file.segment.kind", reason: "unknown kind \(k)")
      }
    }
    try r.expectEnd()
    return FileObject(format: format, size: size, sha256: sha, segments: segments)
  }
}

/// One path in a tree.
public struct TreeEntry: Equatable, Sendable {
  public var path: String
  public var mode: UInt32
  public var file: ObjectID
  public init(path: String, mode: UInt32, file: ObjectID) {
    self.path = path
    self.mode = mode
    self.file = file
  }
  public static let regular: UInt32 = 0o100644
  public static let executable: UInt32 = 0o100755
}

/// A directory snapshot: sorted, validated paths → file objects.
public struct TreeObject: Equatable, Sendable {
  public private(set) var entries: [TreeEntry]

  /// Validate paths and sort; throws on a bad path, a duplicate or a file/directory clash.
  public init(entries: [TreeEntry]) throws(DecodeError) {
    let sorted = entries.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
    try Self.validate(sorted)
    self.entries = sorted
  }

  /// Whether `path` is acceptable in a tree (relative, no `.`/`..`/empty parts, no `\` or NUL).
  public static func isValidPath(_ path: String) -> Bool {
    guard !path.isEmpty, !path.contains("\\"), !path.utf8.contains(0) else { return false }
    return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy {
      !$0.isEmpty && $0 != "." && $0 != ".."
    }
  }

  static func validate(_ sorted: [TreeEntry]) throws(DecodeError) {
    // Bytes, not Strings: String equality folds NFC and NFD spellings together.
    var paths = Set<[UInt8]>()
    for e in sorted {
      guard isValidPath(e.path) else { throw .invalidValue(field: "tree.path", reason: "invalid path \"\(e.path)\"") }
      guard e.mode == TreeEntry.regular || e.mode == TreeEntry.executable else {
        throw .invalidValue(field: "tree.mode", reason: "mode \(String(e.mode, radix: 8)) for \(e.path)")
      }
      guard paths.insert(Array(e.path.utf8)).inserted else {
        throw .invalidValue(field: "tree.path", reason: "duplicate path \(e.path)")
      }
    }
    for e in sorted {
      var parts = e.path.split(separator: "/").dropLast()
      while !parts.isEmpty {
        let dir = parts.joined(separator: "/")
        if paths.contains(Array(dir.utf8)) {
          throw .invalidValue(field: "tree.path", reason: "\(dir) is both a file and a directory")
        }
        parts = parts.dropLast()
      }
    }
  }

  public func encoded() -> [UInt8] {
    var w = ByteWriter()
    w.u8(1)
    w.u32(UInt32(entries.count))
    for e in entries {
      w.string(e.path)
      w.u32(e.mode)
      w.id(e.file)
    }
    return w.bytes
  }

  public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> TreeObject {
    var r = ByteReader(bytes)
    let version = try r.u8("tree.version")
    guard version == 1 else { throw .unsupportedVersion(field: "tree.version", version: Int(version)) }
    let n = try r.count("tree.entries", minimumElementSize: 40)
    var entries: [TreeEntry] = []
    for _ in 0..<n {
      let path = try r.string("tree.path")
      let mode = try r.u32("tree.mode")
      entries.append(TreeEntry(path: path, mode: mode, file: try r.id("tree.file")))
    }
    try r.expectEnd()
    for k in entries.indices.dropFirst()
    where !Array(entries[k - 1].path.utf8).lexicographicallyPrecedes(Array(entries[k].path.utf8)) {
      throw .invalidValue(field: "tree.path", reason: "entries not strictly sorted at \(entries[k].path)")
    }
    try validate(entries)
    return try TreeObject(entries: entries)
  }
}
