import LineageCore

/// An ONNX model (a protobuf `ModelProto`) as a `TensorSource`: its initializers and the tensors
/// of its nodes' attributes (Constant values), in the main graph and in subgraphs (If/Loop/Scan
/// bodies). Docs/Formats-ONNX.md is the spec.
///
/// `raw_data` payloads are regions of the file, kept verbatim; typed fields (`float_data`, …) are
/// decoded by `bytes(of:)`; external data lives in other files, read through the resolver given at
/// init and described per file by `externalRegions()`.
public struct ONNXSource: TensorSource {
  public let source: any ByteSource
  public var format: ModelFormat { .onnx }
  public let tensors: [TensorEntry]
  public let regions: [TensorRegion]
  /// Tensors of data types lineage does not read (strings, complex, 4-bit, FNUZ float8, …) with
  /// the reason; their bytes stay in the opaque part of the file.
  public let skipped: [(name: String, reason: String)]
  /// Initializer (or Constant) name → Hugging Face–style parameter name, where the graph shows it
  /// (Docs/Formats-ONNX.md states the rule and its limits).
  public let parameterNames: [String: String]
  /// ModelProto.ir_version.
  public let irVersion: Int64
  /// `producer_name`, then a space and `producer_version` when both are set.
  public let producer: String
  /// The operator sets the model imports (the default domain is "").
  public let opsets: [(domain: String, version: Int64)]

  private let external: [String: [TensorRegion]]
  private let externalSources: [String: any ByteSource]
  private let encoded: [String: TypedData]

  /// Parse `source` as an ONNX model. `external` maps an external-data location (a relative path,
  /// already checked not to escape the model's directory) to its bytes; without it, external
  /// tensors are listed but `bytes(of:)` refuses them.
  public init(_ source: any ByteSource, external resolver: (@Sendable (String) throws -> any ByteSource)? = nil) throws {
    var reader = ProtobufReader(source)
    let model = try ONNXParser.model(&reader)
    guard let graph = model.graph else { throw ONNXError.missingGraph }
    self.source = source
    irVersion = Int64(bitPattern: model.irVersion)
    producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
    opsets = model.opsets

    var walk = GraphWalk()
    try walk.visit(graph, scope: "", depth: 0)
    let names = walk.assignNames()

    var tensors: [TensorEntry] = []
    var regions: [TensorRegion] = []
    var skipped: [(name: String, reason: String)] = []
    var external: [String: [TensorRegion]] = [:]
    var encoded: [String: TypedData] = [:]
    for (k, found) in walk.found.enumerated() {
      let name = names[k]
      switch try ONNXTensor.read(found.tensor, name: name) {
      case .skipped(let reason): skipped.append((name, reason))
      case .raw(let region):
        regions.append(region)
        tensors.append(TensorEntry(name: name, dtype: region.dtype, shape: region.shape, layout: .contiguous(offset: region.offset), byteLength: region.byteLength))
      case .typed(let entry, let data):
        tensors.append(entry)
        encoded[name] = data
      case .external(let path, let region):
        external[path, default: []].append(region)
        tensors.append(TensorEntry(name: name, dtype: region.dtype, shape: region.shape, layout: .external(path: path, offset: region.offset), byteLength: region.byteLength))
      }
    }
    regions.sort { ($0.offset, $0.byteLength) < ($1.offset, $1.byteLength) }
    try RegionCheck.validate(regions, fileSize: source.size)

    var externalSources: [String: any ByteSource] = [:]
    for path in external.keys.sorted() {
      external[path]?.sort { ($0.offset, $0.byteLength) < ($1.offset, $1.byteLength) }
      let list = external[path] ?? []
      guard let resolver else {
        try RegionCheck.validate(list, fileSize: .max)
        continue
      }
      let file = try resolver(path)
      for r in list {
        let (end, overflow) = r.offset.addingReportingOverflow(r.byteLength)
        guard !overflow, end <= file.size else {
          throw ONNXError.externalDataPastEnd(name: r.name, location: path, end: overflow ? .max : end, fileSize: file.size)
        }
      }
      try RegionCheck.validate(list, fileSize: file.size)
      externalSources[path] = file
    }

    self.tensors = tensors
    self.regions = regions
    self.skipped = skipped
    self.external = external
    self.externalSources = externalSources
    self.encoded = encoded
    parameterNames = walk.parameterNames(names: names)
  }

  /// Per external data file (its location relative to the model's directory), the regions its
  /// bytes hold: sorted by offset, non-overlapping, and checked against the file's size when the
  /// model was opened with a resolver.
  public func externalRegions() -> [String: [TensorRegion]] { external }

  public func bytes(of tensor: TensorEntry) throws -> [UInt8] {
    guard let count = Int(exactly: tensor.byteLength) else { throw ONNXError.shapeOverflow(name: tensor.name) }
    switch tensor.layout {
    case .contiguous(let offset):
      return try source.read(count: count, at: offset, what: "tensor '\(tensor.name)'")
    case .external(let path, let offset):
      guard let file = externalSources[path] else { throw ONNXError.externalDataUnavailable(name: tensor.name, location: path) }
      return try file.read(count: count, at: offset, what: "tensor '\(tensor.name)' in '\(path)'")
    case .encoded:
      guard let data = encoded[tensor.name] else { throw ONNXError.unknownTensor(name: tensor.name) }
      return try data.decode(from: source, name: tensor.name)
    case .strided:
      throw ONNXError.unknownTensor(name: tensor.name)
    }
  }
}

/// A tensor held in typed fields: where its elements are and how to widen or narrow them.
struct TypedData: Sendable {
  var dtype: DType
  var field: ONNXTensor.TypedField
  var spans: [ScalarSpan]
  var count: UInt64

  /// The elements as little-endian `dtype` bytes: each value's low `dtype.width` bytes, which is
  /// what ONNX's own loader (numpy `astype`) gives for int32_data narrowed to 8 or 16 bits and
  /// uint64_data narrowed to 32.
  func decode(from source: any ByteSource, name: String) throws -> [UInt8] {
    let width = dtype.width
    var out: [UInt8] = []
    out.reserveCapacity(Int(clamping: count) * width)
    for span in spans {
      // Packed float_data and double_data are already little-endian F32/F64 bytes.
      if span.packed, field == .floatData || field == .doubleData, let n = Int(exactly: span.length) {
        out += try source.read(count: n, at: span.offset, what: "tensor '\(name)' \(field.name)")
        continue
      }
      try ProtobufReader.decode(span, field.encoding, in: source) { value in
        var v = value
        for _ in 0..<width {
          out.append(UInt8(truncatingIfNeeded: v))
          v >>= 8
        }
      }
    }
    let got = UInt64(out.count / max(width, 1))
    guard got == count else { throw ONNXError.typedCountMismatch(name: name, field: field.name, count: got, expected: count) }
    return out
  }
}
