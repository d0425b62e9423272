import LineageCore
import LineageStore
import LineageTensor
import LineageTestSupport
import Testing

/// Codec 4 (sub-delta): zig-zagged ulp distances between a chunk and its base
/// (Docs/ObjectFormat.md §4).
@Suite struct SubDeltaTests {
  /// Little-endian bytes of `width`-byte elements.
  static func bytes(_ elements: [UInt64], width: Int) -> [UInt8] {
    elements.flatMap { e in (0..<width).map { UInt8(truncatingIfNeeded: e >> (8 * UInt64($0))) } }
  }

  /// Encode `child` against `base` as codec 4 (no size limit) and decode it back.
  @discardableResult
  static func roundTrip(_ child: [UInt8], base: [UInt8], width: Int) throws -> EncodedObject {
    let d = try #require(
      child.withUnsafeBytes { c in
        base.withUnsafeBytes { b in
          ChunkCodec.encodeDelta(
            c, base: b, baseID: ObjectID.of(.chunk, content: base), baseDepth: 3, width: width, limit: .max, codec: .subDelta)
        }
      })
    #expect(d.codec == .subDelta && d.depth == 4 && d.base == ObjectID.of(.chunk, content: base))
    let back = try ChunkCodec.decode(codec: .subDelta, payload: d.payload, rawLength: child.count, base: base)
    #expect(back == child, "width \(width): decoded bytes differ")
    return d
  }

  /// Bit patterns with a special meaning in an IEEE-style format of `width` bytes whose
  /// significand has `mantissa` bits: ±0, smallest and largest subnormals, ±1, largest finite,
  /// ±infinity, quiet and signalling NaNs with payloads, and the patterns around the sign bit.
  static func specials(width: Int, mantissa: Int) -> [UInt64] {
    let bits = 8 * width
    let all: UInt64 = bits == 64 ? .max : (1 << UInt64(bits)) - 1
    let sign: UInt64 = 1 << UInt64(bits - 1)
    let frac: UInt64 = (1 << UInt64(mantissa)) - 1
    let expo: UInt64 = (sign - 1) & ~frac
    let one = (expo >> 1) & expo  // biased exponent 011…1: 1.0
    let positive: [UInt64] = [
      0, 1, frac, frac + 1, one, one + 1, one - 1, expo - 1, expo, expo | 1, expo | (frac >> 1) | 1, expo | frac,
      expo | (1 << UInt64(mantissa - 1)), sign - 1,
    ]
    return positive + positive.map { $0 | sign } + [all, all - 1, sign, sign + 1]
  }

  static let formats: [(name: String, width: Int, mantissa: Int)] = [
    ("F8_E4M3", 1, 3), ("F8_E5M2", 1, 2), ("F16", 2, 10), ("BF16", 2, 7), ("F32", 4, 23), ("F64", 8, 52),
  ]

  @Test(arguments: formats.map(\.name))
  func everyPairOfSpecialValuesRoundTrips(_ name: String) throws {
    let f = try #require(Self.formats.first { $0.name == name })
    let s = Self.specials(width: f.width, mantissa: f.mantissa)
    // Every ordered pair: sign crossings, ±0 both ways, NaN payloads, infinities, subnormals,
    // and the wrap-around extremes (all ones against zero).
    let base = Self.bytes(s.flatMap { b in s.map { _ in b } }, width: f.width)
    let child = Self.bytes(s.flatMap { _ in s }, width: f.width)
    try Self.roundTrip(child, base: base, width: f.width)
  }

  @Test func everyPairOfBytesRoundTripsAtWidthOne() throws {
    let base = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 >> 8) }
    let child = (0..<65_536).map { UInt8(truncatingIfNeeded: $0) }
    try Self.roundTrip(child, base: base, width: 1)
  }

  @Test(arguments: [(1, UInt64(1)), (2, 2), (4, 3), (8, 4), (2, 5), (4, 6)])
  func seededRandomBitsRoundTrip(_ width: Int, _ seed: UInt64) throws {
    // Arbitrary bit patterns (many of them NaNs) against arbitrary bases, and against a base
    // one random small step away.
    // 4,093 elements: the vector loop (8 at a time) and its scalar tail both run.
    let base = seededBytes(4093 * width, seed: seed)
    try Self.roundTrip(seededBytes(4093 * width, seed: seed + 100), base: base, width: width)
    var near = base
    let steps = seededBytes(near.count, seed: seed + 200)
    for k in stride(from: 0, to: near.count, by: width) { near[k] &+= steps[k] & 7 }
    try Self.roundTrip(near, base: base, width: width)
  }

  @Test func anUlpStepAcrossAnExponentOrZeroCostsLittle() throws {
    // 1.0 and the float just below it differ in 23 bits by XOR and by one ulp; +0 and −0 differ
    // in the sign bit and by one ulp.
    let pairs: [(Float, Float)] = [(1.0, Float(1.0).nextDown), (0.0, -0.0), (Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude)]
    for (b, c) in pairs {
      let base = Self.bytes(Array(repeating: UInt64(b.bitPattern), count: 16_384), width: 4)
      let child = Self.bytes(Array(repeating: UInt64(c.bitPattern), count: 16_384), width: 4)
      let sub = try Self.roundTrip(child, base: base, width: 4)
      #expect(sub.payload.count < 200, "\(b) → \(c): \(sub.payload.count) bytes")
    }
    // A realistic fine-tuning step of fp32 weights N(0, 0.02²) by 0.1% of their scale:
    // the ulp distances beat XOR.
    var rng = Xoshiro(seed: 7)
    var base: [UInt64] = []
    var child: [UInt64] = []
    for _ in 0..<8192 {
      let (w, step) = rng.normalPair()
      base.append(UInt64((0.02 * w).bitPattern))
      child.append(UInt64((0.02 * w + 0.00002 * step).bitPattern))
    }
    let (b, c) = (Self.bytes(base, width: 4), Self.bytes(child, width: 4))
    let sub = try Self.roundTrip(c, base: b, width: 4)
    let xor = try #require(
      c.withUnsafeBytes { cc in
        b.withUnsafeBytes { bb in
          ChunkCodec.encodeDelta(cc, base: bb, baseID: ObjectID.of(.chunk, content: b), baseDepth: 0, width: 4, limit: .max)
        }
      })
    #expect(xor.codec == .xorDelta)
    #expect(sub.payload.count < xor.payload.count)
  }

  @Test func chunksThatAreNotWholeElementsOrWidthsItDoesNotKnowAreNotEncoded() {
    let base = seededBytes(4099, seed: 8)
    let child = seededBytes(4099, seed: 9)
    func encode(_ n: Int, width: Int, baseDepth: UInt8 = 0) -> EncodedObject? {
      child.prefix(n).withUnsafeBytes { c in
        base.prefix(n).withUnsafeBytes { b in
          ChunkCodec.encodeDelta(c, base: b, baseID: ObjectID.of(.chunk, content: []), baseDepth: baseDepth, width: width, limit: .max, codec: .subDelta)
        }
      }
    }
    #expect(encode(4099, width: 2) == nil, "a partial element at the end")
    #expect(encode(4098, width: 4) == nil)
    #expect(encode(4098, width: 3) == nil, "width 3 is not a float width")
    #expect(encode(4096, width: 8, baseDepth: 8) == nil, "depth would exceed 8")
    #expect(encode(4098, width: 2)?.codec == .subDelta)
    #expect(encode(4099, width: 1)?.codec == .subDelta)
  }

  @Test func lyingPayloadsAreRejectedWithTheirOwnErrors() throws {
    let base = seededBytes(4096, seed: 10)
    var child = base
    child[5] ^= 1
    let good = try Self.roundTrip(child, base: base, width: 4)
    func decode(_ payload: [UInt8], length: Int = 4096, against: [UInt8]? = nil) throws {
      _ = try ChunkCodec.decode(codec: .subDelta, payload: payload, rawLength: length, base: against ?? Array(base.prefix(length)))
    }
    var three = good.payload
    three[0] = 3
    #expect(throws: CodecFailure.subDeltaWidth(width: 3, length: 4096)) { try decode(three) }
    var nine = good.payload
    nine[0] = 9
    #expect(throws: CodecFailure.subDeltaWidth(width: 9, length: 4096)) { try decode(nine) }
    #expect(throws: CodecFailure.subDeltaWidth(width: 4, length: 4094)) { try decode(good.payload, length: 4094) }
    #expect(throws: CodecFailure.deltaBaseLength(found: 4092, expected: 4096)) { try decode(good.payload, against: Array(base.prefix(4092))) }
    #expect(throws: CodecFailure.malformed("delta without a base")) {
      try ChunkCodec.decode(codec: .subDelta, payload: good.payload, rawLength: 4096, base: nil)
    }
    // A plane whose stored length runs past the payload (u32 0xFFFFFFFF: checked, not added).
    var long = good.payload
    long.replaceSubrange(2..<6, with: [0xFF, 0xFF, 0xFF, 0xFF])
    #expect(throws: CodecFailure.malformed("planes: plane 0 truncated")) { try decode(long) }
    // A plane one byte shorter than it says, and a trailing byte.
    #expect(throws: CodecFailure.self) { try decode(Array(good.payload.dropLast())) }
    #expect(throws: CodecFailure.malformed("planes: 1 trailing bytes")) { try decode(good.payload + [0]) }
    #expect(throws: CodecFailure.malformed("sub-delta: empty payload")) { try decode([]) }
  }
}
