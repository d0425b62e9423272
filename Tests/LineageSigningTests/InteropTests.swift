import Foundation
import LineageSigning
import LineageTestSupport
import Testing

/// Interoperability with the real OpenSSH 9.2 `ssh-keygen` and OpenSSL 3.0 `openssl` tools.
@Suite(.enabled(if: haveSSHKeygen, "needs /usr/bin/ssh-keygen"))
struct SSHKeygenInteropTests {
  let message = Array("checkpoint manifest 8c1e…\n".utf8)

  /// `ssh-keygen -t TYPE -N ''` in `dir`; returns the private key path.
  func sshKeygenKey(_ type: SigningKeyType, in dir: TemporaryDirectory, name: String = "key") throws -> String {
    let args = type == .ed25519 ? ["-t", "ed25519"] : ["-t", "ecdsa", "-b", "256"]
    let path = dir.file(name)
    let r = try tool(sshKeygen, ["-q"] + args + ["-N", "", "-C", "tester@example", "-f", path], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    return path
  }

  func text(_ path: String) -> String { String(decoding: readBytes(path), as: UTF8.self) }

  @Test(arguments: SigningKeyType.allCases)
  func sshKeygenKeysLoadAndOurSignaturesVerifyWithSshKeygen(_ type: SigningKeyType) throws {
    let dir = TemporaryDirectory("lineage-sign")
    let keyPath = try sshKeygenKey(type, in: dir)
    let key = try SSHPrivateKey(text: text(keyPath))
    #expect(key.comment == "tester@example")
    #expect(key.publicKey.authorizedKey(comment: "tester@example") + "\n" == text(keyPath + ".pub"))
    // Re-encoding a parsed key reproduces ssh-keygen's file byte for byte.
    #expect(key.openSSHText() == text(keyPath))
    dir.write("allowed_signers", Array("tester@example \(key.publicKey.authorizedKey())\n".utf8))
    for hash in SSHSignature.hashAlgorithms {
      let sig = try SSHSignature.sign(message: message, namespace: "lineage", key: key, hashAlgorithm: hash)
      let sigPath = dir.write("msg.\(hash).sig", Array(sig.armored.utf8))
      let ok = try tool(
        sshKeygen, ["-Y", "verify", "-n", "lineage", "-f", dir.file("allowed_signers"), "-I", "tester@example", "-s", sigPath], in: dir,
        stdin: message)
      #expect(ok.status == 0, "\(hash): \(ok.stderr)")
      #expect(ok.stdout.contains("Good \"lineage\" signature for tester@example"))
      let wrongNamespace = try tool(
        sshKeygen, ["-Y", "verify", "-n", "git", "-f", dir.file("allowed_signers"), "-I", "tester@example", "-s", sigPath], in: dir,
        stdin: message)
      #expect(wrongNamespace.status != 0)
      let tampered = try tool(
        sshKeygen, ["-Y", "verify", "-n", "lineage", "-f", dir.file("allowed_signers"), "-I", "tester@example", "-s", sigPath], in: dir,
        stdin: message + [0])
      #expect(tampered.status != 0)
    }
  }

  @Test(arguments: SigningKeyType.allCases)
  func sshKeygenSignaturesVerifyWithUs(_ type: SigningKeyType) throws {
    let dir = TemporaryDirectory("lineage-sign")
    let keyPath = try sshKeygenKey(type, in: dir)
    let msg = dir.write("msg", message)
    let r = try tool(sshKeygen, ["-Y", "sign", "-n", "lineage", "-f", keyPath, msg], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let armored = text(msg + ".sig")
    let sig = try SSHSignature(armored: armored)
    #expect(sig.armored == armored)
    #expect(sig.publicKey == (try SSHPublicKey(authorizedKey: text(keyPath + ".pub"))))
    try sig.verify(message: message, namespace: "lineage")

    var flipped = message
    flipped[3] ^= 0x20
    #expect(throws: SigningError.badSignature(fingerprint: sig.publicKey.fingerprint)) {
      try sig.verify(message: flipped, namespace: "lineage")
    }
    // Flip a byte of the signature value itself (the last byte of the blob).
    var blob = sig.blob
    blob[blob.count - 1] ^= 0x01
    #expect(throws: SigningError.self) { try SSHSignature(blob: blob).verify(message: message, namespace: "lineage") }
    #expect(throws: SigningError.namespaceMismatch(expected: "git", found: "lineage")) {
      try sig.verify(message: message, namespace: "git")
    }
  }

