import LineageCore

/// Why a PyTorch zip archive (a `torch.save` checkpoint or a TorchScript archive) is refused.
/// Pickle problems are `PickleError`s and zip problems `ZipError`s, passed through unchanged.
public enum PyTorchError: FormatProblem, Equatable {
  /// Not a zip archive: the legacy `torch.save` stream (`hasLegacyMagic`) or something else.
  case legacyFormat(hasLegacyMagic: Bool)
  /// No `<archive>/data.pkl` entry.
  case missingDataPickle
  /// More than one top-level directory holds a `data.pkl`.
  case multipleArchives([String])
  /// An entry outside the archive's one top-level directory.
  case entryOutsideArchive(String)
  /// The `byteorder` record says other than `little`.
  case unsupportedByteOrder(String)
  /// A tensor's rebuild call does not have the arguments torch writes.
  case malformedTensor(name: String, reason: String)
  /// A persistent id other than `('storage', StorageType, key, location, numel)`.
  case malformedStorageID(tensor: String)
  /// A storage type with no dtype (an allowed global that is not a storage class).
  case unknownStorageType(tensor: String, type: String)
  /// A persistent id names a storage key with no entry in the archive.
  case missingStorage(tensor: String, entry: String)
  /// A storage entry's size is not its element count times the dtype width.
  case storageSizeMismatch(entry: String, numel: UInt64, dtype: DType, bytes: UInt64)
  /// Two persistent ids give one storage entry different dtypes.
  case storageTypeConflict(entry: String, DType, DType)
  /// A view reaches past the end of its storage.
  case storageOutOfRange(tensor: String, storageOffset: UInt64, extent: UInt64, numel: UInt64)
  /// A view that repeats its storage's elements (zero strides) into more bytes than
  /// `PyTorchSource.maxViewBytes(storageBytes:)` allows: `bytes(of:)` would have to build them.
  case viewTooLarge(tensor: String, bytes: UInt64, storageBytes: UInt64)
  /// Two tensors get the same name (keys that join to the same dotted path).
  case duplicateTensorName(String)
  /// `bytes(of:)` was given a tensor this file does not have.
  case unknownTensor(String)

  public var description: String {
    switch self {
    case .legacyFormat(let magic):
      return "unsupported legacy (non-zip) PyTorch format\(magic ? "" : " (or not a PyTorch file)"); "
        + "re-save it with torch.save(..., _use_new_zipfile_serialization=True) or convert to safetensors"
    case .missingDataPickle: return "PyTorch archive has no <archive>/data.pkl entry"
    case .multipleArchives(let names): return "PyTorch archive has several top-level archives: \(names.joined(separator: ", "))"
    case .entryOutsideArchive(let n): return "PyTorch archive entry '\(n)' lies outside the archive directory"
    case .unsupportedByteOrder(let b): return "PyTorch archive byte order '\(b)' is not read (only little-endian)"
    case .malformedTensor(let n, let r): return "tensor '\(n)': \(r)"
    case .malformedStorageID(let n): return "tensor '\(n)' has a persistent id that is not ('storage', type, key, location, numel)"
    case .unknownStorageType(let n, let t): return "tensor '\(n)' has storage type '\(t)', which has no dtype"
    case .missingStorage(let n, let e): return "tensor '\(n)' refers to storage entry '\(e)', which the archive lacks"
    case .storageSizeMismatch(let e, let numel, let d, let b):
      return "storage entry '\(e)' holds \(b) bytes, not \(numel) \(d.rawValue) elements"
    case .storageTypeConflict(let e, let a, let b): return "storage entry '\(e)' is read both as \(a.rawValue) and as \(b.rawValue)"
    case .storageOutOfRange(let n, let o, let x, let numel):
      return "tensor '\(n)' spans elements \(o)..<\(o)+\(x) of a storage of \(numel) elements"
    case .viewTooLarge(let n, let b, let sb):
      return "tensor '\(n)' expands a \(sb)-byte storage to \(b) bytes, more than is read"
    case .duplicateTensorName(let n): return "two tensors are both named '\(n)'"
    case .unknownTensor(let n): return "tensor '\(n)' is not in this PyTorch archive"
    }
  }
}

/// A PyTorch zip archive as a `TensorSource`: a `torch.save` checkpoint (`<archive>/data.pkl`
/// and one entry per storage, `<archive>/data/<key>`) or a TorchScript archive (also
/// `constants.pkl`, its storages under `constants/`, and `code/`). The pickles are read by the
/// restricted `PickleReader`; each stored (uncompressed) storage entry is one region, and each
/// tensor a view into a storage (Docs/Formats.md, PyTorch).
public struct PyTorchSource: TensorSource {
  public let source: any ByteSource
  /// The zip archive the file is read as.
  public let container: ZipArchive
  /// The archive's top-level directory (`archive` for `torch.save`, the model's name for TorchScript).
  public let archiveName: String
  /// Whether the archive is TorchScript (`constants.pkl` or `code/`) rather than `torch.save`.
  public let isTorchScript: Bool
  public var format: ModelFormat { .pytorch }
  public let tensors: [TensorEntry]
  public let regions: [TensorRegion]
  private let views: [String: View]

