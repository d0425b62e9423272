import Foundation
import Testing

@testable import LineageForensics

@Suite struct SpecialFunctionTests {
  @Test func incompleteBetaIdentities() {
    for x in [0.01, 0.2, 0.5, 0.77, 0.999] {
      #expect(close(SpecialFunctions.regularizedIncompleteBeta(x, 1, 1), x, relative: 1e-13))
      #expect(close(SpecialFunctions.regularizedIncompleteBeta(x, 3, 1), pow(x, 3), relative: 1e-13))
      #expect(close(SpecialFunctions.regularizedIncompleteBeta(x, 1, 2.5), 1 - pow(1 - x, 2.5), relative: 1e-12))
      let a = SpecialFunctions.regularizedIncompleteBeta(x, 4.5, 2)
      #expect(close(a + SpecialFunctions.regularizedIncompleteBeta(1 - x, 2, 4.5), 1, relative: 1e-13))
    }
    #expect(close(SpecialFunctions.regularizedIncompleteBeta(0.5, 7, 7), 0.5, relative: 1e-13))
    #expect(SpecialFunctions.logRegularizedIncompleteBeta(0, 2, 3) == -.infinity)
    #expect(SpecialFunctions.logRegularizedIncompleteBeta(1, 2, 3) == 0)
  }

  /// Table values: t₀.₀₂₅ with 10 and 30 degrees of freedom is 2.228 and 2.042; T₁ is Cauchy,
  /// P(T₁ ≥ 1) = ¼; P(T₂ ≥ t) = ½ − t / (2√(t² + 2)).
  @Test func studentTTails() {
    func p(_ t: Double, _ nu: Double) -> Double { exp(SpecialFunctions.studentTLogSurvival(t, degreesOfFreedom: nu)) }
    #expect(abs(p(2.228, 10) - 0.025) < 1e-4)
    #expect(abs(p(2.042, 30) - 0.025) < 2e-4)
    #expect(close(p(1, 1), 0.25, relative: 1e-12))
    for t in [0.3, 1.7, 4.0] { #expect(close(p(t, 2), 0.5 - t / (2 * (t * t + 2).squareRoot()), relative: 1e-12)) }
    #expect(close(p(0, 7), 0.5, relative: 1e-14))
    var previous = 1.0
    for step in -40...40 {
      let t = Double(step) / 4
      #expect(close(p(t, 12) + p(-t, 12), 1, relative: 1e-12))
      #expect(p(t, 12) < previous)
      previous = p(t, 12)
    }
    // Far tails stay finite in log form: P(T₁₀₀₀ ≥ 200) is far below 1e-308.
    let deep = SpecialFunctions.studentTLogSurvival(200, degreesOfFreedom: 1000)
    #expect(deep.isFinite && deep < -1000)
  }

  @Test func chiSquaredClosedFormAndLogSumExp() {
    // 2 degrees of freedom: P(χ² ≥ x) = e^{−x/2}.
    #expect(close(SpecialFunctions.chiSquaredEvenLogSurvival(3, halfDegreesOfFreedom: 1), -1.5, relative: 1e-14))
    // 4 degrees of freedom at 6: e^{−3}(1 + 3).
    #expect(close(SpecialFunctions.chiSquaredEvenLogSurvival(6, halfDegreesOfFreedom: 2), -3 + log(4.0), relative: 1e-14))
    #expect(SpecialFunctions.chiSquaredEvenLogSurvival(0, halfDegreesOfFreedom: 3) == 0)
    #expect(close(SpecialFunctions.logSumExp([-1000, -1000]), -1000 + log(2.0), relative: 1e-14))
    #expect(SpecialFunctions.logSumExp([]) == -.infinity)
  }
}

@Suite struct SpearmanTests {
  @Test func averageRanksForTies() {
    #expect(SpearmanCorrelation.ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4])
    #expect(SpearmanCorrelation.ranks([3, 1, 2]) == [3, 1, 2])
    #expect(SpearmanCorrelation.ranks([5, 5, 5]) == [2, 2, 2])
  }

