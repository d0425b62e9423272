import Foundation
import LineageTestSupport
import Testing

/// A repository with a trusted Ed25519 key made by `lineage keygen`, and a family of commits.
struct SignedRepo {
  let dir = TemporaryDirectory("lineage-signed")
  var d: String { dir.path }

  init() throws {
    try lineage(["init"], in: d)
    try lineage(["keygen", "--file", "keys/alice", "--trust", "alice@example.com", "--comment", "alice"], in: d)
    try lineage(["config", "user.signingKey", "keys/alice"], in: d)
    try lineage(["fixture", "generate", "base.safetensors", "--size", "512KiB", "--seed", "1", "--dtype", "F32"], in: d)
    try lineage(["fixture", "derive", "base.safetensors", "ft.safetensors", "--fraction", "0.5", "--scale", "0.05", "--seed", "2"], in: d)
  }
}

@Suite(.serialized) struct ProvenanceCLITests {
  @Test func signedCommitsVerifyWithLineageAndWithSshKeygen() throws {
    let r = try SignedRepo()
    let d = r.d
    r.dir.write("data/train.jsonl", Array("{\"text\":\"hi\"}\n".utf8))
    r.dir.write("params.yaml", Array("lr: 0.0003\nepochs: 2\n".utf8))
    try lineage(["commit", "base.safetensors", "-m", "pretrain", "--tag", "base", "--no-environment"], in: d)
    let out = try lineage([
      "commit", "ft.safetensors", "-m", "fine-tune", "--parent", "base:finetune", "--data", "data", "--params", "params.yaml",
      "--param", "seed=7", "--metric", "eval_loss=1.92", "--command", "python train.py", "--env-var", "CUDA_VISIBLE_DEVICES", "--json",
    ], in: d)
    let commit = try #require(parseJSON(out.stdout) as? [String: Any])
    #expect(commit["signed"] as? Bool == true)

    // By hand, with OpenSSH: the payload and signature verify under the principal allowed_signers names.
    let payload = try lineage(["cat-object", "--payload", "HEAD"], in: d)
    let sig = try lineage(["cat-object", "--signature", "HEAD"], in: d)
    r.dir.write("payload.json", Array(payload.stdout.utf8))
    r.dir.write("payload.sig", Array(sig.stdout.utf8))
    let principals = try runProcess("/usr/bin/ssh-keygen", ["-Y", "find-principals", "-s", "payload.sig", "-f", ".lineage/allowed_signers"], in: d)
    #expect(principals.stdout == "alice@example.com\n", "\(principals.stderr)")
    let ok = try runProcess(
      "/usr/bin/ssh-keygen", ["-Y", "verify", "-n", "lineage", "-f", ".lineage/allowed_signers", "-I", "alice@example.com", "-s", "payload.sig"],
      in: d, stdin: Array(payload.stdout.utf8))
    #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
    // The same signature over a changed payload is refused by ssh-keygen too.
    let tampered = try runProcess(
      "/usr/bin/ssh-keygen", ["-Y", "verify", "-n", "lineage", "-f", ".lineage/allowed_signers", "-I", "alice@example.com", "-s", "payload.sig"],
      in: d, stdin: Array(payload.stdout.replacingOccurrences(of: "fine-tune", with: "fine-tunE").utf8))
    #expect(tampered.status != 0)

    let verify = try #require(parseJSON(try lineage(["verify", "--all", "--json"], in: d).stdout) as? [String: Any])
    #expect(verify["ok"] as? Bool == true)
    let commits = try #require(verify["commits"] as? [[String: Any]])
    #expect(commits.count == 2 && commits.allSatisfy { $0["signer"] as? String == "alice@example.com" })

    let show = try #require(parseJSON(try lineage(["show", "HEAD", "--json"], in: d).stdout) as? [String: Any])
    let data = try #require(show["data"] as? [[String: Any]])
    let expectedDigest = try shell("cd data && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum", in: d)
    #expect(data.first?["digest"] as? String == "sha256:" + String(expectedDigest.prefix(64)))
    let transformation = try #require(show["transformation"] as? [String: Any])
    #expect((transformation["params"] as? [String: Any])?["lr"] as? String == "0.0003")
    #expect((transformation["params"] as? [String: Any])?["seed"] as? Int == 7)
    #expect((show["metrics"] as? [String: Any])?["eval_loss"] as? String == "1.92")
    let capture = try #require(show["environment_capture"] as? [String: Any])
    #expect(!capture.isEmpty)
    #expect((show["signature"] as? [String: Any])?["status"] as? String == "good")
    let parents = try #require(show["parents"] as? [[String: Any]])
    #expect(parents.first?["relation"] as? String == "finetune" && parents.first?["role"] as? String == "base")

    let log = try lineage(["log"], in: d)
    #expect(log.stdout.contains("signed  good signature by alice@example.com"))
  }