  /// Where a tensor's elements are: a storage entry, the first element, shape and strides.
  struct View {
    var name: String
    var entry: ZipEntry
    var dtype: DType
    var numel: UInt64
    var elementOffset: UInt64
    var shape: [UInt64]
    var strides: [UInt64]
    /// Elements from the first to one past the last the view touches (0 when empty).
    var extent: UInt64

    var isRowMajor: Bool {
      if shape.contains(0) { return true }
      var expected: UInt64 = 1
      for (size, stride) in zip(shape, strides).reversed() {
        if size != 1 && stride != expected { return false }
        expected &*= size
      }
      return true
    }
  }

  /// The first bytes of a legacy (pre-1.6) `torch.save` file: PROTO 2, then LONG1 of the magic
  /// number 0x1950a86a20f9469cfc6c.
  static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

  public init(_ source: any ByteSource) throws {
    let head = try source.read(count: Int(min(source.size, 16)), at: 0, what: "the PyTorch file's magic")
    guard head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) else {
      throw PyTorchError.legacyFormat(hasLegacyMagic: head.starts(with: Self.legacyMagic))
    }
    let zip = try ZipArchive(source)
    let roots = zip.entries.compactMap { e -> String? in
      let parts = e.name.split(separator: "/", omittingEmptySubsequences: false)
      return parts.count == 2 && parts[1] == "data.pkl" ? String(parts[0]) : nil
    }
    guard let name = roots.first else { throw PyTorchError.missingDataPickle }
    guard roots.count == 1 else { throw PyTorchError.multipleArchives(roots) }
    if let outside = zip.entries.first(where: { !$0.name.hasPrefix(name + "/") }) {
      throw PyTorchError.entryOutsideArchive(outside.name)
    }
    if let e = zip.entry(named: "\(name)/byteorder") {
      guard e.uncompressedSize <= 16 else { throw PyTorchError.unsupportedByteOrder("(\(e.uncompressedSize) bytes)") }
      let order = String(decoding: try zip.read(e), as: UTF8.self)
      guard order == "little" else { throw PyTorchError.unsupportedByteOrder(order) }
    }
    let constants = zip.entry(named: "\(name)/constants.pkl")
    self.source = source
    self.container = zip
    archiveName = name
    isTorchScript = constants != nil || zip.entries.contains { $0.name.hasPrefix("\(name)/code/") }

    let reader = PickleReader()
    var walker = Walker(container: zip, archive: name)
    if let data = zip.entry(named: "\(name)/data.pkl") {
      try walker.collect(try reader.read(try zip.read(data)), path: [], storageDir: "data")
    }
    if let constants {
      try walker.collect(try reader.read(try zip.read(constants)), path: ["constants"], storageDir: "constants")
    }

    var tensors: [TensorEntry] = []
    var byStorage: [String: [View]] = [:]
    for v in walker.views {
      let byteLength = try Self.byteLength(v)
      let layout: TensorLayout
      if !v.entry.isStored {
        layout = .encoded("deflated zip entry")
      } else if v.isRowMajor {
        layout = .contiguous(offset: v.entry.dataOffset + v.elementOffset * UInt64(v.dtype.width))
      } else {
        layout = .strided(
          storageOffset: v.entry.dataOffset, storageBytes: v.entry.uncompressedSize, elementOffset: v.elementOffset,
          strides: v.strides)
      }
      tensors.append(TensorEntry(name: v.name, dtype: v.dtype, shape: v.shape, layout: layout, byteLength: byteLength))
      byStorage[v.entry.name, default: []].append(v)
    }
    var regions: [TensorRegion] = []
    for (_, views) in byStorage {
      let first = views[0]
      guard first.entry.isStored, first.entry.uncompressedSize > 0 else { continue }
      // One tensor that is the whole storage, in order, names the region; otherwise the entry does.
      if views.count == 1, first.elementOffset == 0, first.isRowMajor, DType.elementCount(first.shape) == first.numel {
        regions.append(
          TensorRegion(
            name: first.name, dtype: first.dtype, shape: first.shape, offset: first.entry.dataOffset,
            byteLength: first.entry.uncompressedSize))
      } else {
        regions.append(
          TensorRegion(
            name: first.entry.name, dtype: first.dtype, shape: [first.numel], offset: first.entry.dataOffset,
            byteLength: first.entry.uncompressedSize))
      }
    }
    regions.sort { $0.offset < $1.offset }
    try RegionCheck.validate(regions, fileSize: source.size)
    self.tensors = tensors
    self.regions = regions
    views = Dictionary(walker.views.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
  }

