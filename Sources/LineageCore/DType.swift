/// Element types. Scalar types are spelled as safetensors spells them; block-quantized types
/// (GGML's, stored as opaque blocks) as llama.cpp spells them (Docs/ObjectFormat.md §3).
public enum DType: String, Sendable, CaseIterable, Codable {
  case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
  case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
  case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
  case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
  case bool = "BOOL"
  // GGML block-quantized types: `blockElements` values packed into `blockBytes` bytes.
  case q4_0 = "Q4_0", q4_1 = "Q4_1", q5_0 = "Q5_0", q5_1 = "Q5_1", q8_0 = "Q8_0", q8_1 = "Q8_1"
  case q2_k = "Q2_K", q3_k = "Q3_K", q4_k = "Q4_K", q5_k = "Q5_K", q6_k = "Q6_K", q8_k = "Q8_K"
  case iq2_xxs = "IQ2_XXS", iq2_xs = "IQ2_XS", iq3_xxs = "IQ3_XXS", iq1_s = "IQ1_S", iq4_nl = "IQ4_NL"
  case iq3_s = "IQ3_S", iq2_s = "IQ2_S", iq4_xs = "IQ4_XS", iq1_m = "IQ1_M"
  case tq1_0 = "TQ1_0", tq2_0 = "TQ2_0", mxfp4 = "MXFP4"

  /// Values per storage block: 1 for scalar types.
  public var blockElements: Int {
    switch self {
    case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: return 32
    case .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .q8_k, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s, .iq2_s, .iq4_xs,
      .iq1_m, .tq1_0, .tq2_0:
      return 256
    default: return 1
    }
  }

  /// Bytes per storage block (for scalar types, bytes per element).
  public var blockBytes: Int {
    switch self {
    case .f64, .i64, .u64: return 8
    case .f32, .i32, .u32: return 4
    case .f16, .bf16, .i16, .u16: return 2
    case .f8e4m3, .f8e5m2, .i8, .u8, .bool: return 1
    case .q4_0: return 18
    case .q4_1: return 20
    case .q5_0: return 22
    case .q5_1: return 24
    case .q8_0: return 34
    case .q8_1: return 36
    case .q2_k: return 84
    case .q3_k: return 110
    case .q4_k: return 144
    case .q5_k: return 176
    case .q6_k: return 210
    case .q8_k: return 292
    case .iq2_xxs: return 66
    case .iq2_xs: return 74
    case .iq3_xxs: return 98
    case .iq1_s: return 50
    case .iq4_nl: return 18
    case .iq3_s: return 110
    case .iq2_s: return 82
    case .iq4_xs: return 136
    case .iq1_m: return 56
    case .tq1_0: return 54
    case .tq2_0: return 66
    case .mxfp4: return 17
    }
  }

  /// Block-quantized (GGML) rather than one value per element.
  public var isQuantized: Bool { blockElements > 1 }

  /// Bytes per element for scalar types; bytes per block for quantized ones. Chunks of a
  /// tensor's bytes fall on multiples of this.
  public var width: Int { blockBytes }

  /// A dtype that a safetensors header may name.
  public var isSafetensors: Bool { !isQuantized }

  /// Floating-point types, whose byte planes compress very differently (exponent vs mantissa).
  public var isFloat: Bool {
    switch self {
    case .f64, .f32, .f16, .bf16, .f8e4m3, .f8e5m2: return true
    default: return false
    }
  }

  /// Significand bits stored below the exponent field of a float dtype (nil for the others).
  public var mantissaBits: Int? {
    switch self {
    case .f64: return 52
    case .f32: return 23
    case .f16: return 10
    case .bf16: return 7
    case .f8e4m3: return 3
    case .f8e5m2: return 2
    default: return nil
    }
  }

  /// The byte length of a tensor of `shape`, or nil when the product overflows or, for a
  /// quantized type, the last dimension is not a whole number of blocks.
  public func byteLength(shape: [UInt64]) -> UInt64? {
    if isQuantized {
      guard let last = shape.last, last % UInt64(blockElements) == 0 else { return nil }
    }
    var n: UInt64 = UInt64(blockBytes)
    for (k, d) in shape.enumerated() {
      let factor = k == shape.count - 1 && isQuantized ? d / UInt64(blockElements) : d
      let (m, o) = n.multipliedReportingOverflow(by: factor)
      if o { return nil }
      n = m
    }
    return n
  }

  /// The number of elements of `shape`, or nil on overflow.
  public static func elementCount(_ shape: [UInt64]) -> UInt64? {
    var n: UInt64 = 1
    for d in shape {
      let (m, o) = n.multipliedReportingOverflow(by: d)
      if o { return nil }
      n = m
    }
    return n
  }
}
