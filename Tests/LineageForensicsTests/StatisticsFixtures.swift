import Foundation

@testable import LineageForensics

/// Seeded pseudo-random fixtures: SplitMix64 → uniform in [0, 1) → Box–Muller normals.
struct SeededRandom {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [0, 1), 53 random bits.
  mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

  /// Standard normal (Box–Muller).
  mutating func normal() -> Double {
    let u = 1 - uniform()
    return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * uniform())
  }

  /// A uniformly random permutation of 0..<n (Fisher–Yates).
  mutating func permutation(_ n: Int) -> [Int] {
    var p = Array(0..<n)
    for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, Int(next() % UInt64(i + 1))) }
    return p
  }

  /// A rows×cols matrix of independent N(0, σ²) values.
  mutating func gaussian(rows: Int, cols: Int, sigma: Double = 1) throws -> Matrix {
    try Matrix(rows: rows, cols: cols, values: (0..<(rows * cols)).map { _ in Float(sigma * normal()) })
  }
}

/// Tolerance rule for these tests: |a − b| ≤ absolute + relative·max(|a|, |b|). Results that pass
/// through single-precision BLAS/LAPACK use relative ≈ 1e-5; pure double computations 1e-12.
func close(_ a: Double, _ b: Double, relative: Double = 1e-12, absolute: Double = 0) -> Bool {
  abs(a - b) <= absolute + relative * max(abs(a), abs(b))
}

/// Element-wise sum of two matrices of one shape.
func adding(_ a: Matrix, _ b: Matrix) throws -> Matrix {
  try Matrix(rows: a.rows, cols: a.cols, values: zip(a.values, b.values).map { $0 + $1 })
}

/// A dense orthogonal d×d matrix: the product of two Householder reflections I − 2vvᵀ/‖v‖².
func householderRotation(_ d: Int, random: inout SeededRandom) throws -> Matrix {
  func reflection(_ v: [Double]) throws -> Matrix {
    let vv = v.reduce(0) { $0 + $1 * $1 }
    var h = [Float](repeating: 0, count: d * d)
    for i in 0..<d {
      for j in 0..<d { h[i * d + j] = Float((i == j ? 1 : 0) - 2 * v[i] * v[j] / vv) }
    }
    return try Matrix(rows: d, cols: d, values: h)
  }
  let h1 = try reflection((0..<d).map { _ in random.normal() })
  let h2 = try reflection((0..<d).map { _ in random.normal() })
  return try h1.multiplied(by: h2)
}
