import Foundation
import Testing

@testable import LineageForensics

/// HSIC₁ straight from the formula, in double precision, on the raw (uncentred) rows.
private func referenceHSIC(_ x: Matrix, _ y: Matrix) -> Double {
  let n = x.rows
  func gram(_ m: Matrix) -> [[Double]] {
    (0..<n).map { i in
      (0..<n).map { j in
        i == j ? 0 : (0..<m.cols).reduce(0.0) { $0 + Double(m[i, $1]) * Double(m[j, $1]) }
      }
    }
  }
  let k = gram(x)
  let l = gram(y)
  var trace = 0.0
  var sumK = 0.0
  var sumL = 0.0
  var cross = 0.0
  for i in 0..<n {
    var rowK = 0.0
    var rowL = 0.0
    for j in 0..<n {
      trace += k[i][j] * l[j][i]
      rowK += k[i][j]
      rowL += l[i][j]
    }
    sumK += rowK
    sumL += rowL
    cross += rowK * rowL
  }
  let nn = Double(n)
  return (trace + sumK * sumL / ((nn - 1) * (nn - 2)) - 2 / (nn - 2) * cross) / (nn * (nn - 3))
}

@Suite struct CKATests {
  /// The library centres columns before its float Gram; the reference does not: both must agree,
  /// which also checks that unbiased HSIC ignores a shared offset.
  @Test func matchesTheFormulaOnSmallMatrices() throws {
    var random = SeededRandom(seed: 11)
    let x = try Matrix(rows: 7, cols: 3, values: (0..<21).map { _ in Float(random.normal() + 2) })
    let y = try Matrix(
      rows: 7, cols: 5, values: (0..<35).map { i in x.values[(i / 5) * 3 + i % 3] + Float(random.normal()) })
    let expected = referenceHSIC(x, y) / (referenceHSIC(x, x) * referenceHSIC(y, y)).squareRoot()
    let cka = try CKA.unbiasedLinear(x, y)
    #expect(close(cka, expected, relative: 1e-4))
    #expect(cka > 0.2)
  }

  @Test func orthogonalTransformsAndScalingLeaveCKAAtOne() throws {
    var random = SeededRandom(seed: 1)
    let x = try random.gaussian(rows: 64, cols: 16)
    let q = try householderRotation(16, random: &random)
    #expect(close(try CKA.unbiasedLinear(x, x.multiplied(by: q)), 1, relative: 1e-5))
    // A column permutation with sign flips is orthogonal too.
    let p = random.permutation(16)
    var signed = [Float](repeating: 0, count: 16 * 16)
    for i in 0..<16 { signed[i * 16 + p[i]] = i % 3 == 0 ? -1 : 1 }
    let permuted = try x.multiplied(by: Matrix(rows: 16, cols: 16, values: signed))
    #expect(close(try CKA.unbiasedLinear(x, permuted), 1, relative: 1e-5))
    let scaled = try Matrix(rows: 64, cols: 16, values: x.multiplied(by: q).values.map { $0 * 3.5 })
    #expect(close(try CKA.unbiasedLinear(x, scaled), 1, relative: 1e-5))
    let y = try random.gaussian(rows: 64, cols: 9)
    let mixed = try adding(x, random.gaussian(rows: 64, cols: 16))
    let base = try CKA.unbiasedLinear(mixed, x)
    let shrunk = try Matrix(rows: 64, cols: 16, values: mixed.values.map { $0 * 0.01 })
    #expect(close(try CKA.unbiasedLinear(shrunk, x), base, relative: 1e-4))
    #expect(close(try CKA.unbiasedLinear(x, y), try CKA.unbiasedLinear(y, x), relative: 1e-5, absolute: 1e-7))
  }

  @Test func independentMatricesScoreNearZeroAndNoisyCopiesHigh() throws {
    var random = SeededRandom(seed: 2)
    let x = try random.gaussian(rows: 256, cols: 64)
    let y = try random.gaussian(rows: 256, cols: 64)
    #expect(abs(try CKA.unbiasedLinear(x, y)) < 0.1)
    // With identity covariance, CKA(X, X + 0.3·noise) ≈ 1/1.09 ≈ 0.92.
    let noisy = try adding(x, random.gaussian(rows: 256, cols: 64, sigma: 0.3))
    #expect(try CKA.unbiasedLinear(x, noisy) > 0.85)
  }

