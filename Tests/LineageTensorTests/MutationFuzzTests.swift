import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

/// Seeded mutation fuzzing: thousands of corrupted variants of valid inputs must each be either
/// accepted with a layout that covers the file exactly, or rejected with a typed error; never a
/// crash, a hang or an out-of-bounds read. (Run under `swift test -Xswiftc -sanitize=address`
/// for memory checking.)
@Suite struct MutationFuzzTests {
  /// JSON punctuation, and lies in the 8-byte length prefix.
  let mutator = ByteMutator(
    interestingBytes: [UInt8(ascii: "\""), UInt8(ascii: "}"), UInt8(ascii: ","), UInt8(ascii: "9"), 0xFF], lies: [nil], liesAtStart: true)

  @Test func safetensorsParserNeverCrashesAndAcceptsOnlyExactLayouts() {
    let seeds = [
      SafetensorsBytes.valid([("a", [3, 4]), ("b", [2]), ("c", [0, 5])]),
      SafetensorsWriter.header(
        [.init(name: "x", dtype: .bf16, shape: [8]), .init(name: "y", dtype: .u8, shape: [3])], metadata: [("k", "v")])
        + [UInt8](repeating: 7, count: 19),
    ]
    var state: UInt64 = 0xF00D
    var accepted = 0
    var rejected = 0
    for k in 0..<4000 {
      let bytes = mutator.mutate(seeds[k % seeds.count], &state)
      let size = UInt64(bytes.count)
      do {
        let n = try SafetensorsLayout.headerLength(prefix: Array(bytes.prefix(8)), fileSize: size)
        let layout = try SafetensorsLayout.parse(header: Array(bytes[8..<(8 + Int(n))]), fileSize: size)
        let covered = layout.tensors.reduce(UInt64(0)) { $0 + $1.byteLength }
        #expect(layout.dataStart + covered == size, "accepted a layout that does not cover the file")
        accepted += 1
      } catch {
        rejected += 1
      }
    }
    #expect(rejected > 1000 && accepted + rejected == 4000)
  }

  @Test func objectDecodersNeverCrash() {
    let chunk = ObjectID.of(.chunk, content: [1])
    let tensor = TensorObject(dtype: .f32, shape: [4], byteLength: 16, chunks: [ChunkRef(id: chunk, length: 16)]).encoded()
    let file = FileObject(format: "safetensors", size: 16, sha256: [UInt8](repeating: 1, count: 32), segments: [.bytes([ChunkRef(id: chunk, length: 16)])]).encoded()
    let tree = (try? TreeObject(entries: [TreeEntry(path: "a/b", mode: TreeEntry.regular, file: chunk)]).encoded()) ?? []
    var state: UInt64 = 0xBEEF
    for k in 0..<3000 {
      let input = mutator.mutate([tensor, file, tree][k % 3], &state)
      _ = try? TensorObject.decode(input)
      _ = try? FileObject.decode(input)
      _ = try? TreeObject.decode(input)
      _ = try? CommitRecord.decode(input)
    }
  }
}
