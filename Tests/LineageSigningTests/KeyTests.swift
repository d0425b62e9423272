import LineageSigning
import Testing

@Suite struct PublicKeyTests {
  @Test func parsesAuthorizedKeyLinesAndReencodesThem() throws {
    let ed = try SSHPublicKey(authorizedKey: Fixture.ed25519Public)
    #expect(ed.type == .ed25519)
    #expect(ed.authorizedKey(comment: "me@x") == Fixture.ed25519Public)
    let ec = try SSHPublicKey(authorizedKey: Fixture.ecdsaPublic)
    #expect(ec.type == .ecdsaP256)
    #expect(ec.authorizedKey(comment: "ec@x") == Fixture.ecdsaPublic)
    #expect(ec.authorizedKey(comment: nil) == String(Fixture.ecdsaPublic.dropLast(5)))
    #expect(try SSHPublicKey(blob: ec.blob) == ec)
  }

  @Test func fingerprintsMatchSshKeygen() throws {
    #expect(try SSHPublicKey(authorizedKey: Fixture.ed25519Public).fingerprint == Fixture.ed25519Fingerprint)
    #expect(try SSHPublicKey(authorizedKey: Fixture.ecdsaPublic).fingerprint == Fixture.ecdsaFingerprint)
  }

  @Test func pemMatchesSshKeygenAndRoundTrips() throws {
    let ec = try SSHPublicKey(authorizedKey: Fixture.ecdsaPublic)
    #expect(ec.pem() == Fixture.ecdsaPEM)
    #expect(try SSHPublicKey(pem: Fixture.ecdsaPEM) == ec)
    let ed = try SSHPublicKey(authorizedKey: Fixture.ed25519Public)
    #expect(ed.pem().hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
    #expect(try SSHPublicKey(pem: ed.pem()) == ed)
  }

  @Test func rejectsPEMOfOtherKeyTypes() {
    #expect(throws: SigningError.unsupportedCurve("secp384r1")) { try SSHPublicKey(pem: Fixture.p384PEM) }
    #expect(throws: SigningError.unsupportedKeyType("RSA")) { try SSHPublicKey(pem: Fixture.rsaPEM) }
  }

