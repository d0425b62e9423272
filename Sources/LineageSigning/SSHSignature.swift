/// A detached OpenSSH signature (PROTOCOL.sshsig), the format of `ssh-keygen -Y sign`.
///
/// Blob layout (all SSH wire encoding, big-endian):
/// ```
/// byte[6] "SSHSIG"
/// uint32  1                      version
/// string  publickey              SSHPublicKey.blob
/// string  namespace              non-empty, e.g. "lineage"
/// string  reserved               empty (lineage rejects anything else)
/// string  hash_algorithm         "sha512" or "sha256"
/// string  signature              string sigtype, string sigbytes (the key type's SSH signature)
/// ```
/// The key signs `"SSHSIG" ‖ string namespace ‖ string "" ‖ string hash_algorithm ‖ string H(message)`:
/// Ed25519 signs those bytes directly; ECDSA P-256 signs their SHA-256, and its `sigbytes` are
/// `mpint r, mpint s` (RFC 5656 §3.1.2).
public struct SSHSignature: Sendable, Equatable {
  /// The key that made the signature (not yet trusted: see `AllowedSigners`).
  public let publicKey: SSHPublicKey
  /// The domain the signature is for; lineage uses `lineage`.
  public let namespace: String
  /// `sha512` or `sha256`: how the message was hashed before signing.
  public let hashAlgorithm: String
  /// The inner SSH signature blob: `string sigtype, string sigbytes`.
  public let signature: [UInt8]

  static let magic: [UInt8] = Array("SSHSIG".utf8)
  static let version: UInt32 = 1
  static let armorLabel = "SSH SIGNATURE"
  /// The hash algorithms PROTOCOL.sshsig allows.
  public static let hashAlgorithms = ["sha512", "sha256"]
  /// The namespace lineage signs in.
  public static let lineageNamespace = "lineage"

  /// Sign `message` in `namespace` (must not be empty) with `key`.
  public static func sign(message: [UInt8], namespace: String, key: SSHPrivateKey, hashAlgorithm: String = "sha512")
    throws(SigningError) -> SSHSignature
  {
    guard !namespace.isEmpty else { throw .emptyNamespace }
    guard !namespace.utf8.contains(0) else { throw .invalidString(offset: 0, field: "namespace") }
    let toSign = try signedData(message: message, namespace: namespace, hashAlgorithm: hashAlgorithm)
    var inner = SSHWriter()
    inner.string(key.type.rawValue)
    switch key.type {
    case .ed25519:
      inner.string(try key.signRaw(toSign))
    case .ecdsaP256:
      let (r, s) = try Crypto.ecdsaDERToRS(try key.signRaw(toSign))
      var rs = SSHWriter()
      rs.mpint(unsigned: r)
      rs.mpint(unsigned: s)
      inner.string(rs.bytes)
    }
    return SSHSignature(publicKey: key.publicKey, namespace: namespace, hashAlgorithm: hashAlgorithm, signature: inner.bytes)
  }

  init(publicKey: SSHPublicKey, namespace: String, hashAlgorithm: String, signature: [UInt8]) {
    self.publicKey = publicKey
    self.namespace = namespace
    self.hashAlgorithm = hashAlgorithm
    self.signature = signature
  }

  /// The bytes the key signs (PROTOCOL.sshsig §3).
  static func signedData(message: [UInt8], namespace: String, hashAlgorithm: String) throws(SigningError) -> [UInt8] {
    let digest: [UInt8]
    switch hashAlgorithm {
    case "sha512": digest = Crypto.sha512(message)
    case "sha256": digest = Crypto.sha256(message)
    default: throw .unsupportedHashAlgorithm(hashAlgorithm)
    }
    var w = SSHWriter()
    w.raw(magic)
    w.string(namespace)
    w.string([UInt8]())
    w.string(hashAlgorithm)
    w.string(digest)
    return w.bytes
  }

  /// The SSHSIG blob.
  public var blob: [UInt8] {
    var w = SSHWriter()
    w.raw(Self.magic)
    w.u32(Self.version)
    w.string(publicKey.blob)
    w.string(namespace)
    w.string([UInt8]())
    w.string(hashAlgorithm)
    w.string(signature)
    return w.bytes
  }

  /// The armored text, byte-identical to what `ssh-keygen -Y sign` writes to `FILE.sig`.
  public var armored: String { Armor.encode(blob, label: Self.armorLabel) }

  /// Parse armored text (`-----BEGIN SSH SIGNATURE-----` …) strictly.
  public init(armored: String) throws(SigningError) {
    try self.init(blob: try Armor.decode(armored, label: Self.armorLabel))
  }

