/// The key types lineage signs and verifies with, named as in the SSH wire format.
public enum SigningKeyType: String, Sendable, CaseIterable {
  /// Ed25519 (RFC 8709).
  case ed25519 = "ssh-ed25519"
  /// ECDSA over NIST P-256 with SHA-256 (RFC 5656).
  case ecdsaP256 = "ecdsa-sha2-nistp256"

  /// Parse a wire name; any other SSH key type is `unsupportedKeyType`.
  init(wireName: String) throws(SigningError) {
    guard let t = SigningKeyType(rawValue: wireName) else { throw .unsupportedKeyType(wireName) }
    self = t
  }

  /// The ECDSA curve identifier inside the key blob.
  static let p256CurveName = "nistp256"
}

/// A public key, held as its SSH wire blob (RFC 4253 §6.6).
///
/// - `ssh-ed25519`: `string "ssh-ed25519", string key` with a 32-byte key (RFC 8709).
/// - `ecdsa-sha2-nistp256`: `string "ecdsa-sha2-nistp256", string "nistp256", string Q` with Q a
///   65-byte uncompressed point on P-256 (RFC 5656 §3.1).
///
/// Two keys are equal when their blobs are equal; every accepted blob is in its only encoding.
public struct SSHPublicKey: Hashable, Sendable {
  /// The key type named at the start of the blob.
  public let type: SigningKeyType
  /// The SSH wire encoding, the bytes fingerprints and SSHSIG signatures are computed over.
  public let blob: [UInt8]
  /// The raw key: 32 bytes for Ed25519, the 65-byte point for P-256.
  let keyBytes: [UInt8]

  /// Parse and validate a wire blob: known type, exact lengths, the point on P-256, no trailing bytes.
  public init(blob: [UInt8]) throws(SigningError) {
    var r = SSHReader(blob)
    try self.init(reading: &r)
    try r.expectEnd("public key blob")
  }

  /// Read one public key from `r`, leaving what follows it.
  init(reading r: inout SSHReader) throws(SigningError) {
    let start = r.offset
    let name = try r.text("public key type")
    let type = try SigningKeyType(wireName: name)
    let key: [UInt8]
    switch type {
    case .ed25519:
      key = try r.string("ed25519 public key")
      guard key.count == 32 else { throw .invalidLength(field: "ed25519 public key", expected: 32, found: key.count) }
    case .ecdsaP256:
      let curve = try r.text("ecdsa curve")
      guard curve == SigningKeyType.p256CurveName else { throw .unsupportedCurve(curve) }
      key = try r.string("ecdsa public point")
      guard key.count == 65 else { throw .invalidLength(field: "ecdsa public point", expected: 65, found: key.count) }
      try Crypto.p256ValidatePublic(key)
    }
    self.init(type: type, keyBytes: key)
    // The blob is re-encoded from its parts; equal to the input since every part was exact.
    assert(blob.count == r.offset - start)
  }

  /// A key from its raw bytes (32-byte Ed25519 key or validated 65-byte P-256 point).
  init(type: SigningKeyType, keyBytes: [UInt8]) {
    var w = SSHWriter()
    w.string(type.rawValue)
    if type == .ecdsaP256 { w.string(SigningKeyType.p256CurveName) }
    w.string(keyBytes)
    self.type = type
    self.keyBytes = keyBytes
    self.blob = w.bytes
  }

  /// Parse an authorized_keys / `.pub` line: `keytype base64 [comment]` (no options).
  ///
  /// The type before the base64 must equal the type inside the blob.
  public init(authorizedKey line: String) throws(SigningError) {
    let fields = line.split(maxSplits: 2, omittingEmptySubsequences: true) { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
    guard fields.count >= 2 else { throw .malformedPublicKeyLine(reason: "expected a key type and base64 key") }
    let name = String(fields[0])
    let type = try SigningKeyType(wireName: name)
    let blob = try Base64.decode(fields[1].utf8, field: "public key")
    try self.init(blob: blob)
    guard self.type == type else { throw .keyTypeMismatch(field: "public key blob", expected: type.rawValue, found: self.type.rawValue) }
  }

  /// The key as an authorized_keys / `.pub` line, `keytype base64 [comment]`, without a newline.
  public func authorizedKey(comment: String? = nil) -> String {
    let base = "\(type.rawValue) \(Base64.encode(blob))"
    guard let comment, !comment.isEmpty else { return base }
    return "\(base) \(comment)"
  }

  /// `SHA256:` and the unpadded base64 of SHA-256(blob), as `ssh-keygen -l` prints it.
  public var fingerprint: String { "SHA256:" + Base64.encode(Crypto.sha256(blob), padded: false) }

  /// The SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), as `ssh-keygen -e -m PKCS8` writes it.
  public func pem() -> String {
    // Cannot fail for a validated key; an empty string would only mean a broken libcrypto.
    (try? Crypto.publicKeyPEM(type, keyBytes)) ?? ""
  }

  /// Parse a SubjectPublicKeyInfo PEM holding an Ed25519 or P-256 key.
  public init(pem: String) throws(SigningError) {
    let (type, key) = try Crypto.publicKeyFromPEM(pem)
    if type == .ecdsaP256 { try Crypto.p256ValidatePublic(key) }
    self.init(type: type, keyBytes: key)
  }

  /// Verify a raw signature as DSSE / Sigstore use them: for Ed25519 the 64-byte signature of
  /// `message`, for P-256 a DER ECDSA signature over SHA-256(`message`).
  public func verifyRaw(signature: [UInt8], message: [UInt8]) -> Bool {
    switch type {
    case .ed25519: Crypto.ed25519Verify(publicKey: keyBytes, signature: signature, message: message)
    case .ecdsaP256: Crypto.p256VerifyDER(point: keyBytes, der: signature, message: message)
    }
  }
}
