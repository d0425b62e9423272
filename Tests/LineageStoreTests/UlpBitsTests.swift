import LineageCore
import LineageStore
import LineageTensor
import LineageTestSupport
import Testing

/// Codec 5 (ulp-bits): the zig-zagged ulp distances between a chunk and its base, split into a
/// length symbol per element (coded against the base element's exponent) and the bits below each
/// leading one (Docs/ObjectFormat.md §4).
@Suite struct UlpBitsTests {
  /// Encode `child` against `base` as codec 5 (no size limit) and decode it back.
  @discardableResult
  static func roundTrip(_ child: [UInt8], base: [UInt8], width: Int, mantissa: Int) throws -> EncodedObject {
    let d = try #require(
      child.withUnsafeBytes { c in
        base.withUnsafeBytes { b in
          ChunkCodec.encodeDelta(
            c, base: b, baseID: ObjectID.of(.chunk, content: base), baseDepth: 2, width: width, limit: .max, codec: .ulpBits,
            mantissa: mantissa)
        }
      })
    #expect(d.codec == .ulpBits && d.depth == 3 && d.base == ObjectID.of(.chunk, content: base))
    let back = try ChunkCodec.decode(codec: .ulpBits, payload: d.payload, rawLength: child.count, base: base)
    #expect(back == child, "width \(width), mantissa \(mantissa): decoded bytes differ")
    return d
  }

  @Test(arguments: SubDeltaTests.formats.map(\.name))
  func everyPairOfSpecialValuesRoundTrips(_ name: String) throws {
    let f = try #require(SubDeltaTests.formats.first { $0.name == name })
    let s = SubDeltaTests.specials(width: f.width, mantissa: f.mantissa)
    // Every ordered pair: distances of every length up to the element's width (all ones against
    // zero), sign crossings, NaN payloads, infinities (exponent fields of 255 and more, which
    // the symbol takes modulo 255), subnormals.
    let base = SubDeltaTests.bytes(s.flatMap { b in s.map { _ in b } }, width: f.width)
    let child = SubDeltaTests.bytes(s.flatMap { _ in s }, width: f.width)
    try Self.roundTrip(child, base: base, width: f.width, mantissa: f.mantissa)
    // Any mantissa the header allows decodes exactly; only the size depends on it.
    try Self.roundTrip(child, base: base, width: f.width, mantissa: 0)
    try Self.roundTrip(child, base: base, width: f.width, mantissa: 8 * f.width - 2)
  }

  @Test func anEmptyChunkRoundTrips() throws {
    let empty = try Self.roundTrip([], base: [], width: 4, mantissa: 23)
    #expect(throws: CodecFailure.ulpBitsStream(found: 1, expected: 0)) {
      _ = try ChunkCodec.decode(codec: .ulpBits, payload: Array(empty.payload.dropLast(4)) + [1, 0, 0, 0, 0], rawLength: 0, base: [])
    }
  }

  @Test func everyPairOfBytesRoundTripsAtWidthOne() throws {
    let base = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 >> 8) }
    let child = (0..<65_536).map { UInt8(truncatingIfNeeded: $0) }
    try Self.roundTrip(child, base: base, width: 1, mantissa: 3)
  }

  @Test(arguments: [(1, UInt64(1)), (2, 2), (4, 3), (8, 4), (2, 5), (4, 6), (8, 7)])
  func seededRandomBitsRoundTrip(_ width: Int, _ seed: UInt64) throws {
    // Arbitrary bit patterns against arbitrary bases (distances of every length, many of them
    // 64-bit ones that take two 32-bit pieces), against a base a small step away, and an
    // identical chunk (every symbol 0, an empty bit stream).
    let base = seededBytes(4093 * width, seed: seed)
    try Self.roundTrip(seededBytes(4093 * width, seed: seed + 100), base: base, width: width, mantissa: 4 * width - 1)
    var near = base
    let steps = seededBytes(near.count, seed: seed + 200)
    for k in stride(from: 0, to: near.count, by: width) { near[k] &+= steps[k] & 7 }
    try Self.roundTrip(near, base: base, width: width, mantissa: 4 * width - 1)
    let same = try Self.roundTrip(base, base: base, width: width, mantissa: 1)
    #expect(same.payload.count < 64, "identical chunk: \(same.payload.count) bytes")
  }

  @Test func aSmallFineTuningStepIsSmallerThanByteplanedDistances() throws {
    // fp32 weights N(0, 0.02²) and bf16 ones, each stepped by Gaussian noise: the lengths coded
    // against the exponent beat codec 4's byte planes (the benchmark's 64 MiB sweep measures
    // 4–10% smaller children at every step size).
    for (width, mantissa, step) in [(4, 23, Float(0.00002)), (2, 7, Float(0.002))] {
      var rng = Xoshiro(seed: 11)
      var base: [UInt64] = []
      var child: [UInt64] = []
      for _ in 0..<(65_536 / width) {
        let (w, s) = rng.normalPair()
        let (b, c) = (0.02 * w, 0.02 * w + step * s)
        if width == 4 {
          base.append(UInt64(b.bitPattern))
          child.append(UInt64(c.bitPattern))
        } else {
          base.append(UInt64(b.bitPattern >> 16))
          child.append(UInt64(c.bitPattern >> 16))
        }
      }
      let (b, c) = (SubDeltaTests.bytes(base, width: width), SubDeltaTests.bytes(child, width: width))
      let bits = try Self.roundTrip(c, base: b, width: width, mantissa: mantissa)
      let planes = try SubDeltaTests.roundTrip(c, base: b, width: width)
      #expect(bits.payload.count < planes.payload.count * 97 / 100, "width \(width): \(bits.payload.count) vs \(planes.payload.count)")
    }
  }

  @Test func widthsAndMantissasItDoesNotKnowAreNotEncoded() {
    let base = seededBytes(4099, seed: 8)
    let child = seededBytes(4099, seed: 9)
    func encode(_ n: Int, width: Int, mantissa: Int, baseDepth: UInt8 = 0) -> EncodedObject? {
      child.prefix(n).withUnsafeBytes { c in
        base.prefix(n).withUnsafeBytes { b in
          ChunkCodec.encodeDelta(
            c, base: b, baseID: ObjectID.of(.chunk, content: []), baseDepth: baseDepth, width: width, limit: .max, codec: .ulpBits,
            mantissa: mantissa)
        }
      }
    }
    #expect(encode(4099, width: 2, mantissa: 7) == nil, "a partial element at the end")
    #expect(encode(4098, width: 3, mantissa: 7) == nil, "width 3 is not a float width")
    #expect(encode(4096, width: 4, mantissa: 31) == nil, "31 significand bits leave no exponent in 32")
    #expect(encode(4096, width: 4, mantissa: -1) == nil)
    #expect(encode(4096, width: 8, mantissa: 52, baseDepth: 8) == nil, "depth would exceed 8")
    #expect(encode(4096, width: 4, mantissa: 30)?.codec == .ulpBits)
    #expect(encode(4099, width: 1, mantissa: 3)?.codec == .ulpBits)
  }

  @Test func lyingPayloadsAreRejectedWithTheirOwnErrors() throws {
    // Every element of the child differs, so every symbol is non-zero and the bits are non-empty.
    let base = seededBytes(4096, seed: 10)
    let child = base.enumerated().map { $0.offset % 4 == 0 ? $0.element &+ 3 : $0.element }
    let good = try Self.roundTrip(child, base: base, width: 4, mantissa: 23)
    func decode(_ payload: [UInt8], length: Int = 4096, against: [UInt8]? = nil) throws {
      _ = try ChunkCodec.decode(codec: .ulpBits, payload: payload, rawLength: length, base: against ?? Array(base.prefix(length)))
    }
    #expect(throws: CodecFailure.malformed("ulp-bits: header truncated")) { try decode([4]) }
    var three = good.payload
    three[0] = 3
    #expect(throws: CodecFailure.subDeltaWidth(width: 3, length: 4096)) { try decode(three) }
    #expect(throws: CodecFailure.subDeltaWidth(width: 4, length: 4094)) { try decode(good.payload, length: 4094) }
    var wide = good.payload
    wide[1] = 31
    #expect(throws: CodecFailure.ulpBitsMantissa(mantissa: 31, width: 4)) { try decode(wide) }
    #expect(throws: CodecFailure.deltaBaseLength(found: 4092, expected: 4096)) { try decode(good.payload, against: Array(base.prefix(4092))) }
    #expect(throws: CodecFailure.malformed("delta without a base")) {
      try ChunkCodec.decode(codec: .ulpBits, payload: good.payload, rawLength: 4096, base: nil)
    }
    // The lengths stream: its stored length past the end, and an unknown plane codec.
    var long = good.payload
    long.replaceSubrange(3..<7, with: [0xFF, 0xFF, 0xFF, 0xFF])
    #expect(throws: CodecFailure.malformed("ulp-bits: lengths truncated")) { try decode(long) }
    var kind = good.payload
    kind[2] = 7
    #expect(throws: CodecFailure.malformed("ulp-bits: lengths has unknown codec 7")) { try decode(kind) }
    // The bit stream: one byte short of what its declared length says, one extra, and a declared
    // length that matches what follows but not what the lengths need.
    #expect(throws: CodecFailure.malformed("ulp-bits: bit stream declared as \(declaredBits(good.payload)) bytes, \(declaredBits(good.payload) - 1) follow")) {
      try decode(Array(good.payload.dropLast()))
    }
    #expect(throws: CodecFailure.self) { try decode(good.payload + [0]) }
    let need = declaredBits(good.payload)
    #expect(throws: CodecFailure.ulpBitsStream(found: need + 1, expected: need)) { try decode(withBits(good.payload, need + 1)) }
    #expect(throws: CodecFailure.ulpBitsStream(found: need - 1, expected: need)) { try decode(withBits(good.payload, need - 1)) }
  }

  @Test func aSymbolThatDecodesPastTheElementWidthIsRejected() throws {
    // Base element 1.0f (exponent field 127): symbol 1 + (L − 1 + 127) mod 255. With L = 1 the
    // symbol is 128; the symbol 127 would mean L = 255, more than 32 bits.
    let one = UInt64(Float(1).bitPattern)
    let base = SubDeltaTests.bytes(Array(repeating: one, count: 64), width: 4)
    let child = SubDeltaTests.bytes(Array(repeating: UInt64(Float(1).nextUp.bitPattern), count: 64), width: 4)
    let good = try Self.roundTrip(child, base: base, width: 4, mantissa: 23)
    // The lengths stream here is stored raw (64 equal symbols would compress: force it raw).
    var raw: [UInt8] = [4, 23, 0]
    raw += withUnsafeBytes(of: UInt32(64).littleEndian, Array.init)
    var symbols = [UInt8](repeating: 128 + 1, count: 64)  // L = 2: one bit each (zigzag(1) = 2 = 0b10)
    raw += symbols + withUnsafeBytes(of: UInt32(8).littleEndian, Array.init) + [UInt8](repeating: 0, count: 8)
    let back = try ChunkCodec.decode(codec: .ulpBits, payload: raw, rawLength: 256, base: base)
    #expect(back == child && good.payload.count < raw.count)
    symbols[5] = 127
    var bad: [UInt8] = [4, 23, 0] + withUnsafeBytes(of: UInt32(64).littleEndian, Array.init) + symbols
    bad += withUnsafeBytes(of: UInt32(8).littleEndian, Array.init) + [UInt8](repeating: 0, count: 8)
    #expect(throws: CodecFailure.ulpBitsLength(element: 5, length: 255, width: 4)) {
      try ChunkCodec.decode(codec: .ulpBits, payload: bad, rawLength: 256, base: base)
    }
    // A padding bit set after the last element's bits (63 bits used of 64).
    symbols[5] = 128  // L = 1: no bits
    var padded: [UInt8] = [4, 23, 0] + withUnsafeBytes(of: UInt32(64).littleEndian, Array.init) + symbols
    padded += withUnsafeBytes(of: UInt32(8).littleEndian, Array.init) + [UInt8](repeating: 0, count: 7) + [0x80]
    #expect(throws: CodecFailure.malformed("ulp-bits: padding bits of the bit stream are not zero")) {
      try ChunkCodec.decode(codec: .ulpBits, payload: padded, rawLength: 256, base: base)
    }
  }

  /// The bit stream's declared length in a codec 5 payload.
  func declaredBits(_ p: [UInt8]) -> Int {
    let lengths = Int(p[3]) | Int(p[4]) << 8 | Int(p[5]) << 16 | Int(p[6]) << 24
    let at = 7 + lengths
    return Int(p[at]) | Int(p[at + 1]) << 8 | Int(p[at + 2]) << 16 | Int(p[at + 3]) << 24
  }

  /// The payload with a bit stream of `n` zero bytes, declared as such.
  func withBits(_ p: [UInt8], _ n: Int) -> [UInt8] {
    let lengths = Int(p[3]) | Int(p[4]) << 8 | Int(p[5]) << 16 | Int(p[6]) << 24
    return Array(p[0..<(7 + lengths)]) + withUnsafeBytes(of: UInt32(n).littleEndian, Array.init) + [UInt8](repeating: 0, count: n)
  }
}
