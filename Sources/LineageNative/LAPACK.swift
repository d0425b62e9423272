import COpenBLAS

/// Errors from LAPACK routines.
public enum LAPACKError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A dimension does not fit in LAPACK's 32-bit integers; carries the routine's name.
  case dimensionsOutOfRange(routine: String)
  /// The routine returned a nonzero `info`; carries the routine and `info`: negative means argument
  /// −info was illegal, positive is the routine's own failure (gesdd: no convergence; posv: the
  /// leading minor of order `info` is not positive definite).
  case failed(routine: String, info: Int)

  public var description: String {
    switch self {
    case .dimensionsOutOfRange(let r): return "\(r): a dimension exceeds LAPACK's 32-bit range"
    case .failed(let r, let info): return "\(r) failed with info \(info)"
    }
  }
}

/// Dense linear algebra through LAPACKE (values only, small solves).
public enum LAPACK {
  /// Singular values of the row-major `rows`×`cols` matrix `a`, in descending order: min(rows, cols)
  /// values (`LAPACKE_sgesdd`, job 'N', no singular vectors).
  public static func singularValues(_ a: [Float], rows: Int, cols: Int) throws(LAPACKError) -> [Float] {
    precondition(rows >= 0 && cols >= 0 && a.count == rows * cols, "singularValues: size is not rows × cols")
    let k = min(rows, cols)
    guard k > 0 else { return [] }
    guard max(rows, cols) <= Int(Int32.max) else { throw .dimensionsOutOfRange(routine: "sgesdd") }
    // A row-major m×n buffer is the column-major n×m matrix Aᵀ, which has the same singular values:
    // passing it as column-major spares LAPACKE its transposed copy. gesdd overwrites its input.
    var work = a
    var s = [Float](repeating: 0, count: k)
    let info = work.withUnsafeMutableBufferPointer { w in
      s.withUnsafeMutableBufferPointer { sv in
        LAPACKE_sgesdd(
          LAPACK_COL_MAJOR, CChar(UInt8(ascii: "N")), Int32(cols), Int32(rows), w.baseAddress, Int32(max(cols, 1)),
          sv.baseAddress, nil, 1, nil, 1)
      }
    }
    guard info == 0 else { throw .failed(routine: "sgesdd", info: Int(info)) }
    return s
  }

  /// Solve G·x = h for a symmetric positive definite row-major n×n `g` by Cholesky
  /// (`LAPACKE_dposv`, upper triangle read). Throws `.failed(routine: "dposv", info: k > 0)` when
  /// the leading minor of order k is not positive definite (e.g. linearly dependent columns behind G).
  public static func solvePositiveDefinite(_ g: [Double], _ h: [Double], n: Int) throws(LAPACKError) -> [Double] {
    precondition(n >= 0 && g.count == n * n && h.count == n, "solvePositiveDefinite: sizes do not match n")
    guard n > 0 else { return [] }
    guard n <= Int(Int32.max) else { throw .dimensionsOutOfRange(routine: "dposv") }
    var a = g
    var x = h
    let info = a.withUnsafeMutableBufferPointer { ap in
      x.withUnsafeMutableBufferPointer { xp in
        LAPACKE_dposv(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), 1, ap.baseAddress, Int32(n), xp.baseAddress, 1)
      }
    }
    guard info == 0 else { throw .failed(routine: "dposv", info: Int(info)) }
    return x
  }
}

extension BLAS {
  /// The Gram matrix A·Aᵀ of the row-major `rows`×`cols` matrix `a`: rows×rows, symmetric, row-major.
  /// `cblas_ssyrk` computes the upper triangle (half the multiplications of `gemm(A, Aᵀ)`); the lower
  /// one is mirrored from it.
  public static func gram(_ a: UnsafeBufferPointer<Float>, rows: Int, cols: Int) -> [Float] {
    precondition(rows >= 0 && cols >= 0 && a.count == rows * cols, "gram: size is not rows × cols")
    precondition(max(rows, cols) <= Int(Int32.max), "gram dimensions out of range")
    guard rows > 0 else { return [] }
    var c = [Float](repeating: 0, count: rows * rows)
    guard cols > 0, let ap = a.baseAddress else { return c }
    c.withUnsafeMutableBufferPointer { cp in
      guard let base = cp.baseAddress else { return }
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(rows), Int32(cols), 1, ap, Int32(cols), 0, base, Int32(rows))
      for i in 0..<rows {
        for j in 0..<i { base[i * rows + j] = base[j * rows + i] }
      }
    }
    return c
  }
}
