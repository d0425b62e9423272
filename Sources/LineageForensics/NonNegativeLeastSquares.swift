import LineageNative

/// The result of a non-negative least-squares fit.
public struct NonNegativeFit: Equatable, Sendable {
  /// x ≥ 0, one coefficient per column.
  public var coefficients: [Double]
  /// ‖Ax − b‖ / ‖b‖, from the residual vector itself; 0 when b = 0.
  public var relativeResidual: Double
}

/// Non-negative least squares for a few long columns: which mix of deltas (each column a flattened
/// weight difference) best explains a target delta (Docs/Forensics.md, "Non-negative least squares").
public enum NonNegativeLeastSquares {
  /// Most columns accepted: the method solves k×k normal equations, meant for k ≤ 16 or so.
  public static let maximumColumns = 64

  /// Minimise ‖Ax − b‖ subject to x ≥ 0, where A's columns are `columns` (each as long as `target`,
  /// which may be millions of elements). AᵀA and Aᵀb come from BLAS dot products in double precision;
  /// the k×k problem is then solved by Lawson and Hanson's active-set method, each passive-set
  /// subproblem by Cholesky (LAPACK `dposv`).
  public static func fit(columns: [[Float]], target b: [Float]) throws(ForensicsError) -> NonNegativeFit {
    let op = "non-negative least squares"
    guard !columns.isEmpty else { throw .empty(operation: op, input: "columns") }
    guard columns.count <= maximumColumns else {
      throw .shapeMismatch(operation: op, "\(columns.count) columns", "at most \(maximumColumns)")
    }
    guard !b.isEmpty else { throw .empty(operation: op, input: "target") }
    for (j, column) in columns.enumerated() {
      guard column.count == b.count else {
        throw .shapeMismatch(operation: op, "column \(j) of \(column.count)", "target of \(b.count)")
      }
      try Validate.finite(column, operation: op, input: "column \(j)")
    }
    try Validate.finite(b, operation: op, input: "target")
    let k = columns.count
    var gram = [Double](repeating: 0, count: k * k)
    var h = [Double](repeating: 0, count: k)
    for i in 0..<k {
      columns[i].withUnsafeBufferPointer { ci in
        h[i] = b.withUnsafeBufferPointer { BLAS.dot(ci, $0) }
        for j in i..<k {
          let g = columns[j].withUnsafeBufferPointer { BLAS.dot(ci, $0) }
          gram[i * k + j] = g
          gram[j * k + i] = g
        }
      }
    }
    let bb = b.withUnsafeBufferPointer { BLAS.dot($0, $0) }
    guard bb > 0 else { return NonNegativeFit(coefficients: [Double](repeating: 0, count: k), relativeResidual: 0) }
    let x = try activeSet(gram: gram, h: h, k: k, tolerance: 1e-10 * (gram.max() ?? 0).squareRoot() * bb.squareRoot())
    // The residual from the vector itself: bᵀb − 2hᵀx + xᵀGx cancels to noise for a near-exact fit.
    var r = b
    for (j, coefficient) in x.enumerated() where coefficient != 0 {
      columns[j].withUnsafeBufferPointer { c in r.withUnsafeMutableBufferPointer { BLAS.axpy(Float(-coefficient), c, $0) } }
    }
    let residual = r.withUnsafeBufferPointer { BLAS.dot($0, $0) }.squareRoot()
    return NonNegativeFit(coefficients: x, relativeResidual: residual / bb.squareRoot())
  }

  /// Lawson–Hanson on the normal equations: minimise xᵀGx − 2hᵀx over x ≥ 0. The gradient's
  /// negative half w = h − Gx is the columns' correlation with the residual; a column enters the
  /// passive set while some w exceeds `tolerance` (scaled to max‖aⱼ‖·‖b‖ by the caller).
  static func activeSet(gram: [Double], h: [Double], k: Int, tolerance: Double) throws(ForensicsError) -> [Double] {
    var x = [Double](repeating: 0, count: k)
    var passive = [Bool](repeating: false, count: k)
    let cap = 30 * k
    var steps = 0
    while true {
      let w = (0..<k).map { j in h[j] - (0..<k).reduce(0.0) { $0 + gram[j * k + $1] * x[$1] } }
      var entering: Int?
      for j in 0..<k where !passive[j] && w[j] > tolerance && (entering.map { w[j] > w[$0] } ?? true) { entering = j }
      guard let t = entering else { return x }
      passive[t] = true
      while true {
        steps += 1
        guard steps <= cap else { throw .noConvergence(method: "Lawson–Hanson NNLS", iterations: cap) }
        let s = try solvePassive(gram: gram, h: h, k: k, passive: passive)
        if (0..<k).allSatisfy({ !passive[$0] || s[$0] > 0 }) {
          x = s
          break
        }
        // Step from x towards s until the first passive coefficient reaches 0; it leaves the set.
        var alpha = Double.infinity
        var leaving = t
        for j in 0..<k where passive[j] && s[j] <= 0 {
          let a = x[j] / (x[j] - s[j])
          if a < alpha {
            alpha = a
            leaving = j
          }
        }
        for j in 0..<k { x[j] += alpha * (s[j] - x[j]) }
        for j in 0..<k where passive[j] && (j == leaving || x[j] <= 0) {
          passive[j] = false
          x[j] = 0
        }
      }
    }
  }

  /// The unconstrained least-squares coefficients on the passive columns (0 elsewhere).
  static func solvePassive(gram: [Double], h: [Double], k: Int, passive: [Bool]) throws(ForensicsError) -> [Double] {
    let p = (0..<k).filter { passive[$0] }
    var g = [Double]()
    g.reserveCapacity(p.count * p.count)
    for i in p { for j in p { g.append(gram[i * k + j]) } }
    let solution: [Double]
    do throws(LAPACKError) {
      solution = try LAPACK.solvePositiveDefinite(g, p.map { h[$0] }, n: p.count)
    } catch {
      throw .linearAlgebra(error.description)
    }
    var s = [Double](repeating: 0, count: k)
    for (index, j) in p.enumerated() { s[j] = solution[index] }
    return s
  }
}