  @Test func aKeyMadeBySshKeygenSignsAndASignatureMadeBySshKeygenIsReadable() throws {
    let r = try SignedRepo()
    let d = r.d
    for type in [["-t", "ed25519"], ["-t", "ecdsa", "-b", "256"]] {
      let key = "keys/ssh-\(type[1])"
      let gen = try runProcess("/usr/bin/ssh-keygen", type + ["-N", "", "-C", "bob", "-f", key, "-q"], in: d)
      #expect(gen.status == 0, "\(gen.stderr)")
      let pub = String(decoding: readBytes("\(d)/\(key).pub"), as: UTF8.self)
      let signers = String(decoding: readBytes("\(d)/.lineage/allowed_signers"), as: UTF8.self)
      r.dir.write(".lineage/allowed_signers", Array((signers + "bob@example.com namespaces=\"lineage\" " + pub).utf8))
      try lineage(["commit", "base.safetensors", "-m", "by bob \(type[1])", "--signing-key", key, "--no-environment"], in: d)
      let v = try #require(parseJSON(try lineage(["verify", "HEAD", "--json"], in: d).stdout) as? [String: Any])
      #expect((v["commits"] as? [[String: Any]])?.first?["signer"] as? String == "bob@example.com", "\(v)")
    }
  }

  @Test func tamperingWithTheStoreOrTrustFailsVerify() throws {
    let r = try SignedRepo()
    let d = r.d
    try lineage(["commit", "base.safetensors", "-m", "pretrain", "--no-environment"], in: d)
    // Nobody trusted: exit 7 and the reason.
    let saved = readBytes("\(d)/.lineage/allowed_signers")
    r.dir.write(".lineage/allowed_signers", Array("# empty\n".utf8))
    let untrusted = try lineage(["verify"], in: d, expect: 7)
    #expect(untrusted.stdout.contains("untrusted signature"))
    r.dir.write(".lineage/allowed_signers", saved)
    try lineage(["verify"], in: d)
    // Flip one byte in the middle of the pack (chunk data): verify names the damaged object.
    let packs = try FileManager.default.contentsOfDirectory(atPath: "\(d)/.lineage/packs").filter { $0.hasSuffix(".pack") }
    // The largest pack holds the model (the other: its sketch and the sketch-index record).
    let sizes = packs.map { ($0, readBytes("\(d)/.lineage/packs/\($0)").count) }
    let pack = "\(d)/.lineage/packs/\(try #require(sizes.max { $0.1 < $1.1 }?.0))"
    var bytes = readBytes(pack)
    bytes[bytes.count / 2] ^= 0x40
    try Data(bytes).write(to: URL(fileURLWithPath: pack))
    let damaged = try lineage(["verify", "--json"], in: d, expect: 7)
    let report = try #require(parseJSON(damaged.stdout) as? [String: Any])
    #expect((report["problems"] as? [Any])?.isEmpty == false)
  }

