import LineageCore
import LineageNative

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Stored encodings of an object's bytes (Docs/ObjectFormat.md §4).
public enum Codec: UInt8, Sendable, CaseIterable {
  case raw = 0, zstd = 1, planes = 2, xorDelta = 3, subDelta = 4, ulpBits = 5

  /// Stored against a base chunk, whose id follows the pack entry's header.
  public var isDelta: Bool { self == .xorDelta || self == .subDelta || self == .ulpBits }
}

/// An object's bytes as they will be stored.
public struct EncodedObject: Sendable {
  public var codec: Codec
  public var payload: [UInt8]
  /// The chunk the delta is against (delta codecs only).
  public var base: ObjectID?
  /// 0 for a full object, base depth + 1 for a delta.
  public var depth: UInt8
}

/// Chooses and applies encodings.
///
/// Policy: float tensors are split into byte planes and each plane is zstd-1 compressed only when
/// a histogram of it promises a gain (the exponent plane does, mantissa planes mostly do not), so
/// that compression never costs more than it saves; opaque bytes get plain zstd-1 on the same
/// test. A result that is not smaller than the raw bytes is stored raw.
public enum ChunkCodec {
  /// Planes whose estimated entropy exceeds this many bits per byte are stored raw.
  public static let entropyLimit = 7.6
  /// Planes estimated under this many bits per byte are compressed with zstd's match search
  /// (`Zstd.Profile.planes`): runs and repeats pay there, and Huffman alone cannot code a byte
  /// in under one bit. Above it, Huffman-coded literals alone (`.literals`) are as small and faster.
  public static let matchSearchLimit = 2.0

  /// Encode a chunk whose elements are `width` bytes wide (1 for opaque bytes).
  public static func encode(_ content: UnsafeRawBufferPointer, width: Int) -> EncodedObject {
    if width >= 2, width <= 8, content.count % width == 0, content.count >= 64 * width {
      let payload = encodePlanes(content, width: width)
      if payload.count < content.count { return EncodedObject(codec: .planes, payload: payload, base: nil, depth: 0) }
    } else if content.count >= 64, estimatedEntropy(content, stride: 1) < entropyLimit,
      let z = try? Zstd.compress(content, profile: .fast), z.count < content.count
    {
      return EncodedObject(codec: .zstd, payload: z, base: nil, depth: 0)
    }
    return EncodedObject(codec: .raw, payload: Array(content), base: nil, depth: 0)
  }

  /// Encode small metadata: zstd when it pays, raw otherwise.
  public static func encodeMetadata(_ content: [UInt8]) -> EncodedObject {
    if content.count >= 256,
      let z = content.withUnsafeBytes({ try? Zstd.compress($0, profile: .metadata) }), z.count < content.count * 9 / 10
    {
      return EncodedObject(codec: .zstd, payload: z, base: nil, depth: 0)
    }
    return EncodedObject(codec: .raw, payload: content, base: nil, depth: 0)
  }

  /// Encode `content` against `base`'s content: byte-planed as their XOR (`.xorDelta`) or as the
  /// zig-zagged ulp distances of `width`-byte elements (`.subDelta`, widths 1, 2, 4 and 8), or
  /// those distances split into bit lengths and the bits below each leading one (`.ulpBits`, the
  /// same widths; `mantissa` is the number of significand bits below a float's exponent field,
  /// which is what the lengths are coded against). nil when that is not smaller than `limit`
  /// bytes, or the lengths, width, mantissa or depth do not allow it.
  public static func encodeDelta(
    _ content: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, baseID: ObjectID, baseDepth: UInt8,
    width: Int, limit: Int, codec: Codec = .xorDelta, mantissa: Int = 0
  ) -> EncodedObject? {
    guard content.count == base.count, width >= 1, width <= 8, content.count % width == 0, baseDepth < maximumDepth
    else { return nil }
    if codec == .ulpBits {
      guard isSubDeltaWidth(width), mantissa >= 0, mantissa <= 8 * width - 2 else { return nil }
      let payload = encodeUlpBits(content, base: base, width: width, mantissa: mantissa)
      guard payload.count < limit else { return nil }
      return EncodedObject(codec: codec, payload: payload, base: baseID, depth: baseDepth + 1)
    }
    guard codec == .xorDelta || (codec == .subDelta && isSubDeltaWidth(width)) else { return nil }
    var x = [UInt8](unsafeUninitializedCapacity: content.count) { buf, n in
      let out = UnsafeMutableRawBufferPointer(buf)
      if codec == .subDelta { ulpDistances(content, from: base, width: width, into: out) } else { xorBytes(content, base, into: out) }
      n = content.count
    }
    let payload = x.withUnsafeMutableBytes { encodePlanes(UnsafeRawBufferPointer($0), width: width) }
    x = []
    guard payload.count < limit else { return nil }
    return EncodedObject(codec: codec, payload: payload, base: baseID, depth: baseDepth + 1)
  }

