/// The few ONNX messages and fields lineage reads (field numbers from onnx.proto, onnx 1.23),
/// decoded into plain values that keep file offsets instead of copying tensor data. Every other
/// field is skipped unread.
enum ONNXParser {
  struct Model {
    var irVersion: UInt64 = 0
    var producerName = ""
    var producerVersion = ""
    var opsets: [(domain: String, version: Int64)] = []
    var graph: Graph?
  }

  struct Graph {
    var name = ""
    var nodes: [Node] = []
    var initializers: [Tensor] = []
  }

  struct Node {
    var name = ""
    var opType = ""
    var domain = ""
    var inputs: [String] = []
    var outputs: [String] = []
    var attributes: [Attribute] = []
  }

  struct Attribute {
    var name = ""
    var t: Tensor?
    var g: Graph?
    var tensors: [Tensor] = []
    var graphs: [Graph] = []
  }

  struct Tensor {
    /// File offset of the TensorProto message, for errors about unnamed tensors.
    var offset: UInt64
    var name = ""
    var dims: [UInt64] = []
    var dataType: UInt64 = 0
    var hasSegment = false
    var rawData: (offset: UInt64, length: UInt64)?
    /// float_data, int32_data, int64_data, double_data and uint64_data, in file order.
    var spans: [ScalarSpan] = []
    var stringCount = 0
    var externalData: [(key: String, value: String)] = []
    var dataLocation: UInt64 = 0
  }

  // Repeated fields append and singular fields overwrite, as protobuf merges a message that
  // appears more than once; a singular embedded message seen twice is merged the same way.

  /// ModelProto {ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8}.
  static func model(_ r: inout ProtobufReader) throws -> Model {
    var m = Model()
    while let f = try r.next() {
      switch f.number {
      case 1: m.irVersion = try r.varint(f)
      case 2: m.producerName = try r.string(f)
      case 3: m.producerVersion = try r.string(f)
      case 7:
        var sub = try r.message(f)
        var g = m.graph ?? Graph()
        try graph(&sub, into: &g)
        m.graph = g
      case 8:
        var sub = try r.message(f)
        var domain = ""
        var version: Int64 = 0
        while let e = try sub.next() {
          switch e.number {
          case 1: domain = try sub.string(e)
          case 2: version = Int64(bitPattern: try sub.varint(e))
          default: try sub.skip(e)
          }
        }
        m.opsets.append((domain, version))
      default: try r.skip(f)
      }
    }
    return m
  }

  /// GraphProto {node 1, name 2, initializer 5}; sparse_initializer (15) and the rest are not read.
  static func graph(_ r: inout ProtobufReader, into g: inout Graph) throws {
    while let f = try r.next() {
      switch f.number {
      case 1:
        var sub = try r.message(f)
        g.nodes.append(try node(&sub))
      case 2: g.name = try r.string(f)
      case 5:
        var sub = try r.message(f)
        var t = Tensor(offset: f.offset)
        try tensor(&sub, into: &t)
        g.initializers.append(t)
      default: try r.skip(f)
      }
    }
  }

  /// NodeProto {input 1, output 2, name 3, op_type 4, attribute 5, domain 7}.
  static func node(_ r: inout ProtobufReader) throws -> Node {
    var n = Node()
    while let f = try r.next() {
      switch f.number {
      case 1: n.inputs.append(try r.string(f))
      case 2: n.outputs.append(try r.string(f))
      case 3: n.name = try r.string(f)
      case 4: n.opType = try r.string(f)
      case 5:
        var sub = try r.message(f)
        n.attributes.append(try attribute(&sub))
      case 7: n.domain = try r.string(f)
      default: try r.skip(f)
      }
    }
    return n
  }

  /// AttributeProto {name 1, t 5, g 6, tensors 10, graphs 11}; `type` (20) is not needed, since
  /// the fields present say what the attribute holds.
  static func attribute(_ r: inout ProtobufReader) throws -> Attribute {
    var a = Attribute()
    while let f = try r.next() {
      switch f.number {
      case 1: a.name = try r.string(f)
      case 5:
        var sub = try r.message(f)
        var t = a.t ?? Tensor(offset: f.offset)
        try tensor(&sub, into: &t)
        a.t = t
      case 6:
        var sub = try r.message(f)
        var g = a.g ?? Graph()
        try graph(&sub, into: &g)
        a.g = g
      case 10:
        var sub = try r.message(f)
        var t = Tensor(offset: f.offset)
        try tensor(&sub, into: &t)
        a.tensors.append(t)
      case 11:
        var sub = try r.message(f)
        var g = Graph()
        try graph(&sub, into: &g)
        a.graphs.append(g)
      default: try r.skip(f)
      }
    }
    return a
  }

  /// TensorProto {dims 1, data_type 2, segment 3, float_data 4, int32_data 5, string_data 6,
  /// int64_data 7, name 8, raw_data 9, double_data 10, uint64_data 11, external_data 13,
  /// data_location 14}; doc_string (12) and metadata_props (16) are skipped.
  static func tensor(_ r: inout ProtobufReader, into t: inout Tensor) throws {
    while let f = try r.next() {
      switch f.number {
      case 1: try r.repeatedVarints(f, into: &t.dims)
      case 2: t.dataType = try r.varint(f)
      case 3:
        _ = try r.message(f)
        t.hasSegment = true
      case 4: try r.scalarSpan(f, .fixed32, into: &t.spans)
      case 5, 7, 11: try r.scalarSpan(f, .varint, into: &t.spans)
      case 10: try r.scalarSpan(f, .fixed64, into: &t.spans)
      case 6:
        _ = try r.lengthDelimited(f)
        t.stringCount += 1
      case 8: t.name = try r.string(f)
      case 9: t.rawData = try r.lengthDelimited(f)
      case 13:
        var sub = try r.message(f)
        var key = ""
        var value = ""
        while let e = try sub.next() {
          switch e.number {
          case 1: key = try sub.string(e)
          case 2: value = try sub.string(e)
          default: try sub.skip(e)
          }
        }
        t.externalData.append((key, value))
      case 14: t.dataLocation = try r.varint(f)
      default: try r.skip(f)
      }
    }
  }
}
