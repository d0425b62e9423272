import COpenSSL

/// Every OpenSSL call of the signing module (libcrypto 3.0 EVP interfaces only; no primitive is
/// implemented here by hand).
///
/// Keys cross this boundary as plain bytes: an Ed25519 key as its 32-byte seed and 32-byte public
/// key, a P-256 key as its 32-byte big-endian scalar and 65-byte uncompressed point. An `EVP_PKEY`
/// is built for each operation and freed at its end, so no OpenSSL object outlives a call and the
/// public value types stay `Sendable`.
enum Crypto {
  // MARK: Digests and randomness

  static func sha256(_ message: [UInt8]) -> [UInt8] { digest(message, EVP_sha256(), 32) }

  static func sha512(_ message: [UInt8]) -> [UInt8] { digest(message, EVP_sha512(), 64) }

  private static func digest(_ message: [UInt8], _ md: OpaquePointer?, _ size: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: size)
    var length: UInt32 = 0
    message.withUnsafeBytes { m in
      out.withUnsafeMutableBufferPointer { o in
        _ = EVP_Digest(m.baseAddress, m.count, o.baseAddress, &length, md, nil)
      }
    }
    return out
  }

  static func randomBytes(_ count: Int) throws(SigningError) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
    guard ok == 1 else { throw failure("RAND_bytes") }
    return out
  }

  // MARK: Ed25519

  /// A fresh key pair: (32-byte seed, 32-byte public key).
  static func ed25519Generate() throws(SigningError) -> (seed: [UInt8], publicKey: [UInt8]) {
    guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw failure("EVP_PKEY_CTX_new_id") }
    defer { EVP_PKEY_CTX_free(ctx) }
    var pkey: OpaquePointer?
    guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_keygen(ctx, &pkey) == 1, let pkey else { throw failure("EVP_PKEY_keygen") }
    defer { EVP_PKEY_free(pkey) }
    return (try rawKey(pkey, isPrivate: true), try rawKey(pkey, isPrivate: false))
  }

  /// The public key belonging to a 32-byte seed.
  static func ed25519PublicKey(seed: [UInt8]) throws(SigningError) -> [UInt8] {
    let pkey = try ed25519Private(seed)
    defer { EVP_PKEY_free(pkey) }
    return try rawKey(pkey, isPrivate: false)
  }

  /// A 64-byte Ed25519 signature (RFC 8032) of the message itself.
  static func ed25519Sign(seed: [UInt8], message: [UInt8]) throws(SigningError) -> [UInt8] {
    let pkey = try ed25519Private(seed)
    defer { EVP_PKEY_free(pkey) }
    return try sign(pkey, digest: nil, message)
  }

  static func ed25519Verify(publicKey: [UInt8], signature: [UInt8], message: [UInt8]) -> Bool {
    guard publicKey.count == 32, signature.count == 64 else { return false }
    let made = publicKey.withUnsafeBufferPointer {
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
    }
    guard let pkey = made else { return clearedFalse() }
    defer { EVP_PKEY_free(pkey) }
    return verify(pkey, digest: nil, signature: signature, message)
  }

  private static func ed25519Private(_ seed: [UInt8]) throws(SigningError) -> OpaquePointer {
    guard seed.count == 32 else { throw .invalidLength(field: "ed25519 seed", expected: 32, found: seed.count) }
    let made = seed.withUnsafeBufferPointer {
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
    }
    guard let pkey = made else { throw failure("EVP_PKEY_new_raw_private_key") }
    return pkey
  }

  private static func rawKey(_ pkey: OpaquePointer, isPrivate: Bool) throws(SigningError) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    var length = 32
    let ok = out.withUnsafeMutableBufferPointer {
      isPrivate
        ? EVP_PKEY_get_raw_private_key(pkey, $0.baseAddress, &length)
        : EVP_PKEY_get_raw_public_key(pkey, $0.baseAddress, &length)
    }
    guard ok == 1, length == 32 else { throw failure("EVP_PKEY_get_raw_key") }
    return out
  }

  // MARK: ECDSA P-256

  /// A fresh key pair: (32-byte scalar, 65-byte uncompressed point).
  static func p256Generate() throws(SigningError) -> (scalar: [UInt8], point: [UInt8]) {
    guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw failure("EVP_PKEY_CTX_new_from_name") }
    defer { EVP_PKEY_CTX_free(ctx) }
    var pkey: OpaquePointer?
    guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1,
      EVP_PKEY_keygen(ctx, &pkey) == 1, let pkey
    else { throw failure("EVP_PKEY_keygen") }
    defer { EVP_PKEY_free(pkey) }
    return try p256Parts(pkey)
  }

  /// Throws unless `point` is a 65-byte uncompressed point on P-256 that passes OpenSSL's full
  /// public-key check (on the curve, not infinity, in the prime-order group).
  static func p256ValidatePublic(_ point: [UInt8]) throws(SigningError) {
    let pkey = try p256Key(point: point, scalar: nil)
    EVP_PKEY_free(pkey)
  }

  /// Throws unless `scalar` is a valid private key whose public point is `point`.
  static func p256ValidatePair(scalar: [UInt8], point: [UInt8]) throws(SigningError) {
    let pkey = try p256Key(point: point, scalar: scalar)
    EVP_PKEY_free(pkey)
  }

  /// A DER `ECDSA-Sig-Value` over SHA-256(message).
  static func p256SignDER(scalar: [UInt8], point: [UInt8], message: [UInt8]) throws(SigningError) -> [UInt8] {
    let pkey = try p256Key(point: point, scalar: scalar)
    defer { EVP_PKEY_free(pkey) }
    return try sign(pkey, digest: EVP_sha256(), message)
  }

  /// Whether `der` is a valid DER ECDSA signature by `point` over SHA-256(message).
  static func p256VerifyDER(point: [UInt8], der: [UInt8], message: [UInt8]) -> Bool {
    guard let pkey = try? p256Key(point: point, scalar: nil) else { return clearedFalse() }
    defer { EVP_PKEY_free(pkey) }
    return verify(pkey, digest: EVP_sha256(), signature: der, message)
  }

  /// Split a DER ECDSA signature into the magnitudes of r and s (big-endian, no leading zeros).
  static func ecdsaDERToRS(_ der: [UInt8]) throws(SigningError) -> (r: [UInt8], s: [UInt8]) {
    let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buf in
      var p = buf.baseAddress
      return d2i_ECDSA_SIG(nil, &p, buf.count)
    }
    guard let sig = parsed else { throw failure("d2i_ECDSA_SIG") }
    defer { ECDSA_SIG_free(sig) }
    return (bigEndian(ECDSA_SIG_get0_r(sig)), bigEndian(ECDSA_SIG_get0_s(sig)))
  }

  /// DER-encode r and s (unsigned big-endian magnitudes).
  static func ecdsaRSToDER(r: [UInt8], s: [UInt8]) throws(SigningError) -> [UInt8] {
    guard let sig = ECDSA_SIG_new() else { throw failure("ECDSA_SIG_new") }
    defer { ECDSA_SIG_free(sig) }
    let rb = r.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
    let sb = s.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
    guard let rb, let sb, ECDSA_SIG_set0(sig, rb, sb) == 1 else {
      BN_free(rb)
      BN_free(sb)
      throw failure("ECDSA_SIG_set0")
    }
    let length = i2d_ECDSA_SIG(sig, nil)
    guard length > 0 else { throw failure("i2d_ECDSA_SIG") }
    var out = [UInt8](repeating: 0, count: Int(length))
    let written = out.withUnsafeMutableBufferPointer { buf in
      var p = buf.baseAddress
      return i2d_ECDSA_SIG(sig, &p)
    }
    guard written == length else { throw failure("i2d_ECDSA_SIG") }
    return out
  }

  // `EVP_PKEY_fromdata` selections (openssl/core_dispatch.h, openssl/evp.h): the domain parameters
  // plus the public key, or plus both halves.
  private static let selectPublicKey: Int32 = 0x86
  private static let selectKeyPair: Int32 = 0x87

  /// A P-256 `EVP_PKEY` from its point and, when given, its scalar; the caller frees it.
  private static func p256Key(point: [UInt8], scalar: [UInt8]?) throws(SigningError) -> OpaquePointer {
    guard point.count == 65, point.first == 0x04 else {
      throw .invalidPublicKey(reason: "a P-256 point must be 65 bytes starting with 0x04 (uncompressed)")
    }
    guard let bld = OSSL_PARAM_BLD_new() else { throw failure("OSSL_PARAM_BLD_new") }
    defer { OSSL_PARAM_BLD_free(bld) }
    var bn: OpaquePointer?
    defer { BN_clear_free(bn) }
    // The builder keeps pointers until OSSL_PARAM_BLD_to_param copies them, so every buffer it sees
    // is either static or alive until that call.
    let params: UnsafeMutablePointer<OSSL_PARAM>? = point.withUnsafeBytes { pt in
      guard OSSL_PARAM_BLD_push_utf8_string(bld, cString("group"), cString("prime256v1"), 0) == 1,
        OSSL_PARAM_BLD_push_octet_string(bld, cString("pub"), pt.baseAddress, pt.count) == 1
      else { return nil }
      if let scalar {
        bn = scalar.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        guard let bn, OSSL_PARAM_BLD_push_BN(bld, cString("priv"), bn) == 1 else { return nil }
      }
      return OSSL_PARAM_BLD_to_param(bld)
    }
    guard let params else { throw failure("OSSL_PARAM_BLD_to_param") }
    defer { OSSL_PARAM_free(params) }
    guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw failure("EVP_PKEY_CTX_new_from_name") }
    defer { EVP_PKEY_CTX_free(ctx) }
    guard EVP_PKEY_fromdata_init(ctx) == 1 else { throw failure("EVP_PKEY_fromdata_init") }
    var made: OpaquePointer?
    guard EVP_PKEY_fromdata(ctx, &made, scalar == nil ? selectPublicKey : selectKeyPair, params) == 1, let pkey = made else {
      ERR_clear_error()
      throw .invalidPublicKey(reason: "not a point on P-256")
    }
    guard let check = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else {
      EVP_PKEY_free(pkey)
      throw failure("EVP_PKEY_CTX_new_from_pkey")
    }
    defer { EVP_PKEY_CTX_free(check) }
    if EVP_PKEY_public_check(check) != 1 {
      EVP_PKEY_free(pkey)
      ERR_clear_error()
      throw .invalidPublicKey(reason: "OpenSSL's P-256 public key check failed")
    }
    if scalar != nil {
      if EVP_PKEY_private_check(check) != 1 {
        EVP_PKEY_free(pkey)
        ERR_clear_error()
        throw .invalidPrivateKey(reason: "the P-256 scalar is zero or not below the group order")
      }
      if EVP_PKEY_pairwise_check(check) != 1 {
        EVP_PKEY_free(pkey)
        ERR_clear_error()
        throw .privateKeyMismatch(field: "ecdsa scalar × G ≠ Q")
      }
    }
    return pkey
  }

  /// (32-byte scalar, 65-byte uncompressed point) of a P-256 private key; throws for other curves.
  private static func p256Parts(_ pkey: OpaquePointer) throws(SigningError) -> (scalar: [UInt8], point: [UInt8]) {
    let point = try p256Point(pkey)
    var bn: OpaquePointer?
    guard EVP_PKEY_get_bn_param(pkey, "priv", &bn) == 1, let bn else { throw failure("EVP_PKEY_get_bn_param") }
    defer { BN_clear_free(bn) }
    var scalar = [UInt8](repeating: 0, count: 32)
    let n = scalar.withUnsafeMutableBufferPointer { BN_bn2binpad(bn, $0.baseAddress, 32) }
    guard n == 32 else { throw .invalidPrivateKey(reason: "the scalar does not fit in 32 bytes") }
    return (scalar, point)
  }

  /// The uncompressed point of a P-256 key; throws for other curves.
  private static func p256Point(_ pkey: OpaquePointer) throws(SigningError) -> [UInt8] {
    var name = [CChar](repeating: 0, count: 64)
    var nameLength = 0
    guard EVP_PKEY_get_utf8_string_param(pkey, "group", &name, name.count, &nameLength) == 1 else {
      throw failure("EVP_PKEY_get_utf8_string_param")
    }
    let group = String(decoding: name.prefix(nameLength).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard group == "prime256v1" || group == "P-256" else { throw .unsupportedCurve(group) }
    // Keys read from PEM keep the point format of their encoding; SSH needs the uncompressed one.
    guard EVP_PKEY_set_utf8_string_param(pkey, "point-format", "uncompressed") == 1 else {
      throw failure("EVP_PKEY_set_utf8_string_param")
    }
    var point = [UInt8](repeating: 0, count: 65)
    var pointLength = 0
    guard EVP_PKEY_get_octet_string_param(pkey, "encoded-pub-key", &point, point.count, &pointLength) == 1,
      pointLength == 65
    else { throw failure("EVP_PKEY_get_octet_string_param") }
    return point
  }

  // MARK: PEM

  /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), as `PEM_write_bio_PUBKEY` writes it.
  static func publicKeyPEM(_ type: SigningKeyType, _ key: [UInt8]) throws(SigningError) -> String {
    let pkey: OpaquePointer
    switch type {
    case .ed25519:
      let made = key.withUnsafeBufferPointer { EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) }
      guard let made else { throw failure("EVP_PKEY_new_raw_public_key") }
      pkey = made
    case .ecdsaP256:
      pkey = try p256Key(point: key, scalar: nil)
    }
    defer { EVP_PKEY_free(pkey) }
    return try writePEM { PEM_write_bio_PUBKEY($0, pkey) }
  }

  /// The key type and raw public key of a `-----BEGIN PUBLIC KEY-----` PEM text.
  static func publicKeyFromPEM(_ text: String) throws(SigningError) -> (SigningKeyType, [UInt8]) {
    guard let pkey = readPEM(text, { PEM_read_bio_PUBKEY($0, nil, nil, nil) }) else {
      throw .invalidPEM(expected: "a SubjectPublicKeyInfo public key")
    }
    defer { EVP_PKEY_free(pkey) }
    switch EVP_PKEY_get_base_id(pkey) {
    case EVP_PKEY_ED25519: return (.ed25519, try rawKey(pkey, isPrivate: false))
    case EVP_PKEY_EC: return (.ecdsaP256, try p256Point(pkey))
    default: throw .unsupportedKeyType(pkeyTypeName(pkey))
    }
  }

  /// Unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
  static func privateKeyPKCS8PEM(_ type: SigningKeyType, secret: [UInt8], publicKey: [UInt8]) throws(SigningError) -> String {
    let pkey: OpaquePointer
    switch type {
    case .ed25519: pkey = try ed25519Private(secret)
    case .ecdsaP256: pkey = try p256Key(point: publicKey, scalar: secret)
    }
    defer { EVP_PKEY_free(pkey) }
    return try writePEM { PEM_write_bio_PKCS8PrivateKey($0, pkey, nil, nil, 0, nil, nil) }
  }

  /// The key type, secret (seed or scalar) and public key of an unencrypted PKCS#8 PEM text.
  static func privateKeyFromPKCS8(_ text: String) throws(SigningError) -> (SigningKeyType, secret: [UInt8], publicKey: [UInt8]) {
    // A callback that supplies no passphrase, so OpenSSL never prompts on a terminal.
    let noPassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in 0 }
    guard let pkey = readPEM(text, { PEM_read_bio_PrivateKey($0, nil, noPassphrase, nil) }) else {
      throw .invalidPEM(expected: "an unencrypted PKCS#8 private key")
    }
    defer { EVP_PKEY_free(pkey) }
    switch EVP_PKEY_get_base_id(pkey) {
    case EVP_PKEY_ED25519:
      return (.ed25519, try rawKey(pkey, isPrivate: true), try rawKey(pkey, isPrivate: false))
    case EVP_PKEY_EC:
      let (scalar, point) = try p256Parts(pkey)
      return (.ecdsaP256, scalar, point)
    default:
      throw .unsupportedKeyType(pkeyTypeName(pkey))
    }
  }

  private static func pkeyTypeName(_ pkey: OpaquePointer) -> String {
    guard let name = EVP_PKEY_get0_type_name(pkey) else { return "unknown" }
    return String(cString: name)
  }

  private static func writePEM(_ body: (OpaquePointer) -> Int32) throws(SigningError) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { throw failure("BIO_new") }
    defer { BIO_free(bio) }
    guard body(bio) == 1 else { throw failure("PEM_write_bio") }
    let pending = Int(BIO_ctrl_pending(bio))
    var out = [UInt8](repeating: 0, count: pending)
    let n = out.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(pending)) }
    guard Int(n) == pending else { throw failure("BIO_read") }
    return String(decoding: out, as: UTF8.self)
  }

  private static func readPEM(_ text: String, _ body: (OpaquePointer) -> OpaquePointer?) -> OpaquePointer? {
    let bytes = Array(text.utf8)
    guard let length = Int32(exactly: bytes.count) else { return nil }
    let result: OpaquePointer? = bytes.withUnsafeBytes { buf in
      guard let bio = BIO_new_mem_buf(buf.baseAddress, length) else { return nil }
      defer { BIO_free(bio) }
      return body(bio)
    }
    if result == nil { ERR_clear_error() }
    return result
  }

  // MARK: Sign and verify

  private static func sign(_ pkey: OpaquePointer, digest: OpaquePointer?, _ message: [UInt8]) throws(SigningError) -> [UInt8] {
    guard let ctx = EVP_MD_CTX_new() else { throw failure("EVP_MD_CTX_new") }
    defer { EVP_MD_CTX_free(ctx) }
    guard EVP_DigestSignInit(ctx, nil, digest, nil, pkey) == 1 else { throw failure("EVP_DigestSignInit") }
    var length = 0
    let sized = message.withUnsafeBufferPointer { EVP_DigestSign(ctx, nil, &length, $0.baseAddress, $0.count) }
    guard sized == 1, length > 0 else { throw failure("EVP_DigestSign") }
    var out = [UInt8](repeating: 0, count: length)
    let ok = message.withUnsafeBufferPointer { m in
      out.withUnsafeMutableBufferPointer { EVP_DigestSign(ctx, $0.baseAddress, &length, m.baseAddress, m.count) }
    }
    guard ok == 1 else { throw failure("EVP_DigestSign") }
    return Array(out.prefix(length))
  }

  private static func verify(_ pkey: OpaquePointer, digest: OpaquePointer?, signature: [UInt8], _ message: [UInt8]) -> Bool {
    guard let ctx = EVP_MD_CTX_new() else { return clearedFalse() }
    defer { EVP_MD_CTX_free(ctx) }
    guard EVP_DigestVerifyInit(ctx, nil, digest, nil, pkey) == 1 else { return clearedFalse() }
    let result = message.withUnsafeBufferPointer { m in
      signature.withUnsafeBufferPointer { s in EVP_DigestVerify(ctx, s.baseAddress, s.count, m.baseAddress, m.count) }
    }
    if result != 1 { ERR_clear_error() }
    return result == 1
  }

  // MARK: Helpers

  private static func bigEndian(_ bn: OpaquePointer?) -> [UInt8] {
    guard let bn else { return [] }
    let count = (Int(BN_num_bits(bn)) + 7) / 8
    var out = [UInt8](repeating: 0, count: count)
    _ = out.withUnsafeMutableBufferPointer { BN_bn2bin(bn, $0.baseAddress) }
    return out
  }

  /// A NUL-terminated pointer with static lifetime (OSSL_PARAM_BLD keeps key pointers).
  private static func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
  }

  /// Drop OpenSSL's queued errors (they are thread-local and would confuse a later caller).
  private static func clearedFalse() -> Bool {
    ERR_clear_error()
    return false
  }

  private static func failure(_ function: String) -> SigningError {
    ERR_clear_error()
    return .cryptoFailure(function)
  }
}