  /// The longest delta chain a writer may make (Docs/ObjectFormat.md §4).
  public static let maximumDepth: UInt8 = 8

  /// Decode a stored payload to its `rawLength` content bytes; `base` is the base's content for
  /// a delta. Throws a reason string; the caller names the object.
  public static func decode(codec: Codec, payload: [UInt8], rawLength: Int, base: [UInt8]?) throws
    -> [UInt8]
  {
    switch codec {
    case .raw:
      guard payload.count == rawLength else { throw CodecFailure("raw payload is \(payload.count) bytes, expected \(rawLength)") }
      return payload
    case .zstd:
      return try withOutput(rawLength) { out in
        try payload.withUnsafeBytes { p in
          do { try Zstd.decompress(p, into: out) } catch { throw CodecFailure("zstd: \(error)") }
        }
      }
    case .planes:
      return try withOutput(rawLength) { out in try decodePlanes(payload, into: out) }
    case .xorDelta:
      guard let base else { throw CodecFailure("delta without a base") }
      guard base.count == rawLength else { throw CodecFailure.deltaBaseLength(found: base.count, expected: rawLength) }
      var out = try withOutput(rawLength) { out in try decodePlanes(payload, into: out) }
      out.withUnsafeMutableBytes { o in
        base.withUnsafeBytes { b in xorBytes(UnsafeRawBufferPointer(o), b, into: o) }
      }
      return out
    case .subDelta:
      guard let base else { throw CodecFailure("delta without a base") }
      return try withOutput(rawLength) { out in
        try base.withUnsafeBytes { b in try decodeSubDelta(payload, base: b, into: out) }
      }
    case .ulpBits:
      guard let base else { throw CodecFailure("delta without a base") }
      return try withOutput(rawLength) { out in
        try base.withUnsafeBytes { b in try decodeUlpBits(payload, base: b, into: out) }
      }
    }
  }

  static func withOutput(_ n: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void)
    throws -> [UInt8]
  {
    var failure: CodecFailure?
    let out = [UInt8](unsafeUninitializedCapacity: n) { buf, count in
      do { try body(UnsafeMutableRawBufferPointer(buf)) } catch { failure = error as? CodecFailure ?? CodecFailure("\(error)") }
      count = n
    }
    if let failure { throw failure }
    return out
  }

  // MARK: byte planes

