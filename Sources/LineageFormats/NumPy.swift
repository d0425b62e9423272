import LineageCore

/// Why an `.npy` array or `.npz` archive is refused.
public enum NumPyError: FormatProblem, Equatable {
  /// The file does not start with `\x93NUMPY`.
  case badMagic
  /// A format version other than 1.0, 2.0 or 3.0.
  case unsupportedVersion(major: UInt8, minor: UInt8)
  /// The header is not the Python dict literal NumPy writes; `offset` is within the header.
  case invalidHeader(reason: String, offset: Int)
  /// A header key is missing, repeated or unknown.
  case headerKey(String)
  /// `descr` names a type lineage does not read (objects hold pickles; structured types).
  case unsupportedDescr(String)
  /// The shape's byte size overflows.
  case shapeOverflow
  /// The data is not exactly the size the header implies.
  case dataSize(expected: UInt64, actual: UInt64)
  /// An `.npz` entry is not an `.npy` array.
  case unexpectedEntry(String)
  /// An `.npz` entry could not be read as an array (the entry and the problem).
  case entry(String, String)

  public var description: String {
    switch self {
    case .badMagic: return "not a NumPy .npy file (no \\x93NUMPY magic)"
    case .unsupportedVersion(let a, let b): return "unsupported .npy format version \(a).\(b)"
    case .invalidHeader(let r, let o): return ".npy header is invalid at byte \(o): \(r)"
    case .headerKey(let k): return ".npy header key '\(k)' is missing, repeated or unknown"
    case .unsupportedDescr(let d): return "NumPy dtype '\(d)' is not read (object arrays hold pickles; structured types are not tensors)"
    case .shapeOverflow: return ".npy shape is too large"
    case .dataSize(let e, let a): return ".npy data is \(a) bytes; the header implies \(e)"
    case .unexpectedEntry(let n): return ".npz entry '\(n)' is not a .npy array"
    case .entry(let n, let r): return ".npz entry '\(n)': \(r)"
    }
  }
}

/// The header of one `.npy` array.
public struct NumPyHeader: Equatable, Sendable {
  public var dtype: DType
  /// False for little-endian or single-byte types.
  public var bigEndian: Bool
  public var fortranOrder: Bool
  public var shape: [UInt64]
  /// Where the data starts, from the start of the `.npy` bytes.
  public var dataOffset: UInt64
  public var byteLength: UInt64

  /// Parse the magic, version and header dict of `.npy` bytes of `size`.
  public static func parse(_ source: any ByteSource) throws -> NumPyHeader {
    let size = source.size
    let lead = try source.read(count: Int(min(size, 12)), at: 0, what: "the .npy preamble")
    guard lead.count >= 8, lead[0] == 0x93, Array(lead[1..<6]) == Array("NUMPY".utf8) else { throw NumPyError.badMagic }
    let (major, minor) = (lead[6], lead[7])
    let headerLength: UInt64
    let start: UInt64
    switch (major, minor) {
    case (1, 0):
      guard lead.count >= 10 else { throw FormatError.truncated(what: "the .npy header length", offset: 8, needed: 2, size: size) }
      headerLength = UInt64(lead[8]) | UInt64(lead[9]) << 8
      start = 10
    case (2, 0), (3, 0):
      guard lead.count >= 12 else { throw FormatError.truncated(what: "the .npy header length", offset: 8, needed: 4, size: size) }
      headerLength = (0..<4).reduce(UInt64(0)) { $0 | UInt64(lead[8 + $1]) << (8 * UInt64($1)) }
      start = 12
    default: throw NumPyError.unsupportedVersion(major: major, minor: minor)
    }
    guard headerLength <= 1 << 20 else { throw NumPyError.invalidHeader(reason: "header of \(headerLength) bytes", offset: 0) }
    let text = try source.read(count: Int(headerLength), at: start, what: "the .npy header")
    var parser = HeaderParser(text)
    var h = try parser.parse()
    h.dataOffset = start + headerLength
    guard let n = h.dtype.byteLength(shape: h.shape) else { throw NumPyError.shapeOverflow }
    h.byteLength = n
    guard size >= h.dataOffset, size - h.dataOffset == n else {
      throw NumPyError.dataSize(expected: n, actual: size >= h.dataOffset ? size - h.dataOffset : 0)
    }
    return h
  }

