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
  /// The format a file is read as, from its name and its first bytes (at least 16 when the file
  /// has them). Extensions decide where the format has no magic (safetensors, ONNX); magic
  /// decides otherwise, so a GGUF file named `.bin` is still read as GGUF.
  public static func detect(name: String, prefix: [UInt8]) -> ModelFormat {
    let lower = name.lowercased()
    if lower.hasSuffix(".safetensors") { return .safetensors }
    return .opaque
  }

  /// Open a file already detected as `format` (not `.opaque`).
  public static func open(_ source: any ByteSource, format: ModelFormat) throws -> any TensorSource {
    switch format {
    case .safetensors: return try SafetensorsSource(source)
    default: throw FormatError.unsupported(format: format.rawValue, reason: "not read yet")
    }
  }
}
