import LineageCore
import Testing

@testable import LineageFormats

/// The wire format, one rejection per test case, each from a few hand-written bytes.
@Suite struct ProtobufReaderTests {
  @Test func varintsUpToTenBytesDecodeAndLongerOnesAreRejected() throws {
    var r = ProtobufReader(MemoryBytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0xAC, 0x02]))
    #expect(try r.readVarint(field: 1) == .max)
    #expect(try r.readVarint(field: 1) == 300)
    #expect(r.isAtEnd)
    // ir_version written with eleven bytes, and with a tenth byte carrying more than bit 63.
    #expect(throws: ProtobufError.varintOverflow(offset: 1)) {
      try ONNXSource(MemoryBytes([0x08] + [UInt8](repeating: 0x80, count: 10) + [0x00]))
    }
    #expect(throws: ProtobufError.varintOverflow(offset: 1)) {
      try ONNXSource(MemoryBytes([0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x02]))
    }
    // A varint cut off by the end of the file.
    #expect(throws: ProtobufError.valuePastEnd(field: 1, offset: 1, length: 2, messageEnd: 2)) { try ONNXSource(MemoryBytes([0x08, 0x80])) }
  }

  @Test func aLengthPastTheEnclosingMessageIsRejected() throws {
    // The graph (field 7) claims 100 bytes of a 3-byte file.
    #expect(throws: ProtobufError.valuePastEnd(field: 7, offset: 2, length: 100, messageEnd: 3)) { try ONNXSource(MemoryBytes([0x3A, 0x64, 0x00])) }
    // The graph is 4 bytes long; its name claims 10, which the file has but the graph does not.
    let file = [0x3A, 0x04, 0x12, 0x0A, 0x61, 0x62] + Proto().string(2, String(repeating: "x", count: 20)).bytes
    #expect(throws: ProtobufError.valuePastEnd(field: 2, offset: 4, length: 10, messageEnd: 6)) { try ONNXSource(MemoryBytes(file)) }
  }

  @Test func groupsUndefinedWireTypesAndBadTagsAreRejected() throws {
    #expect(throws: ProtobufError.groupWireType(field: 1, offset: 0)) { try ONNXSource(MemoryBytes([0x0B])) }
    #expect(throws: ProtobufError.groupWireType(field: 1, offset: 0)) { try ONNXSource(MemoryBytes([0x0C])) }
    #expect(throws: ProtobufError.invalidWireType(field: 1, wireType: 6, offset: 0)) { try ONNXSource(MemoryBytes([0x0E])) }
    #expect(throws: ProtobufError.invalidFieldNumber(0, offset: 0)) { try ONNXSource(MemoryBytes([0x00])) }
    #expect(throws: ProtobufError.invalidFieldNumber(1 << 29, offset: 0)) { try ONNXSource(MemoryBytes(Proto.varintBytes(1 << 32))) }
    // producer_name (a string) written as a varint.
    #expect(throws: ProtobufError.wireTypeMismatch(field: 2, wireType: 0, offset: 0)) { try ONNXSource(MemoryBytes([0x10, 0x01])) }
  }

  @Test func stringsMustBeUTF8AndBounded() throws {
    #expect(throws: ProtobufError.invalidUTF8(field: 2, offset: 2)) { try ONNXSource(MemoryBytes([0x12, 0x02, 0xC3, 0x28])) }
    let long = Proto().string(2, String(repeating: "a", count: Int(ProtobufReader.maxStringLength) + 1)).bytes
    #expect(throws: ProtobufError.stringTooLong(field: 2, length: ProtobufReader.maxStringLength + 1, offset: 4)) { try ONNXSource(MemoryBytes(long)) }
  }

  @Test func packedFixedWidthPayloadsMustHoldWholeElements() throws {
    var r = ProtobufReader(MemoryBytes(Proto().bytes(4, [0, 0, 0, 0, 0, 0]).bytes))
    let f = try #require(try r.next())
    var spans: [ScalarSpan] = []
    #expect(throws: ProtobufError.packedLengthMismatch(field: 4, length: 6, width: 4, offset: 2)) { try r.scalarSpan(f, .fixed32, into: &spans) }
  }

  @Test func packedAndUnpackedRepeatedScalarsAreBothAccepted() throws {
    // Three unpacked varints, then a packed run of two, of field 5; an unknown field in between
    // ends the first unpacked run.
    let bytes = Proto().varint(5, 1).varint(5, UInt64(bitPattern: -2)).varint(9, 0).varint(5, 3).packedVarints(5, [4, 5]).bytes
    var r = ProtobufReader(MemoryBytes(bytes))
    var spans: [ScalarSpan] = []
    while let f = try r.next() {
      if f.number == 5 { try r.scalarSpan(f, .varint, into: &spans) } else { try r.skip(f) }
    }
    #expect(spans.map(\.count) == [2, 1, 2])
    #expect(spans.map(\.packed) == [false, false, true])
    var values: [UInt64] = []
    for s in spans { try ProtobufReader.decode(s, .varint, in: MemoryBytes(bytes)) { values.append($0) } }
    #expect(values == [1, UInt64(bitPattern: -2), 3, 4, 5])
    // dims, unpacked and packed.
    let dims = ONNXBytes.tensor("t", type: 2, dims: []).varint(1, 2).packedVarints(1, [3]).bytes(9, [UInt8](repeating: 0, count: 6))
    #expect(try ONNXSource(MemoryBytes(ONNXBytes.model(initializers: [dims]))).tensors[0].shape == [2, 3])
  }

  @Test func unknownFieldsOfEveryWireTypeAreSkipped() throws {
    let unknown = Proto().varint(1000, 7).fixed64(1001, 9).fixed32(1002, 3).bytes(1003, [1, 2, 3])
    let t = ONNXBytes.tensor("t", type: 2, dims: [2], raw: [4, 5]).raw(unknown.bytes)
    let g = ONNXBytes.graph(initializers: [t]).raw(unknown.bytes)
    let file = unknown.bytes + ONNXBytes.model(g) + unknown.bytes
    let s = try ONNXSource(MemoryBytes(file))
    #expect(try s.bytes(of: s.tensors[0]) == [4, 5])
  }

  @Test func subgraphsNestOnlySoDeep() throws {
    func nested(_ levels: Int) -> [UInt8] {
      var g = ONNXBytes.graph("leaf", initializers: [ONNXBytes.tensor("w", type: 2, dims: [1], raw: [1])])
      for _ in 0..<levels {
        g = ONNXBytes.graph(nodes: [ONNXBytes.node("If", name: "If", attributes: [Proto().string(1, "then_branch").message(6, g)])])
      }
      return ONNXBytes.model(g)
    }
    #expect(try ONNXSource(MemoryBytes(nested(20))).tensors.map(\.name) == ["w"])
    let e = #expect(throws: ProtobufError.self) { try ONNXSource(MemoryBytes(nested(40))) }
    guard case .nestingTooDeep(let depth, _) = e else {
      Issue.record("expected nestingTooDeep, got \(String(describing: e))")
      return
    }
    #expect(depth == ProtobufReader.maxDepth)
  }
}
