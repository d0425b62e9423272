import LineageSigning
import Testing

@Suite struct AllowedSignersTests {
  static let ed = Fixture.ed25519Public
  static let ec = Fixture.ecdsaPublic
  /// 2024-01-01T00:00:00Z and 2025-01-01T00:00:00Z in Unix seconds.
  static let y2024: Int64 = 1_704_067_200
  static let y2025: Int64 = 1_735_689_600

  var edKey: SSHPublicKey { get throws { try SSHPublicKey(authorizedKey: Self.ed) } }
  var ecKey: SSHPublicKey { get throws { try SSHPublicKey(authorizedKey: Self.ec) } }

  @Test func parsesLinesCommentsAndOptions() throws {
    let text = """
      # team keys

        alice@example.com,bob@example.com \(Self.ed)
      "carol@example.com" NAMESPACES="lineage,git",Valid-After="20240101Z",valid-before="20250101Z" \(Self.ec)
      dave@example.com cert-authority \(Self.ec)
      """
    let signers = try AllowedSigners(text: text)
    #expect(signers.entries.count == 3)
    let first = signers.entries[0]
    #expect(first.line == 3 && first.principals == ["alice@example.com", "bob@example.com"] && first.namespaces == nil)
    let second = signers.entries[1]
    #expect(second.line == 4 && second.principals == ["carol@example.com"])
    #expect(second.namespaces == "lineage,git" && second.validAfter == Self.y2024 && second.validBefore == Self.y2025)
    #expect(signers.entries[2].isCertificateAuthority)
    #expect(signers.ignoredLines.isEmpty)
  }

  @Test func parsesCRLFAndTabs() throws {
    let signers = try AllowedSigners(text: "a@x\t\(Self.ed)\r\n\r\n")
    #expect(signers.entries.map(\.principals) == [["a@x"]])
  }

  @Test func skipsKeyTypesLineageCannotUse() throws {
    let text = """
      a@x ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC
      b@x namespaces="git" ssh-dss AAAA
      c@x \(Self.ed)
      """
    let signers = try AllowedSigners(text: text)
    #expect(signers.ignoredLines == [1, 2])
    #expect(signers.entries.map(\.line) == [3])
  }

  @Test func findsThePrincipalsOfTheFirstMatchingLine() throws {
    let text = """
      old@x valid-before="20240101Z" \(Self.ed)
      git-only@x namespaces="git" \(Self.ed)
      a@x,*@corp.example \(Self.ed)
      later@x \(Self.ed)
      """
    let signers = try AllowedSigners(text: text)
    let key = try edKey
    #expect(signers.principals(for: key, namespace: "lineage", at: Self.y2025) == ["a@x", "*@corp.example"])
    #expect(signers.principals(for: key, namespace: "git", at: Self.y2025) == ["git-only@x"])
    #expect(signers.principals(for: key, namespace: "lineage", at: Self.y2024 - 1) == ["old@x"])
    #expect(signers.principals(for: try ecKey, namespace: "lineage", at: Self.y2025).isEmpty)
  }

