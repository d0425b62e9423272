import LineageNative

/// What produced a result: replaying with the same profile, weights and input gives the same bits.
public struct NumericsProfile: Equatable, Sendable {
  public static let runtimeVersion = "lineage-runtime/1"
  public var runtime: String
  /// OpenBLAS's build configuration.
  public var blas: String
  /// The kernel set OpenBLAS chose for this CPU.
  public var core: String
  public var threads: Int

  public init(runtime: String, blas: String, core: String, threads: Int) {
    self.runtime = runtime
    self.blas = blas
    self.core = core
    self.threads = threads
  }
}

/// A batch of inputs.
public enum Batch: Sendable, Equatable {
  /// mlp: `rows` feature vectors, row-major.
  case features([Float], rows: Int)
  /// transformer: `rows` token sequences of `length`, row-major.
  case tokens([Int32], rows: Int, length: Int)

  /// Examples in the batch.
  public var rows: Int {
    switch self {
    case .features(_, let r), .tokens(_, let r, _): r
    }
  }

  /// The examples at `indices`, in that order.
  public func select(_ indices: [Int]) -> Batch {
    switch self {
    case .features(let v, let rows):
      let w = rows > 0 ? v.count / rows : 0
      return .features(indices.flatMap { v[($0 * w)..<(($0 + 1) * w)] }, rows: indices.count)
    case .tokens(let v, _, let length):
      return .tokens(indices.flatMap { v[($0 * length)..<(($0 + 1) * length)] }, rows: indices.count, length: length)
    }
  }
}

/// One stage's output in a forward pass.
public struct ActivationRecord: Sendable, Equatable {
  /// `model.input_proj`, `model.embed_tokens`, `model.layers.i`, `model.norm`, `lm_head`.
  public var name: String
  public var shape: [Int]
  /// SHA-256 of the values as little-endian float32 bytes.
  public var digest: SHA256Digest
  public var values: [Float]
}

/// The outputs of a forward pass: logits `[positions, width]` and, when asked, each stage.
public struct ForwardResult: Sendable {
  public var logits: [Float]
  /// Rows of logits: examples (mlp) or examples × length (transformer).
  public var positions: Int
  public var width: Int
  public var activations: [ActivationRecord]

  /// SHA-256 of the logits as little-endian float32 bytes.
  public var digest: SHA256Digest { logits.withUnsafeBytes { SHA256Hasher.hash($0) } }

  /// The argmax of each row.
  public var predictions: [Int] {
    (0..<positions).map { r in
      var best = 0
      for j in 1..<max(width, 1) where logits[r * width + j] > logits[r * width + best] { best = j }
      return best
    }
  }
}

/// Mean loss and accuracy over counted targets.
public struct Evaluation: Sendable, Equatable {
  public var loss: Double
  public var accuracy: Double
  public var counted: Int
}

/// Runs one architecture: forward passes (optionally recorded) and gradients.
public struct Model: Sendable {
  public let architecture: Architecture
  public let layout: ParameterLayout
  /// OpenBLAS threads used for every call (fixed, so results are reproducible).
  public let threads: Int

  public init(_ architecture: Architecture, threads: Int = 1) throws(RuntimeError) {
    try architecture.validate()
    guard threads >= 1, threads <= 256 else { throw .training("threads must be between 1 and 256, is \(threads)") }
    self.architecture = architecture
    self.layout = ParameterLayout(architecture)
    self.threads = threads
  }

  /// The numerics profile every result of this model carries.
  public var profile: NumericsProfile {
    let c = BLASConfiguration.current()
    return NumericsProfile(runtime: NumericsProfile.runtimeVersion, blas: c.config, core: c.coreName, threads: threads)
  }

  /// Logits for a batch; with `record`, every stage's output and digest too.
  public func forward(_ parameters: Parameters, _ batch: Batch, record: Bool = false) throws(RuntimeError) -> ForwardResult {
    try run(parameters, batch, targets: nil, wantGradient: false, record: record).result
  }

  /// Mean loss and accuracy of the batch against targets.
  public func evaluate(_ parameters: Parameters, _ batch: Batch, targets: [Int32]) throws(RuntimeError) -> Evaluation {
    guard let e = try run(parameters, batch, targets: targets, wantGradient: false, record: false).evaluation else {
      throw .targets("no targets")
    }
    return e
  }

