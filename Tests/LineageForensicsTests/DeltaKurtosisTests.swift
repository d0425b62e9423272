import Testing

@testable import LineageForensics

/// The delta kurtosis `infer --all` places the backbone with (Docs/Forensics.md, step 5): one
/// run of uniform-magnitude steps is platykurtic, a sum of two is nearer Gaussian.
@Suite struct DeltaKurtosisTests {
  /// n values uniform in [−1, 1] from a seeded linear congruential generator.
  func uniform(_ n: Int, seed: UInt64) -> [Float] {
    var x = seed
    return (0..<n).map { _ in
      x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Float(Double(x >> 11) / Double(1 << 53) * 2 - 1)
    }
  }

  @Test func oneRunAndASumOfTwoRuns() throws {
    let n = 40_000
    let base = [Float](repeating: 0, count: n)
    let one = uniform(n, seed: 1)
    let two = zip(one, uniform(n, seed: 2)).map { $0 + $1 }
    let m = ForestInference.Measure(distance: [], moments: [], samples: [base, one, two], matrixRanges: [0..<(n / 2), (n / 2)..<n])
    // A uniform distribution has excess kurtosis −1.2; the sum of two independent ones (a
    // triangular distribution) −0.6. Sampling error at 40,000 elements is about ±0.03.
    let k1 = try #require(ForestInference.deltaKurtosis(m, 0, 1))
    let k2 = try #require(ForestInference.deltaKurtosis(m, 0, 2))
    #expect(abs(k1 + 1.2) < 0.05, "\(k1)")
    #expect(abs(k2 + 0.6) < 0.05, "\(k2)")
    // The difference of the two members is the second run alone: one run again.
    let k12 = try #require(ForestInference.deltaKurtosis(m, 1, 2))
    #expect(abs(k12 + 1.2) < 0.05, "\(k12)")
    #expect(ForestInference.deltaKurtosis(m, 0, 0) == nil)
  }

  @Test func runEstimateIsClampedToOneThroughFour() {
    #expect(abs(ForestInference.runEstimate(-0.6, reference: 1.2) - 2) < 1e-12)
    #expect(ForestInference.runEstimate(-1.5, reference: 1.2) == 1)
    #expect(ForestInference.runEstimate(0.01, reference: 1.2) == 4)
    #expect(ForestInference.runEstimate(nil, reference: 1.2) == 1)
    #expect(ForestInference.runEstimate(-0.6, reference: 0) == 1)
    let tree = [SpanningTrees.Edge(a: 0, b: 1, cost: 1), SpanningTrees.Edge(a: 1, b: 2, cost: 1), SpanningTrees.Edge(a: 2, b: 3, cost: 1)]
    let kappa: [Int: Double] = [1: -1.0, 2: 0.5, 3: -0.8]
    #expect(ForestInference.kurtosisReference(kurtosis: { _, b in kappa[b] }, tree: tree) == 0.8)
  }
}
