import Testing

@testable import LineageForensics

@Suite struct NonNegativeLeastSquaresTests {
  private func column(_ random: inout SeededRandom, _ m: Int) -> [Float] { (0..<m).map { _ in Float(random.normal()) } }

  private func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

  @Test func recoversANonNegativeMix() throws {
    var random = SeededRandom(seed: 31)
    let a1 = column(&random, 10_000)
    let a2 = column(&random, 10_000)
    let a3 = column(&random, 10_000)
    let b = zip(a1, a2).map { 0.3 * $0 + 0.7 * $1 }
    let fit = try NonNegativeLeastSquares.fit(columns: [a1, a2, a3], target: b)
    #expect(close(fit.coefficients[0], 0.3, relative: 1e-5) && close(fit.coefficients[1], 0.7, relative: 1e-5))
    #expect(abs(fit.coefficients[2]) < 1e-6 && fit.relativeResidual < 1e-6)
  }

  /// b = a1 − 0.5·a2 with correlated columns: the negative coefficient is clamped to 0 and a1 alone
  /// gives the least-squares fit x1 = a1·b / a1·a1.
  @Test func clampsANegativeCoefficient() throws {
    var random = SeededRandom(seed: 32)
    let a1 = column(&random, 5000)
    let a2 = zip(a1, column(&random, 5000)).map { 0.6 * $0 + $1 }
    let b = zip(a1, a2).map { $0 - 0.5 * $1 }
    let fit = try NonNegativeLeastSquares.fit(columns: [a1, a2], target: b)
    let x1 = dot(a1, b) / dot(a1, a1)
    #expect(fit.coefficients[1] == 0 && close(fit.coefficients[0], x1, relative: 1e-6))
    let residual = zip(b, a1).map { Double($0) - x1 * Double($1) }
    let expected = (residual.reduce(0) { $0 + $1 * $1 } / dot(b, b)).squareRoot()
    #expect(close(fit.relativeResidual, expected, relative: 1e-4))
  }

  /// Karush–Kuhn–Tucker conditions on a random problem where several coefficients are clamped:
  /// x ≥ 0, w = Aᵀ(b − Ax) ≤ 0 up to rounding, and w = 0 wherever x > 0.
  @Test(arguments: [33, 34, 35, 36, 37] as [UInt64])
  func satisfiesTheOptimalityConditions(seed: UInt64) throws {
    var random = SeededRandom(seed: seed)
    let columns = (0..<8).map { _ in column(&random, 2000) }
    let b = column(&random, 2000)
    let fit = try NonNegativeLeastSquares.fit(columns: columns, target: b)
    #expect(fit.coefficients.allSatisfy { $0 >= 0 } && fit.coefficients.contains(0) && fit.coefficients.contains { $0 > 0 })
    var r = b.map(Double.init)
    for (j, c) in columns.enumerated() { for i in 0..<r.count { r[i] -= fit.coefficients[j] * Double(c[i]) } }
    let scale = dot(b, b)
    for (j, c) in columns.enumerated() {
      let w = zip(c, r).reduce(0) { $0 + Double($1.0) * $1.1 }
      #expect(w <= 1e-4 * scale)
      if fit.coefficients[j] > 0 { #expect(abs(w) <= 1e-4 * scale) }
    }
  }

  @Test func zeroTargetsAndDuplicateColumns() throws {
    let a: [Float] = [1, 2, 3, 4]
    let zero = try NonNegativeLeastSquares.fit(columns: [a], target: [0, 0, 0, 0])
    #expect(zero.coefficients == [0] && zero.relativeResidual == 0)
    let twice = try NonNegativeLeastSquares.fit(columns: [a, a], target: a)
    #expect(close(twice.coefficients.reduce(0, +), 1, relative: 1e-6) && twice.relativeResidual < 1e-6)
  }

  @Test func rejectsBadInput() {
    let op = "non-negative least squares"
    #expect(throws: ForensicsError.empty(operation: op, input: "columns")) {
      try NonNegativeLeastSquares.fit(columns: [], target: [1])
    }
    #expect(throws: ForensicsError.shapeMismatch(operation: op, "column 0 of 2", "target of 3")) {
      try NonNegativeLeastSquares.fit(columns: [[1, 2]], target: [1, 2, 3])
    }
    #expect(throws: ForensicsError.nonFinite(operation: op, input: "target", index: 0)) {
      try NonNegativeLeastSquares.fit(columns: [[1]], target: [.nan])
    }
  }
}