  @Test func rejectsTextThatIsNotPEM() {
    #expect(throws: SigningError.invalidPEM(expected: "a SubjectPublicKeyInfo public key")) {
      try SSHPublicKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    }
  }

  @Test func rejectsEveryTruncationOfABlob() throws {
    for line in [Fixture.ed25519Public, Fixture.ecdsaPublic] {
      let blob = try SSHPublicKey(authorizedKey: line).blob
      for n in 0..<blob.count {
        #expect(throws: SigningError.self) { try SSHPublicKey(blob: Array(blob.prefix(n))) }
      }
    }
  }

  @Test func rejectsTrailingBytes() throws {
    let blob = try SSHPublicKey(authorizedKey: Fixture.ed25519Public).blob
    #expect(throws: SigningError.trailingBytes(structure: "public key blob", offset: 51, count: 1)) {
      try SSHPublicKey(blob: blob + [0])
    }
  }

  @Test func rejectsATruncatedLengthPrefix() {
    #expect(throws: SigningError.truncated(offset: 0, field: "public key type")) { try SSHPublicKey(blob: [0, 0, 0, 11, 0x73]) }
  }

  @Test(arguments: ["ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp384", "sk-ssh-ed25519@openssh.com"])
  func rejectsOtherKeyTypes(_ type: String) {
    let blob = Wire {
      $0.string(type)
      $0.string([UInt8](repeating: 1, count: 32))
    }.bytes
    #expect(throws: SigningError.unsupportedKeyType(type)) { try SSHPublicKey(blob: blob) }
    #expect(throws: SigningError.unsupportedKeyType(type)) { try SSHPublicKey(authorizedKey: "\(type) \(base64(blob))") }
  }

  @Test func rejectsAnotherCurveInsideAP256Blob() {
    let blob = Wire {
      $0.string("ecdsa-sha2-nistp256")
      $0.string("nistp384")
      $0.string([4] + [UInt8](repeating: 1, count: 64))
    }.bytes
    #expect(throws: SigningError.unsupportedCurve("nistp384")) { try SSHPublicKey(blob: blob) }
  }

  @Test func rejectsWrongKeyLengths() {
    let ed = Wire {
      $0.string("ssh-ed25519")
      $0.string([UInt8](repeating: 1, count: 31))
    }.bytes
    #expect(throws: SigningError.invalidLength(field: "ed25519 public key", expected: 32, found: 31)) { try SSHPublicKey(blob: ed) }
    let ec = Wire {
      $0.string("ecdsa-sha2-nistp256")
      $0.string("nistp256")
      $0.string([4] + [UInt8](repeating: 1, count: 63))
    }.bytes
    #expect(throws: SigningError.invalidLength(field: "ecdsa public point", expected: 65, found: 64)) { try SSHPublicKey(blob: ec) }
  }

  @Test func rejectsAPointOffTheCurve() throws {
    var blob = try SSHPublicKey(authorizedKey: Fixture.ecdsaPublic).blob
    blob[blob.count - 1] ^= 1
    #expect(throws: SigningError.invalidPublicKey(reason: "not a point on P-256")) { try SSHPublicKey(blob: blob) }
  }

  @Test func rejectsACompressedPoint() throws {
    var blob = try SSHPublicKey(authorizedKey: Fixture.ecdsaPublic).blob
    blob[blob.count - 65] = 2
    #expect(throws: SigningError.invalidPublicKey(reason: "a P-256 point must be 65 bytes starting with 0x04 (uncompressed)")) {
      try SSHPublicKey(blob: blob)
    }
  }

  @Test func rejectsALineWithoutKey() {
    #expect(throws: SigningError.malformedPublicKeyLine(reason: "expected a key type and base64 key")) {
      try SSHPublicKey(authorizedKey: "ssh-ed25519")
    }
  }

  @Test func rejectsBadBase64() {
    #expect(throws: SigningError.invalidBase64(offset: 4, field: "public key")) {
      try SSHPublicKey(authorizedKey: "ssh-ed25519 AAAA*AAA")
    }
    // "AB==" leaves non-zero bits below the one decoded byte.
    #expect(throws: SigningError.invalidBase64(offset: 1, field: "public key")) { try SSHPublicKey(authorizedKey: "ssh-ed25519 AB==") }
    #expect(throws: SigningError.invalidBase64(offset: 3, field: "public key")) { try SSHPublicKey(authorizedKey: "ssh-ed25519 AAA") }
  }

  @Test func rejectsATypeThatDisagreesWithTheBlob() throws {
    let blob = try SSHPublicKey(authorizedKey: Fixture.ed25519Public).blob
    #expect(throws: SigningError.keyTypeMismatch(field: "public key blob", expected: "ecdsa-sha2-nistp256", found: "ssh-ed25519")) {
      try SSHPublicKey(authorizedKey: "ecdsa-sha2-nistp256 \(base64(blob))")
    }
  }
}

@Suite struct PrivateKeyTests {
  @Test func parsesSshKeygenKeysAndWritesThemBackByteForByte() throws {
    let ed = try Fixture.ed25519()
    #expect(ed.comment == "me@x")
    #expect(ed.publicKey == (try SSHPublicKey(authorizedKey: Fixture.ed25519Public)))
    #expect(ed.openSSHText() == Fixture.ed25519Private)
    let ec = try Fixture.ecdsa()
    #expect(ec.comment == "ec@x")
    #expect(ec.publicKey == (try SSHPublicKey(authorizedKey: Fixture.ecdsaPublic)))
    #expect(ec.openSSHText() == Fixture.ecdsaPrivate)
  }

  @Test(arguments: SigningKeyType.allCases)
  func generatedKeysRoundTripThroughBothFormats(_ type: SigningKeyType) throws {
    let key = try SSHPrivateKey.generate(type, comment: "gen@test")
    let again = try SSHPrivateKey(openSSH: key.openSSHText())
    #expect(again.publicKey == key.publicKey && again.comment == "gen@test")
    #expect(again.openSSHText() == key.openSSHText())
    let pem = key.pkcs8PEM()
    #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
    let fromPEM = try SSHPrivateKey(text: pem)
    #expect(fromPEM.publicKey == key.publicKey && fromPEM.comment.isEmpty)
    #expect(fromPEM.pkcs8PEM() == pem)
    let message = Array("payload".utf8)
    #expect(key.publicKey.verifyRaw(signature: try fromPEM.signRaw(message), message: message))
  }

