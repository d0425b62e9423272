import LineageNative

/// A one-to-one matching of the rows (units) of one matrix to the rows of another, undoing a
/// hidden-unit permutation (Docs/Forensics.md, "Row alignment").
public struct RowAlignment: Equatable, Sendable {
  /// `rowOfB[i]` is the row of B matched to row i of A: a permutation of 0..<n.
  /// `b.selectingRows(rowOfB)` is B in A's row order.
  public var rowOfB: [Int]
  /// Pearson correlation of row i of A with its matched row of B, in [−1, 1]; 0 where either row
  /// is constant.
  public var similarities: [Double]
  /// Mean of `similarities`.
  public var meanSimilarity: Double

  /// Match the rows of `b` to those of `a` (both n×d, the same shape) maximising the total
  /// similarity Σᵢ S[i, π(i)], where S = Â·B̂ᵀ and Â, B̂ have every row centred and scaled to unit
  /// norm (a constant row stays zero, similar to nothing).
  public static func align(_ a: Matrix, _ b: Matrix) throws(ForensicsError) -> RowAlignment {
    let op = "row alignment"
    guard a.rows == b.rows, a.cols == b.cols else { throw .shapeMismatch(operation: op, a.shapeDescription, b.shapeDescription) }
    guard a.rows > 0, a.cols > 0 else { throw .empty(operation: op, input: "a") }
    try Validate.finite(a.values, operation: op, input: "a")
    try Validate.finite(b.values, operation: op, input: "b")
    let n = a.rows
    let d = a.cols
    let an = unitRows(a)
    let bn = unitRows(b)
    var s = [Float](repeating: 0, count: n * n)
    an.withUnsafeBufferPointer { x in
      bn.withUnsafeBufferPointer { y in
        s.withUnsafeMutableBufferPointer { out in
          guard let xp = x.baseAddress, let yp = y.baseAddress, let cp = out.baseAddress else { return }
          BLAS.gemm(.none, .transposed, m: n, n: n, k: d, xp, lda: d, yp, ldb: d, cp, ldc: n)
        }
      }
    }
    let similarity = s.map(Double.init)
    let assignment = try LinearAssignment.maximizingSimilarity(similarity, n: n)
    let matched = assignment.columnOfRow.enumerated().map { similarity[$0.offset * n + $0.element] }
    return RowAlignment(
      rowOfB: assignment.columnOfRow, similarities: matched, meanSimilarity: matched.reduce(0, +) / Double(n))
  }

  /// Rows centred and scaled to unit Euclidean norm, in double precision before rounding to float;
  /// a row with zero norm after centring stays zero.
  static func unitRows(_ m: Matrix) -> [Float] {
    var out = [Float](repeating: 0, count: m.values.count)
    for r in 0..<m.rows {
      let row = m.values[(r * m.cols)..<((r + 1) * m.cols)]
      let mean = row.reduce(0.0) { $0 + Double($1) } / Double(m.cols)
      let squares = row.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
      guard squares > 0 else { continue }
      let scale = 1 / squares.squareRoot()
      for (c, x) in row.enumerated() { out[r * m.cols + c] = Float((Double(x) - mean) * scale) }
    }
    return out
  }
}