  @Test func checkAcceptsAListedKeyForAMatchingPrincipal() throws {
    let signers = try AllowedSigners(text: "a@x,*@corp.example,!evil@corp.example,user?@y \(Self.ed)")
    let key = try edKey
    for principal in ["a@x", "bob@corp.example", "user1@y"] {
      try signers.check(key: key, principal: principal, namespace: "lineage", at: Self.y2025)
    }
    for principal in ["evil@corp.example", "user12@y", "b@x", "A@x"] {
      #expect(throws: SigningError.principalNotAllowed(principal: principal, fingerprint: Fixture.ed25519Fingerprint)) {
        try signers.check(key: key, principal: principal, namespace: "lineage", at: Self.y2025)
      }
    }
  }

  @Test func checkReportsAnUnlistedKey() throws {
    let signers = try AllowedSigners(text: "a@x \(Self.ed)")
    #expect(throws: SigningError.keyNotListed(fingerprint: Fixture.ecdsaFingerprint)) {
      try signers.check(key: ecKey, principal: "a@x", namespace: "lineage", at: Self.y2025)
    }
  }

  @Test func checkReportsANamespaceThatIsNotAllowed() throws {
    let signers = try AllowedSigners(text: "a@x namespaces=\"git,file*\" \(Self.ed)")
    try signers.check(key: edKey, principal: "a@x", namespace: "files", at: Self.y2025)
    #expect(throws: SigningError.namespaceNotAllowed(namespace: "lineage", fingerprint: Fixture.ed25519Fingerprint)) {
      try signers.check(key: edKey, principal: "a@x", namespace: "lineage", at: Self.y2025)
    }
  }

  @Test func checkHonoursTheValidityWindowInclusively() throws {
    let signers = try AllowedSigners(text: "a@x valid-after=\"20240101Z\",valid-before=\"20250101Z\" \(Self.ed)")
    let key = try edKey
    try signers.check(key: key, principal: "a@x", namespace: "lineage", at: Self.y2024)
    try signers.check(key: key, principal: "a@x", namespace: "lineage", at: Self.y2025)
    #expect(throws: SigningError.keyNotYetValid(validAfter: Self.y2024, time: Self.y2024 - 1)) {
      try signers.check(key: key, principal: "a@x", namespace: "lineage", at: Self.y2024 - 1)
    }
    #expect(throws: SigningError.keyExpired(validBefore: Self.y2025, time: Self.y2025 + 1)) {
      try signers.check(key: key, principal: "a@x", namespace: "lineage", at: Self.y2025 + 1)
    }
  }

  @Test func checkUsesAnyLineThatAllowsTheSignature() throws {
    let text = """
      a@x valid-before="20240101Z" \(Self.ed)
      a@x valid-after="20240601Z" \(Self.ed)
      """
    let signers = try AllowedSigners(text: text)
    try signers.check(key: edKey, principal: "a@x", namespace: "lineage", at: Self.y2025)
    #expect(throws: SigningError.keyExpired(validBefore: Self.y2024, time: Self.y2024 + 1)) {
      try signers.check(key: edKey, principal: "a@x", namespace: "lineage", at: Self.y2024 + 1)
    }
  }

  @Test func certificateAuthorityLinesNeverMatchAPlainKey() throws {
    let signers = try AllowedSigners(text: "a@x cert-authority \(Self.ed)")
    #expect(throws: SigningError.keyNotListed(fingerprint: Fixture.ed25519Fingerprint)) {
      try signers.check(key: edKey, principal: "a@x", namespace: "lineage", at: Self.y2025)
    }
  }

  @Test func readsTimesWithoutZoneAtTheGivenOffset() throws {
    let line = "a@x valid-after=\"202401010100\" \(Self.ed)"
    #expect(try AllowedSigners(text: line).entries[0].validAfter == Self.y2024 + 3600)
    #expect(try AllowedSigners(text: line, localTimeOffset: 3600).entries[0].validAfter == Self.y2024)
    let utc = "a@x valid-after=\"20240101010203UTC\" \(Self.ed)"
    #expect(try AllowedSigners(text: utc, localTimeOffset: 3600).entries[0].validAfter == Self.y2024 + 3723)
  }

  @Test func reportsAMissingKey() {
    #expect(throws: SigningError.missingKey(line: 2)) { try AllowedSigners(text: "\na@x") }
    #expect(throws: SigningError.missingKey(line: 1)) { try AllowedSigners(text: "a@x namespaces=\"git\"") }
  }

  @Test func reportsBadPrincipalFields() {
    #expect(throws: SigningError.invalidPrincipals(line: 1)) { try AllowedSigners(text: "\"a@x \(Self.ed)") }
    #expect(throws: SigningError.invalidPrincipals(line: 1)) { try AllowedSigners(text: "\"a b\",c \(Self.ed)") }
    #expect(throws: SigningError.invalidPrincipals(line: 1)) { try AllowedSigners(text: "\"\" \(Self.ed)") }
  }

  @Test func reportsUnknownOptions() {
    #expect(throws: SigningError.unknownOption(line: 1, option: "no-touch-required")) {
      try AllowedSigners(text: "a@x no-touch-required \(Self.ed)")
    }
    #expect(throws: SigningError.unknownOption(line: 1, option: "")) { try AllowedSigners(text: "a@x namespaces=\"git\", \(Self.ed)") }
    #expect(throws: SigningError.unknownOption(line: 1, option: "x")) { try AllowedSigners(text: "a@x namespaces=\"git\"x \(Self.ed)") }
  }

  @Test func reportsDuplicateOptions() {
    #expect(throws: SigningError.duplicateOption(line: 1, option: "namespaces")) {
      try AllowedSigners(text: "a@x namespaces=\"git\",namespaces=\"x\" \(Self.ed)")
    }
  }

  @Test func reportsUnquotedOptionValues() {
    #expect(throws: SigningError.unquotedOptionValue(line: 1, option: "valid-after")) {
      try AllowedSigners(text: "a@x valid-after=20240101 \(Self.ed)")
    }
    #expect(throws: SigningError.unquotedOptionValue(line: 1, option: "namespaces")) {
      try AllowedSigners(text: "a@x namespaces=\"git")
    }
  }

  @Test(arguments: ["2024010", "20241301", "20240230", "202402291260", "20240101246000Z", "2024-01-01", "19700101Z", "Z", "20240101ZZ"])
  func reportsInvalidTimes(_ value: String) {
    #expect(throws: SigningError.invalidTime(line: 1, value: value)) {
      try AllowedSigners(text: "a@x valid-before=\"\(value)\" \(Self.ed)")
    }
  }

  @Test func acceptsALeapDay() throws {
    #expect(try AllowedSigners(text: "a@x valid-before=\"20240229Z\" \(Self.ed)").entries[0].validBefore == Self.y2024 + 59 * 86_400)
  }

  @Test func reportsAnEmptyValidityInterval() {
    #expect(throws: SigningError.emptyValidityInterval(line: 1)) {
      try AllowedSigners(text: "a@x valid-after=\"20250101Z\",valid-before=\"20240101Z\" \(Self.ed)")
    }
  }

  @Test func reportsABadKeyWithItsLine() {
    #expect(throws: SigningError.invalidSignerKey(line: 2, .invalidBase64(offset: 4, field: "public key"))) {
      try AllowedSigners(text: "# keys\na@x ssh-ed25519 AAAA*AAA")
    }
    #expect(throws: SigningError.invalidSignerKey(line: 1, .unsupportedKeyType("ssh-foo"))) {
      try AllowedSigners(text: "a@x namespaces=\"git\" ssh-foo AAAA")
    }
  }
}
