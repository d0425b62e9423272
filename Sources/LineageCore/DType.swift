/// Element types, spelled as safetensors spells them.
public enum DType: String, Sendable, CaseIterable, Codable {
  case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
  case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
  case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
  case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
  case bool = "BOOL"

  /// Bytes per element.
  public var width: Int {
    switch self {
    case .f64, .i64, .u64: return 8
    case .f32, .i32, .u32: return 4
    case .f16, .bf16, .i16, .u16: return 2
    case .f8e4m3, .f8e5m2, .i8, .u8, .bool: return 1
    }
  }

  /// Floating-point types, whose byte planes compress very differently (exponent vs mantissa).
  public var isFloat: Bool {
    switch self {
    case .f64, .f32, .f16, .bf16, .f8e4m3, .f8e5m2: return true
    default: return false
    }
  }

  /// The byte length of `shape` elements, or nil when the product overflows.
  public func byteLength(shape: [UInt64]) -> UInt64? {
    var n: UInt64 = UInt64(width)
    for d in shape {
      let (m, o) = n.multipliedReportingOverflow(by: d)
      if o { return nil }
      n = m
    }
    return n
  }
}
