import LineageNative

/// A dense row-major matrix of floats: a 2-D weight (rows = output units, columns = inputs), or any
/// tensor viewed as `shape[0]` × (product of the other dimensions).
public struct Matrix: Equatable, Sendable {
  /// Number of rows (≥ 0).
  public let rows: Int
  /// Number of columns (≥ 0).
  public let cols: Int
  /// rows × cols values, row after row: element (r, c) is `values[r * cols + c]`.
  public let values: [Float]

  /// A `rows`×`cols` matrix over `values` (row-major); throws when the count is not rows × cols.
  public init(rows: Int, cols: Int, values: [Float]) throws(ForensicsError) {
    let (size, overflow) = rows.multipliedReportingOverflow(by: cols)
    guard rows >= 0, cols >= 0, !overflow, size == values.count else {
      throw .shapeMismatch(operation: "matrix", "\(rows)×\(cols)", "\(values.count) values")
    }
    self.rows = rows
    self.cols = cols
    self.values = values
  }

  /// A tensor viewed as a matrix: a scalar as 1×1, 1-D of n as 1×n, 2-D as is, N-D as
  /// shape[0] × (product of the rest), so a convolution kernel out×in×kh×kw becomes out×(in·kh·kw).
  public init(shape: [UInt64], values: [Float]) throws(ForensicsError) {
    var dims = shape.map { Int(clamping: $0) }
    if dims.count < 2 { dims = [1] + (dims.isEmpty ? [1] : dims) }
    var cols = 1
    for d in dims.dropFirst() {
      let (p, overflow) = cols.multipliedReportingOverflow(by: d)
      guard !overflow else { throw .shapeMismatch(operation: "matrix", "\(shape)", "\(values.count) values") }
      cols = p
    }
    do throws(ForensicsError) { try self.init(rows: dims[0], cols: cols, values: values) } catch {
      throw .shapeMismatch(operation: "matrix", "\(shape)", "\(values.count) values")
    }
  }

  /// "rows×cols", for messages.
  public var shapeDescription: String { "\(rows)×\(cols)" }

  /// Element (row, col); both must be in range.
  public subscript(row: Int, col: Int) -> Float {
    precondition(row >= 0 && row < rows && col >= 0 && col < cols, "Matrix index out of range")
    return values[row * cols + col]
  }

  /// The rows in the given order: row i of the result is row `order[i]` of this matrix. With a
  /// `RowAlignment`'s `rowOfB`, `b.selectingRows(alignment.rowOfB)` lines b's rows up with a's.
  public func selectingRows(_ order: [Int]) throws(ForensicsError) -> Matrix {
    guard order.allSatisfy({ $0 >= 0 && $0 < rows }) else { throw .invalidPermutation(count: rows) }
    var out = [Float]()
    out.reserveCapacity(order.count * cols)
    for r in order { out += values[(r * cols)..<((r + 1) * cols)] }
    return try Matrix(rows: order.count, cols: cols, values: out)
  }

  /// The product self · other (`BLAS.gemm`, single precision); self.cols must equal other.rows.
  public func multiplied(by other: Matrix) throws(ForensicsError) -> Matrix {
    guard cols == other.rows else {
      throw .shapeMismatch(operation: "matrix product", shapeDescription, other.shapeDescription)
    }
    var c = [Float](repeating: 0, count: rows * other.cols)
    let (m, n, k) = (rows, other.cols, cols)
    if k > 0 {
      values.withUnsafeBufferPointer { a in
        other.values.withUnsafeBufferPointer { b in
          c.withUnsafeMutableBufferPointer { cp in
            guard let ap = a.baseAddress, let bp = b.baseAddress, let out = cp.baseAddress else { return }
            BLAS.gemm(.none, .none, m: m, n: n, k: k, ap, lda: k, bp, ldb: n, out, ldc: n)
          }
        }
      }
    }
    return try Matrix(rows: m, cols: n, values: c)
  }

  /// Singular values, descending: min(rows, cols) of them (LAPACK `sgesdd`, values only).
  public func singularValues() throws(ForensicsError) -> [Double] {
    try Validate.finite(values, operation: "singular values", input: "matrix")
    do throws(LAPACKError) {
      return try LAPACK.singularValues(values, rows: rows, cols: cols).map(Double.init)
    } catch {
      throw .linearAlgebra(error.description)
    }
  }
}

/// Input checks shared by the statistics.
enum Validate {
  /// Throw `.nonFinite` at the first infinity or NaN.
  static func finite(_ values: [Float], operation: String, input: String) throws(ForensicsError) {
    if let i = values.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(operation: operation, input: input, index: i) }
  }

  /// Throw `.nonFinite` at the first infinity or NaN.
  static func finite(_ values: [Double], operation: String, input: String) throws(ForensicsError) {
    if let i = values.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(operation: operation, input: input, index: i) }
  }
}
