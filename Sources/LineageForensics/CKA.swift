import Foundation
import LineageNative

/// Centred kernel alignment: how alike two representations of the same samples are, blind to
/// rotations and isotropic scaling of either (Docs/Forensics.md, "CKA").
public enum CKA {
  /// Unbiased linear CKA of `x` (n×d) and `y` (n×d′): rows are the same n samples in both (n ≥ 4),
  /// columns are features and their counts may differ. HSIC₁ is the unbiased estimator of Song et
  /// al. (2012), as used by Nguyen, Raghu & Kornblith (2021); CKA = HSIC₁(K, L) / √(HSIC₁(K, K)·HSIC₁(L, L))
  /// with K = XXᵀ, L = YYᵀ. HSIC₁ is an inner product (of U-centred Gram matrices), so the result is
  /// in [−1, 1]; near 0 for unrelated matrices, where it may be slightly negative.
  public static func unbiasedLinear(_ x: Matrix, _ y: Matrix) throws(ForensicsError) -> Double {
    let op = "CKA"
    guard x.rows == y.rows else { throw .shapeMismatch(operation: op, x.shapeDescription, y.shapeDescription) }
    guard x.cols > 0 else { throw .empty(operation: op, input: "x") }
    guard y.cols > 0 else { throw .empty(operation: op, input: "y") }
    guard x.rows >= 4 else { throw .tooFewSamples(operation: op, minimum: 4, count: x.rows) }
    try Validate.finite(x.values, operation: op, input: "x")
    try Validate.finite(y.values, operation: op, input: "y")
    let k = HollowGram(x)
    let l = HollowGram(y)
    let kk = k.hsic(k)
    let ll = l.hsic(l)
    guard kk > 0 else { throw .noVariance(operation: op, input: "x") }
    guard ll > 0 else { throw .noVariance(operation: op, input: "y") }
    return min(1, max(-1, k.hsic(l) / (kk * ll).squareRoot()))
  }
}

/// The Gram matrix of a matrix's rows, centred and rescaled, with its diagonal set to zero (K̃),
/// and its row sums.
struct HollowGram {
  /// Samples (rows of the source matrix).
  let n: Int
  /// n×n, row-major, zero diagonal.
  let values: [Float]
  /// Σⱼ K̃ᵢⱼ for each row i, in double precision.
  let rowSums: [Double]

  /// K̃ for the rows of `x`, after two changes CKA cannot see. Columns are centred: unbiased HSIC is
  /// exactly invariant to adding one vector to every row (Docs/Forensics.md), and centring keeps the
  /// float Gram entries small when the weights share a large mean. Then everything is divided by the
  /// largest |entry| (CKA ignores isotropic scaling), so Gram entries are at most d: no float overflow
  /// for values beyond 1e19, no underflow for tiny ones. HSIC₁ values are those of the rescaled matrix.
  init(_ x: Matrix) {
    n = x.rows
    var means = [Double](repeating: 0, count: x.cols)
    for r in 0..<x.rows {
      for c in 0..<x.cols { means[c] += Double(x.values[r * x.cols + c]) }
    }
    for c in 0..<x.cols { means[c] /= Double(x.rows) }
    var deviations = [Double](repeating: 0, count: x.values.count)
    for r in 0..<x.rows {
      for c in 0..<x.cols { deviations[r * x.cols + c] = Double(x.values[r * x.cols + c]) - means[c] }
    }
    let largest = deviations.reduce(0) { max($0, abs($1)) }
    let scale = largest > 0 ? 1 / largest : 1
    let centred = deviations.map { Float($0 * scale) }
    var gram = centred.withUnsafeBufferPointer { BLAS.gram($0, rows: x.rows, cols: x.cols) }
    for i in 0..<n { gram[i * n + i] = 0 }
    let ones = [Float](repeating: 1, count: n)
    let count = n
    rowSums = gram.withUnsafeBufferPointer { g in
      ones.withUnsafeBufferPointer { o in
        (0..<count).map { i in BLAS.dot(UnsafeBufferPointer(rebasing: g[(i * count)..<((i + 1) * count)]), o) }
      }
    }
    values = gram
  }

  /// HSIC₁(K, L) = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)), n ≥ 4.
  func hsic(_ other: HollowGram) -> Double {
    let n = Double(self.n)
    // K̃ and L̃ are symmetric, so tr(K̃L̃) = Σᵢⱼ K̃ᵢⱼ L̃ᵢⱼ, and 1ᵀK̃L̃1 = Σᵢ (K̃1)ᵢ (L̃1)ᵢ.
    let trace = values.withUnsafeBufferPointer { a in other.values.withUnsafeBufferPointer { b in BLAS.dot(a, b) } }
    let sumK = rowSums.reduce(0, +)
    let sumL = other.rowSums.reduce(0, +)
    var cross = 0.0
    for i in 0..<self.n { cross += rowSums[i] * other.rowSums[i] }
    return (trace + sumK * sumL / ((n - 1) * (n - 2)) - 2 / (n - 2) * cross) / (n * (n - 3))
  }
}

/// How alike two matrices' singular-value spectra are (Docs/Forensics.md, "Spectrum similarity").
public struct SpectrumSimilarity: Equatable, Sendable {
  /// Singular values of the first matrix, descending (min(rows, cols) of them).
  public var singularValuesA: [Double]
  /// Singular values of the second matrix, descending.
  public var singularValuesB: [Double]
  /// Leading singular values compared: the shorter spectrum's length.
  public var count: Int
  /// Cosine of the two truncated spectra, in [0, 1] (singular values are ≥ 0); blind to scale.
  public var cosine: Double
  /// Symmetric relative L2 ‖p − q‖ / ((‖p‖ + ‖q‖) / 2) of the truncated spectra each normalised to
  /// unit sum (p, q); 0 for equal shapes, at most 2.
  public var relativeL2: Double

  /// Compare the spectra of `a` and `b` (any shapes with at least one element each): both are
  /// truncated to the shorter length, then compared. Throws `.noVariance` for an all-zero matrix.
  public static func compare(_ a: Matrix, _ b: Matrix) throws(ForensicsError) -> SpectrumSimilarity {
    let op = "spectrum similarity"
    guard !a.values.isEmpty else { throw .empty(operation: op, input: "a") }
    guard !b.values.isEmpty else { throw .empty(operation: op, input: "b") }
    let sa = try a.singularValues()
    let sb = try b.singularValues()
    let k = min(sa.count, sb.count)
    let p = Array(sa.prefix(k))
    let q = Array(sb.prefix(k))
    let sumP = p.reduce(0, +)
    let sumQ = q.reduce(0, +)
    guard sumP > 0 else { throw .noVariance(operation: op, input: "a") }
    guard sumQ > 0 else { throw .noVariance(operation: op, input: "b") }
    let pn = p.map { $0 / sumP }
    let qn = q.map { $0 / sumQ }
    var (pq, pp, qq, dd) = (0.0, 0.0, 0.0, 0.0)
    for i in 0..<k {
      pq += pn[i] * qn[i]
      pp += pn[i] * pn[i]
      qq += qn[i] * qn[i]
      dd += (pn[i] - qn[i]) * (pn[i] - qn[i])
    }
    let normP = pp.squareRoot()
    let normQ = qq.squareRoot()
    return SpectrumSimilarity(
      singularValuesA: sa, singularValuesB: sb, count: k, cosine: min(1, pq / (normP * normQ)),
      relativeL2: dd.squareRoot() / ((normP + normQ) / 2))
  }
}
