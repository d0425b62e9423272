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
}
