import Foundation
import LineageTestSupport
import Testing

/// Policy checks and descendants through the built binary.
@Suite(.serialized) struct FleetCLITests {
  @Test func policyCheckPassesSignedModelsAndNamesWhatOthersLack() throws {
    let r = try SignedRepo()
    let d = r.d
    let data = "sha256:" + String(repeating: "7e", count: 32)
    try lineage(["commit", "base.safetensors", "-m", "pretrain", "--tag", "base", "--no-environment", "--data-digest", "hf://web=\(data)"], in: d)
    try lineage(["commit", "ft.safetensors", "-m", "unsigned fine-tune", "--parent", "base:finetune", "--tag", "ft", "--no-sign", "--no-environment"], in: d)
    r.dir.write("lineage.toml", Array("[policy]\nrequire_signature = true\nrequire_data = true\n".utf8))
    let ok = try lineage(["policy", "check", "base", "base.safetensors"], in: d)
    #expect(ok.stdout.contains("ok    base (commit") && ok.stdout.contains("ok    base.safetensors"), "\(ok.stdout)")
    let bad = try lineage(["policy", "check", "ft", "--json"], in: d, expect: 7)
    let v = try #require(((parseJSON(bad.stdout) as? [String: Any])?["targets"] as? [[String: Any]])?.first?["candidates"] as? [[String: Any]])
    let rules = (v.first?["violations"] as? [[String: Any]])?.compactMap { $0["rule"] as? String }
    #expect(rules == ["require_signature", "require_data"])
    r.dir.write("stray.safetensors", SafetensorsBytes.valid([("w", [3])]))
    let stray = try lineage(["policy", "check", "stray.safetensors"], in: d, expect: 7)
    #expect(stray.stdout.contains("no lineage commit holds this file") && stray.stdout.contains("fix: lineage commit stray.safetensors"))
    r.dir.write("lineage.toml", Array("[policy]\nrequire_signatures = true\n".utf8))
    let typo = try lineage(["policy", "check"], in: d, expect: 4)
    #expect(typo.stderr.contains("unknown key 'require_signatures'"))
  }

  @Test func descendantsOfACommitAndOfTrainingDataRenderInGraphviz() throws {
    let r = try SignedRepo()
    let d = r.d
    let data = "sha256:" + String(repeating: "5a", count: 32)
    try lineage(["commit", "base.safetensors", "-m", "pretrain", "--tag", "base", "--no-environment"], in: d)
    try lineage(["commit", "ft.safetensors", "-m", "fine-tune", "--parent", "base:finetune", "--tag", "ft", "--no-environment", "--data-digest", "chats=\(data)"], in: d)
    try lineage(["fixture", "derive", "ft.safetensors", "q.safetensors", "--fraction", "1", "--scale", "0.01", "--seed", "3"], in: d)
    try lineage(["commit", "q.safetensors", "-m", "quantize", "--parent", "ft:quantize", "--tag", "q", "--no-environment"], in: d)
    let text = try lineage(["descendants", "base"], in: d)
    #expect(text.stdout.contains("2 descendant(s)") && text.stdout.contains("-finetune->") && text.stdout.contains("-quantize->"), "\(text.stdout)")
    let json = try #require(parseJSON(try lineage(["descendants", data, "--json"], in: d).stdout) as? [String: Any])
    #expect((json["roots"] as? [[String: Any]])?.count == 1)
    #expect((json["descendants"] as? [[String: Any]])?.first?["depth"] as? Int == 1)
    r.dir.write("g.dot", Array(try lineage(["descendants", "base", "--format", "dot"], in: d).stdout.utf8))
    let svg = try runProcess("/usr/bin/dot", ["-Tsvg", "g.dot", "-o", "g.svg"], in: d)
    #expect(svg.status == 0, "\(svg.stderr)")
  }

