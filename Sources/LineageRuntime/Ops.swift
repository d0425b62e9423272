import Foundation
import LineageNative

typealias FloatPointer = UnsafeMutablePointer<Float>
typealias ConstFloatPointer = UnsafePointer<Float>

/// A zero-filled float32 scratch buffer owned by one forward or backward pass.
final class Buffer {
  let p: FloatPointer
  let count: Int
  init(_ count: Int) {
    self.count = count
    p = .allocate(capacity: max(count, 1))
    p.initialize(repeating: 0, count: max(count, 1))
  }
  /// A buffer its first user overwrites entirely (a product with β = 0, an element-wise map),
  /// so zero-filling it first would be wasted work.
  init(overwritten count: Int) {
    self.count = count
    p = .allocate(capacity: max(count, 1))
  }
  deinit { p.deallocate() }
  var c: ConstFloatPointer { ConstFloatPointer(p) }
  var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
  func copy() -> Buffer {
    let b = Buffer(count)
    b.p.update(from: p, count: count)
    return b
  }
}

/// The runtime's kernels: products in OpenBLAS, element-wise work in fixed-order loops.
enum Ops {
  /// y[rows×out] = x[rows×in]·Wᵀ + b, W stored `[out, in]`.
  static func linear(
    _ x: ConstFloatPointer, rows: Int, inputs: Int, outputs: Int, weight: ConstFloatPointer, bias: ConstFloatPointer?,
    into y: FloatPointer
  ) {
    BLAS.gemm(.none, .transposed, m: rows, n: outputs, k: inputs, x, lda: inputs, weight, ldb: inputs, beta: 0, y, ldc: outputs)
    guard let bias else { return }
    for r in 0..<rows {
      let row = y + r * outputs
      for j in 0..<outputs { row[j] += bias[j] }
    }
  }

  /// dW += dyᵀ·x, db += Σ_rows dy, and dx = dy·W (dx += dy·W when `accumulate`).
  static func linearBackward(
    _ dy: ConstFloatPointer, x: ConstFloatPointer, rows: Int, inputs: Int, outputs: Int, weight: ConstFloatPointer,
    weightGradient: FloatPointer, biasGradient: FloatPointer?, inputGradient: FloatPointer?, accumulate: Bool
  ) {
    BLAS.gemm(.transposed, .none, m: outputs, n: inputs, k: rows, dy, lda: outputs, x, ldb: inputs, beta: 1, weightGradient, ldc: inputs)
    if let biasGradient {
      for r in 0..<rows {
        let row = dy + r * outputs
        for j in 0..<outputs { biasGradient[j] += row[j] }
      }
    }
    if let inputGradient {
      BLAS.gemm(
        .none, .none, m: rows, n: inputs, k: outputs, dy, lda: outputs, weight, ldb: inputs, beta: accumulate ? 1 : 0, inputGradient,
        ldc: inputs)
    }
  }

  /// Normalise each row of width `width`; `stats` keeps (mean, 1/σ) per row for the backward pass.
  static func norm(
    _ kind: Architecture.Norm, _ x: ConstFloatPointer, rows: Int, width: Int, weight: ConstFloatPointer, bias: ConstFloatPointer?,
    epsilon: Float, into y: FloatPointer, stats: FloatPointer
  ) {
    let n = Float(width)
    for r in 0..<rows {
      let xr = x + r * width
      let yr = y + r * width
      var mean: Float = 0
      if kind == .layer {
        for j in 0..<width { mean += xr[j] }
        mean /= n
      }
      var square: Float = 0
      for j in 0..<width {
        let d = xr[j] - mean
        square += d * d
      }
      let rstd = 1 / (square / n + epsilon).squareRoot()
      stats[2 * r] = mean
      stats[2 * r + 1] = rstd
      if let bias {
        for j in 0..<width { yr[j] = (xr[j] - mean) * rstd * weight[j] + bias[j] }
      } else {
        for j in 0..<width { yr[j] = (xr[j] - mean) * rstd * weight[j] }
      }
    }
  }

