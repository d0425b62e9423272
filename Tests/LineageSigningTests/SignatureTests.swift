import Foundation
import LineageSigning
import Testing

@Suite struct SignatureTests {
  let message = Array("weights: 3f2a…".utf8)

  static func keys() throws -> [SSHPrivateKey] { [try Fixture.ed25519(), try Fixture.ecdsa()] }

  @Test func verifiesSshKeygensSignatureOfTheFixture() throws {
    let sig = try SSHSignature(armored: Fixture.helloSignature)
    #expect(sig.namespace == "lineage" && sig.hashAlgorithm == "sha512")
    #expect(sig.publicKey == (try SSHPublicKey(authorizedKey: Fixture.ed25519Public)))
    try sig.verify(message: Array("hello".utf8), namespace: "lineage")
    #expect(sig.armored == Fixture.helloSignature)
  }

  @Test func ed25519SignaturesAreDeterministicAndMatchSshKeygen() throws {
    // Ed25519 has no random nonce, so signing the same bytes reproduces ssh-keygen's file exactly.
    let sig = try SSHSignature.sign(message: Array("hello".utf8), namespace: "lineage", key: Fixture.ed25519())
    #expect(sig.armored == Fixture.helloSignature)
  }

  @Test(arguments: ["sha512", "sha256"])
  func roundTripsForBothKeyTypes(_ hash: String) throws {
    for key in try Self.keys() {
      let sig = try SSHSignature.sign(message: message, namespace: "lineage", key: key, hashAlgorithm: hash)
      let parsed = try SSHSignature(armored: sig.armored)
      #expect(parsed == sig)
      #expect(parsed.hashAlgorithm == hash)
      try parsed.verify(message: message, namespace: "lineage")
      #expect(throws: SigningError.badSignature(fingerprint: key.publicKey.fingerprint)) {
        try parsed.verify(message: message + [0], namespace: "lineage")
      }
    }
  }

  @Test func armorIsWrappedAt70Columns() throws {
    let sig = try SSHSignature.sign(message: message, namespace: "lineage", key: Fixture.ecdsa())
    let lines = sig.armored.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.first == "-----BEGIN SSH SIGNATURE-----")
    #expect(lines.dropLast().last == "-----END SSH SIGNATURE-----" && lines.last == "")
    let body = lines.dropFirst().dropLast(2)
    #expect(body.dropLast().allSatisfy { $0.count == 70 } && (body.last?.count ?? 0) <= 70)
  }

  @Test func rejectsAnotherNamespace() throws {
    let sig = try SSHSignature.sign(message: message, namespace: "git", key: Fixture.ed25519())
    #expect(throws: SigningError.namespaceMismatch(expected: "lineage", found: "git")) {
      try sig.verify(message: message, namespace: "lineage")
    }
  }

  @Test func refusesToSignWithAnEmptyNamespaceOrUnknownHash() throws {
    let key = try Fixture.ed25519()
    #expect(throws: SigningError.emptyNamespace) { try SSHSignature.sign(message: message, namespace: "", key: key) }
    #expect(throws: SigningError.unsupportedHashAlgorithm("md5")) {
      try SSHSignature.sign(message: message, namespace: "lineage", key: key, hashAlgorithm: "md5")
    }
  }

  @Test func rejectsEveryTruncationOfTheBlob() throws {
    for key in try Self.keys() {
      let blob = try SSHSignature.sign(message: message, namespace: "lineage", key: key).blob
      for n in 0..<blob.count {
        #expect(throws: SigningError.self) { try SSHSignature(blob: Array(blob.prefix(n))) }
      }
    }
  }

  @Test func everyFlippedByteFailsToParseOrVerify() throws {
    for key in try Self.keys() {
      let blob = try SSHSignature.sign(message: message, namespace: "lineage", key: key).blob
      for i in 0..<blob.count {
        var bad = blob
        bad[i] ^= 0x01
        #expect(throws: SigningError.self, "byte \(i) of \(key.type)") {
          let text = armor(bad, "SSH SIGNATURE")
          try SSHSignature(armored: text).verify(message: message, namespace: "lineage")
        }
      }
    }
  }

  @Test func rejectsBadMagic() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.magic = Array("SSHSIH".utf8)
    #expect(throws: SigningError.badSignatureMagic) { try SSHSignature(blob: b.bytes) }
  }

  @Test(arguments: [UInt32(0), 2])
  func rejectsOtherVersions(_ version: UInt32) throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.version = version
    #expect(throws: SigningError.unsupportedSignatureVersion(version)) { try SSHSignature(blob: b.bytes) }
  }

  @Test func rejectsUnknownHashAlgorithms() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.hash = "sha1"
    #expect(throws: SigningError.unsupportedHashAlgorithm("sha1")) { try SSHSignature(blob: b.bytes) }
  }

  @Test func rejectsTrailingBytes() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.trailing = [0, 0]
    #expect(throws: SigningError.trailingBytes(structure: "SSH signature", offset: b.bytes.count - 2, count: 2)) {
      try SSHSignature(blob: b.bytes)
    }
  }

  @Test func rejectsAnEmptyNamespace() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.namespace = ""
    #expect(throws: SigningError.emptyNamespace) { try SSHSignature(blob: b.bytes) }
  }

  @Test func rejectsANonEmptyReservedField() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.reserved = [1]
    #expect(throws: SigningError.nonEmptyReserved(length: 1)) { try SSHSignature(blob: b.bytes) }
  }

  @Test func rejectsAnUnsupportedSigningKey() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.publicKey =
      Wire {
        $0.string("ssh-rsa")
        $0.string([1, 0, 1])
      }.bytes
    #expect(throws: SigningError.unsupportedKeyType("ssh-rsa")) { try SSHSignature(blob: b.bytes) }
  }

  @Test func reportsKeyErrorsAtTheirOffsetInTheSignature() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.publicKey += [0]
    // "SSHSIG" (6), version (4), key length (4): the key blob starts at 14 and is 51 bytes long.
    #expect(throws: SigningError.trailingBytes(structure: "public key blob", offset: 14 + 51, count: 1)) {
      try SSHSignature(blob: b.bytes)
    }
  }

  @Test func rejectsASignatureTypeThatDiffersFromTheKey() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.signature =
      Wire {
        $0.string("ecdsa-sha2-nistp256")
        $0.string([UInt8](repeating: 1, count: 64))
      }.bytes
    #expect(throws: SigningError.signatureTypeMismatch(expected: "ssh-ed25519", found: "ecdsa-sha2-nistp256")) {
      try SSHSignature(blob: b.bytes)
    }
  }

  @Test func rejectsAShortEd25519Signature() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.signature =
      Wire {
        $0.string("ssh-ed25519")
        $0.string([UInt8](repeating: 1, count: 63))
      }.bytes
    #expect(throws: SigningError.invalidLength(field: "ed25519 signature", expected: 64, found: 63)) { try SSHSignature(blob: b.bytes) }
  }

  @Test func rejectsTrailingBytesInTheInnerSignature() throws {
    var b = SignatureBlob(try SSHSignature(armored: Fixture.helloSignature))
    b.signature += [0]
    #expect(throws: SigningError.trailingBytes(structure: "inner signature", offset: b.bytes.count - 1, count: 1)) {
      try SSHSignature(blob: b.bytes)
    }
  }

  /// An ECDSA signature blob whose `mpint r, mpint s` are the given strings.
  func ecdsaBlob(r: [UInt8], s: [UInt8], extra: [UInt8] = []) throws -> [UInt8] {
    var b = SignatureBlob(try SSHSignature.sign(message: message, namespace: "lineage", key: Fixture.ecdsa()))
    b.signature =
      Wire {
        $0.string("ecdsa-sha2-nistp256")
        $0.string(
          Wire {
            $0.string(r)
            $0.string(s)
            $0.raw(extra)
          }.bytes)
      }.bytes
    return b.bytes
  }

  /// Where `mpint r` starts in `ecdsaBlob`: magic, version, key (4+104), namespace (4+7),
  /// reserved (4), hash (4+6), signature length (4), type (4+19), rs length (4).
  let rOffset = 6 + 4 + 108 + 11 + 4 + 10 + 4 + 23 + 4

  @Test func rejectsANegativeECDSAInteger() throws {
    #expect(throws: SigningError.negativeMPInt(offset: rOffset, field: "ecdsa r")) { try SSHSignature(blob: ecdsaBlob(r: [0x80], s: [1])) }
  }

  @Test func rejectsANonMinimalECDSAInteger() throws {
    #expect(throws: SigningError.nonMinimalMPInt(offset: rOffset, field: "ecdsa r")) {
      try SSHSignature(blob: ecdsaBlob(r: [0, 1], s: [1]))
    }
  }

  @Test func rejectsAnECDSAIntegerLongerThan32Bytes() throws {
    #expect(throws: SigningError.mpintTooLarge(offset: rOffset + 5, field: "ecdsa s", bytes: 33)) {
      try SSHSignature(blob: ecdsaBlob(r: [1], s: [UInt8](repeating: 1, count: 33)))
    }
  }

  @Test func rejectsAZeroECDSAInteger() throws {
    #expect(throws: SigningError.malformedSignature(reason: "ecdsa r or s is zero")) { try SSHSignature(blob: ecdsaBlob(r: [], s: [1])) }
  }

  @Test func rejectsTrailingBytesAfterECDSAIntegers() throws {
    #expect(throws: SigningError.trailingBytes(structure: "ecdsa signature", offset: rOffset + 10, count: 1)) {
      try SSHSignature(blob: ecdsaBlob(r: [1], s: [1], extra: [0]))
    }
  }

  @Test func rejectsWellFormedButWrongECDSAIntegers() throws {
    let sig = try SSHSignature(blob: ecdsaBlob(r: [1], s: [1]))
    #expect(throws: SigningError.badSignature(fingerprint: Fixture.ecdsaFingerprint)) {
      try sig.verify(message: message, namespace: "lineage")
    }
  }

  @Test func rejectsArmorWithoutHeader() {
    #expect(throws: SigningError.missingArmorHeader(expected: "-----BEGIN SSH SIGNATURE-----")) {
      try SSHSignature(armored: "\n" + Fixture.helloSignature)
    }
  }

  @Test func rejectsArmorWithoutFooter() {
    #expect(throws: SigningError.missingArmorFooter(expected: "-----END SSH SIGNATURE-----")) {
      try SSHSignature(armored: Fixture.helloSignature.replacingOccurrences(of: "-----END", with: "-----FIN"))
    }
  }

  @Test func rejectsTextAfterTheFooter() {
    #expect(throws: SigningError.textAfterArmor(count: 10)) { try SSHSignature(armored: Fixture.helloSignature + "trailing\n") }
  }

  @Test func rejectsBadBase64InTheArmor() {
    let text = Fixture.helloSignature.replacingOccurrences(of: "U1NIU0lH", with: "U1NIU0l!")
    #expect(throws: SigningError.invalidBase64(offset: 7, field: "SSH SIGNATURE")) { try SSHSignature(armored: text) }
  }

  @Test func acceptsCRLFLineEndings() throws {
    let text = Fixture.helloSignature.replacingOccurrences(of: "\n", with: "\r\n")
    try SSHSignature(armored: text).verify(message: Array("hello".utf8), namespace: "lineage")
  }
}
