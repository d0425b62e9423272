import Foundation
import LineageCore
import LineageKit
import LineageProvenance
import LineageSigning
import LineageStore
import LineageTestSupport
import Testing

@Suite struct RecordInputTests {
  @Test func parentSpecsParseRevisionRelationAndRole() throws {
    #expect(try ParentSpec.parse("base") == ParentSpec(revision: "base"))
    #expect(try ParentSpec.parse("v1~2:lora") == ParentSpec(revision: "v1~2", relation: .lora))
    #expect(try ParentSpec.parse("t:distill:teacher") == ParentSpec(revision: "t", relation: .distill, role: "teacher"))
    #expect(throws: KitError.unknownRelation("retrain")) { try ParentSpec.parse("base:retrain") }
    #expect(throws: KitError.invalidRole("Teacher")) { try ParentSpec.parse("base:distill:Teacher") }
    #expect(throws: KitError.invalidParentSpec(":finetune")) { try ParentSpec.parse(":finetune") }
    #expect(throws: KitError.invalidParentSpec("a:b:c:d")) { try ParentSpec.parse("a:b:c:d") }
  }

  @Test func dataSpecsSplitRoleURIAndDigest() throws {
    let hex = String(repeating: "0f", count: 32)
    #expect(try DataSpec.parsePath("eval=/data/x") == .path(role: "eval", path: "/data/x"))
    #expect(try DataSpec.parsePath("/data/a=b") == .path(role: "train", path: "/data/a=b"))
    #expect(try DataSpec.parseDigest("s3://b/k?v=1=sha256:\(hex)") == .digest(role: "train", uri: "s3://b/k?v=1", digest: "sha256:\(hex)"))
    #expect(try DataSpec.parseDigest("eval=hf://ds=sha256:\(hex)") == .digest(role: "eval", uri: "hf://ds", digest: "sha256:\(hex)"))
    #expect(throws: KitError.self) { try DataSpec.parseDigest("hf://ds=sha256:\(hex.uppercased())") }
    #expect(throws: KitError.self) { try DataSpec.parseDigest("hf://ds") }
    #expect(throws: KitError.self) { try DataSpec.parseDigest("=sha256:\(hex)") }
  }

  @Test func keyValuePairsKeepTypesThatCanonicalJSONHolds() throws {
    let v = try RecordValues.merge(.object([("lr", .string("1e-3")), ("epochs", .number("1"))]), pairs: ["lr=3e-4", "warmup=true", "steps=100", "name=run 1"], option: "--param")
    #expect(v == .object([("lr", .string("3e-4")), ("epochs", .number("1")), ("warmup", .bool(true)), ("steps", .number("100")), ("name", .string("run 1"))]))
    #expect(throws: KitError.invalidKeyValue(option: "--param", "=1")) { try RecordValues.merge(nil, pairs: ["=1"], option: "--param") }
    #expect(try RecordValues.merge(nil, pairs: [], option: "--param") == nil)
  }

  @Test func paramsFilesInJSONYAMLAndTOMLGiveTheSameValues() throws {
    let dir = TemporaryDirectory("lineage-params")
    let json = dir.write("p.json", Array(#"{"lr": 0.0003, "epochs": 3, "tags": ["a", "b"], "opt": {"name": "adamw", "fused": true}}"#.utf8))
    let yaml = dir.write("p.yaml", Array("lr: 0.0003\nepochs: 3\ntags: [a, b]\nopt:\n  name: adamw\n  fused: true\n".utf8))
    let toml = dir.write("p.toml", Array("lr = 0.0003\nepochs = 3\ntags = [\"a\", \"b\"]\n[opt]\nname = \"adamw\"\nfused = true\n".utf8))
    let values = try [json, yaml, toml].map { try RecordValues.load(path: $0) }
    for v in values {
      #expect(v["epochs"] == .number("3"))
      #expect(v["lr"] == .string("0.0003"))
      #expect(v["tags"] == .array([.string("a"), .string("b")]))
      #expect(v["opt"]?["fused"] == .bool(true) && v["opt"]?["name"] == .string("adamw"))
    }
  }

  @Test(arguments: [
    ("bad.json", "{\"a\": 1,}", "JSON"),
    ("dup.json", "{\"a\": 1, \"a\": 2}", "JSON duplicate"),
    ("list.json", "[1, 2]", "not a mapping"),
    ("bad.yaml", "a: [1, 2\n", "YAML"),
    ("dup.yaml", "a: 1\na: 2\n", "YAML duplicate"),
    ("bad.toml", "a = \n", "TOML"),
    ("p.ini", "a=1", "extension"),
  ])
  func malformedValuesFilesAreRejectedByName(_ name: String, _ text: String, _ why: String) {
    let dir = TemporaryDirectory("lineage-params")
    let path = dir.write(name, Array(text.utf8))
    #expect(throws: KitError.self, "\(why)") { try RecordValues.load(path: path) }
  }

  @Test func aMissingValuesFileSaysSo() {
    #expect(throws: KitError.valuesFile(path: "/nonexistent/p.json", reason: "does not exist")) {
      try RecordValues.load(path: "/nonexistent/p.json")
    }
  }
}

/// A repository with a signing key and an allowed_signers file that trusts it.
final class SignedSandbox {
  let sandbox: Sandbox
  let key: SSHPrivateKey
  var repo: Repository { sandbox.repo }
  var dir: TemporaryDirectory { sandbox.dir }