  /// Backward of `norm`: dw (+ db) accumulate; dx = … (dx += … when `accumulate`).
  static func normBackward(
    _ kind: Architecture.Norm, _ dy: ConstFloatPointer, x: ConstFloatPointer, rows: Int, width: Int, weight: ConstFloatPointer,
    stats: ConstFloatPointer, weightGradient: FloatPointer, biasGradient: FloatPointer?, inputGradient: FloatPointer,
    accumulate: Bool
  ) {
    let n = Float(width)
    for r in 0..<rows {
      let xr = x + r * width
      let dyr = dy + r * width
      let dxr = inputGradient + r * width
      let mean = stats[2 * r]
      let rstd = stats[2 * r + 1]
      var meanG: Float = 0
      var meanGX: Float = 0
      for j in 0..<width {
        let xhat = (xr[j] - mean) * rstd
        weightGradient[j] += dyr[j] * xhat
        biasGradient?[j] += dyr[j]
        let g = dyr[j] * weight[j]
        meanG += g
        meanGX += g * xhat
      }
      meanG /= n
      meanGX /= n
      if kind == .rms { meanG = 0 }
      for j in 0..<width {
        let xhat = (xr[j] - mean) * rstd
        let d = rstd * (dyr[j] * weight[j] - meanG - xhat * meanGX)
        dxr[j] = accumulate ? dxr[j] + d : d
      }
    }
  }

  private static let geluC: Float = 0.797_884_56  // √(2/π)
  private static let geluK: Float = 0.044_715

  /// y[i] = act(x[i]) for `count` elements, one loop per kind (no switch per element).
  static func activate(_ kind: Architecture.Activation, _ x: ConstFloatPointer, count: Int, into y: FloatPointer) {
    switch kind {
    case .relu: for i in 0..<count { y[i] = max(x[i], 0) }
    case .silu: for i in 0..<count { y[i] = x[i] / (1 + exp(-x[i])) }
    case .gelu:
      for i in 0..<count {
        let v = x[i]
        y[i] = v / (1 + exp(-2 * geluC * (v + geluK * v * v * v)))
      }
    }
  }

  static func activate(_ kind: Architecture.Activation, _ x: Float) -> Float {
    switch kind {
    case .relu: return max(x, 0)
    case .silu: return x / (1 + exp(-x))
    // 0.5·x·(1 + tanh(u)) = x·σ(2u): the same function through one exp, cheaper than tanh.
    case .gelu: return x / (1 + exp(-2 * geluC * (x + geluK * x * x * x)))
    }
  }

  /// d act(x) / dx.
  static func derivative(_ kind: Architecture.Activation, _ x: Float) -> Float {
    switch kind {
    case .relu: return x > 0 ? 1 : 0
    case .silu:
      let s = 1 / (1 + exp(-x))
      return s * (1 + x * (1 - s))
    case .gelu:
      // With s = σ(2u) = (1 + tanh u)/2: d/dx = s + x·2s(1 − s)·u'.
      let s = 1 / (1 + exp(-2 * geluC * (x + geluK * x * x * x)))
      return s + x * 2 * s * (1 - s) * geluC * (1 + 3 * geluK * x * x)
    }
  }