  /// The pre-push gate with real git and a bare remote: each kind of bad model push is refused
  /// with its reason; code-only pushes, good models, deletions and tags pass.
  @Test func thePrePushHookGatesModelFilesWithRealGit() throws {
    let dir = TemporaryDirectory("lineage-gate")
    let root = dir.path
    let code = "\(root)/code"
    func git(_ args: [String], in where_: String? = nil, expect status: Int32 = 0) throws -> CommandResult {
      let r = try runProcess("/usr/bin/git", ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"] + args, in: where_ ?? code)
      #expect(r.status == status, "git \(args.joined(separator: " ")) exited \(r.status): \(r.stderr)")
      return r
    }
    _ = try git(["init", "-q", "--bare", "remote.git"], in: root)
    _ = try git(["init", "-q", "code"], in: root)
    _ = try git(["remote", "add", "origin", "../remote.git"])
    try lineage(["init"], in: code)
    try lineage(["keygen", "--file", "keys/alice", "--trust", "alice@example.com"], in: code)
    try lineage(["config", "user.signingKey", "keys/alice"], in: code)
    dir.write("code/.gitignore", Array(".lineage/\nkeys/\n".utf8))
    dir.write("code/lineage.toml", Array("[policy]\nrequire_signature = true\nrequire_data = true\n".utf8))
    let install = try lineage(["hooks", "install"], in: code)
    #expect(install.stdout.contains("Installed"))
    let data = "train=hf://chats=sha256:" + String(repeating: "3c", count: 32)
    func push(expect status: Int32) throws -> String {
      let r = try git(["push", "-q", "origin", "HEAD:refs/heads/main"], expect: status)
      return r.stderr
    }
    // Code only.
    dir.write("code/train.py", Array("print('hi')\n".utf8))
    _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", "code"])
    _ = try push(expect: 0)
    // A signed model with data passes.
    dir.write("code/good.safetensors", SafetensorsBytes.valid([("w", [8])], seed: 1))
    try lineage(["commit", "good.safetensors", "-m", "good", "--data-digest", data, "--no-environment", "--no-code"], in: code)
    _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", "good model"])
    _ = try push(expect: 0)
    func refused(_ name: String, seed: UInt64, lineageArgs: [String]?, message: String) throws {
      dir.write("code/\(name)", SafetensorsBytes.valid([("w", [8])], seed: seed))
      if let lineageArgs { try lineage(["commit", name, "-m", name, "--no-environment", "--no-code"] + lineageArgs, in: code) }
      _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", name])
      let err = try push(expect: 1)
      #expect(err.contains("refusing \(name)") && err.contains(message) && err.contains("fix:"), "\(err)")
      _ = try git(["reset", "-q", "--hard", "HEAD~1"])
    }
    try refused("unsigned.safetensors", seed: 2, lineageArgs: ["--no-sign", "--data-digest", data], message: "signature is unsigned")
    try refused("nodata.safetensors", seed: 3, lineageArgs: [], message: "no training-data digest")
    try refused("unknown.safetensors", seed: 4, lineageArgs: nil, message: "no lineage commit holds this file")
    // A file changed after its lineage commit.
    dir.write("code/tampered.safetensors", SafetensorsBytes.valid([("w", [8])], seed: 5))
    try lineage(["commit", "tampered.safetensors", "-m", "t", "--data-digest", data, "--no-environment", "--no-code"], in: code)
    var bytes = readBytes("\(code)/tampered.safetensors")
    bytes[bytes.count - 1] ^= 1
    dir.write("code/tampered.safetensors", bytes)
    _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", "tampered"])
    #expect(try push(expect: 1).contains("refusing tampered.safetensors"))
    _ = try git(["reset", "-q", "--hard", "HEAD~1"])
    // A Git LFS pointer to an object no lineage commit holds.
    dir.write("code/big.safetensors", Array("version https://git-lfs.github.com/spec/v1\noid sha256:\(String(repeating: "ef", count: 32))\nsize 1234\n".utf8))
    _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", "lfs"])
    #expect(try push(expect: 1).contains("no lineage commit holds the Git LFS object sha256:efefefef"))
    _ = try git(["reset", "-q", "--hard", "HEAD~1"])
    // A model directory's other files travel with it: a changed config next to a model must be
    // committed too; the same file at the repository root is code.
    dir.write("code/models/m1/weights.safetensors", SafetensorsBytes.valid([("w", [8])], seed: 7))
    dir.write("code/models/m1/config.json", Array(#"{"model_type": "llama"}"#.utf8))
    try lineage(["commit", "models/m1", "-m", "m1", "--data-digest", data, "--no-environment", "--no-code"], in: code)
    _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", "m1"])
    _ = try push(expect: 0)
    dir.write("code/models/m1/config.json", Array(#"{"model_type": "mistral"}"#.utf8))
    dir.write("code/config.json", Array(#"{"not": "a model"}"#.utf8))
    _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", "edit config"])
    let config = try push(expect: 1)
    #expect(config.contains("refusing models/m1/config.json") && !config.contains("refusing config.json"), "\(config)")
    _ = try git(["reset", "-q", "--hard", "HEAD~1"])
    // A model descended from a quarantined one is refused, naming the ancestor and the reason.
    try lineage(["quarantine", "add", "HEAD", "--reason", "poisoned base"], in: code)
    #expect(try lineage(["quarantine", "list"], in: code).stdout.contains("poisoned base"))
    dir.write("code/child.safetensors", SafetensorsBytes.valid([("w", [8])], seed: 6))
    try lineage(["commit", "child.safetensors", "-m", "child", "--parent", "HEAD:finetune", "--data-digest", data, "--no-environment", "--no-code"], in: code)
    _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", "child"])
    let q = try push(expect: 1)
    #expect(q.contains("refusing child.safetensors") && q.contains("descends from quarantined") && q.contains("poisoned base"), "\(q)")
    _ = try git(["reset", "-q", "--hard", "HEAD~1"])
    try lineage(["quarantine", "remove", "HEAD~1", "--reason", "cleared"], in: code)
    // The quarantine log is signed, and verify --all checks it with everything else.
    #expect(try lineage(["verify", "refs/quarantine"], in: code).stdout.contains("good signature"))
    try lineage(["quarantine", "add", "HEAD", "--reason", "unsigned note", "--no-sign"], in: code)
    let unsignedLog = try lineage(["verify", "--all", "--allow-unsigned"], in: code, expect: 0)
    #expect(unsignedLog.stdout.contains("unsigned note"), "\(unsignedLog.stdout)")
    _ = try lineage(["verify", "refs/quarantine"], in: code, expect: 7)
    try lineage(["quarantine", "remove", "HEAD", "--reason", "done"], in: code)
    // Deleting a model and pushing a tag never trip it.
    _ = try git(["rm", "-q", "good.safetensors"]); _ = try git(["commit", "-qm", "drop"])
    _ = try push(expect: 0)
    _ = try git(["tag", "v1"])
    _ = try git(["push", "-q", "origin", "v1"])
  }

  /// `hooks install` honours core.hooksPath, chains a foreign hook (which still runs, with the
  /// same input), rewrites its own hook quietly, and replaces a foreign one only with --force.
  @Test func hooksInstallChainsAForeignHookUnderCoreHooksPath() throws {
    let dir = TemporaryDirectory("lineage-hooks")
    let code = dir.path + "/code"
    func git(_ args: [String], expect status: Int32 = 0) throws -> CommandResult {
      let r = try runProcess("/usr/bin/git", ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"] + args, in: code)
      #expect(r.status == status, "git \(args.joined(separator: " ")): \(r.stderr)")
      return r
    }
    try FileManager.default.createDirectory(atPath: code, withIntermediateDirectories: true)
    _ = try runProcess("/usr/bin/git", ["init", "-q", "--bare", "remote.git"], in: dir.path)
    _ = try git(["init", "-q"])
    _ = try git(["config", "core.hooksPath", ".githooks"])
    _ = try git(["remote", "add", "origin", "../remote.git"])
    let foreign = dir.write("code/.githooks/pre-push", Array("#!/bin/sh\ncat > \"$(dirname \"$0\")/../foreign-ran\"\n".utf8))
    chmod(foreign, 0o755)
    try lineage(["init"], in: code)
    dir.write("code/.gitignore", Array(".lineage/\nforeign-ran\n".utf8))
    dir.write("code/lineage.toml", Array("[policy]\nrequire_data = true\n".utf8))
    let first = try lineage(["hooks", "install"], in: code)
    #expect(first.stdout.contains("moved to") && first.stdout.contains(".githooks/pre-push.chained"), "\(first.stdout)")
    #expect(String(decoding: readBytes("\(code)/.githooks/pre-push"), as: UTF8.self).contains("# lineage provenance gate"))
    #expect(try lineage(["hooks", "install"], in: code).stdout.hasPrefix("Installed"))
    dir.write("code/m.safetensors", SafetensorsBytes.valid([("w", [2])]))
    _ = try git(["add", "-A"]); _ = try git(["commit", "-qm", "model"])
    let refused = try git(["push", "-q", "origin", "HEAD:refs/heads/main"], expect: 1)
    #expect(refused.stderr.contains("refusing m.safetensors"))
    // The foreign hook ran first, with git's input.
    #expect(String(decoding: readBytes("\(code)/foreign-ran"), as: UTF8.self).contains(" refs/heads/main "))
    // A second foreign hook cannot be chained over the first; --force replaces it.
    dir.write("code/.githooks/pre-push", Array("#!/bin/sh\nexit 0\n".utf8))
    let conflict = try lineage(["hooks", "install"], in: code, expect: 4)
    #expect(conflict.stderr.contains("pre-push.chained already exists"))
    #expect(try lineage(["hooks", "install", "--force"], in: code).stdout.hasPrefix("Replaced"))
  }
}

/// Every command's help reads as prose: no stray line-continuation backslashes.
@Suite struct HelpTextTests {
  @Test(arguments: [
    ["commit"], ["checkout"], ["ls"], ["compare"], ["descendants"], ["policy", "check"], ["quarantine"], ["quarantine", "add"],
    ["hook", "pre-push"], ["hooks", "install"], ["diff"], ["verify"], ["log"], ["infer"], ["demo"], ["run"], ["bench", "runtime"], ["graph"],
    ["null", "build"], ["score"], ["incident"], ["incident", "record"], ["replay"], ["bench", "infer"], ["blame"], ["sketch"], ["bench", "infer-scale"],
    ["bench", "blame"], ["bench", "infer-all"],
  ])
  func helpHasNoStrayBackslashes(_ command: [String]) throws {
    let dir = TemporaryDirectory("lineage-help")
    let r = try LineageBinary.run(command + ["--help"], in: dir.path)
    #expect(r.status == 0)
    #expect(!r.stdout.contains("\\\n") && !r.stdout.contains(" \\ "), "\(command.joined(separator: " ")) --help:\n\(r.stdout)")
  }
}