  @Test(arguments: SigningKeyType.allCases)
  func rawSignaturesVerifyOnlyForTheirMessage(_ type: SigningKeyType) throws {
    let key = try SSHPrivateKey.generate(type, comment: "")
    let sig = try key.signRaw([1, 2, 3])
    if type == .ed25519 { #expect(sig.count == 64) } else { #expect(sig.first == 0x30) }
    #expect(key.publicKey.verifyRaw(signature: sig, message: [1, 2, 3]))
    #expect(!key.publicKey.verifyRaw(signature: sig, message: [1, 2, 4]))
    #expect(!key.publicKey.verifyRaw(signature: Array(sig.dropLast()), message: [1, 2, 3]))
    let other = try SSHPrivateKey.generate(type, comment: "")
    #expect(!other.publicKey.verifyRaw(signature: sig, message: [1, 2, 3]))
  }

  @Test func rebuiltFixturesParse() throws {
    // The builders below must produce a valid key when nothing is changed.
    _ = try SSHPrivateKey(openSSH: OpenSSHKeyFile.ed25519().text)
    _ = try SSHPrivateKey(openSSH: OpenSSHKeyFile.ecdsa().text)
  }

  @Test func rejectsEveryTruncation() {
    for text in [Fixture.ed25519Private, Fixture.ecdsaPrivate] {
      let bytes = dearmor(text)
      for n in 0..<bytes.count {
        #expect(throws: SigningError.self) { try SSHPrivateKey(openSSH: armor(Array(bytes.prefix(n)), "OPENSSH PRIVATE KEY")) }
      }
    }
  }

  @Test func rejectsBadMagic() {
    var f = OpenSSHKeyFile.ed25519()
    f.magic = Array("openssh-key-v2".utf8) + [0]
    #expect(throws: SigningError.badKeyMagic) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsEncryptedKeysWithAHint() {
    var f = OpenSSHKeyFile.ed25519()
    f.cipher = "aes256-ctr"
    f.kdf = "bcrypt"
    f.kdfOptions = [0, 0, 0, 0, 0, 0, 0, 16]
    #expect(throws: SigningError.encryptedKeyUnsupported(cipher: "aes256-ctr")) { try SSHPrivateKey(openSSH: f.text) }
    #expect(SigningError.encryptedKeyUnsupported(cipher: "aes256-ctr").description.contains("ssh-keygen -p"))
  }

  @Test func rejectsAKDFOnAnUnencryptedKey() {
    var f = OpenSSHKeyFile.ed25519()
    f.kdf = "bcrypt"
    #expect(throws: SigningError.unsupportedKDF("bcrypt")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsKDFOptionsForNone() {
    var f = OpenSSHKeyFile.ed25519()
    f.kdfOptions = [1]
    #expect(throws: SigningError.unexpectedKDFOptions(length: 1)) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsMoreThanOneKey() {
    var f = OpenSSHKeyFile.ed25519()
    f.count = 2
    #expect(throws: SigningError.unsupportedKeyCount(2)) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsTrailingBytesAfterThePrivateSection() {
    var f = OpenSSHKeyFile.ed25519()
    f.trailing = [0]
    #expect(throws: SigningError.trailingBytes(structure: "private key file", offset: f.bytes.count - 1, count: 1)) {
      try SSHPrivateKey(openSSH: f.text)
    }
  }

