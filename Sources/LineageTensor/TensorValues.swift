import LineageCore

/// Element values as `Float`, for comparing tensors numerically (little-endian storage, as
/// safetensors writes it).
public enum TensorValues {
  /// Convert `bytes` (a whole number of `dtype` elements) to floats; integers and booleans
  /// convert to their value, 8-bit floats by their OCP definitions (E4M3FN, E5M2).
  public static func floats(_ bytes: UnsafeRawBufferPointer, dtype: DType, into out: inout [Float]) {
    let n = bytes.count / dtype.width
    out.removeAll(keepingCapacity: true)
    out.reserveCapacity(n)
    func le<T: FixedWidthInteger>(_ k: Int, _: T.Type) -> T {
      T(littleEndian: bytes.loadUnaligned(fromByteOffset: k * MemoryLayout<T>.size, as: T.self))
    }
    switch dtype {
    case .f32: for k in 0..<n { out.append(Float(bitPattern: le(k, UInt32.self))) }
    case .f64: for k in 0..<n { out.append(Float(Double(bitPattern: le(k, UInt64.self)))) }
    case .bf16: for k in 0..<n { out.append(Float(bitPattern: UInt32(le(k, UInt16.self)) << 16)) }
    case .f16: for k in 0..<n { out.append(halfToFloat(le(k, UInt16.self))) }
    case .f8e5m2: for k in 0..<n { out.append(halfToFloat(UInt16(bytes[k]) << 8)) }
    case .f8e4m3: for k in 0..<n { out.append(e4m3ToFloat(bytes[k])) }
    case .i64: for k in 0..<n { out.append(Float(Int64(bitPattern: le(k, UInt64.self)))) }
    case .i32: for k in 0..<n { out.append(Float(Int32(bitPattern: le(k, UInt32.self)))) }
    case .i16: for k in 0..<n { out.append(Float(Int16(bitPattern: le(k, UInt16.self)))) }
    case .i8: for k in 0..<n { out.append(Float(Int8(bitPattern: bytes[k]))) }
    case .u64: for k in 0..<n { out.append(Float(le(k, UInt64.self))) }
    case .u32: for k in 0..<n { out.append(Float(le(k, UInt32.self))) }
    case .u16: for k in 0..<n { out.append(Float(le(k, UInt16.self))) }
    case .u8, .bool: for k in 0..<n { out.append(Float(bytes[k])) }
    default: break  // quantized: GGML dequantization (to come with the GGUF reader)
    }
  }

  /// IEEE 754 binary16 to binary32 (exact).
  public static func halfToFloat(_ h: UInt16) -> Float {
    let sign: Float = h & 0x8000 != 0 ? -1 : 1
    let exp = Int((h >> 10) & 0x1F)
    let mant = Float(h & 0x3FF)
    switch exp {
    case 0: return sign * mant * 0x1p-24
    case 31: return mant == 0 ? sign * .infinity : .nan
    default: return sign * (1 + mant / 1024) * Float(sign: .plus, exponent: exp - 15, significand: 1)
    }
  }

  /// OCP FP8 E4M3FN: bias 7, no infinities, S.1111.111 is NaN.
  public static func e4m3ToFloat(_ b: UInt8) -> Float {
    let sign: Float = b & 0x80 != 0 ? -1 : 1
    let exp = Int((b >> 3) & 0xF)
    let mant = Float(b & 0x7)
    if exp == 15 && b & 0x7 == 7 { return .nan }
    if exp == 0 { return sign * mant * 0x1p-9 }
    return sign * (1 + mant / 8) * Float(sign: .plus, exponent: exp - 7, significand: 1)
  }
}
