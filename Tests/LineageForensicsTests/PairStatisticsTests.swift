import Foundation
import LineageCore
import LineageFormats
import LineageRuntime
import LineageTensor
import Testing

@testable import LineageForensics

/// The pair statistics an empirical null is built from, on runtime models: every statistic is
/// oriented so that related pairs score higher than independent ones (Docs/Forensics.md).
@Suite struct PairStatisticsTests {
  let arch = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)

  /// A runtime model's tensors, held in memory as one float32 safetensors file.
  func model(_ p: Parameters, _ label: String) throws -> ModelTensors {
    var bytes = SafetensorsWriter.header(p.layout.specs.map { .init(name: $0.name, dtype: DType.f32, shape: $0.shape.map { UInt64($0) }) })
    // The values are laid out in the header's order, little-endian float32.
    p.values.withUnsafeBytes { bytes += Array($0) }
    let source = try SafetensorsSource(MemoryBytes(bytes))
    return ModelTensors(label: label, items: source.tensors.map { .init(file: label, entry: $0, source: source) })
  }

  /// `p` plus `scale`·N(0, 1) on every value.
  func perturbed(_ p: Parameters, scale: Float, seed: UInt64) -> Parameters {
    var out = p
    var rng = Xoshiro(seed: seed)
    for i in out.values.indices { out.values[i] += scale * rng.normal() }
    return out
  }

  /// Every block's MLP hidden units permuted (gate and up rows, down columns): the same function.
  func permuted(_ p: Parameters, seed: UInt64) -> Parameters {
    var out = p
    var rng = Xoshiro(seed: seed)
    let (units, hidden) = (arch.intermediate, arch.hidden)
    for l in 0..<arch.layers {
      var sigma = Array(0..<units)
      for i in stride(from: units - 1, to: 0, by: -1) { sigma.swapAt(i, rng.below(i + 1)) }
      for m in ["gate_proj", "up_proj"] {
        let name = "model.layers.\(l).mlp.\(m).weight"
        let w = p.tensor(name) ?? []
        out.setTensor(name, sigma.flatMap { w[($0 * hidden)..<(($0 + 1) * hidden)] })
      }
      let name = "model.layers.\(l).mlp.down_proj.weight"
      let w = p.tensor(name) ?? []
      out.setTensor(name, (0..<hidden).flatMap { r in sigma.map { w[r * units + $0] } })
    }
    return out
  }

  func statistics(_ a: Parameters, _ b: Parameters) throws -> (PairStatistics, Comparison) {
    let c = try Compare.run(try model(a, "a"), try model(b, "b"))
    return (PairStatistics(c), c)
  }

  @Test func aFineTuneScoresHigherThanAnIndependentPairOnEveryStatisticButTheSpectrum() throws {
    let base = Parameters.initialise(arch, seed: 1)
    let (related, c) = try statistics(base, perturbed(base, scale: 0.01, seed: 3))
    let (independent, _) = try statistics(base, Parameters.initialise(arch, seed: 2))
    for name in PairStatistics.Name.allCases {
      let r = try #require(related[name], "\(name.rawValue) absent for the related pair")
      let i = try #require(independent[name], "\(name.rawValue) absent for the independent pair")
      // Spectra of two independent draws from one distribution already agree: no orientation to test.
      if name != .meanSpectrum { #expect(r > i, "\(name.rawValue): related \(r), independent \(i)") }
    }
    #expect(related[.unitNegLogP] == 0 - (c.combined?.logP ?? 0))
    #expect(related[.unitAgreement] == 1)
  }

  @Test func aPermutedCopyLosesItsCosineButNotItsUnitStatistics() throws {
    let base = perturbed(Parameters.initialise(arch, seed: 1), scale: 0.05, seed: 9)
    let (shuffled, _) = try statistics(base, permuted(base, seed: 2))
    let (independent, _) = try statistics(base, Parameters.initialise(arch, seed: 2))
    for name in [PairStatistics.Name.unitAgreement, .unitAlignedSimilarity, .unitNegLogP] {
      #expect((shuffled[name] ?? 0) > (independent[name] ?? 0), "\(name.rawValue)")
    }
    #expect((shuffled[.unitAgreement] ?? 0) == 1)
  }

  @Test func withoutUnitTestsTheUnitStatisticsAreAbsent() throws {
    var options = CompareOptions()
    options.unitMatching = false
    let base = Parameters.initialise(arch, seed: 1)
    let c = try Compare.run(try model(base, "a"), try model(Parameters.initialise(arch, seed: 2), "b"), options: options)
    let s = PairStatistics(c)
    #expect(s[.unitAgreement] == nil && s[.unitAlignedSimilarity] == nil && s[.unitNegLogP] == nil)
    #expect(s[.meanCosine] != nil && s[.meanCKA] != nil)
  }

  @Test func theSignatureIgnoresOrderAndDtypeButNotShapes() throws {
    let a = try model(Parameters.initialise(arch, seed: 1), "a")
    var reversed = a
    reversed.items.reverse()
    var halved = a
    halved.items[0].entry.dtype = .f16
    #expect(TensorSignature.of(a) == TensorSignature.of(reversed) && TensorSignature.of(a) == TensorSignature.of(halved))
    var reshaped = a
    reshaped.items[0].entry.shape = [1] + reshaped.items[0].entry.shape
    #expect(TensorSignature.of(a) != TensorSignature.of(reshaped))
    #expect(TensorSignature.firstDifference(reshaped, from: a)?.tensor == a.items[0].entry.name)
    #expect(TensorSignature.of(a).utf8.count == 64)
  }

  @Test func aNullWithAnAbsentStatisticRoundTrips() throws {
    let pairs = [(0, 1), (0, 2), (1, 2)].enumerated().map { k, p in
      NullModel.Pair(a: p.0, b: p.1, statistics: PairStatistics(values: [.meanCosine: 0.1 * Double(k) + 1e-17, .meanCKA: -3e-5]))
    }
    let null = NullModel(
      architecture: "tiny \"quoted\"", signature: String(repeating: "ab", count: 32), grouping: .none,
      statistics: PairStatistics.Name.allCases, models: ["x", "y/z", "w"], pairs: pairs)
    #expect(try NullModel.decode(null.encoded()) == null)
  }
}