  /// Parse an SSHSIG blob strictly: magic, version 1, a supported key, non-empty namespace, empty
  /// reserved field, known hash, a well-formed inner signature of the key's type, no trailing bytes.
  public init(blob: [UInt8]) throws(SigningError) {
    var r = SSHReader(blob)
    guard try r.raw(Self.magic.count, "magic") == Self.magic else { throw .badSignatureMagic }
    let version = try r.u32("version")
    guard version == Self.version else { throw .unsupportedSignatureVersion(version) }
    let keyStart = r.offset + 4
    let keyBlob = try r.string("public key")
    let namespace = try r.text("namespace")
    let reserved = try r.string("reserved")
    let hash = try r.text("hash algorithm")
    let sigStart = r.offset + 4
    let signature = try r.string("signature")
    try r.expectEnd("SSH signature")

    let key = try Self.shiftingOffsets(by: keyStart) { () throws(SigningError) in try SSHPublicKey(blob: keyBlob) }
    guard !namespace.isEmpty else { throw .emptyNamespace }
    guard reserved.isEmpty else { throw .nonEmptyReserved(length: reserved.count) }
    guard Self.hashAlgorithms.contains(hash) else { throw .unsupportedHashAlgorithm(hash) }
    try Self.shiftingOffsets(by: sigStart) { () throws(SigningError) in _ = try Self.parseInner(signature, keyType: key.type) }
    self.init(publicKey: key, namespace: namespace, hashAlgorithm: hash, signature: signature)
  }

  /// Rebase offsets in errors from a nested structure onto the enclosing blob.
  private static func shiftingOffsets<T>(by base: Int, _ body: () throws(SigningError) -> T) throws(SigningError) -> T {
    do {
      return try body()
    } catch {
      switch error {
      case .truncated(let o, let f): throw .truncated(offset: base + o, field: f)
      case .trailingBytes(let s, let o, let n): throw .trailingBytes(structure: s, offset: base + o, count: n)
      case .invalidString(let o, let f): throw .invalidString(offset: base + o, field: f)
      case .negativeMPInt(let o, let f): throw .negativeMPInt(offset: base + o, field: f)
      case .nonMinimalMPInt(let o, let f): throw .nonMinimalMPInt(offset: base + o, field: f)
      case .mpintTooLarge(let o, let f, let n): throw .mpintTooLarge(offset: base + o, field: f, bytes: n)
      default: throw error
      }
    }
  }

  /// The signature in the form OpenSSL verifies: 64 raw bytes for Ed25519, DER for ECDSA.
  static func parseInner(_ inner: [UInt8], keyType: SigningKeyType) throws(SigningError) -> [UInt8] {
    var r = SSHReader(inner)
    let type = try r.text("signature type")
    guard type == keyType.rawValue else { throw .signatureTypeMismatch(expected: keyType.rawValue, found: type) }
    let sigStart = r.offset + 4
    let bytes = try r.string("signature bytes")
    try r.expectEnd("inner signature")
    switch keyType {
    case .ed25519:
      guard bytes.count == 64 else { throw .invalidLength(field: "ed25519 signature", expected: 64, found: bytes.count) }
      return bytes
    case .ecdsaP256:
      return try shiftingOffsets(by: sigStart) { () throws(SigningError) in
        var rs = SSHReader(bytes)
        let rv = try rs.mpint("ecdsa r", maxBytes: 32)
        let sv = try rs.mpint("ecdsa s", maxBytes: 32)
        try rs.expectEnd("ecdsa signature")
        guard !rv.isEmpty, !sv.isEmpty else { throw .malformedSignature(reason: "ecdsa r or s is zero") }
        return try Crypto.ecdsaRSToDER(r: rv, s: sv)
      }
    }
  }

  /// Check that this signature is by `publicKey` over `message` in `namespace`.
  ///
  /// This proves only who holds the key; whether that key may sign is `AllowedSigners.check`.
  public func verify(message: [UInt8], namespace expected: String) throws(SigningError) {
    guard namespace == expected else { throw .namespaceMismatch(expected: expected, found: namespace) }
    let toVerify = try Self.signedData(message: message, namespace: namespace, hashAlgorithm: hashAlgorithm)
    let raw = try Self.parseInner(signature, keyType: publicKey.type)
    guard publicKey.verifyRaw(signature: raw, message: toVerify) else { throw .badSignature(fingerprint: publicKey.fingerprint) }
  }
}