  /// The data as it would be stored by a C-order little-endian writer.
  func canonicalBytes(_ raw: [UInt8]) -> [UInt8] {
    var bytes = raw
    let w = dtype.width
    if bigEndian, w > 1 {
      for k in stride(from: 0, to: bytes.count, by: w) { bytes[k..<(k + w)].reverse() }
    }
    guard fortranOrder, shape.count > 1 else { return bytes }
    // Fortran order: element (i0, …, in) sits at Σ ik × Π_{j<k} dj; write it in C order.
    let dims = shape.map { Int($0) }
    let count = dims.reduce(1, *)
    var out = [UInt8](repeating: 0, count: bytes.count)
    var index = [Int](repeating: 0, count: dims.count)
    for c in 0..<count {
      var f = 0
      var stride = 1
      for k in 0..<dims.count {
        f += index[k] * stride
        stride *= dims[k]
      }
      out[(c * w)..<(c * w + w)] = bytes[(f * w)..<(f * w + w)]
      var k = dims.count - 1
      while k >= 0 {
        index[k] += 1
        if index[k] < dims[k] { break }
        index[k] = 0
        k -= 1
      }
    }
    return out
  }

  /// The dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
  struct HeaderParser {
    let b: [UInt8]
    var i = 0
    init(_ bytes: [UInt8]) { b = bytes }

    mutating func parse() throws -> NumPyHeader {
      var descr: String?
      var fortran: Bool?
      var shape: [UInt64]?
      skipSpace()
      try expect(UInt8(ascii: "{"))
      while true {
        skipSpace()
        if peek() == UInt8(ascii: "}") { i += 1; break }
        let key = try string()
        skipSpace()
        try expect(UInt8(ascii: ":"))
        skipSpace()
        switch key {
        case "descr" where descr == nil: descr = try string()
        case "fortran_order" where fortran == nil: fortran = try bool()
        case "shape" where shape == nil: shape = try tuple()
        default: throw NumPyError.headerKey(key)
        }
        skipSpace()
        if peek() == UInt8(ascii: ",") { i += 1; continue }
        skipSpace()
        try expect(UInt8(ascii: "}"))
        break
      }
      while i < b.count, b[i] == 0x20 || b[i] == 0x0A { i += 1 }
      guard i == b.count else { throw NumPyError.invalidHeader(reason: "bytes after the dict", offset: i) }
      guard let descr else { throw NumPyError.headerKey("descr") }
      guard let fortran else { throw NumPyError.headerKey("fortran_order") }
      guard let shape else { throw NumPyError.headerKey("shape") }
      let (dtype, big) = try Self.dtype(descr)
      return NumPyHeader(dtype: dtype, bigEndian: big, fortranOrder: fortran, shape: shape, dataOffset: 0, byteLength: 0)
    }

    static func dtype(_ descr: String) throws -> (DType, Bool) {
      let u = Array(descr.utf8)
      guard u.count >= 2, [UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "|"), UInt8(ascii: "=")].contains(u[0]) else {
        throw NumPyError.unsupportedDescr(descr)
      }
      let table: [String: DType] = [
        "f2": .f16, "f4": .f32, "f8": .f64, "i1": .i8, "i2": .i16, "i4": .i32, "i8": .i64,
        "u1": .u8, "u2": .u16, "u4": .u32, "u8": .u64, "b1": .bool,
      ]
      guard let d = table[String(descr.dropFirst())] else { throw NumPyError.unsupportedDescr(descr) }
      let big = u[0] == UInt8(ascii: ">") && d.width > 1
      guard !(u[0] == UInt8(ascii: "|") && d.width > 1) else { throw NumPyError.unsupportedDescr(descr) }
      return (d, big)
    }

    func peek() -> UInt8? { i < b.count ? b[i] : nil }
    mutating func skipSpace() { while i < b.count, b[i] == 0x20 { i += 1 } }
    mutating func expect(_ c: UInt8) throws {
      guard peek() == c else { throw NumPyError.invalidHeader(reason: "expected '\(Character(Unicode.Scalar(c)))'", offset: i) }
      i += 1
    }
    mutating func string() throws -> String {
      guard let q = peek(), q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") else {
        throw NumPyError.invalidHeader(reason: "expected a string", offset: i)
      }
      i += 1
      let start = i
      while i < b.count, b[i] != q {
        guard b[i] >= 0x20, b[i] < 0x7F, b[i] != UInt8(ascii: "\\") else {
          throw NumPyError.invalidHeader(reason: "unexpected byte in a string", offset: i)
        }
        i += 1
      }
      guard i < b.count else { throw NumPyError.invalidHeader(reason: "unterminated string", offset: start) }
      defer { i += 1 }
      return String(decoding: b[start..<i], as: UTF8.self)
    }
    mutating func bool() throws -> Bool {
      for (word, value) in [("True", true), ("False", false)] where b[i...].starts(with: word.utf8) {
        i += word.utf8.count
        return value
      }
      throw NumPyError.invalidHeader(reason: "expected True or False", offset: i)
    }
    mutating func tuple() throws -> [UInt64] {
      try expect(UInt8(ascii: "("))
      var out: [UInt64] = []
      while true {
        skipSpace()
        if peek() == UInt8(ascii: ")") { i += 1; return out }
        let start = i
        var v: UInt64 = 0
        while let c = peek(), c >= 0x30, c <= 0x39 {
          let (m, o1) = v.multipliedReportingOverflow(by: 10)
          let (s, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
          guard !o1, !o2 else { throw NumPyError.shapeOverflow }
          v = s
          i += 1
        }
        if peek() == UInt8(ascii: "L") { i += 1 }
        guard i > start else { throw NumPyError.invalidHeader(reason: "expected a dimension", offset: i) }
        out.append(v)
        guard out.count <= 64 else { throw NumPyError.invalidHeader(reason: "more than 64 dimensions", offset: i) }
        skipSpace()
        if peek() == UInt8(ascii: ",") { i += 1; continue }
        try expect(UInt8(ascii: ")"))
        return out
      }
    }
  }
}