  /// Entries of 1e25 would overflow a float Gram (1e50); CKA ignores the scale, so it must not.
  @Test func extremeMagnitudesDoNotOverflow() throws {
    var random = SeededRandom(seed: 5)
    let x = try random.gaussian(rows: 32, cols: 8)
    let y = try adding(x, random.gaussian(rows: 32, cols: 8))
    let base = try CKA.unbiasedLinear(x, y)
    let huge = try Matrix(rows: 32, cols: 8, values: x.values.map { $0 * 1e25 })
    let tiny = try Matrix(rows: 32, cols: 8, values: y.values.map { $0 * 1e-30 })
    #expect(close(try CKA.unbiasedLinear(huge, tiny), base, relative: 1e-4))
  }

  @Test func rejectsBadInput() throws {
    var random = SeededRandom(seed: 3)
    let x = try random.gaussian(rows: 8, cols: 3)
    #expect(throws: ForensicsError.shapeMismatch(operation: "CKA", "8×3", "7×3")) {
      try CKA.unbiasedLinear(x, random.gaussian(rows: 7, cols: 3))
    }
    let small = try random.gaussian(rows: 3, cols: 2)
    #expect(throws: ForensicsError.tooFewSamples(operation: "CKA", minimum: 4, count: 3)) { try CKA.unbiasedLinear(small, small) }
    let bad = try Matrix(rows: 8, cols: 3, values: x.values.enumerated().map { $0.offset == 5 ? .infinity : $0.element })
    #expect(throws: ForensicsError.nonFinite(operation: "CKA", input: "y", index: 5)) { try CKA.unbiasedLinear(x, bad) }
    let constant = try Matrix(rows: 8, cols: 3, values: [Float](repeating: 2, count: 24))
    #expect(throws: ForensicsError.noVariance(operation: "CKA", input: "x")) { try CKA.unbiasedLinear(constant, x) }
    let empty = try Matrix(rows: 8, cols: 0, values: [])
    #expect(throws: ForensicsError.empty(operation: "CKA", input: "y")) { try CKA.unbiasedLinear(x, empty) }
  }
}

@Suite struct SpectrumSimilarityTests {
  /// diag(3, 1) against diag(2, 2): unit-sum spectra (¾, ¼) and (½, ½).
  @Test func diagonalMatricesGiveTheClosedForm() throws {
    let a = try Matrix(rows: 2, cols: 2, values: [1, 0, 0, 3])
    let b = try Matrix(rows: 2, cols: 2, values: [2, 0, 0, 2])
    let s = try SpectrumSimilarity.compare(a, b)
    let values = s.singularValuesA + s.singularValuesB
    #expect(s.count == 2 && zip(values, [3.0, 1, 2, 2]).allSatisfy { close($0, $1, relative: 1e-6) })
    #expect(close(s.cosine, 8 / 80.0.squareRoot(), relative: 1e-7))
    let diff = (0.25 * 0.25 * 2).squareRoot()
    let mean = ((0.75 * 0.75 + 0.25 * 0.25).squareRoot() + 0.5.squareRoot()) / 2
    #expect(close(s.relativeL2, diff / mean, relative: 1e-7))
  }

  @Test func permutedAndRotatedCopiesHaveTheSameSpectrum() throws {
    var random = SeededRandom(seed: 4)
    let x = try random.gaussian(rows: 40, cols: 24)
    let rotated = try x.selectingRows(random.permutation(40)).multiplied(by: householderRotation(24, random: &random))
    let s = try SpectrumSimilarity.compare(x, rotated)
    #expect(close(s.cosine, 1, relative: 1e-6) && s.relativeL2 < 1e-5)
    for (p, q) in zip(s.singularValuesA, s.singularValuesB) { #expect(close(p, q, relative: 1e-4)) }
    let other = try SpectrumSimilarity.compare(x, random.gaussian(rows: 40, cols: 24, sigma: 5))
    #expect(other.relativeL2 < 0.2 && other.cosine > 0.95)
  }

  /// Spectra of different lengths are compared over the shorter one: diag(4, 2) against a 3×3
  /// matrix whose spectrum (8, 4, 1) starts with the same shape.
  @Test func truncatesToTheShorterSpectrum() throws {
    let a = try Matrix(rows: 2, cols: 3, values: [4, 0, 0, 0, 2, 0])
    let b = try Matrix(rows: 3, cols: 3, values: [0, 0, 1, 8, 0, 0, 0, 4, 0])
    let s = try SpectrumSimilarity.compare(a, b)
    #expect(s.count == 2 && zip(s.singularValuesB, [8.0, 4, 1]).allSatisfy { close($0, $1, relative: 1e-6) })
    #expect(close(s.cosine, 1, relative: 1e-7) && s.relativeL2 < 1e-7)
    #expect(throws: ForensicsError.noVariance(operation: "spectrum similarity", input: "b")) {
      try SpectrumSimilarity.compare(a, Matrix(rows: 2, cols: 2, values: [0, 0, 0, 0]))
    }
  }
}