  /// The gradient of the mean loss over the batch, in the parameter layout.
  public func gradient(_ parameters: Parameters, _ batch: Batch, targets: [Int32]) throws(RuntimeError) -> (
    evaluation: Evaluation, gradient: [Float]
  ) {
    let out = try run(parameters, batch, targets: targets, wantGradient: true, record: false)
    guard let e = out.evaluation, let g = out.gradient else { throw .targets("no targets") }
    return (e, g)
  }

  /// One example's gradient (a batch of one), for data attribution.
  public func gradient(_ parameters: Parameters, _ batch: Batch, targets: [Int32], example: Int) throws(RuntimeError) -> [Float] {
    guard example >= 0, example < batch.rows else { throw .input("example \(example) is outside the batch of \(batch.rows)") }
    let per = targets.count / max(batch.rows, 1)
    let t = Array(targets[(example * per)..<((example + 1) * per)])
    return try gradient(parameters, batch.select([example]), targets: t).gradient
  }

  // MARK: - Checks

  /// Positions (logit rows) of a valid batch.
  func check(_ batch: Batch) throws(RuntimeError) -> Int {
    let a = architecture
    switch (a.kind, batch) {
    case (.mlp, .features(let v, let rows)):
      guard rows >= 1 else { throw .input("the batch is empty") }
      guard v.count == rows * a.inputs else { throw .input("\(v.count) values for \(rows) row(s) of \(a.inputs) features") }
      guard v.allSatisfy(\.isFinite) else { throw .input("features hold NaN or infinity") }
      return rows
    case (.transformer, .tokens(let v, let rows, let length)):
      guard rows >= 1, length >= 1 else { throw .input("the batch is empty") }
      guard length <= a.context else { throw .input("sequence length \(length) exceeds the context of \(a.context)") }
      guard v.count == rows * length else { throw .input("\(v.count) tokens for \(rows) row(s) of length \(length)") }
      if let bad = v.first(where: { $0 < 0 || Int($0) >= a.outputs }) {
        throw .input("token \(bad) is outside the vocabulary 0..<\(a.outputs)")
      }
      return rows * length
    case (.mlp, .tokens): throw .input("an mlp takes feature rows, not tokens")
    case (.transformer, .features): throw .input("a transformer takes tokens, not feature rows")
    }
  }

  // MARK: - Forward and backward

  struct Output {
    var result: ForwardResult
    var evaluation: Evaluation?
    var gradient: [Float]?
  }

  func run(_ parameters: Parameters, _ batch: Batch, targets: [Int32]?, wantGradient: Bool, record: Bool) throws(RuntimeError) -> Output {
    guard parameters.layout == layout else { throw .input("the weights belong to another architecture") }
    let positions = try check(batch)
    if let targets {
      guard targets.count == positions else { throw .targets("\(targets.count) targets for \(positions) position(s)") }
      if let bad = targets.first(where: { $0 < -1 || Int($0) >= architecture.outputs }) {
        throw .targets("target \(bad) is outside -1..<\(architecture.outputs)")
      }
      guard targets.contains(where: { $0 >= 0 }) else { throw .targets("every target is -1 (ignored)") }
    }
    return BLAS.withThreads(threads) { runPass(parameters, batch, positions: positions, targets: targets, wantGradient: wantGradient, record: record) }
  }

  /// The pass itself, with OpenBLAS at this model's thread count.
  private func runPass(_ parameters: Parameters, _ batch: Batch, positions: Int, targets: [Int32]?, wantGradient: Bool, record: Bool) -> Output {
    parameters.values.withUnsafeBufferPointer { pv in
      guard let base = pv.baseAddress else { preconditionFailure("empty parameter vector") }
      let pass = Pass(model: self, p: base, positions: positions, record: record)
      let logits: Buffer
      switch batch {
      case .features(let x, let rows): logits = pass.mlpForward(x, rows: rows)
      case .tokens(let t, let rows, let length): logits = pass.transformerForward(t, rows: rows, length: length)
      }
      let width = architecture.outputs
      var out = Output(
        result: ForwardResult(logits: logits.array, positions: positions, width: width, activations: pass.records),
        evaluation: nil, gradient: nil)
      guard let targets else { return out }
      let dLogits = wantGradient ? Buffer(positions * width) : nil
      let ce = Ops.crossEntropy(logits.c, rows: positions, width: width, targets: targets, gradient: dLogits?.p)
      out.evaluation = Evaluation(loss: ce.loss / Double(ce.counted), accuracy: Double(ce.correct) / Double(ce.counted), counted: ce.counted)
      if let dLogits {
        let g = Buffer(layout.count)
        switch batch {
        case .features(let x, let rows): pass.mlpBackward(dLogits, x: x, rows: rows, into: g.p)
        case .tokens(let t, let rows, let length): pass.transformerBackward(dLogits, tokens: t, rows: rows, length: length, into: g.p)
        }
        out.gradient = g.array
      }
      return out
    }
  }
}

