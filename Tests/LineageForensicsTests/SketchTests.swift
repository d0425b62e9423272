import Foundation
import LineageCore
import LineageForensics
import LineageTensor
import Testing

/// Sketches (Docs/ObjectFormat.md §7): determinism, estimation error against exact metrics, the
/// permutation-invariant profiles, and one rejection per rule of §7.2.
@Suite struct SketchTests {
  func gaussian(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = Xoshiro(seed: seed)
    return (0..<n).map { _ in scale * rng.normal() }
  }

  func sketch(_ v: [Float], shape: [UInt64], name: String = "w", sketcher: Sketcher = Sketcher()) -> TensorSketch {
    sketcher.sketch(name: name, dtype: .f32, shape: shape, values: v)
  }

  @Test func theSameValuesGiveTheSameBytes() throws {
    let v = gaussian(96 * 80, seed: 1)
    let a = ModelSketch(k: 64, q: 9, tensors: [sketch(v, shape: [96, 80]), sketch(gaussian(5000, seed: 2), shape: [5000], name: "b")])
    let b = ModelSketch(k: 64, q: 9, tensors: [sketch(gaussian(5000, seed: 2), shape: [5000], name: "b"), sketch(v, shape: [96, 80])])
    #expect(a.encoded() == b.encoded())
    #expect(try ModelSketch(decoding: a.encoded()) == a)
  }

  @Test func statisticsAreExact() throws {
    let v: [Float] = [0, 1, -2, 0, 3, 4]
    let s = try #require(sketch(v, shape: [2, 3]).values)
    #expect(s.sum == 6 && s.sumSquares == 30 && s.min == -2 && s.max == 4 && s.zeros == 2 && s.distinct == 5 && s.rows == 2)
    #expect(abs((s.rowNorms.first ?? 0) - 2.236_068) < 1e-6 && s.rowNorms.last == 5)
    let bad = sketch([1, .nan, 2], shape: [3])
    #expect(bad.nonFinite && bad.values == nil)
    #expect(Sketcher().sketch(name: "i", dtype: .i8, shape: [3], values: [1, 2, 3]).values == nil)
  }

  /// Relative L2 from sketches against the exact value (TensorMetrics): the JL estimate of a
  /// norm has relative standard error ≈ 1/√(2k) ≈ 0.09 at k = 64; each of 24 pairs must be
  /// within 35% (≈ 4σ) and their mean ratio within 8% of 1.
  @Test(arguments: [Float(0.01), 0.1, 1.0])
  func distanceEstimatesFollowTheExactOnes(noise: Float) throws {
    let sketcher = Sketcher()
    var ratios: [Double] = []
    for seed in UInt64(0)..<24 {
      let shape: [UInt64] = seed % 2 == 0 ? [64, 128] : [9000]
      let a = gaussian(8192 + Int(seed % 2) * 808, seed: 10 + seed)
      let b = zip(a, gaussian(a.count, seed: 100 + seed, scale: noise)).map { $0 + $1 }
      let exact = TensorMetrics.compare(a, b).relativeL2
      let q = Screening.Query(ModelSketch(k: 64, q: 9, tensors: [sketch(a, shape: shape, sketcher: sketcher)]))
      let e = Screening.estimate(q, ModelSketch(k: 64, q: 9, tensors: [sketch(b, shape: shape, sketcher: sketcher)]))
      #expect(e.sharedTensors == 1)
      let ratio = e.distance / exact
      #expect(abs(ratio - 1) < 0.35, "seed \(seed): estimated \(e.distance), exact \(exact)")
      ratios.append(ratio)
    }
    let mean = ratios.reduce(0, +) / Double(ratios.count)
    #expect(abs(mean - 1) < 0.08, "mean ratio \(mean)")
  }

  /// A copy with permuted rows (hidden units) is far by distance and near by column profile;
  /// an independent matrix is far by both, so the shortlist's profile half picks the copy.
  @Test func aPermutedCopyIsFoundByItsProfile() throws {
    let (rows, cols) = (64, 48)
    // Rows and columns of unequal scale, as trained weights have.
    var rng = Xoshiro(seed: 7)
    let colScale = (0..<cols).map { _ in 0.5 + abs(rng.normal()) }
    func matrix(_ seed: UInt64) -> [Float] {
      let g = gaussian(rows * cols, seed: seed)
      return g.indices.map { g[$0] * colScale[$0 % cols] }
    }
    let base = matrix(1)
    var perm = Array(0..<rows)
    for i in stride(from: rows - 1, to: 0, by: -1) { perm.swapAt(i, rng.below(i + 1)) }
    var permuted = base
    for r in 0..<rows { permuted.replaceSubrange((r * cols)..<((r + 1) * cols), with: base[(perm[r] * cols)..<((perm[r] + 1) * cols)]) }
    let other = gaussian(rows * cols, seed: 3)
    func model(_ v: [Float]) -> ModelSketch { ModelSketch(k: 64, q: 9, tensors: [sketch(v, shape: [UInt64(rows), UInt64(cols)])]) }
    let q = Screening.Query(model(permuted))
    var candidates = [model(other)]
    for s in UInt64(20)..<30 { candidates.append(model(gaussian(rows * cols, seed: s))) }
    candidates.append(model(base))
    let estimates = candidates.map { Screening.estimate(q, $0) }
    let original = try #require(estimates.last)
    #expect(original.distance > 1, "a permuted copy looks far by distance: \(original.distance)")
    #expect((original.profileCorrelation ?? 0) > 0.8, "\(String(describing: original.profileCorrelation))")
    #expect(estimates.dropLast().allSatisfy { ($0.profileCorrelation ?? 1) < 0.6 })
    #expect(Screening.shortlist(estimates, size: 2).contains(estimates.count - 1))
  }

