import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

@testable import LineageFormats

/// Seeded mutation fuzzing of the ONNX reader: thousands of corrupted variants of valid models
/// must each be accepted with regions that pass RegionCheck and tensors whose bytes read back at
/// their declared length, or be rejected with a typed `FormatProblem`; never a crash or a hang.
@Suite struct ONNXFuzzTests {
  /// Bytes that mean much in protobuf: continuation bit, tags of length-delimited fields, zero.
  let mutator = ByteMutator(
    interestingBytes: [0x80, 0xFF, 0x00, 0x01, 0x0A, 0x12, 0x2A, 0x3A, 0x4A, 0x7F], lies: [0, 1, 0x7F, 0x80], lieWidth: 1)

  static func seeds() -> [[UInt8]] {
    let constant = ONNXBytes.node(
      "Constant", name: "k", outputs: ["c"], attributes: [Proto().string(1, "value").message(5, ONNXBytes.tensor("", type: 7, dims: [2], raw: seededBytes(16, seed: 5)))])
    let body = ONNXBytes.graph("body", nodes: [constant], initializers: [ONNXBytes.tensor("w", type: 10, dims: [3], raw: seededBytes(6, seed: 6))])
    let ifNode = ONNXBytes.node("If", name: "/m/If", inputs: ["cond"], outputs: ["y"], attributes: [Proto().string(1, "then_branch").message(6, body)])
    let matmul = ONNXBytes.node("MatMul", name: "/m/proj/MatMul", inputs: ["x", "w"], outputs: ["z"])
    var typed = ONNXBytes.tensor("ints", type: 3, dims: [3])
    for v: Int64 in [-1, 2, 3] { typed = typed.int(5, v) }
    let main = ONNXBytes.graph(
      nodes: [matmul, ifNode],
      initializers: [
        ONNXBytes.tensor("w", type: 1, dims: [2, 2], raw: seededBytes(16, seed: 7)), typed,
        ONNXBytes.tensor("f", type: 1, dims: [2]).bytes(4, seededBytes(8, seed: 8)),
        ONNXBytes.tensor("s", type: 8, dims: [1]).bytes(6, [0x61]),
      ])
    let external = ONNXBytes.graph(initializers: [
      ONNXBytes.external("e1", type: 1, dims: [4], location: "d.bin", offset: "0", length: "16"),
      ONNXBytes.external("e2", type: 2, dims: [8], location: "d.bin", offset: "32"),
      ONNXBytes.tensor("r", type: 2, dims: [4], raw: [1, 2, 3, 4]),
    ])
    return [ONNXBytes.model(main), ONNXBytes.model(external)]
  }

  @Test func onnxReaderNeverCrashesAndAcceptsOnlyCheckedLayouts() throws {
    let seeds = Self.seeds()
    for seed in seeds { _ = try ONNXSource(MemoryBytes(seed)) }
    let resolver: @Sendable (String) throws -> any ByteSource = { path in
      guard path == "d.bin" else { throw ONNXError.externalDataUnavailable(name: "?", location: path) }
      return MemoryBytes(seededBytes(64, seed: 9))
    }
    var state: UInt64 = 0x0_0DDC0DE
    var accepted = 0
    var rejected = 0
    for k in 0..<5000 {
      let bytes = mutator.mutate(seeds[k % seeds.count], &state)
      do {
        let s = try ONNXSource(MemoryBytes(bytes), external: resolver)
        try RegionCheck.validate(s.regions, fileSize: UInt64(bytes.count))
        for (_, list) in s.externalRegions() { try RegionCheck.validate(list, fileSize: 64) }
        for t in s.tensors {
          #expect(try s.bytes(of: t).count == Int(t.byteLength), "tensor \(t.name) read back at the wrong length")
        }
        accepted += 1
      } catch is any FormatProblem {
        rejected += 1
      } catch {
        Issue.record("untyped error: \(error)")
      }
    }
    #expect(accepted + rejected == 5000)
    #expect(rejected > 1000 && accepted > 200, "accepted \(accepted), rejected \(rejected)")
  }
}
