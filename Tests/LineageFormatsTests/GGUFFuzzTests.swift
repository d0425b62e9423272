import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

@testable import LineageFormats

/// Seeded mutation fuzzing of the GGUF reader: thousands of corrupted variants of valid files
/// must each be accepted with regions that pass `RegionCheck` and tensors whose bytes read and
/// dequantize, or be rejected with a typed `FormatProblem`; never a crash, a hang or a read past
/// the end (`MemoryBytes` traps on one).
@Suite struct GGUFFuzzTests {
  /// Lies over eight bytes where GGUF keeps its u64 counts, lengths and offsets.
  let mutator = ByteMutator(lies: [0, 1, 4, 5, 32, nil, 1 << 32, 1 << 62, .max])

  static func seeds() -> [[UInt8]] {
    typealias B = GGUFBytes
    var a = GGUFBytes.valid()
    a.kv("tokens", 9, B.array(8, [B.str("a"), B.str("bc"), B.str("")]))
    a.kv("nested", 9, B.array(9, [B.array(0, [[1], [2]]), B.array(0, [])]))
    a.kv("f", 6, B.u32(Float(1.5).bitPattern))
    var b = GGUFBytes()
    b.version = 2
    b.kv("general.alignment", 4, B.u32(64))
    b.alignment = 64
    b.tensors = [
      .init(name: "k", ne: [256, 1], type: 12, offset: 0), .init(name: "e", ne: [0], type: 0, offset: 192),
      .init(name: "s", ne: [2], type: 30, offset: 192),
    ]
    b.data = seededBytes(196, seed: 3)
    return [a.bytes(), b.bytes(), GGUFBytes.valid().bytes()]
  }

  @Test func ggufReaderNeverCrashesAndAcceptsOnlyValidLayouts() {
    let seeds = Self.seeds()
    var state: UInt64 = 0x6767_7566
    var accepted = 0
    var rejected = 0
    for k in 0..<5000 {
      let bytes = mutator.mutate(seeds[k % seeds.count], &state)
      do {
        let s = try GGUFSource(MemoryBytes(bytes))
        try RegionCheck.validate(s.regions, fileSize: UInt64(bytes.count))
        for t in s.tensors {
          let data = try s.bytes(of: t)
          #expect(UInt64(data.count) == t.byteLength)
          if !t.dtype.isQuantized || Dequantize.quantizedTypes.contains(t.dtype) {
            let values = try s.floats(of: t)
            #expect(UInt64(values.count) == DType.elementCount(t.shape))
          }
        }
        accepted += 1
      } catch is any FormatProblem {
        rejected += 1
      } catch {
        Issue.record("untyped error: \(error)")
      }
    }
    #expect(rejected > 1000 && accepted > 100 && accepted + rejected == 5000)
  }
}
