import LineageNative

/// How alike two tensors of the same shape are (Docs/Forensics.md gives each formula).
public struct TensorMetrics: Equatable, Sendable {
  /// Elements compared.
  public var count: Int
  /// a·b / (‖a‖‖b‖); 0 when either norm is 0.
  public var cosine: Double
  /// Cosine of the centred vectors (Pearson's r): plain cosine is inflated when values share a
  /// large mean, as norm weights near 1 do.
  public var pearson: Double
  /// Symmetric relative L2: ‖a − b‖ / ((‖a‖ + ‖b‖) / 2); 0 when both are 0.
  public var relativeL2: Double
  public var normA: Double
  public var normB: Double

  /// Compare `a` and `b` (equal lengths) with OpenBLAS dot products in double accumulation.
  /// Non-finite values make every metric NaN rather than a misleading number.
  public static func compare(_ a: [Float], _ b: [Float]) -> TensorMetrics {
    precondition(a.count == b.count, "compare of tensors of different sizes")
    let n = a.count
    let (aa, bb, ab, sa, sb) = a.withUnsafeBufferPointer { x in
      b.withUnsafeBufferPointer { y in
        (BLAS.dot(x, x), BLAS.dot(y, y), BLAS.dot(x, y), x.reduce(0.0) { $0 + Double($1) }, y.reduce(0.0) { $0 + Double($1) })
      }
    }
    let normA = aa.squareRoot()
    let normB = bb.squareRoot()
    let cosine = normA > 0 && normB > 0 ? ab / (normA * normB) : 0
    // Centred sums from the raw ones: Σ(a−ā)(b−b̄) = Σab − n·ā·b̄.
    let count = Double(max(n, 1))
    let cab = ab - sa * sb / count
    let caa = max(aa - sa * sa / count, 0)
    let cbb = max(bb - sb * sb / count, 0)
    let pearson = caa > 0 && cbb > 0 ? cab / (caa * cbb).squareRoot() : 0
    // ‖a − b‖ directly (not from aa + bb − 2ab, which cancels for near-identical tensors).
    var d = b
    a.withUnsafeBufferPointer { x in d.withUnsafeMutableBufferPointer { BLAS.axpy(-1, x, $0) } }
    let diff = d.withUnsafeBufferPointer { BLAS.dot($0, $0) }.squareRoot()
    let mean = (normA + normB) / 2
    let relativeL2 = mean > 0 ? diff / mean : 0
    var m = TensorMetrics(count: n, cosine: cosine, pearson: pearson, relativeL2: relativeL2, normA: normA, normB: normB)
    if !(aa.isFinite && bb.isFinite && ab.isFinite) {
      m.cosine = .nan
      m.pearson = .nan
      m.relativeL2 = .nan
    }
    return m
  }
}