  @Test(arguments: SigningKeyType.allCases)
  func ourKeysWorkInSshKeygen(_ type: SigningKeyType) throws {
    let dir = TemporaryDirectory("lineage-sign")
    let key = try SSHPrivateKey.generate(type, comment: "ours@example")
    let keyPath = try writePrivateKey(key.openSSHText(), "ours", in: dir)
    let pub = try tool(sshKeygen, ["-y", "-f", keyPath], in: dir)
    #expect(pub.status == 0, "\(pub.stderr)")
    #expect(pub.stdout == key.publicKey.authorizedKey(comment: "ours@example") + "\n")

    let msg = dir.write("msg", message)
    let signed = try tool(sshKeygen, ["-Y", "sign", "-n", "lineage", "-f", keyPath, msg], in: dir)
    #expect(signed.status == 0, "\(signed.stderr)")
    let sig = try SSHSignature(armored: text(msg + ".sig"))
    #expect(sig.publicKey == key.publicKey)
    try sig.verify(message: message, namespace: "lineage")
  }

  @Test(arguments: SigningKeyType.allCases)
  func fingerprintsAndPEMMatchSshKeygen(_ type: SigningKeyType) throws {
    let dir = TemporaryDirectory("lineage-sign")
    let key = try SSHPrivateKey.generate(type, comment: "fp@example")
    let pubPath = dir.write("key.pub", Array((key.publicKey.authorizedKey(comment: "fp@example") + "\n").utf8))
    let fp = try tool(sshKeygen, ["-l", "-f", pubPath], in: dir)
    #expect(fp.status == 0)
    let fields = fp.stdout.split(separator: " ")
    #expect(fields.count >= 2 && String(fields[1]) == key.publicKey.fingerprint)

    let pem = try tool(sshKeygen, ["-e", "-m", "PKCS8", "-f", pubPath], in: dir)
    if type == .ecdsaP256 {
      #expect(pem.stdout == key.publicKey.pem())
      let back = dir.write("pub.pem", Array(pem.stdout.utf8))
      let imported = try tool(sshKeygen, ["-i", "-m", "PKCS8", "-f", back], in: dir)
      #expect(imported.stdout == key.publicKey.authorizedKey() + "\n")
    } else {
      // OpenSSH 9.2 cannot export Ed25519 as PKCS8 ("unsupported key type ED25519").
      #expect(pem.status != 0)
    }
  }

  @Test func encryptedSshKeygenKeysAreRefusedWithAHint() throws {
    let dir = TemporaryDirectory("lineage-sign")
    let path = dir.file("enc")
    let r = try tool(sshKeygen, ["-q", "-t", "ed25519", "-N", "secret", "-f", path], in: dir)
    #expect(r.status == 0)
    #expect(throws: SigningError.encryptedKeyUnsupported(cipher: "aes256-ctr")) { try SSHPrivateKey(text: text(path)) }
  }

  @Test(arguments: [
    (["-t", "rsa", "-b", "1024"], "ssh-rsa"), (["-t", "ecdsa", "-b", "384"], "ecdsa-sha2-nistp384"),
  ])
  func otherSshKeygenKeyTypesAreRefused(_ args: [String], _ name: String) throws {
    let dir = TemporaryDirectory("lineage-sign")
    let path = dir.file("other")
    let r = try tool(sshKeygen, ["-q"] + args + ["-N", "", "-f", path], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(throws: SigningError.unsupportedKeyType(name)) { try SSHPrivateKey(text: text(path)) }
    #expect(throws: SigningError.unsupportedKeyType(name)) { try SSHPublicKey(authorizedKey: text(path + ".pub")) }
  }

  /// The allowed_signers cases compared with `ssh-keygen -Y verify` and `-Y find-principals`
  /// (run with TZ=UTC, times given through `-O verify-time`).
  @Test func allowedSignersDecisionsMatchSshKeygen() throws {
    let dir = TemporaryDirectory("lineage-sign")
    let keyPath = try sshKeygenKey(.ed25519, in: dir)
    let key = try SSHPrivateKey(text: text(keyPath))
    let pub = key.publicKey.authorizedKey()
    let sig = dir.write("msg.sig", Array(try SSHSignature.sign(message: message, namespace: "lineage", key: key).armored.utf8))
    let lines = [
      "a@x \(pub)",
      "a@x,*@corp \(pub)",
      "\"a@x\" namespaces=\"lineage\" \(pub)",
      "a@x namespaces=\"git,file\" \(pub)",
      "a@x namespaces=\"lin*\" \(pub)",
      "a@x valid-after=\"20240101Z\" \(pub)",
      "a@x valid-before=\"20240101Z\" \(pub)",
      "a@x valid-after=\"20240101\",valid-before=\"202406011230\" \(pub)",
      "a@x cert-authority \(pub)",
      "b@x \(pub)",
      "*@corp,!bad@corp \(pub)",
    ]
    let times: [(String, Int64)] = [
      ("20231231235959Z", 1_704_067_199), ("20240101Z", 1_704_067_200), ("20240601123000Z", 1_717_245_000),
      ("20240601123001Z", 1_717_245_001), ("20250101Z", 1_735_689_600),
    ]
    for line in lines {
      let file = dir.write("allowed", Array((line + "\n").utf8))
      let signers = try AllowedSigners(text: line)
      for (stamp, seconds) in times {
        for principal in ["a@x", "b@x", "c@corp", "bad@corp"] {
          let theirs = try tool(
            sshKeygen, ["-Y", "verify", "-n", "lineage", "-f", file, "-I", principal, "-s", sig, "-O", "verify-time=\(stamp)"], in: dir,
            stdin: message)
          let ours = (try? signers.check(key: key.publicKey, principal: principal, namespace: "lineage", at: seconds)) != nil
          #expect((theirs.status == 0) == ours, "\(line) as \(principal) at \(stamp): \(theirs.stderr)")
        }
        // find-principals ignores `namespaces`; compare only lines that allow "lineage".
        if signers.entries.first?.namespaces.map({ !$0.contains("git") }) ?? true {
          let found = try tool(sshKeygen, ["-Y", "find-principals", "-f", file, "-s", sig, "-O", "verify-time=\(stamp)"], in: dir)
          let expected = signers.principals(for: key.publicKey, namespace: "lineage", at: seconds)
          let printed = found.status == 0 ? found.stdout.split(separator: "\n").map(String.init) : []
          #expect(printed == expected, "\(line) at \(stamp)")
        }
      }
    }
  }
}

@Suite(.enabled(if: haveOpenSSL, "needs /usr/bin/openssl"))
struct OpenSSLInteropTests {
  let message = Array("DSSE PAE bytes".utf8)

