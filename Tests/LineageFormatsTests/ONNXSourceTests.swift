import LineageCore
import LineageTestSupport
import Testing

@testable import LineageFormats

private func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
  values.flatMap { v in (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
}

/// The offset of `needle` in `haystack` (first occurrence).
private func offset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
  guard needle.count <= haystack.count else { return nil }
  return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
}

@Suite struct ONNXSourceTests {
  @Test func rawDataInitializersAreRegionsAtTheirPayload() throws {
    let a = seededBytes(24, seed: 1)
    let b: [UInt8] = [0xFF, 1, 2, 0x80]
    let file = ONNXBytes.model(initializers: [
      ONNXBytes.tensor("a", type: 1, dims: [2, 3], raw: a), ONNXBytes.tensor("b", type: 3, dims: [4], raw: b),
    ])
    let s = try ONNXSource(MemoryBytes(file))
    #expect(s.tensors.map(\.name) == ["a", "b"])
    #expect(s.tensors.map(\.dtype) == [.f32, .i8])
    #expect(s.tensors[0].shape == [2, 3])
    #expect(s.regions.map(\.name) == ["a", "b"])
    let at = try #require(offset(of: a, in: file))
    #expect(s.regions[0].offset == UInt64(at))
    #expect(s.tensors[0].layout == .contiguous(offset: UInt64(at)))
    #expect(try s.bytes(of: s.tensors[0]) == a)
    #expect(try s.bytes(of: s.tensors[1]) == b)
    #expect(s.irVersion == 10 && s.producer == "test 1.0")
    #expect(s.opsets.map(\.domain) == [""] && s.opsets.map(\.version) == [17])
    #expect(s.format == .onnx && s.skipped.isEmpty)
  }

