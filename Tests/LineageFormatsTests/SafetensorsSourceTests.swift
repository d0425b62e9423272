import LineageCore
import LineageTensor
import Testing

@testable import LineageFormats

@Suite struct SafetensorsSourceTests {
  @Test func regionsAndTensorsMatchTheHeader() throws {
    let header = SafetensorsWriter.header([.init(name: "a", dtype: .f32, shape: [2, 3]), .init(name: "b", dtype: .bf16, shape: [4])])
    var file = header
    file += (0..<24).map { UInt8($0) } + (0..<8).map { UInt8(100 + $0) }
    let s = try SafetensorsSource(MemoryBytes(file))
    #expect(s.tensors.map(\.name) == ["a", "b"])
    #expect(s.regions[1].offset == UInt64(header.count + 24))
    #expect(try s.bytes(of: s.tensors[1]) == (0..<8).map { UInt8(100 + $0) })
    #expect(ModelFormats.detect(name: "x.SafeTensors", prefix: []) == .safetensors)
  }

  @Test func aTruncatedFileNamesWhatIsMissing() throws {
    let header = SafetensorsWriter.header([.init(name: "a", dtype: .f32, shape: [2])])
    #expect(throws: SafetensorsError.self) { try SafetensorsSource(MemoryBytes(header)) }
    #expect(throws: SafetensorsError.headerLengthBeyondFile(headerLength: 100, fileSize: 10)) {
      try SafetensorsSource(MemoryBytes([100, 0, 0, 0, 0, 0, 0, 0, 1, 2]))
    }
  }

  @Test func quantizedDTypesAreBlocksAndNotSafetensors() {
    #expect(DType.q4_k.byteLength(shape: [3, 512]) == 3 * 2 * 144)
    #expect(DType.q4_0.byteLength(shape: [3, 33]) == nil)
    #expect(DType.q8_0.byteLength(shape: []) == nil)
    #expect(DType.f32.byteLength(shape: []) == 4)
    #expect(!DType.q6_k.isSafetensors)
  }
}
