import COpenSSL

/// A 32-byte SHA-256 digest.
public struct SHA256Digest: Hashable, Sendable {
  /// The digest bytes, most significant first.
  public var bytes: [UInt8]

  public init(bytes: [UInt8]) {
    precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes")
    self.bytes = bytes
  }

  /// Lowercase hex, as `sha256sum` prints it.
  public var hex: String { HexEncoding.encode(bytes) }
}

/// Incremental SHA-256 through OpenSSL's EVP interface (SHA-NI where the CPU has it).
///
/// A reference type because it owns an `EVP_MD_CTX`; not safe to share between threads.
public final class SHA256Hasher {
  private let context: OpaquePointer

  public init() {
    guard let ctx = EVP_MD_CTX_new() else { fatalError("OpenSSL could not allocate a digest context") }
    context = ctx
    // EVP_sha256 is always available in libcrypto; a failure here means a broken installation.
    guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else { fatalError("EVP_DigestInit_ex failed") }
  }

  deinit { EVP_MD_CTX_free(context) }

  /// Feed bytes.
  public func update(_ buffer: UnsafeRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    EVP_DigestUpdate(context, base, buffer.count)
  }

  /// Feed bytes.
  public func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// Finish and return the digest; the hasher must not be used afterwards.
  public func finalize() -> SHA256Digest {
    var out = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
    return SHA256Digest(bytes: out)
  }

  /// One-shot digest of a buffer.
  public static func hash(_ buffer: UnsafeRawBufferPointer) -> SHA256Digest {
    var out = [UInt8](repeating: 0, count: 32)
    out.withUnsafeMutableBufferPointer { dst in
      var length: UInt32 = 0
      _ = EVP_Digest(buffer.baseAddress, buffer.count, dst.baseAddress, &length, EVP_sha256(), nil)
    }
    return SHA256Digest(bytes: out)
  }

  /// One-shot digest of a byte array.
  public static func hash(_ bytes: [UInt8]) -> SHA256Digest {
    bytes.withUnsafeBytes { hash($0) }
  }
}

/// Lowercase hexadecimal encoding and strict decoding.
public enum HexEncoding {
  private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

  /// Encode bytes as lowercase hex.
  public static func encode(_ bytes: some Collection<UInt8>) -> String {
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
      out.append(digits[Int(b >> 4)])
      out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decode lowercase or uppercase hex; nil when the text is not an even run of hex digits.
  public static func decode(_ text: String) -> [UInt8]? {
    let utf8 = Array(text.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(utf8.count / 2)
    var i = 0
    while i < utf8.count {
      guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
      out.append(hi << 4 | lo)
      i += 2
    }
    return out
  }

  static func nibble(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}
