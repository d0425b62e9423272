import LineageCore
import LineageTensor

/// Tensor bytes as `Float` values: scalar dtypes through `TensorValues`, GGML block types by
/// ggml's reference `dequantize_row_*` (ggml-quants.c; gguf-py's quants.py mirrors it).
///
/// Each value is computed with the same float32 operations in the same order as the reference
/// (scale × quant, then − min), so results match gguf-py bit for bit; block scales are IEEE
/// binary16 converted exactly (NaN payloads kept).
public enum Dequantize {
  /// The block-quantized dtypes with a dequantization; other quantized types throw
  /// `FormatError.noDequantization`.
  public static let quantizedTypes: Set<DType> = [
    .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl, .iq4_xs, .tq1_0, .tq2_0, .mxfp4,
  ]

  /// Convert `bytes`, a whole number of `dtype` elements (scalar types) or blocks (quantized
  /// types), to floats: one per element, in the order the file stores them.
  public static func floats(_ bytes: UnsafeRawBufferPointer, dtype: DType) throws -> [Float] {
    guard bytes.count % dtype.blockBytes == 0 else {
      throw GGUFError.partialBlock(dtype: dtype.rawValue, byteCount: bytes.count, blockBytes: dtype.blockBytes)
    }
    guard dtype.isQuantized else {
      var out: [Float] = []
      TensorValues.floats(bytes, dtype: dtype, into: &out)
      return out
    }
    let block: (UnsafeRawBufferPointer, UnsafeMutableBufferPointer<Float>) -> Void
    switch dtype {
    case .q4_0: block = q4_0
    case .q4_1: block = q4_1
    case .q5_0: block = q5_0
    case .q5_1: block = q5_1
    case .q8_0: block = q8_0
    case .q2_k: block = q2_k
    case .q3_k: block = q3_k
    case .q4_k: block = q4_k
    case .q5_k: block = q5_k
    case .q6_k: block = q6_k
    case .iq4_nl: block = iq4_nl
    case .iq4_xs: block = iq4_xs
    case .tq1_0: block = tq1_0
    case .tq2_0: block = tq2_0
    case .mxfp4: block = mxfp4
    default: throw FormatError.noDequantization(dtype: dtype.rawValue)
    }
    let bb = dtype.blockBytes
    let qk = dtype.blockElements
    let blocks = bytes.count / bb
    return [Float](unsafeUninitializedCapacity: blocks * qk) { out, count in
      for k in 0..<blocks {
        block(UnsafeRawBufferPointer(rebasing: bytes[(k * bb)..<((k + 1) * bb)]), UnsafeMutableBufferPointer(rebasing: out[(k * qk)..<((k + 1) * qk)]))
      }
      count = blocks * qk
    }
  }

  /// IEEE binary16 to binary32, exactly (NaN payloads shifted as numpy does).
  static func half(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    let mant = UInt32(h & 0x3FF)
    switch exp {
    case 0x1F: return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
    case 0:
      let v = Float(mant) * 0x1p-24  // exact: at most 10 significant bits
      return sign != 0 ? -v : v
    default: return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }
  }

  private static func f16(_ b: UnsafeRawBufferPointer, _ i: Int) -> Float { half(UInt16(b[i]) | UInt16(b[i + 1]) << 8) }

  // Legacy 32-value blocks: d (f16) [m (f16)] [qh (u32)] qs; value j in the low nibble of
  // qs[j], value j + 16 in the high nibble.