  init(_ type: SigningKeyType = .ed25519) throws {
    sandbox = try Sandbox()
    key = try SSHPrivateKey.generate(type, comment: "alice")
    try sandbox.repo.trust(principal: "alice@example.com", key: key.publicKey, comment: "alice")
  }

  func signers() throws -> AllowedSigners? { try repo.allowedSigners(repo.settings(userConfig: nil, home: nil))?.signers }

  func commit(_ paths: [String], _ message: String, parents: [String] = [], tags: [String] = [], sign: Bool = true, edit: (inout CommitOptions) -> Void = { _ in })
    throws -> CommitSummary
  {
    var o = commitOptions(paths, message, parents: parents, tags: tags)
    if sign { o.signingKey = key }
    edit(&o)
    return try repo.commit(o)
  }
}

@Suite struct SignedCommitTests {
  @Test func aSignedCommitWithFullProvenanceVerifies() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base()
    let a = try s.commit([base], "pretrain", tags: ["base"])
    let child = try s.sandbox.child(of: base, "ft.safetensors", fraction: 0.5)
    s.dir.write("data/train/a.txt", Array("hello\n".utf8))
    s.dir.write("data/train/b/c.txt", Array("world\n".utf8))
    let b = try s.commit([child], "fine-tune", parents: ["base"]) { o in
      o.data = [.path(role: "train", path: s.dir.path + "/data/train"), .digest(role: "eval", uri: "hf://datasets/x", digest: "sha256:" + String(repeating: "1", count: 64))]
      o.command = "python train.py --lr 3e-4"
      o.params = .object([("lr", .string("3e-4"))])
      o.metrics = .object([("eval_loss", .string("1.92"))])
    }
    #expect(b.record.parents.map(\.relation) == [.finetune] && b.record.parents.map(\.role) == ["base"])
    #expect(b.record.data.count == 2 && b.record.data[0].files == 2 && b.record.data[0].bytes == 12)
    #expect(b.record.data[0].uri == "file://" + s.dir.path + "/data/train")
    #expect(b.record.signature?.hasPrefix("-----BEGIN SSH SIGNATURE-----\n") == true)
    let report = try s.repo.verify(roots: [b.commit], signers: try s.signers(), allowUnsigned: false)
    #expect(report.isOK, "\(report.problems) \(report.commits.map(\.signature))")
    #expect(report.commits.map(\.id) == [b.commit, a.commit])
    #expect(report.commits.allSatisfy { $0.signature.status == .good(principal: "alice@example.com") })
  }

