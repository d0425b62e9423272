import LineageCore
import LineageTensor

extension SafetensorsError: FormatProblem {}

/// A safetensors file as a `TensorSource`: every tensor is verbatim in the data section.
public struct SafetensorsSource: TensorSource {
  public let source: any ByteSource
  public let layout: SafetensorsLayout
  public var format: ModelFormat { .safetensors }
  public let tensors: [TensorEntry]
  public let regions: [TensorRegion]

  public init(_ source: any ByteSource) throws {
    let size = source.size
    let prefix = try source.read(count: Int(min(size, 8)), at: 0, what: "the safetensors length prefix")
    let n = try SafetensorsLayout.headerLength(prefix: prefix, fileSize: size)
    let header = try source.read(count: Int(n), at: 8, what: "the safetensors header")
    let layout = try SafetensorsLayout.parse(header: header, fileSize: size)
    self.source = source
    self.layout = layout
    regions = layout.tensors.map {
      TensorRegion(name: $0.name, dtype: $0.dtype, shape: $0.shape, offset: layout.dataStart + $0.begin, byteLength: $0.byteLength)
    }
    tensors = regions.map {
      TensorEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape, layout: .contiguous(offset: $0.offset), byteLength: $0.byteLength)
    }
    try RegionCheck.validate(regions, fileSize: size)
  }

  public func bytes(of tensor: TensorEntry) throws -> [UInt8] {
    guard case .contiguous(let offset) = tensor.layout else {
      throw FormatError.unsupported(format: "safetensors", reason: "tensor '\(tensor.name)' is not contiguous")
    }
    return try source.read(count: Int(tensor.byteLength), at: offset, what: "tensor '\(tensor.name)'")
  }
}

/// Recognising and opening model files.
public enum ModelFormats {
  /// Extensions PyTorch checkpoints and TorchScript archives use.
  public static let pytorchExtensions = ["pt", "pth", "bin", "ckpt", "jit"]

  /// Formats with a reader; files detected as another format are stored opaque.
  public static let readable: Set<ModelFormat> = [.safetensors, .npy, .npz, .onnx, .gguf, .pytorch]

  /// The format a file is read as, from its name and its first bytes (at least 16 when the file
  /// has them). Extensions decide where the format has no magic (safetensors, ONNX); magic
  /// decides otherwise, so a GGUF file named `.bin` is still read as GGUF.
  public static func detect(name: String, prefix: [UInt8]) -> ModelFormat {
    let ext = name.split(separator: "/").last.map { $0.split(separator: ".", omittingEmptySubsequences: false) }
      .flatMap { $0.count > 1 ? $0.last.map { String($0).lowercased() } : nil } ?? ""
    if ext == "safetensors" { return .safetensors }
    if prefix.starts(with: Array("GGUF".utf8)) { return .gguf }
    if prefix.starts(with: [0x93] + Array("NUMPY".utf8)) { return .npy }
    let zip = prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) || prefix.starts(with: [0x50, 0x4B, 0x05, 0x06])
    if zip, ext == "npz" { return .npz }
    // PyTorch: a zip archive, or (to say clearly that it is not read) a legacy pickle.
    if pytorchExtensions.contains(ext), zip || prefix.first == 0x80 { return .pytorch }
    if ext == "onnx" { return .onnx }
    return .opaque
  }

  /// `detect`, but `.opaque` for formats without a reader yet.
  public static func readableFormat(name: String, prefix: [UInt8]) -> ModelFormat {
    let f = detect(name: name, prefix: prefix)
    return readable.contains(f) ? f : .opaque
  }

  /// Open a file already detected as `format` (not `.opaque`). `name` is the file's name (an
  /// `.npy` array is named after it); `external` opens files beside an ONNX model by relative path.
  public static func open(
    _ source: any ByteSource, format: ModelFormat, name: String,
    external: (@Sendable (String) throws -> any ByteSource)?
  ) throws -> any TensorSource {
    switch format {
    case .safetensors: return try SafetensorsSource(source)
    case .npy: return try NumPySource(source, name: name.hasSuffix(".npy") ? String(name.dropLast(4)) : name)
    case .npz: return try NumPyArchiveSource(source)
    case .onnx: return try ONNXSource(source, external: external)
    case .gguf: return try GGUFSource(source)
    case .pytorch: return try PyTorchSource(source)
    default: throw FormatError.unsupported(format: format.rawValue, reason: "not read yet")
    }
  }
}