  /// Split elements into byte planes: plane j (at j × n) holds byte j of every element.
  static func split(_ src: UnsafeRawBufferPointer, width: Int, into dst: UnsafeMutableRawBufferPointer) {
    guard let s = src.baseAddress, let d = dst.baseAddress else { return }
    let n = src.count / width
    let out = d.assumingMemoryBound(to: UInt8.self)
    var k = 0
    switch width {
    case 2:
      // 16 elements at a time: byte j of each lane, by shift and truncation, is plane j.
      while k + 16 <= n {
        let v = s.loadUnaligned(fromByteOffset: 2 * k, as: SIMD16<UInt16>.self)
        UnsafeMutableRawPointer(out + k).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v), as: SIMD16<UInt8>.self)
        UnsafeMutableRawPointer(out + n + k).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 8), as: SIMD16<UInt8>.self)
        k += 16
      }
      while k < n {
        let v = s.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)
        out[k] = UInt8(truncatingIfNeeded: v)
        out[n + k] = UInt8(truncatingIfNeeded: v >> 8)
        k += 1
      }
    case 4:
      while k + 16 <= n {
        let v = s.loadUnaligned(fromByteOffset: 4 * k, as: SIMD16<UInt32>.self)
        for j in 0..<4 {
          UnsafeMutableRawPointer(out + j * n + k).storeBytes(
            of: SIMD16<UInt8>(truncatingIfNeeded: v &>> UInt32(8 * j)), as: SIMD16<UInt8>.self)
        }
        k += 16
      }
      while k < n {
        let v = s.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)
        out[k] = UInt8(truncatingIfNeeded: v)
        out[n + k] = UInt8(truncatingIfNeeded: v >> 8)
        out[2 * n + k] = UInt8(truncatingIfNeeded: v >> 16)
        out[3 * n + k] = UInt8(truncatingIfNeeded: v >> 24)
        k += 1
      }
    default:
      let bytes = s.assumingMemoryBound(to: UInt8.self)
      for k in 0..<n { for j in 0..<width { out[j * n + k] = bytes[k * width + j] } }
    }
  }

  /// Interleave byte planes back into elements (the inverse of `split`).
  static func join(_ src: UnsafeRawBufferPointer, width: Int, into dst: UnsafeMutableRawBufferPointer) {
    guard let s = src.baseAddress, let d = dst.baseAddress else { return }
    let n = dst.count / width
    let planes = s.assumingMemoryBound(to: UInt8.self)
    switch width {
    case 2:
      // Plain loops over typed pointers: LLVM vectorises these (generic SIMD conversions were
      // left unspecialised and slower).
      let p0 = planes
      let p1 = planes + n
      for k in 0..<n {
        d.storeBytes(of: UInt16(p0[k]) | UInt16(p1[k]) << 8, toByteOffset: 2 * k, as: UInt16.self)
      }
    case 4:
      let p0 = planes
      let p1 = planes + n
      let p2 = planes + 2 * n
      let p3 = planes + 3 * n
      for k in 0..<n {
        let v = UInt32(p0[k]) | UInt32(p1[k]) << 8 | UInt32(p2[k]) << 16 | UInt32(p3[k]) << 24
        d.storeBytes(of: v, toByteOffset: 4 * k, as: UInt32.self)
      }
    default:
      let out = d.assumingMemoryBound(to: UInt8.self)
      for k in 0..<n { for j in 0..<width { out[k * width + j] = planes[j * n + k] } }
    }
  }

  /// Every how many bytes a plane's histogram looks: about 2,048 samples per plane (a 32 KiB
  /// plane every 16th byte). That estimates a uniform plane at 7.9 bits (bias ≈ 255 / (2N ln 2)),
  /// clear of `entropyLimit`, and an exponent plane's 2.7 bits within a few hundredths; counting
  /// every 4th byte cost 5% of a first commit's CPU time.
  static func planeSampleStride(_ n: Int) -> Int { max(1, min(16, n / 2_048)) }

  static func encodePlanes(_ content: UnsafeRawBufferPointer, width: Int) -> [UInt8] {
    let n = content.count / width
    let planes = UnsafeMutableRawBufferPointer.allocate(byteCount: content.count, alignment: 16)
    defer { planes.deallocate() }
    split(content, width: width, into: planes)
    // Output: width byte, then per plane a 5-byte header and at most n bytes.
    let capacity = 1 + width * (5 + n)
    return [UInt8](unsafeUninitializedCapacity: capacity) { buf, count in
      let out = UnsafeMutableRawBufferPointer(buf)
      out[0] = UInt8(width)
      var at = 1
      for j in 0..<width {
        let plane = UnsafeRawBufferPointer(rebasing: planes[(j * n)..<((j + 1) * n)])
        at += storePlane(plane, into: UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + 5 + n)]))
      }
      count = at
    }
  }

  /// Write `plane` as `u8 kind, u32 storedLength, stored bytes` (kind 0 raw, 1 zstd) into `out`,
  /// which has room for 5 + `plane.count` bytes; returns the bytes written. A plane is compressed
  /// only when its sampled histogram promises a gain and zstd shrinks it by 3%, the least that is
  /// worth a decompression on every read.
  static func storePlane(_ plane: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
    let n = plane.count
    let body = UnsafeMutableRawBufferPointer(rebasing: out[5..<(5 + n)])
    var stored = n
    var kind: UInt8 = 0
    let entropy = estimatedEntropy(plane, stride: planeSampleStride(n))
    if entropy < entropyLimit,
      let z = Zstd.compress(
        plane, into: UnsafeMutableRawBufferPointer(rebasing: body[0..<(n - n / 32)]),
        profile: entropy < matchSearchLimit ? .planes : .literals)
    {
      stored = z
      kind = 1
    } else {
      body.copyMemory(from: plane)
    }
    out[0] = kind
    out.storeBytes(of: UInt32(stored).littleEndian, toByteOffset: 1, as: UInt32.self)
    return 5 + stored
  }

  /// Read one stored plane (`storePlane`'s layout) at `at` in `p` into `plane`; returns the
  /// offset after it.
  static func loadPlane(_ p: UnsafeRawBufferPointer, at start: Int, into plane: UnsafeMutableRawBufferPointer, name: String) throws -> Int {
    var at = start
    guard p.count - at >= 5 else { throw CodecFailure("\(name) truncated") }
    let kind = p[at]
    let len = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at + 1, as: UInt32.self)))
    at += 5
    guard len <= p.count - at else { throw CodecFailure("\(name) truncated") }
    let stored = UnsafeRawBufferPointer(rebasing: p[at..<(at + len)])
    switch kind {
    case 0:
      guard len == plane.count else { throw CodecFailure("\(name) is stored raw as \(len) bytes, expected \(plane.count)") }
      plane.copyMemory(from: stored)
    case 1:
      do { try Zstd.decompress(stored, into: plane) } catch { throw CodecFailure("\(name): \(error)") }
    default: throw CodecFailure("\(name) has unknown codec \(kind)")
    }
    return at + len
  }

  static func decodePlanes(_ payload: [UInt8], into out: UnsafeMutableRawBufferPointer) throws {
    guard let width = payload.first.map(Int.init) else { throw CodecFailure("planes: empty payload") }
    guard (1...8).contains(width), out.count % width == 0 else {
      throw CodecFailure("planes: width \(width) does not divide \(out.count)")
    }
    let n = out.count / width
    let planes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(out.count, 1), alignment: 16)
    defer { planes.deallocate() }
    try payload.withUnsafeBytes { p in
      var at = 1
      for j in 0..<width {
        let plane = UnsafeMutableRawBufferPointer(rebasing: planes[(j * n)..<((j + 1) * n)])
        at = try loadPlane(p, at: at, into: plane, name: "planes: plane \(j)")
      }
      guard at == p.count else { throw CodecFailure("planes: \(p.count - at) trailing bytes") }
    }
    join(UnsafeRawBufferPointer(planes), width: width, into: out)
  }

  // MARK: ulp distances (codec 4)

  /// Element widths codec 4 allows.
  static func isSubDeltaWidth(_ width: Int) -> Bool { width == 1 || width == 2 || width == 4 || width == 8 }

  /// Decode a codec 4 payload against `base` into `out` (the chunk's length). The width and base
  /// length are checked before any plane is decoded.
  public static func decodeSubDelta(
    _ payload: [UInt8], base: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer
  ) throws {
    guard let width = payload.first.map(Int.init) else { throw CodecFailure("sub-delta: empty payload") }
    guard isSubDeltaWidth(width), out.count % width == 0 else {
      throw CodecFailure.subDeltaWidth(width: width, length: out.count)
    }
    guard base.count == out.count else { throw CodecFailure.deltaBaseLength(found: base.count, expected: out.count) }
    try decodePlanes(payload, into: out)
    switch width {
    case 1: addUlpDistances(base, into: out, as: UInt8.self)
    case 2: addUlpDistances(base, into: out, as: UInt16.self)
    case 4: addUlpDistances(base, into: out, as: UInt32.self)
    default: addUlpDistances(base, into: out, as: UInt64.self)
    }
  }

  /// `key` of Docs/ObjectFormat.md §4: with the top bit set, every other bit is inverted, which
  /// puts sign-magnitude floats in two's-complement order. Its own inverse.
  @inline(__always)
  static func orderKey<T: FixedWidthInteger & UnsignedInteger>(_ x: T) -> T {
    x ^ ((0 &- (x &>> (T.bitWidth - 1))) &>> 1)
  }

  /// `orderKey` on every lane.
  @inline(__always)
  static func orderKey<V: SIMD>(_ x: V) -> V where V.Scalar: FixedWidthInteger & UnsignedInteger {
    x ^ ((0 &- (x &>> V.Scalar(V.Scalar.bitWidth - 1))) &>> 1)
  }

  /// Write `zigzag(key(c) − key(b))` for each `width`-byte element c of `content`, b of `base`.
  static func ulpDistances(
    _ content: UnsafeRawBufferPointer, from base: UnsafeRawBufferPointer, width: Int, into out: UnsafeMutableRawBufferPointer
  ) {
    switch width {
    case 1: ulpDistances(content, from: base, into: out, as: UInt8.self)
    case 2: ulpDistances(content, from: base, into: out, as: UInt16.self)
    case 4: ulpDistances(content, from: base, into: out, as: UInt32.self)
    default: ulpDistances(content, from: base, into: out, as: UInt64.self)
    }
  }

  // Eight lanes at a time (the scalar loop was 12% of a checkout's profile: not vectorised), then
  // the tail one by one. Lanes are loaded in host order, which is little-endian on every platform
  // lineage builds for (as in `split`).
  static func ulpDistances<T: FixedWidthInteger & UnsignedInteger & SIMDScalar>(
    _ content: UnsafeRawBufferPointer, from base: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, as _: T.Type
  ) {
    let size = MemoryLayout<T>.size
    let n = content.count / size
    let top = T(T.bitWidth - 1)
    var k = 0
    while k + 8 <= n {
      let c = content.loadUnaligned(fromByteOffset: k * size, as: SIMD8<T>.self)
      let b = base.loadUnaligned(fromByteOffset: k * size, as: SIMD8<T>.self)
      let d = orderKey(c) &- orderKey(b)
      out.storeBytes(of: (d &<< 1) ^ (0 &- (d &>> top)), toByteOffset: k * size, as: SIMD8<T>.self)
      k += 8
    }
    while k < n {
      let c = T(littleEndian: content.loadUnaligned(fromByteOffset: k * size, as: T.self))
      let b = T(littleEndian: base.loadUnaligned(fromByteOffset: k * size, as: T.self))
      let d = orderKey(c) &- orderKey(b)
      out.storeBytes(of: ((d &<< 1) ^ (0 &- (d &>> top))).littleEndian, toByteOffset: k * size, as: T.self)
      k += 1
    }
  }

  /// Turn the zig-zagged distances in `out` back into content: `key(key(b) + d)`.
  static func addUlpDistances<T: FixedWidthInteger & UnsignedInteger & SIMDScalar>(
    _ base: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, as _: T.Type
  ) {
    let size = MemoryLayout<T>.size
    let n = out.count / size
    var k = 0
    while k + 8 <= n {
      let z = out.loadUnaligned(fromByteOffset: k * size, as: SIMD8<T>.self)
      let b = base.loadUnaligned(fromByteOffset: k * size, as: SIMD8<T>.self)
      let d = (z &>> 1) ^ (0 &- (z & 1))
      out.storeBytes(of: orderKey(orderKey(b) &+ d), toByteOffset: k * size, as: SIMD8<T>.self)
      k += 8
    }
    while k < n {
      let z = T(littleEndian: out.loadUnaligned(fromByteOffset: k * size, as: T.self))
      let b = T(littleEndian: base.loadUnaligned(fromByteOffset: k * size, as: T.self))
      let d = (z &>> 1) ^ (0 &- (z & 1))
      out.storeBytes(of: orderKey(orderKey(b) &+ d).littleEndian, toByteOffset: k * size, as: T.self)
      k += 1
    }
  }

  // MARK: ulp distances split into lengths and bits (codec 5)

  /// Encode `content` against `base` as codec 5 (Docs/ObjectFormat.md §4): the header, the lengths
  /// stream stored as one plane, and the bit stream.
  static func encodeUlpBits(_ content: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, width: Int, mantissa: Int) -> [UInt8] {
    let n = content.count / width
    // The zig-zagged distances first (vectorised, as for codec 4), then symbols and bits.
    let distances = UnsafeMutableRawBufferPointer.allocate(byteCount: max(content.count, 1), alignment: 16)
    defer { distances.deallocate() }
    ulpDistances(content, from: base, width: width, into: distances)
    let symbols = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: 16)
    defer { symbols.deallocate() }
    // At most w − 1 bits per element, plus 8 bytes of slack for the writer's 8-byte stores.
    let bits = UnsafeMutableRawBufferPointer.allocate(byteCount: n * width + 8, alignment: 16)
    defer { bits.deallocate() }
    let d = UnsafeRawBufferPointer(distances)
    let bitBytes: Int
    switch width {
    case 1: bitBytes = splitUlpBits(d, base, mantissa, UInt8.self, symbols, bits)
    case 2: bitBytes = splitUlpBits(d, base, mantissa, UInt16.self, symbols, bits)
    case 4: bitBytes = splitUlpBits(d, base, mantissa, UInt32.self, symbols, bits)
    default: bitBytes = splitUlpBits(d, base, mantissa, UInt64.self, symbols, bits)
    }
    return [UInt8](unsafeUninitializedCapacity: 2 + 5 + n + 4 + bitBytes) { buf, count in
      let out = UnsafeMutableRawBufferPointer(buf)
      out[0] = UInt8(width)
      out[1] = UInt8(mantissa)
      var at = 2
      at += storePlane(UnsafeRawBufferPointer(rebasing: symbols[0..<n]), into: UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + 5 + n)]))
      out.storeBytes(of: UInt32(bitBytes).littleEndian, toByteOffset: at, as: UInt32.self)
      at += 4
      UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + bitBytes)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: bits[0..<bitBytes]))
      count = at + bitBytes
    }
  }

  /// The exponent field of an element (its bits below the top bit, shifted right by
  /// `mantissa`) modulo 255. Fields under 255 (every F32, BF16 and F16 one but infinities and
  /// NaNs) need no division.
  @inline(__always)
  static func exponentField<T: FixedWidthInteger & UnsignedInteger>(_ b: T, _ mantissa: Int) -> Int {
    let e = (b & (T.max &>> 1)) &>> T(truncatingIfNeeded: mantissa)
    return e < 255 ? Int(truncatingIfNeeded: e) : Int(truncatingIfNeeded: e % 255)
  }

  /// A length's symbol against exponent field `e` (0 ≤ e < 255): 1 + ((length − 1 + e) mod 255),
  /// or 0 for length 0. Masks only, no branches, in any signed type wide enough for 2 × 255 (the
  /// loops that use `Int16` vectorise).
  @inline(__always)
  static func lengthSymbol<I: FixedWidthInteger & SignedInteger>(length: I, exponent e: I) -> I {
    let nonzero = (0 &- length) &>> (I.bitWidth - 1)
    var s = length &- 1 &+ e
    s &-= 255 & ~((s &- 255) &>> (I.bitWidth - 1))
    return (1 &+ s) & nonzero
  }

  /// The inverse of `lengthSymbol`: the length of symbol `s` (0...255) against exponent field `e`.
  @inline(__always)
  static func symbolLength<I: FixedWidthInteger & SignedInteger>(symbol s: I, exponent e: I) -> I {
    var t = s &- 1 &- e
    t &+= 255 & (t &>> (I.bitWidth - 1))
    return (t &+ 1) & ((0 &- s) &>> (I.bitWidth - 1))
  }

  /// Exponent fields of at most 8 bits (F32, BF16, F16, FP8) are under 255 or are 255 (≡ 0), so
  /// `narrowExponent` needs no division and the loops over them vectorise.
  @inline(__always)
  static func hasNarrowExponent(size: Int, mantissa: Int) -> Bool { 8 * size - 1 - mantissa <= 8 }

  /// `exponentField` for an element with a narrow exponent field, as `Int16`, without branches.
  @inline(__always)
  static func narrowExponent<T: FixedWidthInteger & UnsignedInteger>(_ b: T, shift: T) -> Int16 {
    let field = Int16(truncatingIfNeeded: (b & (T.max &>> 1)) &>> shift)
    return field &- 255 &* ((field &+ 1) &>> 8)
  }

  /// Write each element's length symbol into `symbols` and the bits below its leading one into
  /// `bits` (LSB first), from the zig-zagged `distances`; returns the bit stream's length in bytes.
  static func splitUlpBits<T: FixedWidthInteger & UnsignedInteger>(
    _ distances: UnsafeRawBufferPointer, _ base: UnsafeRawBufferPointer, _ mantissa: Int, _: T.Type,
    _ symbols: UnsafeMutableRawBufferPointer, _ bits: UnsafeMutableRawBufferPointer
  ) -> Int {
    let size = MemoryLayout<T>.size
    let n = distances.count / size
    guard n > 0, let out = bits.baseAddress, let zs = distances.baseAddress, let bs = base.baseAddress,
      let sym = symbols.baseAddress?.assumingMemoryBound(to: UInt8.self)
    else { return 0 }
    var acc: UInt64 = 0
    var filled = 0
    var written = 0
    // Fewer than 8 bits are pending between calls, so `count` ≤ 32 more always fit; the 8-byte
    // store writes the pending bytes and zeros past them that the next store overwrites. No
    // branches: whole bytes are at most 4 here.
    @inline(__always) func put(_ value: UInt64, _ count: Int) {
      acc |= value &<< UInt64(filled)
      filled &+= count
      out.storeBytes(of: acc.littleEndian, toByteOffset: written, as: UInt64.self)
      let whole = filled &>> 3
      written &+= whole
      acc = acc &>> UInt64(whole &<< 3)
      filled &= 7
    }
    // Symbols and bit counts first, in a pass without branches (vectorised where the exponent
    // field has at most 8 bits), then the bits, whose only chain is the accumulator.
    let rests = UnsafeMutablePointer<UInt8>.allocate(capacity: max(n, 1))
    defer { rests.deallocate() }
    let z = zs.assumingMemoryBound(to: T.self)
    let b = bs.assumingMemoryBound(to: T.self)
    if hasNarrowExponent(size: size, mantissa: mantissa) {
      let shift = T(truncatingIfNeeded: mantissa)
      for k in 0..<n {
        let length = Int16(truncatingIfNeeded: T.bitWidth &- z[k].leadingZeroBitCount)
        sym[k] = UInt8(truncatingIfNeeded: lengthSymbol(length: length, exponent: narrowExponent(b[k], shift: shift)))
        rests[k] = UInt8(truncatingIfNeeded: max(length &- 1, 0))
      }
    } else {
      for k in 0..<n {
        let length = T.bitWidth &- z[k].leadingZeroBitCount
        sym[k] = UInt8(truncatingIfNeeded: lengthSymbol(length: length, exponent: exponentField(b[k], mantissa)))
        rests[k] = UInt8(truncatingIfNeeded: max(length &- 1, 0))
      }
    }
    for k in 0..<n {
      let rest = Int(rests[k])
      let value = UInt64(truncatingIfNeeded: z[k]) & ((1 &<< UInt64(rest)) &- 1)
      if T.bitWidth <= 32 || rest <= 32 {
        put(value, rest)
      } else {
        put(value & 0xFFFF_FFFF, 32)
        put(value &>> 32, rest &- 32)
      }
    }
    if filled > 0 { written += 1 }  // the last partial byte, already stored
    return written
  }

  /// Decode a codec 5 payload against `base` into `out` (the chunk's length). The header, the
  /// lengths and the bit stream's length are checked before any element is written.
  public static func decodeUlpBits(_ payload: [UInt8], base: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws {
    guard payload.count >= 2 else { throw CodecFailure("ulp-bits: header truncated") }
    let width = Int(payload[0])
    let mantissa = Int(payload[1])
    guard isSubDeltaWidth(width), out.count % width == 0 else {
      throw CodecFailure.subDeltaWidth(width: width, length: out.count)
    }
    guard mantissa <= 8 * width - 2 else { throw CodecFailure.ulpBitsMantissa(mantissa: mantissa, width: width) }
    guard base.count == out.count else { throw CodecFailure.deltaBaseLength(found: base.count, expected: out.count) }
    let n = out.count / width
    let symbols = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: 16)
    defer { symbols.deallocate() }
    try payload.withUnsafeBytes { p in
      var at = try loadPlane(p, at: 2, into: UnsafeMutableRawBufferPointer(rebasing: symbols[0..<n]), name: "ulp-bits: lengths")
      guard p.count - at >= 4 else { throw CodecFailure("ulp-bits: bit stream length truncated") }
      let declared = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
      at += 4
      guard declared == p.count - at else {
        throw CodecFailure("ulp-bits: bit stream declared as \(declared) bytes, \(p.count - at) follow")
      }
      let stream = UnsafeRawBufferPointer(rebasing: p[at...])
      let lengths = UnsafeRawBufferPointer(symbols)
      switch width {
      case 1: try joinUlpBits(base, mantissa, UInt8.self, lengths, stream, out)
      case 2: try joinUlpBits(base, mantissa, UInt16.self, lengths, stream, out)
      case 4: try joinUlpBits(base, mantissa, UInt32.self, lengths, stream, out)
      default: try joinUlpBits(base, mantissa, UInt64.self, lengths, stream, out)
      }
    }
  }

  /// The inverse of `splitUlpBits`: each element's length from its symbol and its base (a pass
  /// without branches, which the compiler vectorises), then its bits as its zig-zagged distance
  /// into `out`, which `addUlpDistances` turns into content. Lengths over the element's width, a
  /// stream of the wrong size and set padding bits are found before anything is written.
  static func joinUlpBits<T: FixedWidthInteger & UnsignedInteger & SIMDScalar>(
    _ base: UnsafeRawBufferPointer, _ mantissa: Int, _: T.Type, _ symbols: UnsafeRawBufferPointer,
    _ stream: UnsafeRawBufferPointer, _ out: UnsafeMutableRawBufferPointer
  ) throws {
    let size = MemoryLayout<T>.size
    let n = out.count / size
    guard n > 0, let sym = symbols.baseAddress?.assumingMemoryBound(to: UInt8.self), let bases = base.baseAddress else {
      guard stream.isEmpty else { throw CodecFailure.ulpBitsStream(found: stream.count, expected: 0) }
      return
    }
    let lengths = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
    defer { lengths.deallocate() }
    // Bases are read in host order, little-endian on every platform lineage builds for (as in
    // `split`).
    let b = bases.assumingMemoryBound(to: T.self)
    var longest: UInt8 = 0
    var total = 0
    if hasNarrowExponent(size: size, mantissa: mantissa) {
      let shift = T(truncatingIfNeeded: mantissa)
      var bits: Int32 = 0
      for k in 0..<n {
        let length = symbolLength(symbol: Int16(sym[k]), exponent: narrowExponent(b[k], shift: shift))
        lengths[k] = UInt8(truncatingIfNeeded: length)
        longest = max(longest, UInt8(truncatingIfNeeded: length))
        bits &+= Int32(max(length &- 1, 0))
      }
      total = Int(bits)
    } else {
      for k in 0..<n {
        let length = symbolLength(symbol: Int(sym[k]), exponent: exponentField(b[k], mantissa))
        lengths[k] = UInt8(truncatingIfNeeded: length)
        longest = max(longest, UInt8(truncatingIfNeeded: length))
        total &+= max(length &- 1, 0)
      }
    }
    guard Int(longest) <= T.bitWidth else {
      let k = (0..<n).first { Int(lengths[$0]) > T.bitWidth } ?? 0
      throw CodecFailure.ulpBitsLength(element: k, length: Int(lengths[k]), width: size)
    }
    let expected = (total + 7) / 8
    guard stream.count == expected else { throw CodecFailure.ulpBitsStream(found: stream.count, expected: expected) }
    if total % 8 != 0, stream[expected - 1] >> UInt8(total % 8) != 0 {
      throw CodecFailure("ulp-bits: padding bits of the bit stream are not zero")
    }
    // The stream plus 16 zero bytes, so that every read is one 8-byte load at the byte holding
    // its first bit. The only chain from one element to the next is the bit position (an add),
    // so the loads of consecutive elements overlap.
    let padded = UnsafeMutableRawBufferPointer.allocate(byteCount: stream.count + 16, alignment: 8)
    defer { padded.deallocate() }
    padded.initializeMemory(as: UInt8.self, repeating: 0)
    UnsafeMutableRawBufferPointer(rebasing: padded[0..<stream.count]).copyMemory(from: stream)
    let source = UnsafeRawPointer(padded.baseAddress!)
    var position = 0
    // At most 32 bits a call (the shift is under 8, so 56 bits are always loaded).
    @inline(__always) func take(_ count: Int) -> UInt64 {
      let word = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: position &>> 3, as: UInt64.self))
      let v = (word &>> UInt64(position & 7)) & ((1 &<< UInt64(count)) &- 1)
      position &+= count
      return v
    }
    for k in 0..<n {
      let length = Int(lengths[k])
      let nonzero = min(length, 1)
      let rest = (length &- 1) & (0 &- nonzero)
      var value: UInt64
      if T.bitWidth <= 32 || rest <= 32 {
        value = take(rest)
      } else {
        value = take(32)
        value |= take(rest &- 32) &<< 32
      }
      let lead = (UInt64(1) &<< UInt64(rest)) & (0 &- UInt64(nonzero))
      out.storeBytes(of: T(truncatingIfNeeded: value | lead).littleEndian, toByteOffset: k * size, as: T.self)
    }
    addUlpDistances(base, into: out, as: T.self)
  }

  // MARK: helpers

  /// Shannon entropy of the byte histogram in bits per byte, from every `stride`-th byte.
  public static func estimatedEntropy(_ p: UnsafeRawBufferPointer, stride: Int) -> Double {
    guard let base = p.baseAddress?.assumingMemoryBound(to: UInt8.self), stride > 0 else { return 0 }
    // Four interleaved tables: a skewed plane (an exponent plane has a handful of values) would
    // otherwise make every increment wait for the previous one to the same counter.
    let counts = UnsafeMutablePointer<UInt32>.allocate(capacity: 4 * 256)
    defer { counts.deallocate() }
    counts.initialize(repeating: 0, count: 4 * 256)
    var k = 0
    let step = 4 * stride
    while k + 3 * stride < p.count {
      counts[Int(base[k])] &+= 1
      counts[256 + Int(base[k + stride])] &+= 1
      counts[512 + Int(base[k + 2 * stride])] &+= 1
      counts[768 + Int(base[k + 3 * stride])] &+= 1
      k += step
    }
    while k < p.count {
      counts[Int(base[k])] &+= 1
      k += stride
    }
    var total: UInt32 = 0
    for v in 0..<256 {
      counts[v] &+= counts[256 + v] &+ counts[512 + v] &+ counts[768 + v]
      total &+= counts[v]
    }
    guard total > 0 else { return 0 }
    var h = 0.0
    let t = Double(total)
    for v in 0..<256 where counts[v] > 0 {
      let q = Double(counts[v]) / t
      h -= q * log2(q)
    }
    return h
  }

  static func xorBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
    let n = a.count
    var k = 0
    while k + 8 <= n {
      let x = a.loadUnaligned(fromByteOffset: k, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: k, as: UInt64.self)
      out.storeBytes(of: x, toByteOffset: k, as: UInt64.self)
      k += 8
    }
    while k < n {
      out[k] = a[k] ^ b[k]
      k += 1
    }
  }
}

