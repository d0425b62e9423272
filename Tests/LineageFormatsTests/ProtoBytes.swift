import LineageCore

@testable import LineageFormats

/// A tiny protobuf encoder for hand-made test inputs: each method appends one field.
struct Proto {
  var bytes: [UInt8] = []

  static func varintBytes(_ value: UInt64) -> [UInt8] {
    var v = value
    var out: [UInt8] = []
    while v >= 0x80 {
      out.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    out.append(UInt8(v))
    return out
  }

  private func appending(_ more: [UInt8]) -> Proto { Proto(bytes: bytes + more) }
  private static func tag(_ field: UInt32, _ wire: UInt8) -> [UInt8] { varintBytes(UInt64(field) << 3 | UInt64(wire)) }

  func varint(_ field: UInt32, _ v: UInt64) -> Proto { appending(Self.tag(field, 0) + Self.varintBytes(v)) }
  func int(_ field: UInt32, _ v: Int64) -> Proto { varint(field, UInt64(bitPattern: v)) }
  func fixed32(_ field: UInt32, _ v: UInt32) -> Proto { appending(Self.tag(field, 5) + (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }) }
  func fixed64(_ field: UInt32, _ v: UInt64) -> Proto { appending(Self.tag(field, 1) + (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }) }
  func bytes(_ field: UInt32, _ b: [UInt8]) -> Proto { appending(Self.tag(field, 2) + Self.varintBytes(UInt64(b.count)) + b) }
  func string(_ field: UInt32, _ s: String) -> Proto { bytes(field, Array(s.utf8)) }
  func message(_ field: UInt32, _ m: Proto) -> Proto { bytes(field, m.bytes) }
  func packedVarints(_ field: UInt32, _ values: [UInt64]) -> Proto { bytes(field, values.flatMap(Self.varintBytes)) }
  func raw(_ b: [UInt8]) -> Proto { appending(b) }
}

/// ONNX messages built with `Proto`, with the field numbers of onnx.proto.
enum ONNXBytes {
  /// A TensorProto; `raw` becomes raw_data.
  static func tensor(_ name: String, type: UInt64, dims: [Int64], raw: [UInt8]? = nil) -> Proto {
    var t = Proto().packedVarints(1, dims.map { UInt64(bitPattern: $0) }).varint(2, type)
    if !name.isEmpty { t = t.string(8, name) }
    if let raw { t = t.bytes(9, raw) }
    return t
  }

  /// An external-data TensorProto pointing at `location`.
  static func external(_ name: String, type: UInt64, dims: [Int64], location: String, offset: String? = nil, length: String? = nil) -> Proto {
    var t = tensor(name, type: type, dims: dims).message(13, Proto().string(1, "location").string(2, location))
    if let offset { t = t.message(13, Proto().string(1, "offset").string(2, offset)) }
    if let length { t = t.message(13, Proto().string(1, "length").string(2, length)) }
    return t.varint(14, 1)
  }

  static func node(_ op: String, name: String = "", inputs: [String] = [], outputs: [String] = [], attributes: [Proto] = []) -> Proto {
    var n = Proto()
    for i in inputs { n = n.string(1, i) }
    for o in outputs { n = n.string(2, o) }
    if !name.isEmpty { n = n.string(3, name) }
    n = n.string(4, op)
    for a in attributes { n = n.message(5, a) }
    return n
  }

  static func graph(_ name: String = "g", nodes: [Proto] = [], initializers: [Proto] = []) -> Proto {
    var g = Proto()
    for n in nodes { g = g.message(1, n) }
    g = g.string(2, name)
    for t in initializers { g = g.message(5, t) }
    return g
  }

  /// A ModelProto: ir_version 10, producer "test 1.0", opset ("", 17), and `graph`.
  static func model(_ graph: Proto) -> [UInt8] {
    Proto().varint(1, 10).string(2, "test").string(3, "1.0").message(7, graph).message(8, Proto().string(1, "").varint(2, 17)).bytes
  }

  /// A model whose main graph holds `initializers` only.
  static func model(initializers: [Proto]) -> [UInt8] { model(graph(initializers: initializers)) }
}
