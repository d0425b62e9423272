import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

/// Parse a whole file's bytes the way the store does.
func parse(_ bytes: [UInt8]) throws(SafetensorsError) -> SafetensorsLayout {
  let size = UInt64(bytes.count)
  let n = try SafetensorsLayout.headerLength(prefix: Array(bytes.prefix(8)), fileSize: size)
  return try SafetensorsLayout.parse(header: Array(bytes[8..<(8 + Int(n))]), fileSize: size)
}

func file(_ header: String, data: Int, lengthOverride: UInt64? = nil) -> [UInt8] {
  SafetensorsBytes.make(header: header, data: [UInt8](repeating: 0xAB, count: data), lengthOverride: lengthOverride)
}

@Suite struct SafetensorsAcceptTests {
  @Test func parsesTensorsInDataOrderWithMetadataAndPadding() throws {
    let h = #"{"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,1],"data_offsets":[8,12]}}   "#
    let layout = try parse(file(h, data: 12))
    #expect(layout.tensors.map(\.name) == ["b", "a"])
    #expect(layout.tensors[1].dtype == .bf16 && layout.tensors[1].shape == [2, 1])
    #expect(layout.metadata.first?.0 == "format")
    #expect(layout.dataStart == 8 + UInt64(h.utf8.count))
  }

  @Test func acceptsZeroSizedTensorsAndEmptyHeader() throws {
    let layout = try parse(file(#"{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"x":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}"#, data: 1))
    #expect(layout.tensors.count == 2)
    #expect(try parse(file("{}", data: 0)).tensors.isEmpty)
  }

  @Test func writerOutputParses() throws {
    let bytes = SafetensorsBytes.valid([("w", [3, 4]), ("b", [4])])
    let layout = try parse(bytes)
    #expect(layout.tensors.map(\.byteLength) == [48, 16])
    #expect((8 + layout.headerLength) % 8 == 0)
  }
}

/// One test per rejection, each with its own small byte fixture.
@Suite struct SafetensorsRejectTests {
  let ok = #""dtype":"F32","shape":[1],"data_offsets":[0,4]"#

  @Test func truncatedPrefix() {
    #expect(throws: SafetensorsError.truncatedPrefix(fileSize: 5)) { try parse([1, 2, 3, 4, 5]) }
  }

  @Test func headerLengthBeyondFile() {
    #expect(throws: SafetensorsError.headerLengthBeyondFile(headerLength: 100, fileSize: 12)) {
      try parse(file("{}", data: 2, lengthOverride: 100))
    }
  }

  @Test func headerTooLarge() {
    var prefix = [UInt8]()
    withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { prefix += $0 }
    #expect(throws: SafetensorsError.headerTooLarge(headerLength: 200_000_000, limit: 100_000_000)) {
      try SafetensorsLayout.headerLength(prefix: prefix, fileSize: 300_000_000)
    }
  }

  @Test func headerNotUTF8() {
    let bytes = SafetensorsBytes.make(header: "", data: []) + [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D]
    var fixed = bytes
    fixed.replaceSubrange(0..<8, with: [6, 0, 0, 0, 0, 0, 0, 0])
    #expect(throws: SafetensorsError.headerNotUTF8(offset: 2)) { try parse(fixed) }
  }

  @Test func headerNotJSON() {
    #expect(throws: SafetensorsError.self) { try parse(file("{\"a\":", data: 0)) }
    do {
      _ = try parse(file("{\"a\":", data: 0))
    } catch {
      guard case .headerNotJSON = error else {
        Issue.record("expected headerNotJSON, got \(error)")
        return
      }
    }
  }

  @Test func headerNotObject() {
    #expect(throws: SafetensorsError.headerNotObject) { try parse(file("[1]", data: 0)) }
  }

  @Test func duplicateName() {
    #expect(throws: SafetensorsError.duplicateName("w")) { try parse(file("{\"w\":{\(ok)},\"w\":{\(ok)}}", data: 4)) }
  }

  @Test(arguments: [
    (#"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, #"missing string "dtype""#),
    (#"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#, #"missing array "shape""#),
    (#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "shape holds a non-integer or negative value"),
    (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, #""data_offsets" is not two non-negative integers"#),
    (#"{"w":[1]}"#, "not an object"),
  ])
  func invalidEntry(_ header: String, _ reason: String) {
    #expect(throws: SafetensorsError.invalidEntry(name: "w", reason: reason)) { try parse(file(header, data: 4)) }
  }

  @Test func invalidMetadata() {
    #expect(throws: SafetensorsError.invalidMetadata(reason: "value of k is not a string")) {
      try parse(file(#"{"__metadata__":{"k":1}}"#, data: 0))
    }
  }

  @Test func unknownDType() {
    #expect(throws: SafetensorsError.unknownDType(name: "w", dtype: "Q4_K")) {
      try parse(file(#"{"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,4]}}"#, data: 4))
    }
  }

  @Test func shapeOverflow() {
    #expect(throws: SafetensorsError.shapeOverflow(name: "w")) {
      try parse(file(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: 4))
    }
  }

  @Test func sizeMismatch() {
    #expect(throws: SafetensorsError.sizeMismatch(name: "w", expected: 8, actual: 4)) {
      try parse(file(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: 4))
    }
  }

  @Test func invalidOffsets() {
    #expect(throws: SafetensorsError.invalidOffsets(name: "w", begin: 4, end: 0)) {
      try parse(file(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: 4))
    }
  }

  @Test func overlap() {
    #expect(throws: SafetensorsError.overlap(name: "b", other: "a")) {
      try parse(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8))
    }
  }

  @Test func hole() {
    #expect(throws: SafetensorsError.hole(before: "b", from: 4, to: 8)) {
      try parse(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: 12))
    }
  }