  /// The most bytes a view of a `storageBytes`-byte storage may have: 16 times the storage or
  /// 64 MiB, whichever is more. Only views that repeat elements (stride 0, as `expand` makes)
  /// can exceed their storage; this bounds what `bytes(of:)` builds from a small hostile file.
  public static func maxViewBytes(storageBytes: UInt64) -> UInt64 {
    max(storageBytes.multipliedReportingOverflow(by: 16).overflow ? .max : storageBytes * 16, 64 << 20)
  }

  static func byteLength(_ v: View) throws -> UInt64 {
    guard let n = v.dtype.byteLength(shape: v.shape) else {
      throw PyTorchError.malformedTensor(name: v.name, reason: "its shape \(v.shape) overflows 64 bits of bytes")
    }
    return n
  }

  public func bytes(of tensor: TensorEntry) throws -> [UInt8] {
    guard let v = views[tensor.name] else { throw PyTorchError.unknownTensor(tensor.name) }
    let width = UInt64(v.dtype.width)
    let byteLength = try Self.byteLength(v)
    if v.entry.isStored, v.isRowMajor {
      return try source.read(count: Int(byteLength), at: v.entry.dataOffset + v.elementOffset * width, what: "tensor '\(v.name)'")
    }
    if byteLength == 0 { return [] }
    // The window of the storage the view touches; the view's offsets are checked to lie in it.
    let window: [UInt8]
    if v.entry.isStored {
      window = try source.read(
        count: Int(v.extent * width), at: v.entry.dataOffset + v.elementOffset * width, what: "tensor '\(v.name)'")
    } else {
      let all = try container.read(v.entry)
      let start = Int(v.elementOffset * width)
      window = Array(all[start..<(start + Int(v.extent * width))])
    }
    return Self.gather(window, shape: v.shape.map { Int($0) }, strides: v.strides.map { Int($0) }, width: Int(width))
  }

  /// The elements of a strided view in row-major order; `window` starts at the view's first
  /// element and holds every element it reaches.
  static func gather(_ window: [UInt8], shape: [Int], strides: [Int], width: Int) -> [UInt8] {
    let count = shape.reduce(1, *)
    var out = [UInt8]()
    out.reserveCapacity(count * width)
    guard let last = shape.indices.last else { return Array(window.prefix(width)) }
    var index = [Int](repeating: 0, count: shape.count)
    var base = 0
    window.withUnsafeBufferPointer { src in
      while true {
        for i in 0..<shape[last] {
          let o = (base + i * strides[last]) * width
          out.append(contentsOf: src[o..<(o + width)])
        }
        var d = last - 1
        while d >= 0 {
          index[d] += 1
          base += strides[d]
          if index[d] < shape[d] { break }
          base -= strides[d] * shape[d]
          index[d] = 0
          d -= 1
        }
        if d < 0 { return }
      }
    }
    return out
  }
}

/// Finds the tensors of a pickle's value tree and names them by their path.
private struct Walker {
  let container: ZipArchive
  let archive: String
  var views: [PyTorchSource.View] = []
  var names = Set<String>()
  /// The dtype each storage entry was first read as.
  var storageTypes: [String: DType] = [:]

  init(container: ZipArchive, archive: String) {
    self.container = container
    self.archive = archive
  }

  /// Walk dicts (by key), lists and tuples (by index) and module objects (by attribute);
  /// everything that is not a tensor is skipped.
  mutating func collect(_ value: PickleValue, path: [String], storageDir: String) throws {
    switch value {
    case .dict(let pairs):
      for p in pairs {
        guard let key = Self.keyName(p.key) else { continue }
        try collect(p.value, path: path + [key], storageDir: storageDir)
      }
    case .list(let items), .tuple(let items):
      for (k, item) in items.enumerated() { try collect(item, path: path + [String(k)], storageDir: storageDir) }
    case .object(_, let state):
      try collect(state, path: path, storageDir: storageDir)
    case .call(let g, let args):
      let name = path.isEmpty ? "tensor" : path.joined(separator: ".")
      guard names.insert(name).inserted else { throw PyTorchError.duplicateTensorName(name) }
      views.append(try view(g, args, name: name, storageDir: storageDir))
    default:
      break
    }
  }

  static func keyName(_ key: PickleValue) -> String? {
    switch key {
    case .string(let s): return s
    case .int(let i): return String(i)
    case .bool(let b): return b ? "True" : "False"
    default: return nil
    }
  }