  @Test func theShortlistAlternatesDistanceAndProfile() {
    let e = [(0.1, 0.0), (0.2, 0.1), (1.4, 0.9), (0.3, 0.2), (1.4, 0.0)].map { SketchEstimate(sharedTensors: 1, distance: $0.0, profileCorrelation: $0.1) }
    #expect(Screening.shortlist(e, size: 3) == [0, 2, 1])
    #expect(Screening.shortlist(e, size: 9).count == 5)
  }

  // MARK: rejections (one per rule)

  /// A sketch of one 2×3 tensor named "w": flags sit at byte 53.
  func valid() -> ModelSketch { ModelSketch(k: 4, q: 2, tensors: [Sketcher(k: 4, q: 2).sketch(name: "w", dtype: .f32, shape: [2, 3], values: [1, 2, 3, 4, 5, 6])]) }

  func rejects(_ bytes: [UInt8], _ expected: (SketchError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      _ = try ModelSketch(decoding: bytes)
      Issue.record("accepted", sourceLocation: sourceLocation)
    } catch {
      #expect(expected(error), "\(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func everyBrokenRuleHasItsError() throws {
    let good = valid().encoded()
    #expect(try ModelSketch(decoding: good) == valid())
    #expect(good[53] == 1 | 4)
    rejects(Array(good.dropLast())) { if case .malformed(.truncated) = $0 { true } else { false } }
    rejects(good + [0]) { if case .malformed(.trailingBytes) = $0 { true } else { false } }
    var b = good
    b[0] = 2
    rejects(b) { $0 == .unsupportedVersion(2) }
    b = good
    b[1] = 0
    rejects(b) { $0 == .projectionDimension(0) }
    b = good
    b[5] = 65
    rejects(b) { $0 == .quantileCount(65) }
    b = good
    b[53] = 0x11
    rejects(b) { $0 == .invalidFlags(name: "w", flags: 0x11) }
    b = good
    b[53] = 1 | 2
    rejects(b) { $0 == .invalidFlags(name: "w", flags: 3) }
    var s = valid()
    s.tensors[0].values?.projection[1] = .nan
    rejects(s.encoded()) { $0 == .nonFinite(name: "w", field: "projection") }
    s = valid()
    s.tensors[0].values?.sumSquares = .infinity
    rejects(s.encoded()) { $0 == .nonFinite(name: "w", field: "sumSquares") }
    s = valid()
    s.tensors[0].count = 7
    rejects(s.encoded()) { $0 == .countMismatch(name: "w", count: 7) }
    s = valid()
    s.tensors[0].shape = [UInt64.max, 2]
    rejects(s.encoded()) { if case .countMismatch = $0 { true } else { false } }
    s = valid()
    s.tensors[0].values?.zeros = 9
    rejects(s.encoded()) { $0 == .zerosExceedCount(name: "w", zeros: 9) }
    s = valid()
    s.tensors[0].values?.rows = 4
    rejects(s.encoded()) { $0 == .rowsDoNotDivide(name: "w", rows: 4) }
    s = valid()
    s.tensors[0].shape = Array(repeating: 1, count: 65)
    s.tensors[0].count = 1
    rejects(s.encoded()) { $0 == .rankTooLarge(name: "w", rank: 65) }
    s = valid()
    s.tensors.append(s.tensors[0])
    rejects(s.encoded()) { $0 == .unsorted(name: "w") }
    b = good
    // "F32" → "X32": the dtype string starts after the header (13), the name (4 + 1) and its length (4).
    #expect(b[22] == UInt8(ascii: "F"))
    b[22] = UInt8(ascii: "X")
    rejects(b) { $0 == .unknownDType(name: "w", dtype: "X32") }
    b = good
    b[9] = 0xFF
    rejects(b) { if case .malformed(.truncated(_, "tensorCount")) = $0 { true } else { false } }
  }
}