/// One forward (and optional backward) pass: the tape of stage outputs lives here.
final class Pass {
  let a: Architecture
  let layout: ParameterLayout
  let p: ConstFloatPointer
  let R: Int
  let record: Bool
  var records: [ActivationRecord] = []

  // mlp tape: residual stream per layer (L+1), normed input, up (pre-activation), activation.
  var h: [Buffer] = []
  var normed: [Buffer] = []
  var stats: [Buffer] = []
  var up: [Buffer] = []
  var act: [Buffer] = []
  // transformer tape (per layer).
  var q: [Buffer] = []
  var k: [Buffer] = []
  var v: [Buffer] = []
  var probs: [Buffer] = []
  var attn: [Buffer] = []
  var mid: [Buffer] = []
  var normed2: [Buffer] = []
  var stats2: [Buffer] = []
  var gate: [Buffer] = []
  // final norm
  var final = Buffer(0)
  var finalStats = Buffer(0)

  init(model: Model, p: ConstFloatPointer, positions: Int, record: Bool) {
    a = model.architecture
    layout = model.layout
    self.p = p
    R = positions
    self.record = record
  }

  func w(_ name: String) -> ConstFloatPointer { p + layout.offset(name) }
  func wOpt(_ name: String) -> ConstFloatPointer? { layout.optionalOffset(name).map { p + $0 } }

  func note(_ name: String, _ b: Buffer, _ shape: [Int]) {
    guard record else { return }
    let values = b.array
    let digest = values.withUnsafeBytes { SHA256Hasher.hash($0) }
    records.append(ActivationRecord(name: name, shape: shape, digest: digest, values: values))
  }

  func normalise(_ prefix: String, _ x: Buffer) -> (Buffer, Buffer) {
    let y = Buffer(overwritten: R * a.hidden)
    let s = Buffer(overwritten: 2 * R)
    Ops.norm(
      a.norm, x.c, rows: R, width: a.hidden, weight: w(prefix + ".weight"), bias: wOpt(prefix + ".bias"), epsilon: a.normEpsilon,
      into: y.p, stats: s.p)
    return (y, s)
  }

  func normBackward(_ prefix: String, _ dy: Buffer, x: Buffer, stats: Buffer, g: FloatPointer, into dx: Buffer, accumulate: Bool) {
    Ops.normBackward(
      a.norm, dy.c, x: x.c, rows: R, width: a.hidden, weight: w(prefix + ".weight"), stats: stats.c,
      weightGradient: g + layout.offset(prefix + ".weight"), biasGradient: layout.optionalOffset(prefix + ".bias").map { g + $0 },
      inputGradient: dx.p, accumulate: accumulate)
  }

  func linear(_ name: String, _ x: Buffer, inputs: Int, outputs: Int, bias: Bool) -> Buffer {
    let y = Buffer(overwritten: R * outputs)
    Ops.linear(x.c, rows: R, inputs: inputs, outputs: outputs, weight: w(name + ".weight"), bias: bias ? w(name + ".bias") : nil, into: y.p)
    return y
  }

  func linearBackward(
    _ name: String, _ dy: Buffer, x: ConstFloatPointer, inputs: Int, outputs: Int, bias: Bool, g: FloatPointer, into dx: Buffer?,
    accumulate: Bool
  ) {
    Ops.linearBackward(
      dy.c, x: x, rows: R, inputs: inputs, outputs: outputs, weight: w(name + ".weight"), weightGradient: g + layout.offset(name + ".weight"),
      biasGradient: bias ? g + layout.offset(name + ".bias") : nil, inputGradient: dx?.p, accumulate: accumulate)
  }

  func head() -> Buffer {
    let last = h[h.count - 1]
    (final, finalStats) = normalise("model.norm", last)
    note("model.norm", final, [R, a.hidden])
    let logits = linear("lm_head", final, inputs: a.hidden, outputs: a.outputs, bias: a.kind == .mlp)
    note("lm_head", logits, [R, a.outputs])
    return logits
  }

