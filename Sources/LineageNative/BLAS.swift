import COpenBLAS

/// Single-precision vector operations through OpenBLAS.
public enum BLAS {
  /// Σ x·y, accumulated by OpenBLAS in double precision (`cblas_dsdot`).
  public static func dot(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) -> Double {
    precondition(x.count == y.count, "dot of vectors of different lengths")
    guard let xp = x.baseAddress, let yp = y.baseAddress, x.count > 0 else { return 0 }
    var total = 0.0
    // The BLAS interface counts in Int32; long vectors go in pieces.
    var start = 0
    while start < x.count {
      let n = min(x.count - start, Int(Int32.max))
      total += cblas_dsdot(Int32(n), xp + start, 1, yp + start, 1)
      start += n
    }
    return total
  }

  /// y ← a·x + y.
  public static func axpy(_ a: Float, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) {
    precondition(x.count == y.count, "axpy of vectors of different lengths")
    guard let xp = x.baseAddress, let yp = y.baseAddress, x.count > 0 else { return }
    var start = 0
    while start < x.count {
      let n = min(x.count - start, Int(Int32.max))
      cblas_saxpy(Int32(n), a, xp + start, 1, yp + start, 1)
      start += n
    }
  }

  /// Whether an operand of `gemm` is used as stored or transposed.
  public enum Transpose: Sendable {
    case none, transposed
    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
  }

  /// C ← α·op(A)·op(B) + β·C for row-major matrices (`cblas_sgemm`): op(A) is m×k, op(B) is
  /// k×n, C is m×n. `lda`, `ldb`, `ldc` are the row strides of the matrices as stored.
  /// Dimensions must fit in Int32 (the BLAS interface); callers size their layers accordingly.
  public static func gemm(
    _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
    _ c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    precondition(m >= 0 && n >= 0 && k >= 0 && max(m, n, k, lda, ldb, ldc) <= Int(Int32.max), "gemm dimensions out of range")
    guard m > 0, n > 0 else { return }
    cblas_sgemm(
      CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c,
      Int32(ldc))
  }

  /// Fix the number of threads OpenBLAS uses from now on (process-wide). OpenBLAS splits a
  /// product the same way for the same thread count, so fixing it makes results reproducible
  /// on one machine.
  public static func setThreads(_ count: Int) {
    openblas_set_num_threads(Int32(max(1, min(count, 512))))
  }
}