  @Test func unsignedUntrustedAndMissingParentsFailVerification() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base()
    let a = try s.commit([base], "unsigned", sign: false)
    var report = try s.repo.verify(roots: [a.commit], signers: try s.signers(), allowUnsigned: false)
    #expect(!report.isOK && report.commits[0].signature.status == .unsigned)
    #expect(try s.repo.verify(roots: [a.commit], signers: try s.signers(), allowUnsigned: true).isOK)
    // A key nobody trusts.
    let stranger = try SSHPrivateKey.generate(.ecdsaP256, comment: "mallory")
    let b = try s.commit([base], "by a stranger", parents: [a.commit.hex]) { $0.signingKey = stranger }
    report = try s.repo.verify(roots: [b.commit], signers: try s.signers(), allowUnsigned: true)
    guard case .untrusted = report.commits[0].signature.status else {
      Issue.record("expected untrusted, got \(report.commits[0].signature.status)")
      return
    }
    #expect(!report.isOK)
    // No allowed_signers at all: nothing is trusted.
    #expect(!(try s.repo.verify(roots: [b.commit], signers: nil, allowUnsigned: true).isOK))
  }

  /// Every byte of a signed record, flipped in turn and stored as a new commit, is rejected:
  /// the record no longer decodes, or its signature no longer verifies.
  @Test func flippingAnyByteOfASignedRecordIsDetected() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base(bytes: 1 << 16)
    let c = try s.commit([base], "signed") { $0.params = .object([("lr", .string("3e-4"))]) }
    let bytes = try c.record.encoded()
    let signers = try s.signers()
    #expect(Repository.checkSignature(c.record, signers: signers).status == .good(principal: "alice@example.com"))
    var accepted: [Int] = []
    for k in bytes.indices {
      var m = bytes
      m[k] ^= 0x01
      guard let r = try? CommitRecord.decode(m) else { continue }
      if case .good = Repository.checkSignature(r, signers: signers).status {
        // A flipped bit in the armor that decodes to the same signature is only harmless if
        // verify's canonical-armor check catches it.
        if let sig = r.signature, (try? SSHSignature(armored: sig))?.armored == sig { accepted.append(k) }
      }
    }
    #expect(accepted.isEmpty, "flips at \(accepted) were accepted")
  }

  /// A signature OpenSSH's own `ssh-keygen -Y sign` makes over a record's payload is accepted
  /// as that record's signature: the format is OpenSSH's, not a look-alike.
  @Test func aRecordSignedBySshKeygenVerifies() throws {
    let s = try SignedSandbox()
    let keyPath = s.dir.write("alice", Array(s.key.openSSHText().utf8))
    chmod(keyPath, 0o600)
    let base = try s.sandbox.base(bytes: 1 << 14)
    var record = try s.commit([base], "unsigned first", sign: false).record
    let payload = s.dir.write("payload.json", try record.payload())
    let signed = try runProcess("/usr/bin/ssh-keygen", ["-Y", "sign", "-n", "lineage", "-f", keyPath, payload], in: s.dir.path)
    #expect(signed.status == 0, "\(signed.stderr)")
    record.signature = String(decoding: readBytes(payload + ".sig"), as: UTF8.self)
    #expect(Repository.checkSignature(record, signers: try s.signers()).status == .good(principal: "alice@example.com"))
    record.message += "!"
    guard case .bad = Repository.checkSignature(record, signers: try s.signers()).status else {
      Issue.record("a changed record kept a good signature")
      return
    }
  }

  /// The same through `verify`: each variant is stored as a commit object of its own (as a
  /// forger would) and verified as a root; every one fails.
  @Test func verifyRejectsEveryOneByteVariantOfAStoredSignedCommit() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base(bytes: 1 << 14)
    let c = try s.commit([base], "signed")
    let bytes = try c.record.encoded()
    let writer = s.repo.store.objects.writer()
    var ids: [ObjectID] = []
    for k in bytes.indices {
      var m = bytes
      m[k] ^= 0x20
      ids.append(try writer.addMetadata(.commit, content: m))
    }
    try writer.finish()
    let signers = try s.signers()
    #expect(try s.repo.verify(roots: [c.commit], signers: signers, allowUnsigned: false).isOK)
    var passed: [Int] = []
    for (k, id) in ids.enumerated() where try s.repo.verify(roots: [id], signers: signers, allowUnsigned: false).isOK {
      passed.append(k)
    }
    #expect(passed.isEmpty, "variants at byte offsets \(passed) verified")
  }

  @Test func aMissingParentFailsVerificationByName() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base(bytes: 1 << 16)
    let a = try s.commit([base], "parent")
    let packsOfA = s.sandbox.packs()
    let b = try s.commit([try s.sandbox.child(of: base, "c.safetensors", fraction: 0.5)], "child", parents: [a.commit.hex])
    for p in packsOfA { try FileManager.default.removeItem(atPath: s.dir.path + "/.lineage/packs/" + p) }
    let fresh = try Repository.discover(from: s.dir.path)
    let report = try fresh.verify(roots: [b.commit], signers: try s.signers(), allowUnsigned: false)
    #expect(!report.isOK)
    #expect(report.problems.contains { $0.kind == .missingObject && $0.subject == a.commit.hex }, "\(report.problems)")
  }

  @Test func theEnvironmentCaptureIsStoredReachableAndShown() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base(bytes: 1 << 16)
    let capture = EnvironmentCaptureFixture.make()
    let c = try s.commit([base], "with env") { $0.environment = capture }
    let env = try #require(c.record.environment)
    #expect(env.digest == capture.digest)
    let canonical = try CanonicalJSON.encode(capture.value)
    #expect(try s.repo.environmentCapture(c.record).map { try CanonicalJSON.encode($0) } == canonical)
    // gc keeps it: it is reachable from the commit.
    _ = try s.repo.gc(refsOnly: true)
    #expect(try s.repo.environmentCapture(c.record).map { try CanonicalJSON.encode($0) } == canonical)
    #expect(try s.repo.fsck(full: true).isClean)
  }

  @Test func badInputsWriteNothing() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base(bytes: 1 << 16)
    let before = s.sandbox.packs()
    #expect(throws: KitError.self) {
      try s.commit([base], "missing data") { $0.data = [.path(role: "train", path: s.dir.path + "/nope")] }
    }
    #expect(throws: KitError.self) { try s.commit([base], "missing parent", parents: ["nope"]) }
    #expect(s.sandbox.packs() == before)
    #expect(throws: KitError.self) { try SigningKeys.load(path: s.dir.path + "/no-key") }
    let rsa = s.dir.write("rsa", Array("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n".utf8))
    #expect(throws: KitError.self) { try SigningKeys.load(path: rsa) }
  }
}