  /// x = 1…5, y = (2, 1, 4, 3, 5): Σd² = 4, ρ = 1 − 6·4/(5·24) = 0.8; 8 of the 120 pairings have
  /// Σd² ≤ 4 (1 + 4 + 3 by the distribution of Σd² for n = 5).
  @Test func handExamples() throws {
    let s = try SpearmanCorrelation.compute([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    #expect(close(s.rho, 0.8, relative: 1e-14) && s.method == .exact)
    #expect(close(s.pValue, 8.0 / 120, relative: 1e-12))
    // Ties: ranks (1, 2.5, 2.5, 4) and (1, 2, 3, 4): ρ = 4.5 / √(4.5·5); two of the 24 pairings
    // (identity and the swap of the tied pair) reach the observed sum.
    let t = try SpearmanCorrelation.compute([1, 2, 2, 3], [10, 20, 30, 40])
    #expect(close(t.rho, 4.5 / (4.5 * 5).squareRoot(), relative: 1e-14))
    #expect(close(t.pValue, 2.0 / 24, relative: 1e-12))
  }

  /// The distribution of Σd² for n = 4 (counts for Σd² = 0, 2, 4, …, 20: 1 3 1 4 2 2 2 4 1 3 1).
  @Test func exactPValuesForFourAndFive() throws {
    let counts = [1, 3, 1, 4, 2, 2, 2, 4, 1, 3, 1]
    // One representative y for each Σd² value against x = 1…4.
    let ys: [[Double]] = [
      [1, 2, 3, 4], [1, 2, 4, 3], [2, 1, 4, 3], [1, 3, 4, 2], [1, 4, 3, 2], [2, 4, 1, 3], [2, 3, 4, 1], [2, 4, 3, 1],
      [3, 4, 1, 2], [3, 4, 2, 1], [4, 3, 2, 1],
    ]
    for (k, y) in ys.enumerated() {
      let d2 = zip([1.0, 2, 3, 4], y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
      #expect(d2 == Double(2 * k))
      let s = try SpearmanCorrelation.compute([1, 2, 3, 4], y)
      #expect(close(s.rho, 1 - 6 * d2 / 60, relative: 1e-14, absolute: 1e-15))
      #expect(close(s.pValue, Double(counts[...k].reduce(0, +)) / 24, relative: 1e-12))
    }
    let top = try SpearmanCorrelation.compute([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    #expect(close(top.pValue, 1.0 / 120, relative: 1e-12) && close(top.logP, -log(120.0), relative: 1e-12))
    let bottom = try SpearmanCorrelation.compute([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
    #expect(bottom.rho == -1 && close(bottom.pValue, 1, relative: 1e-12))
  }

  @Test func studentTApproximationFromTenOn() throws {
    var random = SeededRandom(seed: 21)
    let x = (0..<30).map { _ in random.normal() }
    let y = x.map { $0 + 2 * random.normal() }
    let s = try SpearmanCorrelation.compute(x, y)
    #expect(s.method == .studentT && s.rho > 0)
    let t = s.rho * (28 / (1 - s.rho * s.rho)).squareRoot()
    #expect(close(s.logP, SpecialFunctions.studentTLogSurvival(t, degreesOfFreedom: 28), relative: 1e-9))
    let reversed = try SpearmanCorrelation.compute(x, y.map { -$0 })
    #expect(close(reversed.rho, -s.rho, relative: 1e-14) && close(reversed.pValue, 1 - s.pValue, relative: 1e-9))
  }

  /// Thousands of units matched almost perfectly: p underflows, logP does not, and never goes below
  /// ln(1/n!), the probability of the identity pairing itself.
  @Test func nearIdentityMatchingsKeepAFiniteLogP() throws {
    let n = 4096
    let x = (0..<n).map(Double.init)
    var y = x
    for i in stride(from: 0, to: n - 1, by: 97) { y.swapAt(i, i + 1) }
    let floor = -SpecialFunctions.logGamma(Double(n) + 1)
    let near = try SpearmanCorrelation.compute(x, y)
    #expect(near.pValue == 0 && near.logP.isFinite && near.logP < -5000 && near.logP >= floor)
    // Here the t tail (about −36,800) lies below the floor (about −29,977), so the floor is what is
    // reported: the approximation is anti-conservative this far out (Docs/Forensics.md).
    #expect(near.logP == floor)
    let exact = try SpearmanCorrelation.compute(x, x)
    #expect(exact.rho == 1 && exact.logP == floor)
  }

  @Test func rejectsBadInput() {
    #expect(throws: ForensicsError.tooFewSamples(operation: "Spearman correlation", minimum: 3, count: 2)) {
      try SpearmanCorrelation.compute([1, 2], [1, 2])
    }
    #expect(throws: ForensicsError.shapeMismatch(operation: "Spearman correlation", "3", "4")) {
      try SpearmanCorrelation.compute([1, 2, 3], [1, 2, 3, 4])
    }
    #expect(throws: ForensicsError.nonFinite(operation: "Spearman correlation", input: "y", index: 1)) {
      try SpearmanCorrelation.compute([1, 2, 3], [1, .nan, 3])
    }
    #expect(throws: ForensicsError.noVariance(operation: "Spearman correlation", input: "x")) {
      try SpearmanCorrelation.compute([1, 1, 1], [1, 2, 3])
    }
  }
}

@Suite struct PValueTests {
  /// Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → raised to 0.06.
  @Test func holmTextbookExample() throws {
    let adjusted = try PValues.holm(pValues: [0.01, 0.04, 0.03, 0.005])
    for (a, e) in zip(adjusted, [0.03, 0.06, 0.06, 0.02]) { #expect(close(a, e, relative: 1e-12)) }
    #expect(try PValues.holm(pValues: [0.5, 0.9]) == [1, 1])
    let logs = try PValues.holm(logPValues: [-1000, -2000, -1000])
    #expect(close(logs[1], -2000 + log(3.0), relative: 1e-14))
    #expect(close(logs[0], -1000 + log(2.0), relative: 1e-14) && close(logs[2], -1000 + log(2.0), relative: 1e-14))
    #expect(try PValues.holm(pValues: []) == [])
  }

  @Test func fisherCombination() throws {
    let one = try PValues.fisher(pValues: [0.3])
    #expect(close(one.pValue, 0.3, relative: 1e-13) && one.degreesOfFreedom == 2)
    // X = −2·2·ln 0.05; P(χ²₄ ≥ X) = e^{−X/2}(1 + X/2) ≈ 0.0175.
    let two = try PValues.fisher(pValues: [0.05, 0.05])
    let half = -2 * log(0.05)
    #expect(close(two.statistic, 2 * half, relative: 1e-14))
    #expect(close(two.pValue, exp(-half) * (1 + half), relative: 1e-12) && abs(two.pValue - 0.0175) < 1e-4)
    // Tiny p-values combine in log space: e^{−2000}(1 + 2000).
    let tiny = try PValues.fisher(logPValues: [-1000, -1000])
    #expect(tiny.pValue == 0 && close(tiny.logP, -2000 + log(2001.0), relative: 1e-14))
    #expect(try PValues.fisher(pValues: [1, 1, 1]).logP == 0)
  }

  @Test func rejectsInvalidPValues() {
    #expect(throws: ForensicsError.empty(operation: "Fisher's method", input: "p-values")) { try PValues.fisher(pValues: []) }
    #expect(throws: ForensicsError.invalidPValue(index: 1, value: 0)) { try PValues.fisher(pValues: [0.5, 0]) }
    #expect(throws: ForensicsError.invalidPValue(index: 0, value: 1.5)) { try PValues.holm(pValues: [1.5]) }
    #expect(throws: ForensicsError.invalidPValue(index: 0, value: 0.1)) { try PValues.holm(logPValues: [0.1]) }
    #expect(throws: ForensicsError.self) { try PValues.fisher(logPValues: [-.infinity]) }
  }
}

@Suite struct EmpiricalNullTests {
  @Test func countsTiesOnTheChosenTail() throws {
    let null = try EmpiricalNull(scores: [0.3, 0.1, 0.2, 0.2])
    #expect(null.scores == [0.1, 0.2, 0.2, 0.3])
    let upper = try null.summary(of: 0.2, tail: .upper)
    #expect(upper.atLeastAsExtreme == 3 && upper.nullSize == 4 && close(upper.pValue, 4.0 / 5))
    #expect(try null.summary(of: 0.2, tail: .lower).atLeastAsExtreme == 3)
    #expect(try null.summary(of: 0.25, tail: .upper).atLeastAsExtreme == 1)
    #expect(try null.summary(of: 0.25, tail: .lower).atLeastAsExtreme == 3)
    let beyond = try null.summary(of: 0.5, tail: .upper)
    #expect(beyond.atLeastAsExtreme == 0 && close(beyond.pValue, 1.0 / 5) && close(beyond.logP, log(0.2)))
    #expect(try null.summary(of: 0.05, tail: .lower).pValue == 0.2)
  }

  /// Mean 0.2, sample sd √(0.02/3).
  @Test func zScoreUsesTheSampleStandardDeviation() throws {
    let null = try EmpiricalNull(scores: [0.1, 0.2, 0.2, 0.3])
    let sd = (0.02 / 3).squareRoot()
    #expect(close(null.standardDeviation, sd, relative: 1e-12))
    let z = try #require(try null.summary(of: 0.3, tail: .upper).zScore)
    #expect(close(z, 0.1 / sd, relative: 1e-12))
    let zLower = try #require(try null.summary(of: 0.3, tail: .lower).zScore)
    #expect(close(zLower, -0.1 / sd, relative: 1e-12))
    #expect(try EmpiricalNull(scores: [0.4]).summary(of: 1, tail: .upper).zScore == nil)
    #expect(try EmpiricalNull(scores: [0.4, 0.4]).summary(of: 1, tail: .upper).zScore == nil)
  }

  @Test func rejectsBadInput() throws {
    #expect(throws: ForensicsError.empty(operation: "empirical null", input: "scores")) { try EmpiricalNull(scores: []) }
    #expect(throws: ForensicsError.nonFinite(operation: "empirical null", input: "scores", index: 1)) {
      try EmpiricalNull(scores: [0, .nan])
    }
    let null = try EmpiricalNull(scores: [0.1])
    #expect(throws: ForensicsError.self) { try null.summary(of: .infinity, tail: .upper) }
  }
}
