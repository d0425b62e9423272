import COpenBLAS
import Foundation

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

  /// Run `body` with OpenBLAS at `count` threads. OpenBLAS splits a product the same way for the
  /// same thread count, which makes results reproducible on one machine; but the count is
  /// process-wide, so calls that need different counts must not overlap: the gate lets any
  /// number of bodies with the same count run at once and makes a body with another count wait
  /// until they are done. Bodies must not call `withThreads` themselves.
  public static func withThreads<T, E: Error>(_ count: Int, _ body: () throws(E) -> T) throws(E) -> T {
    let n = max(1, min(count, 512))
    gate.enter(n)
    defer { gate.leave() }
    return try body()
  }

  private static let gate = ThreadGate()
}

/// The process-wide OpenBLAS thread count and the bodies running with it (`BLAS.withThreads`).
private final class ThreadGate: @unchecked Sendable {
  private let condition = NSCondition()
  private var current = 0
  private var active = 0

  func enter(_ n: Int) {
    condition.lock()
    while active > 0 && current != n { condition.wait() }
    if current != n {
      openblas_set_num_threads(Int32(n))
      current = n
    }
    active += 1
    condition.unlock()
  }

  func leave() {
    condition.lock()
    active -= 1
    if active == 0 { condition.broadcast() }
    condition.unlock()
  }
}