  /// Backward through the head and the final norm: the gradient of the last residual stream.
  func headBackward(_ dLogits: Buffer, g: FloatPointer) -> Buffer {
    let dz = Buffer(R * a.hidden)
    linearBackward("lm_head", dLogits, x: final.c, inputs: a.hidden, outputs: a.outputs, bias: a.kind == .mlp, g: g, into: dz, accumulate: false)
    let dh = Buffer(R * a.hidden)
    normBackward("model.norm", dz, x: h[a.layers], stats: finalStats, g: g, into: dh, accumulate: false)
    return dh
  }

  // MARK: mlp

  func mlpForward(_ x: [Float], rows: Int) -> Buffer {
    let H = a.hidden
    let I = a.intermediate
    let input = x.withUnsafeBufferPointer { xb -> Buffer in
      let y = Buffer(R * H)
      guard let xp = xb.baseAddress else { return y }
      Ops.linear(xp, rows: R, inputs: a.inputs, outputs: H, weight: w("model.input_proj.weight"), bias: w("model.input_proj.bias"), into: y.p)
      return y
    }
    h = [input]
    note("model.input_proj", input, [R, H])
    for i in 0..<a.layers {
      let prefix = "model.layers.\(i)"
      let (n, s) = normalise(prefix + ".norm", h[i])
      let u = linear(prefix + ".mlp.up_proj", n, inputs: H, outputs: I, bias: true)
      let act = Buffer(overwritten: R * I)
      Ops.activate(a.activation, u.c, count: R * I, into: act.p)
      let d = linear(prefix + ".mlp.down_proj", act, inputs: I, outputs: H, bias: true)
      for j in 0..<(R * H) { d.p[j] += h[i].p[j] }
      normed.append(n)
      stats.append(s)
      up.append(u)
      self.act.append(act)
      h.append(d)
      note(prefix, d, [R, H])
    }
    return head()
  }

  func mlpBackward(_ dLogits: Buffer, x: [Float], rows: Int, into g: FloatPointer) {
    let H = a.hidden
    let I = a.intermediate
    let dh = headBackward(dLogits, g: g)
    let dAct = Buffer(R * I)
    let dn = Buffer(R * H)
    for i in stride(from: a.layers - 1, through: 0, by: -1) {
      let prefix = "model.layers.\(i)"
      linearBackward(prefix + ".mlp.down_proj", dh, x: act[i].c, inputs: I, outputs: H, bias: true, g: g, into: dAct, accumulate: false)
      for j in 0..<(R * I) { dAct.p[j] *= Ops.derivative(a.activation, up[i].p[j]) }
      linearBackward(prefix + ".mlp.up_proj", dAct, x: normed[i].c, inputs: H, outputs: I, bias: true, g: g, into: dn, accumulate: false)
      normBackward(prefix + ".norm", dn, x: h[i], stats: stats[i], g: g, into: dh, accumulate: true)
    }
    x.withUnsafeBufferPointer { xb in
      guard let xp = xb.baseAddress else { return }
      linearBackward("model.input_proj", dh, x: xp, inputs: a.inputs, outputs: H, bias: true, g: g, into: nil, accumulate: false)
    }
  }

  // MARK: transformer

  func transformerForward(_ tokens: [Int32], rows: Int, length: Int) -> Buffer {
    let H = a.hidden
    let I = a.intermediate
    let embed = w("model.embed_tokens.weight")
    let positions = w("model.embed_positions.weight")
    let h0 = Buffer(R * H)
    for r in 0..<R {
      let t = Int(tokens[r])
      let pos = r % length
      for j in 0..<H { h0.p[r * H + j] = embed[t * H + j] + positions[pos * H + j] }
    }
    h = [h0]
    note("model.embed_tokens", h0, [R, H])
    for i in 0..<a.layers {
      let prefix = "model.layers.\(i)"
      let (n1, s1) = normalise(prefix + ".input_layernorm", h[i])
      let qi = linear(prefix + ".self_attn.q_proj", n1, inputs: H, outputs: H, bias: false)
      let ki = linear(prefix + ".self_attn.k_proj", n1, inputs: H, outputs: H, bias: false)
      let vi = linear(prefix + ".self_attn.v_proj", n1, inputs: H, outputs: H, bias: false)
      let pr = Buffer(rows * a.heads * length * length)
      let o = Buffer(R * H)
      Ops.attention(q: qi.c, k: ki.c, v: vi.c, batch: rows, length: length, hidden: H, heads: a.heads, probabilities: pr.p, into: o.p)
      let m = linear(prefix + ".self_attn.o_proj", o, inputs: H, outputs: H, bias: false)
      for j in 0..<(R * H) { m.p[j] += h[i].p[j] }
      let (n2, s2) = normalise(prefix + ".post_attention_layernorm", m)
      let gt = linear(prefix + ".mlp.gate_proj", n2, inputs: H, outputs: I, bias: false)
      let u = linear(prefix + ".mlp.up_proj", n2, inputs: H, outputs: I, bias: false)
      let product = Buffer(R * I)
      for j in 0..<(R * I) { product.p[j] = Ops.activate(a.activation, gt.p[j]) * u.p[j] }
      let out = linear(prefix + ".mlp.down_proj", product, inputs: I, outputs: H, bias: false)
      for j in 0..<(R * H) { out.p[j] += m.p[j] }
      normed.append(n1)
      stats.append(s1)
      q.append(qi)
      k.append(ki)
      v.append(vi)
      probs.append(pr)
      attn.append(o)
      mid.append(m)
      normed2.append(n2)
      stats2.append(s2)
      gate.append(gt)
      up.append(u)
      act.append(product)
      h.append(out)
      note(prefix, out, [R, H])
    }
    return head()
  }

