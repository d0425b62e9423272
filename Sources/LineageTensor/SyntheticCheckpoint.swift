import LineageCore

/// Seeded synthetic checkpoints with transformer-shaped tensor names, for demos, tests and
/// benchmarks. Deterministic: the same seed and plan give the same bytes on every machine.
public enum SyntheticCheckpoint {
  /// A planned tensor.
  public struct TensorSpec: Sendable, Equatable {
    public var name: String
    public var shape: [UInt64]
    public var dtype: DType
    public var elementCount: Int { Int(shape.reduce(1, *)) }
    public init(name: String, shape: [UInt64], dtype: DType) {
      self.name = name
      self.shape = shape
      self.dtype = dtype
    }
  }

  /// A llama-style layout of roughly `targetBytes` bytes: embedding, per-layer attention and
  /// MLP projections with norms, final norm and head.
  public static func plan(targetBytes: Int, dtype: DType) -> [TensorSpec] {
    let width = dtype.width
    // Pick a hidden size so that ~12 layers reach the target: per layer ≈ 12 h² elements.
    var hidden = 64
    while 12 * 12 * (hidden * 2) * (hidden * 2) * width <= targetBytes { hidden *= 2 }
    let vocab = 4 * hidden
    var specs: [TensorSpec] = []
    func add(_ name: String, _ shape: [Int]) {
      specs.append(TensorSpec(name: name, shape: shape.map(UInt64.init), dtype: dtype))
    }
    add("model.embed_tokens.weight", [vocab, hidden])
    var total = vocab * hidden * width
    var layer = 0
    let perLayer = (4 * hidden * hidden + 3 * hidden * 4 * hidden + 2 * hidden) * width
    while total + perLayer + (vocab * hidden + hidden) * width <= targetBytes || layer == 0 {
      let p = "model.layers.\(layer)"
      for proj in ["q_proj", "k_proj", "v_proj", "o_proj"] { add("\(p).self_attn.\(proj).weight", [hidden, hidden]) }
      add("\(p).mlp.gate_proj.weight", [4 * hidden, hidden])
      add("\(p).mlp.up_proj.weight", [4 * hidden, hidden])
      add("\(p).mlp.down_proj.weight", [hidden, 4 * hidden])
      add("\(p).input_layernorm.weight", [hidden])
      add("\(p).post_attention_layernorm.weight", [hidden])
      total += perLayer
      layer += 1
    }
    add("model.norm.weight", [hidden])
    add("lm_head.weight", [vocab, hidden])
    return specs
  }

  /// A deterministic per-tensor seed from the checkpoint seed and the tensor name.
  public static func seed(_ base: UInt64, name: String) -> UInt64 {
    var s = base
    for b in name.utf8 { s = (s ^ UInt64(b)) &* 0x100_0000_01B3 }
    return SplitMix64.next(&s)
  }

  /// Fill `out` with the tensor's values: N(0, 0.02²) weights, norms near 1.
  public static func fill(_ spec: TensorSpec, seed: UInt64, into out: UnsafeMutableRawBufferPointer) {
    var rng = Xoshiro(seed: seed)
    let isNorm = spec.shape.count == 1
    let n = spec.elementCount
    var k = 0
    while k < n {
      let (a, b) = rng.normalPair()
      store(isNorm ? 1 + 0.05 * a : 0.02 * a, at: k, dtype: spec.dtype, into: out)
      if k + 1 < n { store(isNorm ? 1 + 0.05 * b : 0.02 * b, at: k + 1, dtype: spec.dtype, into: out) }
      k += 2
    }
  }

  /// Add `scale` × 0.02 × N(0,1) to every element in place: a small training step.
  public static func perturb(
    _ spec: TensorSpec, seed: UInt64, scale: Float, in data: UnsafeMutableRawBufferPointer
  ) {
    var rng = Xoshiro(seed: seed)
    let n = spec.elementCount
    var k = 0
    while k < n {
      let (a, b) = rng.normalPair()
      store(load(at: k, dtype: spec.dtype, from: data) + scale * 0.02 * a, at: k, dtype: spec.dtype, into: data)
      if k + 1 < n {
        store(load(at: k + 1, dtype: spec.dtype, from: data) + scale * 0.02 * b, at: k + 1, dtype: spec.dtype, into: data)
      }
      k += 2
    }
  }

  static func store(_ v: Float, at k: Int, dtype: DType, into out: UnsafeMutableRawBufferPointer) {
    switch dtype {
    case .f32: out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: k * 4, as: UInt32.self)
    case .bf16: out.storeBytes(of: bf16Bits(v).littleEndian, toByteOffset: k * 2, as: UInt16.self)
    case .f16: out.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: k * 2, as: UInt16.self)
    default: out.storeBytes(of: UInt8(truncatingIfNeeded: Int(v * 1000)), toByteOffset: k * dtype.width, as: UInt8.self)
    }
  }

  static func load(at k: Int, dtype: DType, from data: UnsafeMutableRawBufferPointer) -> Float {
    switch dtype {
    case .f32: return Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: k * 4, as: UInt32.self)))
    case .bf16:
      let bits = UInt16(littleEndian: data.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self))
      return Float(bitPattern: UInt32(bits) << 16)
    case .f16: return Float(Float16(bitPattern: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self))))
    default: return 0
    }
  }

  /// float32 → bfloat16 with round-to-nearest-even (NaN kept quiet).
  public static func bf16Bits(_ v: Float) -> UInt16 {
    let bits = v.bitPattern
    if v.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
  }
}

/// xoshiro256** seeded through SplitMix64, with Box–Muller normals: the one seeded generator
/// behind every fixture (checkpoints, runtime initialisation, synthetic tasks).
public struct Xoshiro: Sendable {
  var s: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var st = seed
    s = (SplitMix64.next(&st), SplitMix64.next(&st), SplitMix64.next(&st), SplitMix64.next(&st))
  }

  public mutating func next() -> UInt64 {
    let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
    let t = s.1 << 17
    s.2 ^= s.0
    s.3 ^= s.1
    s.1 ^= s.2
    s.0 ^= s.3
    s.2 ^= t
    s.3 = s.3 << 45 | s.3 >> 19
    return result
  }

  /// A uniform in (0, 1].
  public mutating func uniform() -> Float { Float((next() >> 40) + 1) * (1.0 / 16_777_216.0) }

  public mutating func normalPair() -> (Float, Float) {
    let r = (-2 * Float.log(uniform())).squareRoot()
    let theta = 2 * Float.pi * uniform()
    return (r * Float.cos(theta), r * Float.sin(theta))
  }

  /// A uniform integer in 0 ..< n (n ≥ 1), by Lemire's multiply-shift (bias below 2⁻³²·n).
  public mutating func below(_ n: Int) -> Int {
    precondition(n >= 1, "below(0)")
    return Int(next().multipliedFullWidth(by: UInt64(n)).high)
  }

  /// One N(0, 1) sample (the second of the Box–Muller pair is dropped: simplicity over speed).
  public mutating func normal() -> Float { normalPair().0 }
}

extension Float {
  static func log(_ x: Float) -> Float { Float(Foundation_log(Double(x))) }
  static func cos(_ x: Float) -> Float { Float(Foundation_cos(Double(x))) }
  static func sin(_ x: Float) -> Float { Float(Foundation_sin(Double(x))) }
}
