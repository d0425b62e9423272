/// An ONNX model's messages are well-formed protobuf but not a model lineage can read.
public enum ONNXError: FormatProblem, Equatable {
  /// The model has no graph (ModelProto field 7).
  case missingGraph
  /// A tensor is stored in segments (TensorProto.segment), which ONNX's own loader refuses too.
  case segmentedTensor(name: String)
  /// A tensor dimension is negative.
  case negativeDimension(name: String, dimension: Int64)
  /// A tensor's element count or byte length overflows 64 bits.
  case shapeOverflow(name: String)
  /// A tensor's raw_data length differs from its dtype × shape.
  case rawDataSizeMismatch(name: String, length: UInt64, expected: UInt64)
  /// A typed data field holds a different number of elements than the shape.
  case typedCountMismatch(name: String, field: String, count: UInt64, expected: UInt64)
  /// A typed data field the tensor's data type does not use (float_data on an INT64 tensor).
  case typedFieldMismatch(name: String, field: String, dataType: String)
  /// More than one of raw_data, typed fields and external data hold the tensor.
  case conflictingData(name: String)
  /// A tensor with elements has no data at all.
  case missingData(name: String)
  /// data_location is neither DEFAULT (0) nor EXTERNAL (1).
  case invalidDataLocation(name: String, value: UInt64)
  /// An external tensor has no `location` key.
  case missingExternalLocation(name: String)
  /// An external tensor's `offset` or `length` is not a decimal integer that fits 64 bits.
  case invalidExternalNumber(name: String, key: String, value: String)
  /// An external tensor's location is not a plain relative path below the model's directory.
  case externalPathEscapes(name: String, location: String)
  /// An external tensor's `length` differs from its dtype × shape.
  case externalLengthMismatch(name: String, length: UInt64, expected: UInt64)
  /// An external tensor runs past the end of its data file.
  case externalDataPastEnd(name: String, location: String, end: UInt64, fileSize: UInt64)
  /// An external tensor's bytes were asked for, but the model was opened without a resolver.
  case externalDataUnavailable(name: String, location: String)
  /// A graph initializer has no name.
  case unnamedInitializer(graph: String, offset: UInt64)
  /// Two initializers of one graph share a name.
  case duplicateInitializer(name: String, graph: String)
  /// `bytes(of:)` was given an encoded tensor this model does not list.
  case unknownTensor(name: String)

  public var description: String {
    switch self {
    case .missingGraph: return "onnx: the model has no graph"
    case .segmentedTensor(let n): return "onnx: tensor '\(n)' is stored in segments, which are not supported"
    case .negativeDimension(let n, let d): return "onnx: tensor '\(n)' has negative dimension \(d)"
    case .shapeOverflow(let n): return "onnx: tensor '\(n)' has a shape whose size overflows 64 bits"
    case .rawDataSizeMismatch(let n, let len, let exp):
      return "onnx: tensor '\(n)' has \(len) bytes of raw_data, but its dtype and shape need \(exp)"
    case .typedCountMismatch(let n, let f, let c, let exp):
      return "onnx: tensor '\(n)' has \(c) values in \(f), but its shape has \(exp) elements"
    case .typedFieldMismatch(let n, let f, let t): return "onnx: tensor '\(n)' of type \(t) holds data in \(f), which that type does not use"
    case .conflictingData(let n): return "onnx: tensor '\(n)' has its data in more than one of raw_data, typed fields and external data"
    case .missingData(let n): return "onnx: tensor '\(n)' has elements but no data"
    case .invalidDataLocation(let n, let v): return "onnx: tensor '\(n)' has data_location \(v), neither DEFAULT (0) nor EXTERNAL (1)"
    case .missingExternalLocation(let n): return "onnx: external tensor '\(n)' has no location"
    case .invalidExternalNumber(let n, let k, let v): return "onnx: external tensor '\(n)' has \(k) '\(v)', not a decimal integer"
    case .externalPathEscapes(let n, let loc):
      return "onnx: external tensor '\(n)' has location '\(loc)', which escapes the model directory or is not a plain relative path"
    case .externalLengthMismatch(let n, let len, let exp):
      return "onnx: external tensor '\(n)' has length \(len), but its dtype and shape need \(exp)"
    case .externalDataPastEnd(let n, let loc, let end, let size):
      return "onnx: external tensor '\(n)' ends at byte \(end) of '\(loc)', past the end of the \(size)-byte file"
    case .externalDataUnavailable(let n, let loc):
      return "onnx: tensor '\(n)' is in external file '\(loc)', and the model was opened without a way to read it"
    case .unnamedInitializer(let g, let o): return "onnx: graph '\(g)' has an initializer without a name at offset \(o)"
    case .duplicateInitializer(let n, let g): return "onnx: graph '\(g)' has two initializers named '\(n)'"
    case .unknownTensor(let n): return "onnx: tensor '\(n)' is not an encoded tensor of this model"
    }
  }
}