  @Test func rejectsAMisalignedPrivateSection() {
    var f = OpenSSHKeyFile.ed25519()
    f.padding = []
    let length = f.bytes.count - 98  // 98 bytes precede the private section's contents
    #expect(length % 8 != 0)
    #expect(throws: SigningError.privateSectionNotAligned(length: length)) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsCheckIntegerMismatch() {
    var f = OpenSSHKeyFile.ed25519()
    f.check2 = 1
    #expect(throws: SigningError.checkIntegerMismatch(0x1234_5678, 1)) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsBadPadding() {
    var f = OpenSSHKeyFile.ed25519()
    // The private section is 132 bytes before padding, so 4 bytes align it; the last is wrong.
    f.padding = [1, 2, 3, 9]
    #expect(throws: SigningError.invalidPadding(offset: f.bytes.count - 1)) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsTooMuchPadding() {
    var f = OpenSSHKeyFile.ed25519()
    // 8 + 4+11 + 36 + 68 + 5 = 132 bytes; 4 bytes of padding align it, 12 are a block too many.
    f.padding = Array(1...12)
    #expect(throws: SigningError.invalidPadding(offset: f.bytes.count - 4)) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsAnEd25519PairWhosePublicHalfDiffers() {
    var f = OpenSSHKeyFile.ed25519()
    var r = WireReader(f.privateFields)
    _ = r.string()
    let pub = r.string()
    var pair = r.string()
    pair[63] ^= 1
    f.privateFields = OpenSSHKeyFile.ed25519Fields(pub: pub, pair: pair)
    #expect(throws: SigningError.privateKeyMismatch(field: "public half of the ed25519 private key")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsAnEd25519SeedThatDoesNotMatch() {
    var f = OpenSSHKeyFile.ed25519()
    var r = WireReader(f.privateFields)
    _ = r.string()
    let pub = r.string()
    var pair = r.string()
    pair[0] ^= 1
    f.privateFields = OpenSSHKeyFile.ed25519Fields(pub: pub, pair: pair)
    #expect(throws: SigningError.privateKeyMismatch(field: "ed25519 seed")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsAPrivateSectionForAnotherPublicKey() throws {
    var f = OpenSSHKeyFile.ed25519()
    let other = try SSHPrivateKey.generate(.ed25519, comment: "")
    f.publicBlob = other.publicKey.blob
    #expect(throws: SigningError.privateKeyMismatch(field: "public key in the private section")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsAWrongLengthEd25519PrivateKey() {
    var f = OpenSSHKeyFile.ed25519()
    var r = WireReader(f.privateFields)
    _ = r.string()
    let pub = r.string()
    let pair = r.string()
    f.privateFields = OpenSSHKeyFile.ed25519Fields(pub: pub, pair: Array(pair.prefix(32)))
    #expect(throws: SigningError.invalidLength(field: "ed25519 private key", expected: 64, found: 32)) {
      try SSHPrivateKey(openSSH: f.text)
    }
  }

  @Test func rejectsAPrivateTypeThatDiffersFromThePublicOne() {
    var f = OpenSSHKeyFile.ed25519()
    f.privateFields = OpenSSHKeyFile.ecdsa().privateFields
    #expect(throws: SigningError.keyTypeMismatch(field: "private key type", expected: "ssh-ed25519", found: "ecdsa-sha2-nistp256")) {
      try SSHPrivateKey(openSSH: f.text)
    }
  }

  @Test func rejectsOtherKeyTypes() {
    var f = OpenSSHKeyFile.ed25519()
    f.publicBlob =
      Wire {
        $0.string("ssh-rsa")
        $0.string([1, 0, 1])
        $0.string([0, 0xC1])
      }.bytes
    #expect(throws: SigningError.unsupportedKeyType("ssh-rsa")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsAnECDSAScalarForAnotherPoint() {
    var f = OpenSSHKeyFile.ecdsa()
    let (_, point, scalar) = OpenSSHKeyFile.ecdsaParts()
    var other = scalar
    other[other.count - 1] ^= 1
    f.privateFields = OpenSSHKeyFile.ecdsaFields(point: point, scalarMPInt: other)
    #expect(throws: SigningError.privateKeyMismatch(field: "ecdsa scalar × G ≠ Q")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsAnECDSAPointThatDiffersFromThePublicKey() {
    var f = OpenSSHKeyFile.ecdsa()
    let (_, point, scalar) = OpenSSHKeyFile.ecdsaParts()
    var other = point
    other[64] ^= 1
    f.privateFields = OpenSSHKeyFile.ecdsaFields(point: other, scalarMPInt: scalar)
    #expect(throws: SigningError.privateKeyMismatch(field: "public point in the private section")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsAnotherCurveInThePrivateSection() {
    var f = OpenSSHKeyFile.ecdsa()
    let (_, point, scalar) = OpenSSHKeyFile.ecdsaParts()
    f.privateFields = OpenSSHKeyFile.ecdsaFields(curve: "nistp384", point: point, scalarMPInt: scalar)
    #expect(throws: SigningError.unsupportedCurve("nistp384")) { try SSHPrivateKey(openSSH: f.text) }
  }

  /// 151 bytes precede the private section; then checks (8), type (23), curve (12) and Q (69).
  let scalarOffset = 151 + 8 + 23 + 12 + 69

  @Test func rejectsANegativeScalar() {
    var f = OpenSSHKeyFile.ecdsa()
    let (_, point, scalar) = OpenSSHKeyFile.ecdsaParts()
    f.privateFields = OpenSSHKeyFile.ecdsaFields(point: point, scalarMPInt: Array(scalar.dropFirst()))
    #expect(throws: SigningError.negativeMPInt(offset: scalarOffset, field: "ecdsa private scalar")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsANonMinimalScalar() {
    var f = OpenSSHKeyFile.ecdsa()
    let (_, point, scalar) = OpenSSHKeyFile.ecdsaParts()
    f.privateFields = OpenSSHKeyFile.ecdsaFields(point: point, scalarMPInt: [0] + scalar)
    #expect(throws: SigningError.nonMinimalMPInt(offset: scalarOffset, field: "ecdsa private scalar")) {
      try SSHPrivateKey(openSSH: f.text)
    }
  }

  @Test func rejectsAScalarLongerThan32Bytes() {
    var f = OpenSSHKeyFile.ecdsa()
    let (_, point, _) = OpenSSHKeyFile.ecdsaParts()
    f.privateFields = OpenSSHKeyFile.ecdsaFields(point: point, scalarMPInt: [1] + [UInt8](repeating: 0, count: 32))
    #expect(throws: SigningError.mpintTooLarge(offset: scalarOffset, field: "ecdsa private scalar", bytes: 33)) {
      try SSHPrivateKey(openSSH: f.text)
    }
  }

  @Test(arguments: [[UInt8](), [0] + [UInt8](repeating: 0xFF, count: 32)])
  func rejectsAScalarOutsideTheGroup(_ mpint: [UInt8]) {
    var f = OpenSSHKeyFile.ecdsa()
    let (_, point, _) = OpenSSHKeyFile.ecdsaParts()
    // 0 and 2²⁵⁶−1 are well-formed mpints but not scalars of P-256 (order n < 2²⁵⁶−1).
    f.privateFields = OpenSSHKeyFile.ecdsaFields(point: point, scalarMPInt: mpint)
    #expect(throws: SigningError.invalidPrivateKey(reason: "the P-256 scalar is zero or not below the group order")) {
      try SSHPrivateKey(openSSH: f.text)
    }
  }

  @Test func rejectsACommentThatIsNotUTF8() {
    var f = OpenSSHKeyFile.ed25519()
    f.comment = [0xFF]
    // 98 bytes precede the private section; checks, type, public key and pair take 127.
    #expect(throws: SigningError.invalidString(offset: 98 + 127, field: "comment")) { try SSHPrivateKey(openSSH: f.text) }
  }

  @Test func rejectsArmorProblems() {
    #expect(throws: SigningError.missingArmorHeader(expected: "-----BEGIN OPENSSH PRIVATE KEY-----")) {
      try SSHPrivateKey(openSSH: "hello")
    }
    #expect(throws: SigningError.missingArmorFooter(expected: "-----END OPENSSH PRIVATE KEY-----")) {
      try SSHPrivateKey(openSSH: String(Fixture.ed25519Private.dropLast(20)))
    }
    #expect(throws: SigningError.textAfterArmor(count: 4)) { try SSHPrivateKey(openSSH: Fixture.ed25519Private + "xy\n") }
  }

  @Test func rejectsEncryptedPKCS8() {
    #expect(throws: SigningError.encryptedKeyUnsupported(cipher: "PKCS#8 encryption")) {
      try SSHPrivateKey(text: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    }
  }

  @Test func rejectsPKCS8ThatOpenSSLCannotRead() {
    #expect(throws: SigningError.invalidPEM(expected: "an unencrypted PKCS#8 private key")) {
      try SSHPrivateKey(text: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    }
  }
}
