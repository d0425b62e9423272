/// A private signing key (Ed25519 or ECDSA P-256) with its public key and comment.
///
/// Reads and writes the unencrypted OpenSSH format (`openssh-key-v1`, PROTOCOL.key) and
/// unencrypted PKCS#8 PEM. Passphrase-protected keys are refused with `encryptedKeyUnsupported`.
public struct SSHPrivateKey: Sendable {
  /// The public half.
  public let publicKey: SSHPublicKey
  /// The comment stored with the key (often `user@host`); may be empty.
  public var comment: String
  /// The Ed25519 32-byte seed, or the P-256 scalar as 32 big-endian bytes.
  let secret: [UInt8]
  /// The check integer written twice in the OpenSSH format; kept so a parsed key re-encodes to the
  /// same bytes.
  let checkInteger: UInt32

  static let magic: [UInt8] = Array("openssh-key-v1".utf8) + [0]
  static let armorLabel = "OPENSSH PRIVATE KEY"
  /// The private section is padded to the block size of cipher `none` (8 bytes in OpenSSH).
  static let blockSize = 8

  init(publicKey: SSHPublicKey, secret: [UInt8], comment: String, checkInteger: UInt32) {
    self.publicKey = publicKey
    self.secret = secret
    self.comment = comment
    self.checkInteger = checkInteger
  }

  /// The key type.
  public var type: SigningKeyType { publicKey.type }

  /// A fresh key from OpenSSL's random generator.
  public static func generate(_ type: SigningKeyType, comment: String) throws(SigningError) -> SSHPrivateKey {
    let check = try Crypto.randomBytes(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    switch type {
    case .ed25519:
      let (seed, pub) = try Crypto.ed25519Generate()
      return SSHPrivateKey(publicKey: SSHPublicKey(type: .ed25519, keyBytes: pub), secret: seed, comment: comment, checkInteger: check)
    case .ecdsaP256:
      let (scalar, point) = try Crypto.p256Generate()
      return SSHPrivateKey(
        publicKey: SSHPublicKey(type: .ecdsaP256, keyBytes: point), secret: scalar, comment: comment, checkInteger: check)
    }
  }

  /// Parse either format, chosen by the first line: `-----BEGIN OPENSSH PRIVATE KEY-----` or
  /// `-----BEGIN PRIVATE KEY-----` (PKCS#8, whose comment is empty).
  public init(text: String) throws(SigningError) {
    if text.hasPrefix("-----BEGIN PRIVATE KEY-----") || text.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
      try self.init(pkcs8PEM: text)
    } else {
      try self.init(openSSH: text)
    }
  }

  /// Parse an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) Ed25519 or P-256 key.
  public init(pkcs8PEM text: String, comment: String = "") throws(SigningError) {
    if text.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----") { throw .encryptedKeyUnsupported(cipher: "PKCS#8 encryption") }
    guard text.hasPrefix("-----BEGIN PRIVATE KEY-----") else { throw .missingArmorHeader(expected: "-----BEGIN PRIVATE KEY-----") }
    let (type, secret, pub) = try Crypto.privateKeyFromPKCS8(text)
    if type == .ecdsaP256 { try Crypto.p256ValidatePair(scalar: secret, point: pub) }
    // A fixed check integer keeps `openSSHText()` of a PKCS#8 key deterministic.
    self.init(publicKey: SSHPublicKey(type: type, keyBytes: pub), secret: secret, comment: comment, checkInteger: 0)
  }

  /// Parse an unencrypted `-----BEGIN OPENSSH PRIVATE KEY-----` file holding one key.
  ///
  /// Layout (offsets in the decoded bytes): `"openssh-key-v1\0"`, `string cipher` (must be
  /// `none`), `string kdf` (`none`), `string kdfoptions` (empty), `uint32 count` (1),
  /// `string publickey`, `string private` where `private` is `uint32 check, uint32 check`, the
  /// key type's private fields, `string comment`, then padding bytes 1, 2, 3, … to a multiple of 8.
  public init(openSSH text: String) throws(SigningError) {
    let bytes = try Armor.decode(text, label: Self.armorLabel)
    try self.init(openSSHBytes: bytes)
  }

  /// Parse the decoded bytes of an openssh-key-v1 file.
  init(openSSHBytes bytes: [UInt8]) throws(SigningError) {
    var r = SSHReader(bytes)
    let magic = try r.raw(Self.magic.count, "magic")
    guard magic == Self.magic else { throw .badKeyMagic }
    let cipher = try r.text("cipher name")
    let kdf = try r.text("kdf name")
    let kdfOptions = try r.string("kdf options")
    guard cipher == "none" else { throw .encryptedKeyUnsupported(cipher: cipher) }
    guard kdf == "none" else { throw .unsupportedKDF(kdf) }
    guard kdfOptions.isEmpty else { throw .unexpectedKDFOptions(length: kdfOptions.count) }
    let count = try r.u32("key count")
    guard count == 1 else { throw .unsupportedKeyCount(Int(count)) }
    let outerBlob = try r.string("public key")
    let privateStart = r.offset + 4
    let section = try r.string("private section")
    try r.expectEnd("private key file")
    let outer = try SSHPublicKey(blob: outerBlob)
    guard !section.isEmpty, section.count % Self.blockSize == 0 else {
      throw .privateSectionNotAligned(length: section.count)
    }
    let (secret, comment, check) = try Self.parsePrivateSection(section, at: privateStart, outer: outer)
    self.init(publicKey: outer, secret: secret, comment: comment, checkInteger: check)
  }

