import Foundation

/// The slow path: the same forward pass written with naive loops in float64, sharing no code with
/// `Model` but the parameter names. It checks the fast path (Docs/Runtime.md gives the
/// tolerance) and gives finite-difference gradients their loss.
public enum Reference {
  /// Logits `[positions, width]` in float64.
  public static func forward(_ parameters: Parameters, _ batch: Batch) throws(RuntimeError) -> [Double] {
    let model = try Model(parameters.layout.architecture)
    _ = try model.check(batch)
    let a = parameters.layout.architecture
    func t(_ name: String) -> [Double] { (parameters.tensor(name) ?? []).map(Double.init) }
    func linear(_ x: [[Double]], _ name: String, bias: Bool) -> [[Double]] {
      let W = t(name + ".weight")
      let b = bias ? t(name + ".bias") : []
      let inputs = x.first?.count ?? 0
      let outputs = W.count / max(inputs, 1)
      return x.map { row in
        (0..<outputs).map { o in
          var s = bias ? b[o] : 0
          for i in 0..<inputs { s += W[o * inputs + i] * row[i] }
          return s
        }
      }
    }
    func norm(_ x: [[Double]], _ prefix: String) -> [[Double]] {
      let w = t(prefix + ".weight")
      let b = a.norm == .layer ? t(prefix + ".bias") : [Double](repeating: 0, count: w.count)
      return x.map { row in
        let n = Double(row.count)
        let mean = a.norm == .layer ? row.reduce(0, +) / n : 0
        let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let r = 1 / (variance + Double(a.normEpsilon)).squareRoot()
        return row.indices.map { (row[$0] - mean) * r * w[$0] + b[$0] }
      }
    }
    func act(_ x: Double) -> Double {
      switch a.activation {
      case .relu: return max(x, 0)
      case .silu: return x / (1 + exp(-x))
      case .gelu: return 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
      }
    }
    func add(_ x: [[Double]], _ y: [[Double]]) -> [[Double]] { zip(x, y).map { zip($0, $1).map(+) } }

    var h: [[Double]]
    switch batch {
    case .features(let v, let rows):
      let x = (0..<rows).map { r in (0..<a.inputs).map { Double(v[r * a.inputs + $0]) } }
      h = linear(x, "model.input_proj", bias: true)
      for i in 0..<a.layers {
        let p = "model.layers.\(i)"
        let u = linear(norm(h, p + ".norm"), p + ".mlp.up_proj", bias: true).map { $0.map(act) }
        h = add(h, linear(u, p + ".mlp.down_proj", bias: true))
      }
    case .tokens(let ids, let rows, let length):
      let E = t("model.embed_tokens.weight")
      let P = t("model.embed_positions.weight")
      let H = a.hidden
      h = (0..<(rows * length)).map { r in (0..<H).map { E[Int(ids[r]) * H + $0] + P[(r % length) * H + $0] } }
      let d = a.headDimension
      for i in 0..<a.layers {
        let p = "model.layers.\(i)"
        let n = norm(h, p + ".input_layernorm")
        let q = linear(n, p + ".self_attn.q_proj", bias: false)
        let k = linear(n, p + ".self_attn.k_proj", bias: false)
        let v = linear(n, p + ".self_attn.v_proj", bias: false)
        var o = [[Double]](repeating: [Double](repeating: 0, count: H), count: rows * length)
        for b in 0..<rows {
          for head in 0..<a.heads {
            for i in 0..<length {
              let qi = q[b * length + i]
              var scores = (0...i).map { j -> Double in
                var s = 0.0
                for c in (head * d)..<((head + 1) * d) { s += qi[c] * k[b * length + j][c] }
                return s / Double(d).squareRoot()
              }
              let m = scores.max() ?? 0
              scores = scores.map { exp($0 - m) }
              let total = scores.reduce(0, +)
              for j in 0...i {
                for c in (head * d)..<((head + 1) * d) { o[b * length + i][c] += scores[j] / total * v[b * length + j][c] }
              }
            }
          }
        }
        h = add(h, linear(o, p + ".self_attn.o_proj", bias: false))
        let n2 = norm(h, p + ".post_attention_layernorm")
        let gate = linear(n2, p + ".mlp.gate_proj", bias: false)
        let up = linear(n2, p + ".mlp.up_proj", bias: false)
        let product = zip(gate, up).map { zip($0, $1).map { act($0) * $1 } }
        h = add(h, linear(product, p + ".mlp.down_proj", bias: false))
      }
    }
    return linear(norm(h, "model.norm"), "lm_head", bias: a.kind == .mlp).flatMap { $0 }
  }

  /// Mean cross-entropy in float64 (targets -1 not counted).
  public static func loss(_ parameters: Parameters, _ batch: Batch, targets: [Int32]) throws(RuntimeError) -> Double {
    let logits = try forward(parameters, batch)
    let width = parameters.layout.architecture.outputs
    var total = 0.0
    var counted = 0
    for (r, t) in targets.enumerated() where t >= 0 {
      let row = logits[(r * width)..<((r + 1) * width)]
      let m = row.max() ?? 0
      let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
      total += lse - row[r * width + Int(t)]
      counted += 1
    }
    guard counted > 0 else { throw .targets("every target is -1 (ignored)") }
    return total / Double(counted)
  }
}
