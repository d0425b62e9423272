import LineageNative

/// The baseline of the runtime benchmark: the same matrix products a forward pass runs, as a bare
/// loop of `sgemm` calls on preallocated buffers with nothing else around them.
public final class BareProducts {
  /// (m, n, k) of each product, in the order the forward pass runs them.
  public let shapes: [(m: Int, n: Int, k: Int)]
  private let a: [UnsafeMutablePointer<Float>]
  private let b: [UnsafeMutablePointer<Float>]
  private let c: [UnsafeMutablePointer<Float>]

  /// The products of an mlp's forward pass on `rows` examples (input projection, each block's
  /// up and down projections, the head), each `x[m×k]·W[n×k]ᵀ`.
  public init(mlp: Architecture, rows: Int) {
    var shapes: [(m: Int, n: Int, k: Int)] = [(rows, mlp.hidden, mlp.inputs)]
    for _ in 0..<mlp.layers { shapes += [(rows, mlp.intermediate, mlp.hidden), (rows, mlp.hidden, mlp.intermediate)] }
    shapes.append((rows, mlp.outputs, mlp.hidden))
    self.shapes = shapes
    func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
      for i in 0..<n { p[i] = Float(i % 7) * 0.01 }
      return p
    }
    a = shapes.map { buffer($0.m * $0.k) }
    b = shapes.map { buffer($0.n * $0.k) }
    c = shapes.map { buffer($0.m * $0.n) }
  }

  deinit {
    for p in a + b + c { p.deallocate() }
  }

  /// Run every product once.
  public func run() {
    for (i, s) in shapes.enumerated() {
      BLAS.gemm(.none, .transposed, m: s.m, n: s.n, k: s.k, a[i], lda: s.k, b[i], ldb: s.k, beta: 0, c[i], ldc: s.n)
    }
  }

  /// Floating-point operations of one `run()` (2·m·n·k per product).
  public var flops: Double { shapes.reduce(0) { $0 + 2 * Double($1.m) * Double($1.n) * Double($1.k) } }
}