  /// Softmax cross-entropy over rows with targets (-1 = not counted). Writes the mean loss's
  /// gradient into `gradient` when given. Returns the summed loss (float64), counted rows and
  /// rows whose argmax is the target.
  static func crossEntropy(
    _ logits: ConstFloatPointer, rows: Int, width: Int, targets: [Int32], gradient: FloatPointer?
  ) -> (loss: Double, counted: Int, correct: Int) {
    let counted = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
    var loss = 0.0
    var correct = 0
    for r in 0..<rows {
      let z = logits + r * width
      let t = Int(targets[r])
      guard t >= 0 else { continue }
      var best = 0
      var m = z[0]
      for j in 1..<max(width, 1) where z[j] > m {
        m = z[j]
        best = j
      }
      if best == t { correct += 1 }
      var sum = 0.0
      for j in 0..<width { sum += Double(exp(z[j] - m)) }
      let lse = Double(m) + log(sum)
      loss += lse - Double(z[t])
      if let gradient {
        let g = gradient + r * width
        let scale = 1 / Float(counted)
        for j in 0..<width { g[j] = Float(exp(Double(z[j]) - lse)) * scale }
        g[t] -= scale
      }
    }
    return (loss, counted, correct)
  }

  /// Causal multi-head attention over `batch` sequences of `length` positions; q, k, v and the
  /// output are `[batch·length, hidden]`; `probabilities` keeps each head's `[length, length]`
  /// softmax for the backward pass.
  static func attention(
    q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer, batch: Int, length: Int, hidden: Int, heads: Int,
    probabilities: FloatPointer, into out: FloatPointer
  ) {
    let d = hidden / heads
    let scale = 1 / Float(d).squareRoot()
    let T = length
    for b in 0..<batch {
      for h in 0..<heads {
        let base = b * T * hidden + h * d
        let P = probabilities + (b * heads + h) * T * T
        BLAS.gemm(.none, .transposed, m: T, n: T, k: d, alpha: scale, q + base, lda: hidden, k + base, ldb: hidden, beta: 0, P, ldc: T)
        for i in 0..<T {
          let row = P + i * T
          var m = row[0]
          for j in 1..<(i + 1) { m = max(m, row[j]) }
          var sum: Float = 0
          for j in 0..<(i + 1) {
            row[j] = exp(row[j] - m)
            sum += row[j]
          }
          for j in 0..<(i + 1) { row[j] /= sum }
          for j in (i + 1)..<T { row[j] = 0 }
        }
        BLAS.gemm(.none, .none, m: T, n: d, k: T, P, lda: T, v + base, ldb: hidden, beta: 0, out + base, ldc: hidden)
      }
    }
  }

  /// Backward of `attention`: writes dq, dk, dv (each `[batch·length, hidden]`).
  static func attentionBackward(
    _ dOut: ConstFloatPointer, q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer, probabilities: ConstFloatPointer,
    batch: Int, length: Int, hidden: Int, heads: Int, dq: FloatPointer, dk: FloatPointer, dv: FloatPointer
  ) {
    let d = hidden / heads
    let scale = 1 / Float(d).squareRoot()
    let T = length
    let dS = Buffer(T * T)
    for b in 0..<batch {
      for h in 0..<heads {
        let base = b * T * hidden + h * d
        let P = probabilities + (b * heads + h) * T * T
        // dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P)); masked entries have P = 0.
        BLAS.gemm(.none, .transposed, m: T, n: T, k: d, dOut + base, lda: hidden, v + base, ldb: hidden, beta: 0, dS.p, ldc: T)
        for i in 0..<T {
          let pr = P + i * T
          let sr = dS.p + i * T
          var dot: Float = 0
          for j in 0..<T { dot += sr[j] * pr[j] }
          for j in 0..<T { sr[j] = pr[j] * (sr[j] - dot) }
        }
        BLAS.gemm(.transposed, .none, m: T, n: d, k: T, P, lda: T, dOut + base, ldb: hidden, beta: 0, dv + base, ldc: hidden)
        BLAS.gemm(.none, .none, m: T, n: d, k: T, alpha: scale, dS.c, lda: T, k + base, ldb: hidden, beta: 0, dq + base, ldc: hidden)
        BLAS.gemm(.transposed, .none, m: T, n: d, k: T, alpha: scale, dS.c, lda: T, q + base, ldb: hidden, beta: 0, dk + base, ldc: hidden)
      }
    }
  }
}

/// Scalar functions the runtime needs, in one place.
enum LineageRuntimeMath {
  static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}
