import LineageCore
import Testing

@testable import LineageFormats

/// One hand-made model per ONNX rejection.
@Suite struct ONNXRejectionTests {
  private func open(_ initializers: [Proto]) throws -> ONNXSource { try ONNXSource(MemoryBytes(ONNXBytes.model(initializers: initializers))) }

  @Test func aModelWithoutAGraphIsRejected() {
    #expect(throws: ONNXError.missingGraph) { try ONNXSource(MemoryBytes(Proto().varint(1, 8).bytes)) }
    #expect(throws: ONNXError.missingGraph) { try ONNXSource(MemoryBytes([])) }
  }

  @Test func segmentsAndBadShapesAreRejected() {
    let seg = ONNXBytes.tensor("t", type: 1, dims: [1], raw: [0, 0, 0, 0]).message(3, Proto().varint(1, 0).varint(2, 1))
    #expect(throws: ONNXError.segmentedTensor(name: "t")) { try open([seg]) }
    #expect(throws: ONNXError.negativeDimension(name: "t", dimension: -2)) { try open([ONNXBytes.tensor("t", type: 1, dims: [-2])]) }
    #expect(throws: ONNXError.shapeOverflow(name: "t")) { try open([ONNXBytes.tensor("t", type: 1, dims: [1 << 40, 1 << 40])]) }
  }