  @Test(arguments: [("ED25519", SigningKeyType.ed25519), ("EC", .ecdsaP256)])
  func pkcs8KeysFromOpenSSLLoadAndRawSignaturesVerifyInOpenSSL(_ algorithm: String, _ type: SigningKeyType) throws {
    let dir = TemporaryDirectory("lineage-sign")
    var gen = ["genpkey", "-algorithm", algorithm, "-out", dir.file("priv.pem")]
    if type == .ecdsaP256 { gen += ["-pkeyopt", "ec_paramgen_curve:P-256"] }
    #expect(try tool(opensslTool, gen, in: dir).status == 0)
    let key = try SSHPrivateKey(text: String(decoding: readBytes(dir.file("priv.pem")), as: UTF8.self))
    #expect(key.type == type)
    let pubout = try tool(opensslTool, ["pkey", "-in", dir.file("priv.pem"), "-pubout"], in: dir)
    #expect(pubout.stdout == key.publicKey.pem())

    // Our raw signature verifies in OpenSSL's command line tool.
    dir.write("pub.pem", Array(key.publicKey.pem().utf8))
    dir.write("msg", message)
    dir.write("sig", try key.signRaw(message))
    let verify =
      type == .ed25519
      ? try tool(
        opensslTool,
        ["pkeyutl", "-verify", "-pubin", "-inkey", dir.file("pub.pem"), "-rawin", "-in", dir.file("msg"), "-sigfile", dir.file("sig")],
        in: dir)
      : try tool(opensslTool, ["dgst", "-sha256", "-verify", dir.file("pub.pem"), "-signature", dir.file("sig"), dir.file("msg")], in: dir)
    #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")

    // And OpenSSL's signature verifies with us.
    let sign =
      type == .ed25519
      ? try tool(
        opensslTool, ["pkeyutl", "-sign", "-inkey", dir.file("priv.pem"), "-rawin", "-in", dir.file("msg"), "-out", dir.file("theirs")],
        in: dir)
      : try tool(opensslTool, ["dgst", "-sha256", "-sign", dir.file("priv.pem"), "-out", dir.file("theirs"), dir.file("msg")], in: dir)
    #expect(sign.status == 0, "\(sign.stderr)")
    #expect(key.publicKey.verifyRaw(signature: readBytes(dir.file("theirs")), message: message))
    #expect(!key.publicKey.verifyRaw(signature: readBytes(dir.file("theirs")), message: message + [0]))
  }

  @Test(arguments: SigningKeyType.allCases)
  func ourPKCS8IsReadByOpenSSL(_ type: SigningKeyType) throws {
    let dir = TemporaryDirectory("lineage-sign")
    let key = try SSHPrivateKey.generate(type, comment: "")
    let path = try writePrivateKey(key.pkcs8PEM(), "priv.pem", in: dir)
    let pubout = try tool(opensslTool, ["pkey", "-in", path, "-pubout"], in: dir)
    #expect(pubout.status == 0)
    #expect(pubout.stdout == key.publicKey.pem())
  }
}