  mutating func view(_ g: PickleGlobal, _ args: [PickleValue], name: String, storageDir: String) throws -> PyTorchSource.View {
    func bad(_ reason: String) -> PyTorchError { .malformedTensor(name: name, reason: reason) }
    switch (g.module, g.name) {
    case ("torch._utils", "_rebuild_tensor_v2"):
      guard args.count == 6 || args.count == 7 else { throw bad("_rebuild_tensor_v2 takes 6 or 7 arguments, not \(args.count)") }
      return try tensor(args, name: name, storageDir: storageDir)
    case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
      ("torch.nn.parameter", "Parameter"):
      guard let data = args.first, case .call(let inner, let innerArgs) = data else {
        throw bad("\(g.name) is not given a tensor")
      }
      return try view(inner, innerArgs, name: name, storageDir: storageDir)
    case ("torch._tensor", "_rebuild_from_type_v2"):
      guard args.count == 4, case .global(let inner) = args[0], case .tuple(let innerArgs) = args[2],
        inner != g
      else { throw bad("_rebuild_from_type_v2 is not given (function, type, arguments, state)") }
      return try view(inner, innerArgs, name: name, storageDir: storageDir)
    default:
      throw bad("'\(g)' does not build a tensor")
    }
  }

  mutating func tensor(_ args: [PickleValue], name: String, storageDir: String) throws -> PyTorchSource.View {
    func bad(_ reason: String) -> PyTorchError { .malformedTensor(name: name, reason: reason) }
    guard case .persistentID(.tuple(let pid)) = args[0], pid.count == 5, pid[0] == .string("storage"),
      case .global(let type) = pid[1], case .string(let key) = pid[2], case .string = pid[3], case .int(let numel) = pid[4],
      numel >= 0, !key.isEmpty, !key.contains("/")
    else { throw PyTorchError.malformedStorageID(tensor: name) }
    guard type.module == "torch", let dtype = PickleAllowList.torchStorageTypes[type.name] else {
      throw PyTorchError.unknownStorageType(tensor: name, type: type.description)
    }
    let entryName = "\(archive)/\(storageDir)/\(key)"
    guard let entry = container.entry(named: entryName) else { throw PyTorchError.missingStorage(tensor: name, entry: entryName) }
    if let known = storageTypes[entryName], known != dtype {
      throw PyTorchError.storageTypeConflict(entry: entryName, known, dtype)
    }
    storageTypes[entryName] = dtype
    let count = UInt64(numel)
    let (bytes, overflow) = count.multipliedReportingOverflow(by: UInt64(dtype.width))
    guard !overflow, bytes == entry.uncompressedSize else {
      throw PyTorchError.storageSizeMismatch(entry: entryName, numel: count, dtype: dtype, bytes: entry.uncompressedSize)
    }
    guard case .int(let offset) = args[1], offset >= 0 else { throw bad("its storage offset is not a non-negative integer") }
    guard case .tuple(let sizeValues) = args[2], case .tuple(let strideValues) = args[3] else {
      throw bad("its size and stride are not tuples")
    }
    let shape = try Self.naturals(sizeValues)
    let strides = try Self.naturals(strideValues)
    guard let shape, let strides, shape.count == strides.count else {
      throw bad("its size and stride are not tuples of the same number of non-negative integers")
    }
    // Extent: one past the furthest element, 1 + Σ (size - 1) × stride, or 0 when empty.
    var extent: UInt64 = shape.contains(0) ? 0 : 1
    if extent == 1 {
      for (size, stride) in zip(shape, strides) {
        let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
        let (sum, o2) = extent.addingReportingOverflow(step)
        guard !o1, !o2 else { throw PyTorchError.storageOutOfRange(tensor: name, storageOffset: UInt64(offset), extent: .max, numel: count) }
        extent = sum
      }
    }
    let (end, o3) = UInt64(offset).addingReportingOverflow(extent)
    guard !o3, end <= count else {
      throw PyTorchError.storageOutOfRange(tensor: name, storageOffset: UInt64(offset), extent: extent, numel: count)
    }
    guard let viewBytes = dtype.byteLength(shape: shape) else {
      throw bad("its shape \(shape) overflows 64 bits of bytes")
    }
    guard viewBytes <= PyTorchSource.maxViewBytes(storageBytes: bytes) else {
      throw PyTorchError.viewTooLarge(tensor: name, bytes: viewBytes, storageBytes: bytes)
    }
    return PyTorchSource.View(
      name: name, entry: entry, dtype: dtype, numel: count, elementOffset: UInt64(offset), shape: shape, strides: strides,
      extent: extent)
  }

  static func naturals(_ values: [PickleValue]) throws -> [UInt64]? {
    var out: [UInt64] = []
    for v in values {
      guard case .int(let i) = v, i >= 0 else { return nil }
      out.append(UInt64(i))
    }
    return out
  }
}