@Suite struct HistoryTests {
  @Test func logFollowsEveryParentNewestFirstAndFilters() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base(bytes: 1 << 16)
    let a = try s.commit([base], "a", tags: ["a"]) { $0.time = 100 }
    let b1 = try s.commit([try s.sandbox.child(of: base, "b1.safetensors", fraction: 0.5, seed: 3)], "b1", parents: ["a"]) { $0.time = 200 }
    let b2 = try s.commit([try s.sandbox.child(of: base, "b2.safetensors", fraction: 0.5, seed: 4)], "b2", parents: ["a:lora"]) { $0.time = 300 }
    let m = try s.commit([try s.sandbox.child(of: base, "m.safetensors", fraction: 0.5, seed: 5)], "merge", parents: [b1.commit.hex, b2.commit.hex]) {
      $0.time = 400
    }
    #expect(m.record.parents.map(\.relation) == [.merge, .merge] && m.record.parents.map(\.role) == ["merge", "merge"])
    #expect(try s.repo.log(from: "HEAD", filter: LogFilter()).map(\.id) == [m.commit, b2.commit, b1.commit, a.commit])
    var f = LogFilter()
    f.relation = .lora
    #expect(try s.repo.log(from: "HEAD", filter: f).map(\.id) == [b2.commit])
    f = LogFilter()
    f.since = 250
    f.limit = 1
    #expect(try s.repo.log(from: "HEAD", filter: f).map(\.id) == [m.commit])
    f = LogFilter()
    f.firstParent = true
    #expect(try s.repo.log(from: "HEAD", filter: f).map(\.id) == [m.commit, b1.commit, a.commit])
    f = LogFilter()
    f.author = "nobody"
    #expect(try s.repo.log(from: "HEAD", filter: f).isEmpty)
  }

  @Test func diffReportsTensorChangesWithRelativeL2AndRecordChanges() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base(bytes: 1 << 18, dtype: .f32)
    _ = try s.commit([base], "base", tags: ["base"]) { $0.metrics = .object([("loss", .string("2.0"))]) }
    let child = try s.sandbox.child(of: base, "base.safetensors.child", fraction: 0.5, scale: 0.1)
    try FileManager.default.removeItem(atPath: base)
    try FileManager.default.moveItem(atPath: child, toPath: base)
    _ = try s.commit([base], "ft", parents: ["base"]) { $0.metrics = .object([("loss", .string("1.5"))]) }
    let d = try s.repo.diff("base", "HEAD")
    let changed = d.tensors.filter { $0.status == .changed }
    let unchanged = d.tensors.filter { $0.status == .unchanged }
    #expect(!changed.isEmpty && !unchanged.isEmpty)
    #expect(unchanged.allSatisfy { $0.relativeL2 == 0 && $0.changedBytes == 0 })
    for t in changed {
      let l2 = try #require(t.relativeL2)
      // derive adds noise of 0.1 × the tensor's own scale to the elements it touches.
      #expect(l2 > 0.001 && l2 < 1, "\(t.name): \(l2)")
      #expect(t.changedBytes > 0 && t.changedBytes <= t.bytes)
    }
    #expect(d.record.contains(RecordChange(field: "metrics.loss", old: "2.0", new: "1.5")))
    #expect(d.record.contains { $0.field == "message" })
  }
}

/// A fixed environment capture, for tests that only need one to store.
enum EnvironmentCaptureFixture {
  static func make() -> EnvironmentCapture {
    EnvironmentCapture(value: .object([("os", .object([("name", .string("TestOS"))])), ("cpu", .object([("model", .string("x"))]))]),
      summary: .object([("os", .string("TestOS"))]))
  }
}
