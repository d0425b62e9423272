import LineageCore

/// One TensorProto as lineage reads it: its dtype, shape, and where its bytes are.
enum ONNXTensor {
  /// How a tensor's data is held.
  enum Placement {
    /// A data type lineage does not read, with the reason.
    case skipped(String)
    /// Verbatim raw_data in the model file.
    case raw(TensorRegion)
    /// Typed fields, decoded on read.
    case typed(TensorEntry, TypedData)
    /// Verbatim in an external file; the region's offset is in that file.
    case external(path: String, region: TensorRegion)
  }

  /// The typed data fields of TensorProto.
  enum TypedField: UInt32, Sendable {
    case floatData = 4, int32Data = 5, int64Data = 7, doubleData = 10, uint64Data = 11

    var encoding: ScalarEncoding {
      switch self {
      case .floatData: return .fixed32
      case .doubleData: return .fixed64
      case .int32Data, .int64Data, .uint64Data: return .varint
      }
    }

    var name: String {
      switch self {
      case .floatData: return "float_data"
      case .int32Data: return "int32_data"
      case .int64Data: return "int64_data"
      case .doubleData: return "double_data"
      case .uint64Data: return "uint64_data"
      }
    }

    /// The field ONNX stores `dtype` in when not in raw_data.
    init(storing dtype: DType) {
      switch dtype {
      case .f32: self = .floatData
      case .f64: self = .doubleData
      case .i64: self = .int64Data
      case .u32, .u64: self = .uint64Data
      default: self = .int32Data
      }
    }
  }

  /// TensorProto.DataType codes lineage reads, as DTypes.
  static func dtype(_ code: UInt64) -> DType? {
    switch code {
    case 1: return .f32
    case 2: return .u8
    case 3: return .i8
    case 4: return .u16
    case 5: return .i16
    case 6: return .i32
    case 7: return .i64
    case 9: return .bool
    case 10: return .f16
    case 11: return .f64
    case 12: return .u32
    case 13: return .u64
    case 16: return .bf16
    case 17: return .f8e4m3
    case 19: return .f8e5m2
    default: return nil
    }
  }

  /// The onnx.proto name of a data type code, for messages.
  static func typeName(_ code: UInt64) -> String {
    let names = [
      "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
      "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
      "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1", "FLOAT8E8M0", "UINT2", "INT2", "FLOAT6E2M3", "FLOAT6E3M2",
    ]
    return code < UInt64(names.count) ? names[Int(code)] : "data type \(code)"
  }

  /// Where `t`'s bytes are, checked against its dtype and shape.
  static func read(_ t: ONNXParser.Tensor, name: String) throws -> Placement {
    if t.hasSegment { throw ONNXError.segmentedTensor(name: name) }
    guard let dtype = dtype(t.dataType) else {
      return .skipped("\(typeName(t.dataType)) tensors are not read")
    }
    var shape: [UInt64] = []
    for d in t.dims {
      guard Int64(bitPattern: d) >= 0 else { throw ONNXError.negativeDimension(name: name, dimension: Int64(bitPattern: d)) }
      shape.append(d)
    }
    guard let count = DType.elementCount(shape), let byteLength = dtype.byteLength(shape: shape) else {
      throw ONNXError.shapeOverflow(name: name)
    }
    let location = t.dataLocation
    guard location <= 1 else { throw ONNXError.invalidDataLocation(name: name, value: location) }
    let typed = !t.spans.isEmpty || t.stringCount > 0
    let sources = [t.rawData != nil, typed, location == 1].filter { $0 }.count
    guard sources <= 1 else { throw ONNXError.conflictingData(name: name) }

    if location == 1 {
      let (path, offset, length) = try externalPlace(t.externalData, name: name)
      if let length, length != byteLength { throw ONNXError.externalLengthMismatch(name: name, length: length, expected: byteLength) }
      return .external(path: path, region: TensorRegion(name: name, dtype: dtype, shape: shape, offset: offset, byteLength: byteLength))
    }
    if let raw = t.rawData {
      guard raw.length == byteLength else { throw ONNXError.rawDataSizeMismatch(name: name, length: raw.length, expected: byteLength) }
      return .raw(TensorRegion(name: name, dtype: dtype, shape: shape, offset: raw.offset, byteLength: byteLength))
    }
    let field = TypedField(storing: dtype)
    if t.stringCount > 0 { throw ONNXError.typedFieldMismatch(name: name, field: "string_data", dataType: typeName(t.dataType)) }
    if let other = t.spans.first(where: { $0.field != field.rawValue }) {
      let otherName = TypedField(rawValue: other.field)?.name ?? "field \(other.field)"
      throw ONNXError.typedFieldMismatch(name: name, field: otherName, dataType: typeName(t.dataType))
    }
    guard typed || count == 0 else { throw ONNXError.missingData(name: name) }
    let n = t.spans.reduce(UInt64(0)) { $0 &+ $1.count }
    guard n == count else { throw ONNXError.typedCountMismatch(name: name, field: field.name, count: n, expected: count) }
    let entry = TensorEntry(name: name, dtype: dtype, shape: shape, layout: .encoded("onnx typed field"), byteLength: byteLength)
    return .typed(entry, TypedData(dtype: dtype, field: field, spans: t.spans, count: count))
  }

  /// The external_data keys `location` (required, a safe relative path), `offset` and `length`
  /// (optional decimal integers); other keys (`checksum`, …) are ignored.
  static func externalPlace(_ entries: [(key: String, value: String)], name: String) throws -> (String, UInt64, UInt64?) {
    var location: String?
    var offset: UInt64 = 0
    var length: UInt64?
    for (key, value) in entries {
      switch key {
      case "location": location = value
      case "offset", "length":
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = UInt64(value) else {
          throw ONNXError.invalidExternalNumber(name: name, key: key, value: value)
        }
        if key == "offset" { offset = n } else { length = n }
      default: continue
      }
    }
    guard let location else { throw ONNXError.missingExternalLocation(name: name) }
    guard isSafeRelativePath(location) else { throw ONNXError.externalPathEscapes(name: name, location: location) }
    return (location, offset, length)
  }

  /// A relative POSIX path that stays inside its directory: not empty or absolute, no `..` or
  /// `.` component, no empty component (`a//b`, trailing `/`), no backslash, no NUL. One spelling
  /// per file, so per-file regions are keyed consistently.
  static func isSafeRelativePath(_ path: String) -> Bool {
    guard !path.isEmpty, !path.hasPrefix("/"), !path.utf8.contains(0x5C), !path.utf8.contains(0) else { return false }
    return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
  }
}