  @Test func graphRendersWithGraphvizAndAsMermaidAndJSON() throws {
    let r = try SignedRepo()
    let d = r.d
    try lineage(["commit", "base.safetensors", "-m", "pretrain", "--tag", "base", "--no-environment"], in: d)
    try lineage(["commit", "ft.safetensors", "-m", "lora \"a\"", "--parent", "base:lora", "--tag", "a", "--no-environment"], in: d)
    try lineage(["commit", "ft.safetensors", "-m", "quantize", "--parent", "base:quantize", "--tag", "q", "--no-environment"], in: d)
    try lineage(["commit", "base.safetensors", "-m", "merge", "--parent", "a", "--parent", "q", "--tag", "m", "--no-environment"], in: d)
    let dot = try lineage(["graph", "--format", "dot"], in: d)
    r.dir.write("g.dot", Array(dot.stdout.utf8))
    let svg = try runProcess("/usr/bin/dot", ["-Tsvg", "g.dot", "-o", "g.svg"], in: d)
    #expect(svg.status == 0, "dot rejected the graph: \(svg.stderr)")
    #expect(String(decoding: readBytes("\(d)/g.svg"), as: UTF8.self).contains("<svg"))
    #expect(dot.stdout.components(separatedBy: " -> ").count - 1 == 4)
    let mermaid = try lineage(["graph", "--format", "mermaid"], in: d)
    #expect(mermaid.stdout.hasPrefix("flowchart BT\n") && mermaid.stdout.contains("-->|merge|") && mermaid.stdout.contains("-->|lora|"))
    let json = try #require(parseJSON(try lineage(["graph", "--format", "json"], in: d).stdout) as? [String: Any])
    #expect((json["nodes"] as? [Any])?.count == 4 && (json["edges"] as? [Any])?.count == 4)
    let ascii = try lineage(["graph"], in: d)
    #expect(ascii.stdout.split(separator: "\n").filter { $0.contains("*") }.count == 4)
    let logGraph = try lineage(["log", "--oneline", "--graph"], in: d)
    #expect(logGraph.stdout.contains("* ") && logGraph.stdout.contains("merge"))
  }

  @Test func diffShowsTensorAndRecordChanges() throws {
    let r = try SignedRepo()
    let d = r.d
    try lineage(["commit", "base.safetensors", "-m", "pretrain", "--tag", "base", "--metric", "loss=2.5", "--no-environment"], in: d)
    try FileManager.default.removeItem(atPath: "\(d)/base.safetensors")
    try FileManager.default.copyItem(atPath: "\(d)/ft.safetensors", toPath: "\(d)/base.safetensors")
    try lineage(["commit", "base.safetensors", "-m", "ft", "--parent", "base", "--metric", "loss=1.9", "--no-environment"], in: d)
    let diff = try #require(parseJSON(try lineage(["diff", "base", "HEAD", "--json"], in: d).stdout) as? [String: Any])
    let tensors = try #require(diff["tensors"] as? [[String: Any]])
    #expect(!tensors.isEmpty && tensors.allSatisfy { $0["status"] as? String == "changed" && ($0["relative_l2"] as? Double ?? 0) > 0 })
    let record = try #require(diff["record"] as? [[String: Any]])
    #expect(record.contains { $0["field"] as? String == "metrics.loss" && $0["old"] as? String == "2.5" && $0["new"] as? String == "1.9" })
    let text = try lineage(["diff", "base", "HEAD"], in: d)
    #expect(text.stdout.contains("rel. L2") && text.stdout.contains("metrics.loss: 2.5 → 1.9"))
  }