  /// (secret, comment, check integer) from the private section that starts at `base` in the file.
  private static func parsePrivateSection(_ section: [UInt8], at base: Int, outer: SSHPublicKey) throws(SigningError)
    -> (secret: [UInt8], comment: String, check: UInt32)
  {
    var p = SSHReader(section)
    // Errors inside the section report offsets in the whole decoded file.
    func at(_ e: SigningError) -> SigningError {
      switch e {
      case .truncated(let o, let f): .truncated(offset: base + o, field: f)
      case .invalidString(let o, let f): .invalidString(offset: base + o, field: f)
      case .negativeMPInt(let o, let f): .negativeMPInt(offset: base + o, field: f)
      case .nonMinimalMPInt(let o, let f): .nonMinimalMPInt(offset: base + o, field: f)
      case .mpintTooLarge(let o, let f, let n): .mpintTooLarge(offset: base + o, field: f, bytes: n)
      default: e
      }
    }
    do throws(SigningError) {
      let check1 = try p.u32("check integer 1")
      let check2 = try p.u32("check integer 2")
      guard check1 == check2 else { throw SigningError.checkIntegerMismatch(check1, check2) }
      let name = try p.text("private key type")
      let type = try SigningKeyType(wireName: name)
      guard type == outer.type else {
        throw SigningError.keyTypeMismatch(field: "private key type", expected: outer.type.rawValue, found: name)
      }
      let secret: [UInt8]
      switch type {
      case .ed25519:
        let pub = try p.string("ed25519 public key")
        guard pub.count == 32 else { throw SigningError.invalidLength(field: "ed25519 public key", expected: 32, found: pub.count) }
        let pair = try p.string("ed25519 private key")
        guard pair.count == 64 else { throw SigningError.invalidLength(field: "ed25519 private key", expected: 64, found: pair.count) }
        guard pub == outer.keyBytes else { throw SigningError.privateKeyMismatch(field: "public key in the private section") }
        // The 64 bytes are seed ‖ public key; both copies of the public key and the one derived
        // from the seed must agree.
        guard Array(pair[32...]) == pub else { throw SigningError.privateKeyMismatch(field: "public half of the ed25519 private key") }
        secret = Array(pair[..<32])
        guard try Crypto.ed25519PublicKey(seed: secret) == pub else { throw SigningError.privateKeyMismatch(field: "ed25519 seed") }
      case .ecdsaP256:
        let curve = try p.text("ecdsa curve")
        guard curve == SigningKeyType.p256CurveName else { throw SigningError.unsupportedCurve(curve) }
        let point = try p.string("ecdsa public point")
        guard point == outer.keyBytes else { throw SigningError.privateKeyMismatch(field: "public point in the private section") }
        let scalar = try p.mpint("ecdsa private scalar", maxBytes: 32)
        secret = [UInt8](repeating: 0, count: 32 - scalar.count) + scalar
        try Crypto.p256ValidatePair(scalar: secret, point: point)
      }
      let comment = try p.text("comment")
      var expected: UInt8 = 1
      let paddingStart = p.offset
      while p.remaining > 0 {
        let at = p.offset
        let b = try p.u8("padding")
        guard b == expected, at - paddingStart < blockSize else { throw SigningError.invalidPadding(offset: base + at) }
        expected &+= 1
      }
      return (secret, comment, check1)
    } catch {
      throw at(error)
    }
  }

  /// The decoded openssh-key-v1 bytes, laid out as `ssh-keygen` writes an unencrypted key.
  var openSSHBytes: [UInt8] {
    var priv = SSHWriter()
    priv.u32(checkInteger)
    priv.u32(checkInteger)
    priv.string(type.rawValue)
    switch type {
    case .ed25519:
      priv.string(publicKey.keyBytes)
      priv.string(secret + publicKey.keyBytes)
    case .ecdsaP256:
      priv.string(SigningKeyType.p256CurveName)
      priv.string(publicKey.keyBytes)
      priv.mpint(unsigned: secret)
    }
    priv.string(comment)
    var pad: UInt8 = 1
    while priv.bytes.count % Self.blockSize != 0 {
      priv.raw([pad])
      pad += 1
    }
    var w = SSHWriter()
    w.raw(Self.magic)
    w.string("none")
    w.string("none")
    w.string([UInt8]())
    w.u32(1)
    w.string(publicKey.blob)
    w.string(priv.bytes)
    return w.bytes
  }

  /// The key as an unencrypted `-----BEGIN OPENSSH PRIVATE KEY-----` file (base64 at 70 columns),
  /// the layout `ssh-keygen -N ''` writes.
  public func openSSHText() -> String { Armor.encode(openSSHBytes, label: Self.armorLabel) }

  /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); the comment is not kept.
  public func pkcs8PEM() -> String {
    // Cannot fail for a validated key; an empty string would only mean a broken libcrypto.
    (try? Crypto.privateKeyPKCS8PEM(type, secret: secret, publicKey: publicKey.keyBytes)) ?? ""
  }

  /// A raw signature as DSSE / Sigstore use them: Ed25519 over `message` (64 bytes), or a DER
  /// ECDSA signature over SHA-256(`message`).
  public func signRaw(_ message: [UInt8]) throws(SigningError) -> [UInt8] {
    switch type {
    case .ed25519: try Crypto.ed25519Sign(seed: secret, message: message)
    case .ecdsaP256: try Crypto.p256SignDER(scalar: secret, point: publicKey.keyBytes, message: message)
    }
  }
}
