import LineageCore

/// Random-access bytes: a file on disk, a file in the store, or memory. Parsers read only what
/// they need, through checked offsets; a reader's own failures (I/O) pass through unchanged.
public protocol ByteSource: Sendable {
  var size: UInt64 { get }
  /// Fill `buffer` with the bytes at `offset`; callers never ask past `size`.
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws
}

extension ByteSource {
  /// `count` bytes at `offset`, or `FormatError.truncated` when they run past the end.
  public func read(count: Int, at offset: UInt64, what: String) throws -> [UInt8] {
    let (end, overflow) = offset.addingReportingOverflow(UInt64(count))
    guard count >= 0, !overflow, end <= size else {
      throw FormatError.truncated(what: what, offset: offset, needed: UInt64(max(count, 0)), size: size)
    }
    var out = [UInt8](repeating: 0, count: count)
    if count > 0 { try out.withUnsafeMutableBytes { try read(into: $0, at: offset) } }
    return out
  }
}

/// Bytes in memory.
public struct MemoryBytes: ByteSource {
  public let bytes: [UInt8]
  public init(_ bytes: [UInt8]) { self.bytes = bytes }
  public var size: UInt64 { UInt64(bytes.count) }
  public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
    let start = Int(offset)
    bytes.withUnsafeBytes { src in
      buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + buffer.count)]))
    }
  }
}

/// A window of another source (a zip entry stored without compression, a shard's data region).
public struct ByteSlice: ByteSource {
  public let base: any ByteSource
  public let offset: UInt64
  public let size: UInt64
  public init(_ base: any ByteSource, offset: UInt64, size: UInt64) {
    self.base = base
    self.offset = offset
    self.size = size
  }
  public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
    try base.read(into: buffer, at: self.offset + offset)
  }
}

/// The file formats lineage reads tensor-aware. The raw value is the `format` of a stored
/// file object (Docs/ObjectFormat.md §3, Docs/Formats.md).
public enum ModelFormat: String, Sendable, CaseIterable, Codable {
  case safetensors
  /// A PyTorch zip archive: a `torch.save` state dict or a TorchScript archive.
  case pytorch
  case gguf
  case onnx
  /// The raw data file an ONNX model's initializers point into (`external_data`).
  case onnxData = "onnx-data"
  case npy
  case npz
  /// Not parsed: content-defined chunks only.
  case opaque
}

/// Where one tensor's bytes are.
public enum TensorLayout: Equatable, Sendable {
  /// Verbatim at `offset` of the file: little-endian, row-major, `dtype` elements or blocks.
  case contiguous(offset: UInt64)
  /// A view into a storage region of the file (PyTorch): element `elementOffset` of the storage
  /// at file offset `storageOffset` (`storageBytes` long), with per-dimension strides in elements.
  case strided(storageOffset: UInt64, storageBytes: UInt64, elementOffset: UInt64, strides: [UInt64])
  /// Not in the file verbatim (deflated zip entry, big-endian or Fortran-order array, ONNX typed
  /// field): `TensorSource.bytes(of:)` decodes it. The string says why, for `ls`.
  case encoded(String)
  /// Verbatim at `offset` of another file of the model (ONNX external data), named by its path
  /// relative to the model file's directory.
  case external(path: String, offset: UInt64)
}

/// One tensor of a model file, as its producer named it.
public struct TensorEntry: Equatable, Sendable {
  public var name: String
  public var dtype: DType
  /// Outermost dimension first (row-major), whatever order the file writes dimensions in.
  public var shape: [UInt64]
  public var layout: TensorLayout
  /// Bytes of the tensor in `dtype` (for quantized types: whole blocks).
  public var byteLength: UInt64

  public init(name: String, dtype: DType, shape: [UInt64], layout: TensorLayout, byteLength: UInt64) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.layout = layout
    self.byteLength = byteLength
  }
}

/// A run of file bytes that holds exactly one tensor's (or one storage's) bytes, stored as a
/// tensor object: the unit of deduplication and delta encoding.
public struct TensorRegion: Equatable, Sendable {
  public var name: String
  public var dtype: DType
  public var shape: [UInt64]
  public var offset: UInt64
  public var byteLength: UInt64

  public init(name: String, dtype: DType, shape: [UInt64], offset: UInt64, byteLength: UInt64) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.offset = offset
    self.byteLength = byteLength
  }
}

/// A parsed model file: its tensors (the logical view forensics reads) and its storage regions
/// (how the store cuts the file). Regions are sorted by offset, do not overlap and lie inside the
/// file; the bytes between them are stored as content-defined chunks.
public protocol TensorSource: Sendable {
  var format: ModelFormat { get }
  var tensors: [TensorEntry] { get }
  var regions: [TensorRegion] { get }
  /// The tensor's bytes: little-endian, row-major, `dtype` elements (blocks for quantized types).
  func bytes(of tensor: TensorEntry) throws -> [UInt8]
}

extension TensorSource {
  public func tensor(named name: String) -> TensorEntry? { tensors.first { $0.name == name } }
}

/// Checks every reader's regions against the rules above; readers call it before returning.
public enum RegionCheck {
  public static func validate(_ regions: [TensorRegion], fileSize: UInt64) throws {
    var previousEnd: UInt64 = 0
    var previousName = ""
    for r in regions {
      let (end, overflow) = r.offset.addingReportingOverflow(r.byteLength)
      guard !overflow, end <= fileSize else {
        throw FormatError.regionPastEnd(name: r.name, end: overflow ? .max : end, fileSize: fileSize)
      }
      guard r.dtype.byteLength(shape: r.shape) == r.byteLength else {
        throw FormatError.regionSizeMismatch(name: r.name, byteLength: r.byteLength)
      }
      guard r.offset >= previousEnd else { throw FormatError.regionsOverlap(r.name, previousName) }
      previousEnd = end
      previousName = r.name
    }
  }
}