  @Test func typedFieldsDecodePackedAndUnpackedToLittleEndianBytes() throws {
    let floats: [Float] = [1.5, -2, 0.25]
    var f32 = ONNXBytes.tensor("f32", type: 1, dims: [3])
    f32 = f32.bytes(4, le(floats.map(\.bitPattern)))
    // int32_data for INT8, unpacked, with a negative value written as a sign-extended varint.
    var i8 = ONNXBytes.tensor("i8", type: 3, dims: [3])
    for v: Int64 in [-3, 127, 5] { i8 = i8.int(5, v) }
    // FLOAT16 bit patterns in int32_data, packed: 1.0 and -2.0.
    let f16 = ONNXBytes.tensor("f16", type: 10, dims: [2]).packedVarints(5, [0x3C00, 0xC000])
    let i64 = ONNXBytes.tensor("i64", type: 7, dims: [2]).packedVarints(7, [UInt64(bitPattern: -1), 42])
    let f64 = ONNXBytes.tensor("f64", type: 11, dims: [1]).fixed64(10, (3.0 as Double).bitPattern)
    // UINT32 in uint64_data keeps the low 32 bits, as numpy's astype does.
    let u32 = ONNXBytes.tensor("u32", type: 12, dims: [2]).packedVarints(11, [7, 0x1_0000_0002])
    let bool = ONNXBytes.tensor("bool", type: 9, dims: [2]).packedVarints(5, [1, 0])
    let empty = ONNXBytes.tensor("empty", type: 1, dims: [0, 4])
    let s = try ONNXSource(MemoryBytes(ONNXBytes.model(initializers: [f32, i8, f16, i64, f64, u32, bool, empty])))
    #expect(s.regions.isEmpty)
    #expect(s.tensors.allSatisfy { $0.layout == .encoded("onnx typed field") })
    func bytes(_ name: String) throws -> [UInt8] { try s.bytes(of: try #require(s.tensor(named: name))) }
    #expect(try bytes("f32") == le(floats.map(\.bitPattern)))
    #expect(try bytes("i8") == [0xFD, 0x7F, 5])
    #expect(try bytes("f16") == [0x00, 0x3C, 0x00, 0xC0])
    #expect(try bytes("i64") == le([Int64(-1), 42]))
    #expect(try bytes("f64") == le([(3.0 as Double).bitPattern]))
    #expect(try bytes("u32") == le([UInt32(7), 2]))
    #expect(try bytes("bool") == [1, 0])
    #expect(try bytes("empty") == [])
    #expect(s.tensor(named: "u32")?.byteLength == 8)
  }

  @Test func constantsAndSubgraphTensorsAreNamedUniquely() throws {
    let w = ONNXBytes.tensor("w", type: 2, dims: [2], raw: [1, 2])
    let innerW = ONNXBytes.tensor("w", type: 2, dims: [1], raw: [9])
    let innerX = ONNXBytes.tensor("inner", type: 2, dims: [1], raw: [8])
    let constant = ONNXBytes.node(
      "Constant", name: "c_node", outputs: ["c"], attributes: [Proto().string(1, "value").message(5, ONNXBytes.tensor("", type: 7, dims: [], raw: le([Int64(5)])))])
    let thenBranch = ONNXBytes.graph("then", nodes: [constant], initializers: [innerW, innerX])
    let ifNode = ONNXBytes.node(
      "If", name: "If_0", inputs: ["cond"], outputs: ["y"], attributes: [Proto().string(1, "then_branch").message(6, thenBranch)])
    let fill = ONNXBytes.node(
      "ConstantOfShape", name: "fill", inputs: ["s"], outputs: ["z"],
      attributes: [Proto().string(1, "value").message(5, ONNXBytes.tensor("", type: 1, dims: [1], raw: [0, 0, 0x80, 0x3F]))])
    let s = try ONNXSource(MemoryBytes(ONNXBytes.model(ONNXBytes.graph(nodes: [ifNode, fill], initializers: [w]))))
    #expect(s.tensors.map(\.name) == ["w", "If_0/then_branch/w", "inner", "c", "fill/value"])
    #expect(try s.bytes(of: try #require(s.tensor(named: "If_0/then_branch/w"))) == [9])
    #expect(try s.bytes(of: try #require(s.tensor(named: "c"))) == le([Int64(5)]))
    #expect(Set(s.regions.map(\.name)) == Set(s.tensors.map(\.name)))
    #expect(s.regions.map(\.offset) == s.regions.map(\.offset).sorted())
  }

  @Test func manyTensorsOfOneNameAreNumberedInLinearTime() throws {
    let value = Proto().string(1, "value").message(5, ONNXBytes.tensor("", type: 2, dims: [1], raw: [1]))
    let nodes = (0..<5000).map { _ in ONNXBytes.node("Constant", outputs: ["c"], attributes: [value]) }
    let s = try ONNXSource(MemoryBytes(ONNXBytes.model(ONNXBytes.graph(nodes: nodes))))
    #expect(s.tensors.count == 5000 && Set(s.tensors.map(\.name)).count == 5000)
    #expect(s.tensors.last?.name == "c#5000" && s.regions.count == 5000)
  }

  @Test func unreadDataTypesAreSkippedWithAReason() throws {
    let str = ONNXBytes.tensor("s", type: 8, dims: [1]).bytes(6, Array("hi".utf8))
    let complex = ONNXBytes.tensor("c", type: 14, dims: [1], raw: [UInt8](repeating: 0, count: 8))
    let int4 = ONNXBytes.tensor("q", type: 22, dims: [2], raw: [0x21])
    let s = try ONNXSource(MemoryBytes(ONNXBytes.model(initializers: [str, complex, int4, ONNXBytes.tensor("x", type: 2, dims: [1], raw: [3])])))
    #expect(s.tensors.map(\.name) == ["x"])
    #expect(s.skipped.map(\.name) == ["s", "c", "q"])
    #expect(s.skipped[0].reason == "STRING tensors are not read")
    #expect(s.regions.map(\.name) == ["x"])
  }

  @Test func externalDataIsReadThroughTheResolver() throws {
    let data = seededBytes(64, seed: 3)
    let file = ONNXBytes.model(initializers: [
      ONNXBytes.external("a", type: 1, dims: [4], location: "w/data.bin", offset: "16", length: "16"),
      ONNXBytes.external("b", type: 2, dims: [8], location: "w/data.bin"),
      ONNXBytes.external("c", type: 2, dims: [2], location: "other.bin", offset: "1"),
    ])
    let files: [String: [UInt8]] = ["w/data.bin": data, "other.bin": [7, 8, 9]]
    let s = try ONNXSource(MemoryBytes(file)) { path in
      guard let bytes = files[path] else { throw ONNXError.unknownTensor(name: path) }
      return MemoryBytes(bytes)
    }
    #expect(s.tensors.map(\.layout) == [.external(path: "w/data.bin", offset: 16), .external(path: "w/data.bin", offset: 0), .external(path: "other.bin", offset: 1)])
    #expect(try s.bytes(of: s.tensors[0]) == Array(data[16..<32]))
    #expect(try s.bytes(of: s.tensors[1]) == Array(data[0..<8]))
    #expect(try s.bytes(of: s.tensors[2]) == [8, 9])
    let ext = s.externalRegions()
    #expect(ext.keys.sorted() == ["other.bin", "w/data.bin"])
    #expect(ext["w/data.bin"]?.map(\.name) == ["b", "a"])
    #expect(s.regions.isEmpty)

    let blind = try ONNXSource(MemoryBytes(file))
    #expect(blind.externalRegions()["w/data.bin"]?.count == 2)
    #expect(throws: ONNXError.externalDataUnavailable(name: "a", location: "w/data.bin")) { try blind.bytes(of: blind.tensors[0]) }
  }

  @Test func anEmptyExternalTensorMayShareAnOffsetWithAnother() throws {
    // Listed non-empty first: zero-length regions sort first at an offset, so no false overlap.
    let file = ONNXBytes.model(initializers: [
      ONNXBytes.external("full", type: 2, dims: [4], location: "d.bin"), ONNXBytes.external("empty", type: 2, dims: [0], location: "d.bin"),
    ])
    let s = try ONNXSource(MemoryBytes(file)) { _ in MemoryBytes([1, 2, 3, 4]) }
    #expect(s.externalRegions()["d.bin"]?.map(\.name) == ["empty", "full"])
    #expect(try s.bytes(of: s.tensors[1]) == [])
  }

  @Test func parameterNamesFollowTheConsumingNodesModulePath() throws {
    let g = ONNXBytes.graph(
      nodes: [
        ONNXBytes.node("Gather", name: "/model/embed_tokens/Gather", inputs: ["onnx::Gather_1", "ids"], outputs: ["h0"]),
        ONNXBytes.node("MatMul", name: "/model/layers.0/mlp/up_proj/MatMul", inputs: ["h0", "onnx::MatMul_7"], outputs: ["mm"]),
        ONNXBytes.node("Add", name: "/model/layers.0/mlp/up_proj/Add", inputs: ["onnx::Add_8", "mm"], outputs: ["h1"]),
        ONNXBytes.node("Gemm", name: "/head/Gemm", inputs: ["h1", "gw", "gb"], outputs: ["h2"]),
        // Consumed twice: no single owner, no name.
        ONNXBytes.node("MatMul", name: "/a/MatMul", inputs: ["h2", "shared"], outputs: ["h3"]),
        ONNXBytes.node("MatMul", name: "/b/MatMul", inputs: ["h3", "shared"], outputs: ["h4"]),
        // Not a "/"-path.
        ONNXBytes.node("MatMul", name: "MatMul_9", inputs: ["h4", "loose"], outputs: ["h5"]),
        // An Add whose other input does not come from a MatMul.
        ONNXBytes.node("Add", name: "/c/Add", inputs: ["h5", "lonely"], outputs: ["h6"]),
      ],
      initializers: ["onnx::Gather_1", "onnx::MatMul_7", "onnx::Add_8", "gw", "gb", "shared", "loose", "lonely", "model.norm.weight"].map {
        ONNXBytes.tensor($0, type: 2, dims: [1], raw: [0])
      })
    let s = try ONNXSource(MemoryBytes(ONNXBytes.model(g)))
    #expect(
      s.parameterNames == [
        "onnx::Gather_1": "model.embed_tokens.weight", "onnx::MatMul_7": "model.layers.0.mlp.up_proj.weight",
        "onnx::Add_8": "model.layers.0.mlp.up_proj.bias", "gw": "head.weight", "gb": "head.bias",
        "model.norm.weight": "model.norm.weight",
      ])
    #expect(GraphWalk.modulePath("/x/MatMul") == "x" && GraphWalk.modulePath("x/MatMul") == nil && GraphWalk.modulePath("/MatMul") == nil)
    #expect(!GraphWalk.isParameterPath("onnx::MatMul_7") && !GraphWalk.isParameterPath("weight") && !GraphWalk.isParameterPath("0.w"))
  }

  @Test func aParameterNameTwoTensorsWouldShareIsGivenToNeither() throws {
    let g = ONNXBytes.graph(
      nodes: [
        ONNXBytes.node("MatMul", name: "/p/MatMul", inputs: ["x", "t1"], outputs: ["y"]),
        ONNXBytes.node("MatMul", name: "/p/MatMul_1", inputs: ["y", "t2"], outputs: ["z"]),
      ],
      initializers: ["t1", "t2"].map { ONNXBytes.tensor($0, type: 2, dims: [1], raw: [0]) })
    #expect(try ONNXSource(MemoryBytes(ONNXBytes.model(g))).parameterNames.isEmpty)
  }
}