  func transformerBackward(_ dLogits: Buffer, tokens: [Int32], rows: Int, length: Int, into g: FloatPointer) {
    let H = a.hidden
    let I = a.intermediate
    var dh = headBackward(dLogits, g: g)
    let dProduct = Buffer(R * I)
    let dGate = Buffer(R * I)
    let dn = Buffer(R * H)
    let dAttn = Buffer(R * H)
    let dq = Buffer(R * H)
    let dk = Buffer(R * H)
    let dv = Buffer(R * H)
    for i in stride(from: a.layers - 1, through: 0, by: -1) {
      let prefix = "model.layers.\(i)"
      linearBackward(prefix + ".mlp.down_proj", dh, x: act[i].c, inputs: I, outputs: H, bias: false, g: g, into: dProduct, accumulate: false)
      // product = act(gate) ⊙ up.
      for j in 0..<(R * I) {
        let gj = gate[i].p[j]
        dGate.p[j] = dProduct.p[j] * up[i].p[j] * Ops.derivative(a.activation, gj)
        dProduct.p[j] *= Ops.activate(a.activation, gj)
      }
      linearBackward(prefix + ".mlp.gate_proj", dGate, x: normed2[i].c, inputs: H, outputs: I, bias: false, g: g, into: dn, accumulate: false)
      linearBackward(prefix + ".mlp.up_proj", dProduct, x: normed2[i].c, inputs: H, outputs: I, bias: false, g: g, into: dn, accumulate: true)
      let dMid = dh.copy()
      normBackward(prefix + ".post_attention_layernorm", dn, x: mid[i], stats: stats2[i], g: g, into: dMid, accumulate: true)
      linearBackward(prefix + ".self_attn.o_proj", dMid, x: attn[i].c, inputs: H, outputs: H, bias: false, g: g, into: dAttn, accumulate: false)
      Ops.attentionBackward(
        dAttn.c, q: q[i].c, k: k[i].c, v: v[i].c, probabilities: probs[i].c, batch: rows, length: length, hidden: H, heads: a.heads,
        dq: dq.p, dk: dk.p, dv: dv.p)
      linearBackward(prefix + ".self_attn.q_proj", dq, x: normed[i].c, inputs: H, outputs: H, bias: false, g: g, into: dn, accumulate: false)
      linearBackward(prefix + ".self_attn.k_proj", dk, x: normed[i].c, inputs: H, outputs: H, bias: false, g: g, into: dn, accumulate: true)
      linearBackward(prefix + ".self_attn.v_proj", dv, x: normed[i].c, inputs: H, outputs: H, bias: false, g: g, into: dn, accumulate: true)
      normBackward(prefix + ".input_layernorm", dn, x: h[i], stats: stats[i], g: g, into: dMid, accumulate: true)
      dh = dMid
    }
    let dEmbed = g + layout.offset("model.embed_tokens.weight")
    let dPositions = g + layout.offset("model.embed_positions.weight")
    for r in 0..<R {
      let t = Int(tokens[r])
      let pos = r % length
      for j in 0..<H {
        dEmbed[t * H + j] += dh.p[r * H + j]
        dPositions[pos * H + j] += dh.p[r * H + j]
      }
    }
  }
}