  @Test func pastEnd() {
    #expect(throws: SafetensorsError.pastEnd(name: "w", end: 8, dataSize: 6)) {
      try parse(file(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: 6))
    }
  }

  @Test func trailingBytes() {
    #expect(throws: SafetensorsError.trailingBytes(dataEnd: 4, dataSize: 9)) { try parse(file("{\"w\":{\(ok)}}", data: 9)) }
  }

  @Test func rankTooLarge() {
    let shape = "[" + Array(repeating: "1", count: 65).joined(separator: ",") + "]"
    #expect(throws: SafetensorsError.rankTooLarge(name: "w", rank: 65)) {
      try parse(file("{\"w\":{\"dtype\":\"U8\",\"shape\":\(shape),\"data_offsets\":[0,1]}}", data: 1))
    }
  }

  @Test func invalidName() {
    #expect(throws: SafetensorsError.invalidName("a\u{0}b")) {
      try parse(file(#"{"a\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: 1))
    }
  }

  @Test func everyTruncationOfAValidFileIsRejected() {
    let bytes = SafetensorsBytes.valid([("a", [2, 2]), ("b", [3])])
    for n in 0..<bytes.count {
      #expect(throws: SafetensorsError.self) { try parse(Array(bytes.prefix(n))) }
    }
  }
}

@Suite struct ChunkingTests {
  @Test func tensorChunksFallOnElementBoundaries() {
    for width in [1, 2, 4, 8] {
      let lengths = ChunkPlan.tensorChunks(byteLength: 300_000 * UInt64(width), width: width)
      #expect(lengths.reduce(0, +) == 300_000 * width)
      #expect(lengths.allSatisfy { $0 % width == 0 && $0 <= 65_536 })
    }
    #expect(ChunkPlan.tensorChunks(byteLength: 0, width: 4).isEmpty)
    // 65,536 is not a multiple of 6-byte elements; a 3-byte dtype does not exist but the rule holds.
    #expect(ChunkPlan.tensorChunkLength(width: 6) == 65_532)
  }

  @Test func gearBoundariesRespectLimitsAndSurviveAnInsertion() {
    let data = seededBytes(2_000_000, seed: 9)
    func cuts(_ bytes: [UInt8]) -> [Int] {
      var out: [Int] = []
      var at = 0
      bytes.withUnsafeBytes { b in
        while at < b.count {
          let n = GearChunker.nextChunkLength(UnsafeRawBufferPointer(rebasing: b[at...])) ?? (b.count - at)
          out.append(n)
          at += n
        }
      }
      return out
    }
    let a = cuts(data)
    #expect(a.dropLast().allSatisfy { $0 >= GearChunker.minimum && $0 <= GearChunker.maximum })
    #expect(a.reduce(0, +) == data.count)
    // Insert 100 bytes near the start: later boundaries (as offsets from the end) stay put.
    let b = cuts(Array(data.prefix(5000)) + seededBytes(100, seed: 3) + Array(data.dropFirst(5000)))
    let tailA = Set(a.reversed().reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1) }.prefix(10))
    let tailB = Set(b.reversed().reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1) }.prefix(10))
    #expect(tailA == tailB)
  }
}

@Suite struct FixtureTests {
  @Test func sameSeedSameBytesOtherSeedOtherBytes() {
    let spec = SyntheticCheckpoint.TensorSpec(name: "w", shape: [64, 64], dtype: .bf16)
    func bytes(_ seed: UInt64) -> [UInt8] {
      var out = [UInt8](repeating: 0, count: 64 * 64 * 2)
      out.withUnsafeMutableBytes { SyntheticCheckpoint.fill(spec, seed: seed, into: $0) }
      return out
    }
    #expect(bytes(1) == bytes(1))
    #expect(bytes(1) != bytes(2))
  }

  @Test func bf16RoundsToNearestEven() {
    #expect(SyntheticCheckpoint.bf16Bits(1.0) == 0x3F80)
    #expect(SyntheticCheckpoint.bf16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie → even
    #expect(SyntheticCheckpoint.bf16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie → even
    #expect(SyntheticCheckpoint.bf16Bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
  }

  @Test func planReachesTheTargetWithLlamaNames() {
    let specs = SyntheticCheckpoint.plan(targetBytes: 8 << 20, dtype: .f32)
    let total = specs.reduce(0) { $0 + $1.elementCount * 4 }
    #expect(total <= 8 << 20 && total > 4 << 20)
    #expect(specs.contains { $0.name == "model.layers.0.mlp.up_proj.weight" })
  }
}