  @Test func slsaAttestationNamesTheCheckedOutFilesAndVerifies() throws {
    let r = try SignedRepo()
    let d = r.d
    r.dir.write("config.json", Array("{}".utf8))
    try lineage(["commit", "base.safetensors", "config.json", "-m", "pretrain", "--no-environment"], in: d)
    try lineage(["attest", "HEAD", "-o", "att.json"], in: d)
    let envelope = try #require(parseJSON(String(decoding: readBytes("\(d)/att.json"), as: UTF8.self)) as? [String: Any])
    let payloadText = try #require(envelope["payload"] as? String)
    let payload = try #require(Data(base64Encoded: payloadText))
    let statement = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
    #expect(statement["predicateType"] as? String == "https://slsa.dev/provenance/v1")
    try lineage(["checkout", "HEAD", "-o", "out"], in: d)
    let sums = try shell("cd out && sha256sum base.safetensors config.json", in: d)
    let subjects = try #require(statement["subject"] as? [[String: Any]])
    for s in subjects {
      let name = try #require(s["name"] as? String)
      let digest = try #require((s["digest"] as? [String: String])?["sha256"])
      #expect(sums.contains("\(digest)  \(name)"))
    }
    let ok = try lineage(["verify", "--attestation", "att.json"], in: d)
    #expect(ok.stdout.contains("signed by alice@example.com"))
    // A changed payload no longer verifies.
    var forged = envelope
    forged["payload"] = Data(String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "config.json", with: "config.jsoN").utf8).base64EncodedString()
    r.dir.write("forged.json", Array(try JSONSerialization.data(withJSONObject: forged)))
    try lineage(["verify", "--attestation", "forged.json"], in: d, expect: 7)
  }

  @Test func badKeysAndInputsFailClearlyAndWriteNothing() throws {
    let r = try SignedRepo()
    let d = r.d
    r.dir.write("keys/garbage", Array("not a key\n".utf8))
    let bad = try lineage(["commit", "base.safetensors", "-m", "x", "--signing-key", "keys/garbage", "--no-environment"], in: d, expect: 4)
    #expect(bad.stderr.contains("keys/garbage"))
    let rsa = try runProcess("/usr/bin/ssh-keygen", ["-t", "rsa", "-b", "2048", "-N", "", "-q", "-f", "keys/rsa"], in: d)
    #expect(rsa.status == 0)
    let wrongType = try lineage(["commit", "base.safetensors", "-m", "x", "--signing-key", "keys/rsa", "--no-environment"], in: d, expect: 4)
    #expect(wrongType.stderr.contains("ssh-rsa"), "\(wrongType.stderr)")
    try lineage(["commit", "base.safetensors", "-m", "x", "--data", "missing-dir", "--no-environment"], in: d, expect: 4)
    try lineage(["commit", "base.safetensors", "-m", "x", "--parent", "nope", "--no-environment"], in: d, expect: 5)
    try lineage(["commit", "base.safetensors", "-m", "x", "--parent", "nope:retrain", "--no-environment"], in: d, expect: 4)
    try lineage(["show", "nope"], in: d, expect: 5)
    try lineage(["config", "user.nope", "x"], in: d, expect: 4)
    #expect(try lineage(["log", "--oneline"], in: d, expect: 5).stderr.contains("no commits"))
    let packs = (try? FileManager.default.contentsOfDirectory(atPath: "\(d)/.lineage/packs")) ?? []
    #expect(packs.isEmpty)
  }
}

@Suite(.serialized, .enabled(if: testPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the model_signing test"))
struct ModelSigningInteropTests {
  /// PyPI's `model_signing verify key` accepts lineage's bundle for a checked-out model, and
  /// rejects it after one byte of the model changes.
  @Test func modelSigningVerifiesLineagesBundle() throws {
    let python = try #require(testPython)
    let tool = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("model_signing").path
    let r = try SignedRepo()
    let d = r.d
    try lineage(["keygen", "-t", "ecdsa", "--file", "keys/p256"], in: d)
    r.dir.write("model/config.json", Array("{\"a\":1}\n".utf8))
    r.dir.write("model/sub/notes.txt", Array("x".utf8))
    try FileManager.default.copyItem(atPath: "\(d)/base.safetensors", toPath: "\(d)/model/model.safetensors")
    try lineage(["commit", "model", "-m", "model", "--no-environment"], in: d)
    try lineage(["checkout", "HEAD", "-o", "checked-out"], in: d)
    try lineage(["attest", "HEAD", "--format", "model-signing", "--signing-key", "keys/p256", "-o", "model.sig"], in: d)
    let pem = try runProcess("/usr/bin/ssh-keygen", ["-e", "-m", "PKCS8", "-f", "keys/p256.pub"], in: d)
    r.dir.write("pub.pem", Array(pem.stdout.utf8))
    let ok = try runProcess(tool, ["verify", "key", "checked-out", "--signature", "model.sig", "--public_key", "pub.pem"], in: d)
    #expect(ok.status == 0 && ok.stdout.contains("Verification succeeded"), "\(ok.stdout) \(ok.stderr)")
    var bytes = readBytes("\(d)/checked-out/config.json")
    bytes[0] ^= 1
    try Data(bytes).write(to: URL(fileURLWithPath: "\(d)/checked-out/config.json"))
    let bad = try runProcess(tool, ["verify", "key", "checked-out", "--signature", "model.sig", "--public_key", "pub.pem"], in: d)
    #expect(bad.status != 0)
    // An Ed25519 key cannot make this format.
    try lineage(["attest", "HEAD", "--format", "model-signing"], in: d, expect: 4)
  }
}
