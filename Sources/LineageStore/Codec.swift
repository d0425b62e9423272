import LineageCore
import LineageNative

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Stored encodings of an object's bytes (Docs/ObjectFormat.md §4).
public enum Codec: UInt8, Sendable, CaseIterable {
  case raw = 0, zstd = 1, planes = 2, xorDelta = 3
}

/// An object's bytes as they will be stored.
public struct EncodedObject: Sendable {
  public var codec: Codec
  public var payload: [UInt8]
  /// The chunk the delta is against (codec `.xorDelta` only).
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
  /// zstd level for all stored data: fast enough to keep up with hashing.
  public static let level: Int32 = 1

  /// Encode a chunk whose elements are `width` bytes wide (1 for opaque bytes).
  public static func encode(_ content: UnsafeRawBufferPointer, width: Int) -> EncodedObject {
    if width >= 2, width <= 8, content.count % width == 0, content.count >= 64 * width {
      let payload = encodePlanes(content, width: width)
      if payload.count < content.count { return EncodedObject(codec: .planes, payload: payload, base: nil, depth: 0) }
    } else if content.count >= 64, estimatedEntropy(content, stride: 1) < entropyLimit,
      let z = try? Zstd.compress(content, level: level), z.count < content.count
    {
      return EncodedObject(codec: .zstd, payload: z, base: nil, depth: 0)
    }
    return EncodedObject(codec: .raw, payload: Array(content), base: nil, depth: 0)
  }

  /// Encode small metadata: zstd when it pays, raw otherwise.
  public static func encodeMetadata(_ content: [UInt8]) -> EncodedObject {
    if content.count >= 256,
      let z = content.withUnsafeBytes({ try? Zstd.compress($0, level: 3) }), z.count < content.count * 9 / 10
    {
      return EncodedObject(codec: .zstd, payload: z, base: nil, depth: 0)
    }
    return EncodedObject(codec: .raw, payload: content, base: nil, depth: 0)
  }

  /// Encode `content` as the XOR with `base`'s content, byte-planed; nil when that is not smaller
  /// than `limit` bytes.
  public static func encodeDelta(
    _ content: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, baseID: ObjectID, baseDepth: UInt8,
    width: Int, limit: Int
  ) -> EncodedObject? {
    guard content.count == base.count, width >= 1, width <= 8, content.count % width == 0 else { return nil }
    var x = [UInt8](unsafeUninitializedCapacity: content.count) { buf, n in
      xorBytes(content, base, into: UnsafeMutableRawBufferPointer(buf))
      n = content.count
    }
    let payload = x.withUnsafeMutableBytes { encodePlanes(UnsafeRawBufferPointer($0), width: max(width, 1)) }
    x = []
    guard payload.count < limit else { return nil }
    return EncodedObject(codec: .xorDelta, payload: payload, base: baseID, depth: baseDepth + 1)
  }

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
      guard let base, base.count == rawLength else { throw CodecFailure("delta base has the wrong length") }
      var out = try withOutput(rawLength) { out in try decodePlanes(payload, into: out) }
      out.withUnsafeMutableBytes { o in
        base.withUnsafeBytes { b in xorBytes(UnsafeRawBufferPointer(o), b, into: o) }
      }
      return out
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

  static func encodePlanes(_ content: UnsafeRawBufferPointer, width: Int) -> [UInt8] {
    let n = content.count / width
    var out = [UInt8]()
    out.reserveCapacity(content.count + 1 + 5 * width)
    out.append(UInt8(width))
    var plane = [UInt8](repeating: 0, count: n)
    for j in 0..<width {
      plane.withUnsafeMutableBufferPointer { p in
        var k = 0
        var src = j
        while k < n {
          p[k] = content[src]
          k += 1
          src += width
        }
      }
      let compressed: [UInt8]? = plane.withUnsafeBytes { p in
        guard estimatedEntropy(p, stride: 1) < entropyLimit else { return nil }
        guard let z = try? Zstd.compress(p, level: level), z.count < n else { return nil }
        return z
      }
      var header = ByteWriter(capacity: 5)
      header.u8(compressed == nil ? 0 : 1)
      header.u32(UInt32((compressed ?? plane).count))
      out += header.bytes
      out += compressed ?? plane
    }
    return out
  }

  static func decodePlanes(_ payload: [UInt8], into out: UnsafeMutableRawBufferPointer) throws {
    var r = ByteReader(payload)
    let width: Int
    do { width = Int(try r.u8("width")) } catch { throw CodecFailure("planes: empty payload") }
    guard (1...8).contains(width), out.count % width == 0 else {
      throw CodecFailure("planes: width \(width) does not divide \(out.count)")
    }
    let n = out.count / width
    var plane = [UInt8](repeating: 0, count: n)
    for j in 0..<width {
      let kind: UInt8
      let stored: [UInt8]
      do {
        kind = try r.u8("plane.codec")
        let len = Int(try r.u32("plane.length"))
        stored = try r.raw(len, "plane.bytes")
      } catch { throw CodecFailure("planes: plane \(j) truncated") }
      switch kind {
      case 0:
        guard stored.count == n else { throw CodecFailure("planes: raw plane \(j) is \(stored.count) bytes, expected \(n)") }
        plane = stored
      case 1:
        try plane.withUnsafeMutableBytes { p in
          try stored.withUnsafeBytes { s in
            do { try Zstd.decompress(s, into: p) } catch { throw CodecFailure("planes: plane \(j): \(error)") }
          }
        }
      default: throw CodecFailure("planes: plane \(j) has unknown codec \(kind)")
      }
      plane.withUnsafeBufferPointer { p in
        var dst = j
        for k in 0..<n {
          out[dst] = p[k]
          dst += width
        }
      }
    }
    guard r.remaining == 0 else { throw CodecFailure("planes: \(r.remaining) trailing bytes") }
  }

  // MARK: helpers

  /// Shannon entropy of the byte histogram in bits per byte, from every `stride`-th byte.
  public static func estimatedEntropy(_ p: UnsafeRawBufferPointer, stride: Int) -> Double {
    var counts = [Int](repeating: 0, count: 256)
    var total = 0
    counts.withUnsafeMutableBufferPointer { c in
      var k = 0
      while k < p.count {
        c[Int(p[k])] += 1
        total += 1
        k += stride
      }
    }
    guard total > 0 else { return 0 }
    var h = 0.0
    let t = Double(total)
    for c in counts where c > 0 {
      let q = Double(c) / t
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

/// A codec could not decode a payload; the reason says why.
public struct CodecFailure: Error, Equatable, Sendable {
  public var reason: String
  init(_ reason: String) { self.reason = reason }
}