/// Why a codec could not decode a payload.
public enum CodecFailure: Error, Equatable, Sendable {
  /// The payload breaks its codec's layout; the text says where (plane, lengths).
  case malformed(String)
  /// A sub-delta (codec 4) payload names an element width other than 1, 2, 4 or 8, or one that
  /// does not divide the chunk's length.
  case subDeltaWidth(width: Int, length: Int)
  /// A delta's base chunk does not have the chunk's length.
  case deltaBaseLength(found: Int, expected: Int)
  /// An ulp-bits (codec 5) payload names more significand bits than its element width allows
  /// (at most 8 × width − 2).
  case ulpBitsMantissa(mantissa: Int, width: Int)
  /// An ulp-bits length symbol decodes, against its base element, to more bits than the element has.
  case ulpBitsLength(element: Int, length: Int, width: Int)
  /// An ulp-bits bit stream is not exactly as long as its lengths require.
  case ulpBitsStream(found: Int, expected: Int)

  init(_ reason: String) { self = .malformed(reason) }

  /// One line for fsck and error messages.
  public var reason: String {
    switch self {
    case .malformed(let text): return text
    case .subDeltaWidth(let width, let length): return "sub-delta: element width \(width) is not 1, 2, 4 or 8 dividing \(length)"
    case .deltaBaseLength(let found, let expected): return "delta base is \(found) bytes, expected \(expected)"
    case .ulpBitsMantissa(let mantissa, let width):
      return "ulp-bits: \(mantissa) significand bits do not fit a \(width)-byte element"
    case .ulpBitsLength(let element, let length, let width):
      return "ulp-bits: element \(element) has a distance of \(length) bits, more than its \(8 * width)"
    case .ulpBitsStream(let found, let expected): return "ulp-bits: bit stream is \(found) bytes, its lengths need \(expected)"
    }
  }
}