  private static func q4_0(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0)
    for j in 0..<16 {
      y[j] = d * Float(Int(b[2 + j] & 0xF) - 8)
      y[j + 16] = d * Float(Int(b[2 + j] >> 4) - 8)
    }
  }

  private static func q4_1(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0), m = f16(b, 2)
    for j in 0..<16 {
      y[j] = d * Float(b[4 + j] & 0xF) + m
      y[j + 16] = d * Float(b[4 + j] >> 4) + m
    }
  }

  private static func u32(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
  }

  private static func q5_0(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0), qh = u32(b, 2)
    for j in 0..<16 {
      let h0 = UInt8((qh >> j) & 1) << 4, h1 = UInt8((qh >> (j + 16)) & 1) << 4
      y[j] = d * Float(Int((b[6 + j] & 0xF) | h0) - 16)
      y[j + 16] = d * Float(Int((b[6 + j] >> 4) | h1) - 16)
    }
  }

  private static func q5_1(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0), m = f16(b, 2), qh = u32(b, 4)
    for j in 0..<16 {
      let h0 = UInt8((qh >> j) & 1) << 4, h1 = UInt8((qh >> (j + 16)) & 1) << 4
      y[j] = d * Float((b[8 + j] & 0xF) | h0) + m
      y[j + 16] = d * Float((b[8 + j] >> 4) | h1) + m
    }
  }

  private static func q8_0(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0)
    for j in 0..<32 { y[j] = d * Float(Int8(bitPattern: b[2 + j])) }
  }

  // K-quants: 256-value super-blocks of 16 (or 8) sub-blocks, each with its own scale.

  /// Q2_K: scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin.
  private static func q2_k(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 80), dmin = f16(b, 82)
    for e in 0..<256 {
      let sc = b[e / 16]
      let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
      let q = (b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3
      y[e] = dl * Float(q) - ml
    }
  }

  /// Q3_K: hmask[32] (high bit, set means no −4), qs[64] (low 2 bits), scales[12] (6-bit, −32), d.
  private static func q3_k(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 108)
    var dl = [Float](repeating: 0, count: 16)
    for i in 0..<16 {
      let low = (b[96 + i % 8] >> (4 * (i / 8))) & 0xF
      let high = (b[104 + i % 4] >> (2 * (i / 4))) & 3
      dl[i] = d * Float(Int(low | high << 4) - 32)
    }
    for e in 0..<256 {
      let low = Int((b[32 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3)
      let high = (b[e % 32] >> (e / 32)) & 1
      y[e] = dl[e / 16] * Float(low - (high == 1 ? 0 : 4))
    }
  }

  /// The 6-bit scales and mins of Q4_K and Q5_K's eight sub-blocks, packed in 12 bytes at `at`.
  private static func scaleMin(_ b: UnsafeRawBufferPointer, _ at: Int, _ j: Int) -> (UInt8, UInt8) {
    if j < 4 { return (b[at + j] & 63, b[at + j + 4] & 63) }
    return ((b[at + j + 4] & 0xF) | ((b[at + j - 4] >> 6) << 4), (b[at + j + 4] >> 4) | ((b[at + j] >> 6) << 4))
  }

  /// Q4_K: d, dmin, scales[12], qs[128]: sub-block s in the low (even s) or high (odd s) nibbles
  /// of qs[32·(s/2) ..< 32·(s/2) + 32].
  private static func q4_k(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0), dmin = f16(b, 2)
    for s in 0..<8 {
      let (sc, m) = scaleMin(b, 4, s)
      let d1 = d * Float(sc), m1 = dmin * Float(m)
      for l in 0..<32 {
        let q = (b[16 + 32 * (s / 2) + l] >> (4 * (s % 2))) & 0xF
        y[32 * s + l] = d1 * Float(q) - m1
      }
    }
  }

  /// Q5_K: as Q4_K with qh[32] holding the fifth bit of sub-block s in bit s.
  private static func q5_k(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0), dmin = f16(b, 2)
    for s in 0..<8 {
      let (sc, m) = scaleMin(b, 4, s)
      let d1 = d * Float(sc), m1 = dmin * Float(m)
      for l in 0..<32 {
        let q = ((b[48 + 32 * (s / 2) + l] >> (4 * (s % 2))) & 0xF) | (((b[16 + l] >> s) & 1) << 4)
        y[32 * s + l] = d1 * Float(q) - m1
      }
    }
  }

  /// Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d; values − 32.
  private static func q6_k(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 208)
    for e in 0..<256 {
      let h = e / 128, r = e % 128
      let low = (b[64 * h + r % 64] >> (4 * (r / 64))) & 0xF
      let high = (b[128 + 32 * h + r % 32] >> (2 * (r / 32))) & 3
      let sc = Float(Int8(bitPattern: b[192 + e / 16]))
      y[e] = (d * sc) * Float(Int(low | high << 4) - 32)
    }
  }

  // Non-linear and ternary types.

  /// IQ4_NL and IQ4_XS's sixteen levels (ggml-common.h `kvalues_iq4nl`).
  private static let iq4Levels: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

  /// IQ4_NL: d, qs[16]: value j the level of qs[j]'s low nibble, value j + 16 of its high one.
  private static func iq4_nl(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0)
    for j in 0..<16 {
      y[j] = d * Float(iq4Levels[Int(b[2 + j] & 0xF)])
      y[j + 16] = d * Float(iq4Levels[Int(b[2 + j] >> 4)])
    }
  }

  /// IQ4_XS: d, scales_h (u16, 2 bits per sub-block), scales_l[4] (4 bits), qs[128]; eight
  /// 32-value sub-blocks with 6-bit scales − 32.
  private static func iq4_xs(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 0)
    let high = UInt16(b[2]) | UInt16(b[3]) << 8
    for s in 0..<8 {
      let low = (b[4 + s / 2] >> (4 * (s % 2))) & 0xF
      let dl = d * Float(Int(low | UInt8((high >> (2 * s)) & 3) << 4) - 32)
      for l in 0..<32 {
        let q = (b[8 + 16 * s + l % 16] >> (4 * (l / 16))) & 0xF
        y[32 * s + l] = dl * Float(iq4Levels[Int(q)])
      }
    }
  }

  /// TQ1_0: qs[48] and qh[4] hold five (four) base-3 digits per byte as fixed-point fractions;
  /// digit m of byte x is ((x · 3^m mod 256) · 3) >> 8, minus 1; then d.
  private static func tq1_0(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 52)
    let pow3: [UInt8] = [1, 3, 9, 27, 81]
    func trit(_ x: UInt8, _ m: Int) -> Float { Float(Int((UInt16(x &* pow3[m]) * 3) >> 8) - 1) }
    for m in 0..<5 {
      for l in 0..<32 { y[32 * m + l] = d * trit(b[l], m) }
      for l in 0..<16 { y[160 + 16 * m + l] = d * trit(b[32 + l], m) }
    }
    for m in 0..<4 {
      for l in 0..<4 { y[240 + 4 * m + l] = d * trit(b[48 + l], m) }
    }
  }

  /// TQ2_0: qs[64] (2 bits, − 1), d.
  private static func tq2_0(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = f16(b, 64)
    for e in 0..<256 {
      let q = (b[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3
      y[e] = d * Float(Int(q) - 1)
    }
  }

  /// MXFP4: an E8M0 scale byte (taken as half its value, since the levels are doubled) and
  /// qs[16] of E2M1 codes, low nibbles first.
  private static func mxfp4(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let levels: [Int8] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]
    let e = UInt32(b[0])
    let d = Float(bitPattern: e < 2 ? 0x0020_0000 << e : (e - 1) << 23)  // ggml_e8m0_to_fp32_half
    for j in 0..<16 {
      y[j] = d * Float(levels[Int(b[1 + j] & 0xF)])
      y[j + 16] = d * Float(levels[Int(b[1 + j] >> 4)])
    }
  }
}

extension TensorSource {
  /// The tensor's values as floats (quantized types dequantized), in row-major order.
  public func floats(of tensor: TensorEntry) throws -> [Float] {
    let bytes = try bytes(of: tensor)
    return try bytes.withUnsafeBytes { try Dequantize.floats($0, dtype: tensor.dtype) }
  }
}