/// A NumPy `.npy` file: one array, named by the caller (the file's stem).
public struct NumPySource: TensorSource {
  public let source: any ByteSource
  public let header: NumPyHeader
  public var format: ModelFormat { .npy }
  public let tensors: [TensorEntry]
  public let regions: [TensorRegion]

  public init(_ source: any ByteSource, name: String) throws {
    self.source = source
    header = try NumPyHeader.parse(source)
    (tensors, regions) = Self.describe(header, name: name, base: 0, stored: true)
    try RegionCheck.validate(regions, fileSize: source.size)
  }

  /// The tensor and, when its bytes are verbatim little-endian, the region; `base` is where the
  /// `.npy` bytes start in the file.
  static func describe(_ h: NumPyHeader, name: String, base: UInt64, stored: Bool) -> ([TensorEntry], [TensorRegion]) {
    let offset = base + h.dataOffset
    let verbatim = stored && !h.bigEndian
    let layout: TensorLayout =
      !stored ? .encoded("deflated zip entry")
      : h.bigEndian ? .encoded("big-endian array") : h.fortranOrder && h.shape.count > 1 ? .encoded("Fortran-order array") : .contiguous(offset: offset)
    let entry = TensorEntry(name: name, dtype: h.dtype, shape: h.shape, layout: layout, byteLength: h.byteLength)
    guard verbatim else { return ([entry], []) }
    // Fortran-order data is the transpose's C-order bytes: a region of the reversed shape.
    let shape = h.fortranOrder ? Array(h.shape.reversed()) : h.shape
    return ([entry], [TensorRegion(name: name, dtype: h.dtype, shape: shape, offset: offset, byteLength: h.byteLength)])
  }

  public func bytes(of tensor: TensorEntry) throws -> [UInt8] {
    let raw = try source.read(count: Int(header.byteLength), at: header.dataOffset, what: "array '\(tensor.name)'")
    return header.canonicalBytes(raw)
  }
}

/// A NumPy `.npz` archive (`numpy.savez` or `savez_compressed`): one array per `.npy` entry.
/// Stored entries are regions of the file; deflated ones are inflated when read.
public struct NumPyArchiveSource: TensorSource {
  public let archive: ZipArchive
  public var format: ModelFormat { .npz }
  public let tensors: [TensorEntry]
  public let regions: [TensorRegion]
  private let members: [String: (ZipEntry, NumPyHeader)]

  public init(_ source: any ByteSource, limits: ZipLimits = ZipLimits()) throws {
    archive = try ZipArchive(source, limits: limits)
    var tensors: [TensorEntry] = []
    var regions: [TensorRegion] = []
    var members: [String: (ZipEntry, NumPyHeader)] = [:]
    for e in archive.entries where !e.name.hasSuffix("/") {
      guard e.name.hasSuffix(".npy") else { throw NumPyError.unexpectedEntry(e.name) }
      let name = String(e.name.dropLast(4))
      let header: NumPyHeader
      do {
        header = try NumPyHeader.parse(e.isStored ? ByteSlice(source, offset: e.dataOffset, size: e.uncompressedSize) : MemoryBytes(try archive.read(e)))
      } catch let p as FormatProblem {
        throw NumPyError.entry(e.name, p.description)
      }
      let (t, r) = NumPySource.describe(header, name: name, base: e.dataOffset, stored: e.isStored)
      tensors += t
      regions += r
      members[name] = (e, header)
    }
    self.tensors = tensors
    self.regions = regions.sorted { $0.offset < $1.offset }
    self.members = members
    try RegionCheck.validate(self.regions, fileSize: source.size)
  }

  public func bytes(of tensor: TensorEntry) throws -> [UInt8] {
    guard let (entry, header) = members[tensor.name] else {
      throw FormatError.unsupported(format: "npz", reason: "no array named '\(tensor.name)'")
    }
    let raw: [UInt8]
    if entry.isStored {
      raw = try archive.source.read(count: Int(header.byteLength), at: entry.dataOffset + header.dataOffset, what: "array '\(tensor.name)'")
    } else {
      let all = try archive.read(entry)
      raw = Array(all[Int(header.dataOffset)...])
    }
    return header.canonicalBytes(raw)
  }
}