  @Test func dataMustMatchTheShapeAndComeFromOnePlace() {
    #expect(throws: ONNXError.rawDataSizeMismatch(name: "w", length: 7, expected: 8)) {
      try open([ONNXBytes.tensor("w", type: 1, dims: [2], raw: [UInt8](repeating: 1, count: 7))])
    }
    #expect(throws: ONNXError.typedCountMismatch(name: "t", field: "float_data", count: 2, expected: 3)) {
      try open([ONNXBytes.tensor("t", type: 1, dims: [3]).bytes(4, [UInt8](repeating: 0, count: 8))])
    }
    #expect(throws: ONNXError.typedCountMismatch(name: "t", field: "int32_data", count: 1, expected: 2)) {
      try open([ONNXBytes.tensor("t", type: 10, dims: [2]).varint(5, 0x3C00)])
    }
    #expect(throws: ONNXError.typedFieldMismatch(name: "t", field: "float_data", dataType: "INT64")) {
      try open([ONNXBytes.tensor("t", type: 7, dims: [1]).fixed32(4, 0)])
    }
    #expect(throws: ONNXError.typedFieldMismatch(name: "t", field: "string_data", dataType: "FLOAT")) {
      try open([ONNXBytes.tensor("t", type: 1, dims: [1]).bytes(6, [0x61])])
    }
    #expect(throws: ONNXError.conflictingData(name: "t")) { try open([ONNXBytes.tensor("t", type: 1, dims: [1], raw: [0, 0, 0, 0]).fixed32(4, 0)]) }
    #expect(throws: ONNXError.conflictingData(name: "t")) {
      try open([ONNXBytes.external("t", type: 2, dims: [1], location: "d.bin").bytes(9, [1])])
    }
    #expect(throws: ONNXError.missingData(name: "t")) { try open([ONNXBytes.tensor("t", type: 1, dims: [2])]) }
    #expect(throws: ONNXError.invalidDataLocation(name: "t", value: 2)) { try open([ONNXBytes.tensor("t", type: 2, dims: [1], raw: [1]).varint(14, 2)]) }
  }

  @Test func externalLocationsMustStayInTheModelDirectory() {
    for bad in ["../x", "/etc/passwd", "a/../../b", "a\\b", "a//b", "./x", "dir/", "", "a\u{0}b"] {
      #expect(throws: ONNXError.externalPathEscapes(name: "t", location: bad)) {
        try open([ONNXBytes.external("t", type: 2, dims: [1], location: bad)])
      }
    }
    #expect(throws: ONNXError.missingExternalLocation(name: "t")) {
      try open([ONNXBytes.tensor("t", type: 2, dims: [1]).message(13, Proto().string(1, "offset").string(2, "0")).varint(14, 1)])
    }
    for bad in ["12x", "-1", "", "+3", "99999999999999999999999"] {
      #expect(throws: ONNXError.invalidExternalNumber(name: "t", key: "offset", value: bad)) {
        try open([ONNXBytes.external("t", type: 2, dims: [1], location: "d.bin", offset: bad)])
      }
    }
    #expect(throws: ONNXError.externalLengthMismatch(name: "t", length: 3, expected: 2)) {
      try open([ONNXBytes.external("t", type: 2, dims: [2], location: "d.bin", length: "3")])
    }
  }

  @Test func externalTensorsMustLieInsideTheirDataFileWithoutOverlap() throws {
    let resolver: @Sendable (String) throws -> any ByteSource = { _ in MemoryBytes([1, 2, 3, 4]) }
    let past = ONNXBytes.model(initializers: [ONNXBytes.external("t", type: 2, dims: [4], location: "d.bin", offset: "2")])
    #expect(throws: ONNXError.externalDataPastEnd(name: "t", location: "d.bin", end: 6, fileSize: 4)) {
      try ONNXSource(MemoryBytes(past), external: resolver)
    }
    // Without a resolver the data file's size is unknown: listed, not checked against it.
    #expect(try ONNXSource(MemoryBytes(past)).externalRegions()["d.bin"]?.first?.offset == 2)
    let overlapping = ONNXBytes.model(initializers: [
      ONNXBytes.external("a", type: 2, dims: [3], location: "d.bin"), ONNXBytes.external("b", type: 2, dims: [1], location: "d.bin", offset: "2"),
    ])
    #expect(throws: FormatError.regionsOverlap("b", "a")) { try ONNXSource(MemoryBytes(overlapping)) }
    #expect(throws: FormatError.regionsOverlap("b", "a")) { try ONNXSource(MemoryBytes(overlapping), external: resolver) }
    let huge = ONNXBytes.model(initializers: [ONNXBytes.external("t", type: 2, dims: [4], location: "d.bin", offset: "\(UInt64.max)")])
    #expect(throws: ONNXError.externalDataPastEnd(name: "t", location: "d.bin", end: .max, fileSize: 4)) {
      try ONNXSource(MemoryBytes(huge), external: resolver)
    }
  }

  @Test func initializersNeedUniqueNames() throws {
    let unnamed = ONNXBytes.tensor("", type: 2, dims: [1], raw: [1])
    let file = ONNXBytes.model(initializers: [unnamed])
    // The initializer field's tag sits just before its 1-byte length and the tensor's bytes.
    let at = try #require((0..<file.count).first { Array(file[$0...].prefix(unnamed.bytes.count)) == unnamed.bytes })
    #expect(throws: ONNXError.unnamedInitializer(graph: "g", offset: UInt64(at - 2))) { try ONNXSource(MemoryBytes(file)) }
    let w = ONNXBytes.tensor("w", type: 2, dims: [1], raw: [1])
    #expect(throws: ONNXError.duplicateInitializer(name: "w", graph: "g")) { try open([w, w]) }
  }

  @Test func bytesOfATensorNotInTheModelIsRefused() throws {
    let s = try open([ONNXBytes.tensor("w", type: 2, dims: [1], raw: [1])])
    let stranger = TensorEntry(name: "nope", dtype: .u8, shape: [1], layout: .encoded("onnx typed field"), byteLength: 1)
    #expect(throws: ONNXError.unknownTensor(name: "nope")) { try s.bytes(of: stranger) }
  }

  @Test func everyErrorNamesItsProblem() {
    let errors: [any FormatProblem] = [
      ONNXError.externalPathEscapes(name: "t", location: "../x"), ONNXError.rawDataSizeMismatch(name: "w", length: 7, expected: 8),
      ProtobufError.valuePastEnd(field: 7, offset: 2, length: 100, messageEnd: 3),
    ]
    #expect(errors.map(\.description) == [
      "onnx: external tensor 't' has location '../x', which escapes the model directory or is not a plain relative path",
      "onnx: tensor 'w' has 7 bytes of raw_data, but its dtype and shape need 8",
      "protobuf: field 7 at offset 2 needs 100 bytes, past the end of its message at offset 3",
    ])
  }
}
