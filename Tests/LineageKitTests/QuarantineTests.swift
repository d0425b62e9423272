import Foundation
import LineageCore
import LineageKit
import LineageSigning
import LineageTestSupport
import Testing

@Suite struct QuarantineTests {
  static let chats = "sha256:" + String(repeating: "ab", count: 32)

  /// base ─finetune(chats, hf://chats)→ ft ─quantize→ q8; unrelated root.
  func family() throws -> SignedSandbox {
    let s = try SignedSandbox()
    var n: UInt64 = 0
    func commit(_ tag: String, parents: [String] = [], data: Bool = false) throws {
      n += 1
      let path = s.dir.write("\(tag).safetensors", SafetensorsBytes.valid([("w", [4])], seed: n))
      _ = try s.commit([path], tag, parents: parents, tags: [tag]) { o in
        o.time += Int64(n)
        if data { o.data = [.digest(role: "train", uri: "hf://chats", digest: Self.chats)] }
      }
    }
    try commit("base")
    try commit("ft", parents: ["base:finetune"], data: true)
    try commit("q8", parents: ["ft:quantize"])
    try commit("unrelated")
    return s
  }

  func rules(_ s: SignedSandbox, _ rev: String) throws -> [String] {
    let p = try Policy.load(s.dir.write("p.toml", Array("[policy]\n".utf8)))
    return try s.repo.checkPolicy(revision: rev, policy: p, signers: try s.signers()).candidates.flatMap { $0.violations.map(\.message) }
  }

  @Test func aQuarantinedCommitBlocksItsDescendantsUntilLifted() throws {
    let s = try family()
    #expect(try rules(s, "q8").isEmpty)
    let base = try s.repo.resolve("base")
    _ = try s.repo.quarantine("add", .commit(base), reason: "backdoor found", author: "sec <s@example.com>", time: 1_800_000_000, key: s.key)
    #expect(try rules(s, "q8").contains { $0.hasPrefix("descends from quarantined \(base.short): backdoor found (quarantined by sec") })
    #expect(try rules(s, "base").contains { $0.hasPrefix("is quarantined: backdoor found") })
    #expect(try rules(s, "unrelated").isEmpty)
    let log = try s.repo.quarantineLog(signers: try s.signers())
    #expect(log.count == 1 && log[0].signature == .good(principal: "alice@example.com") && log[0].target == .commit(base))
    _ = try s.repo.quarantine("remove", .commit(base), reason: "false alarm", author: "sec", time: 1_800_000_100, key: nil)
    #expect(try rules(s, "q8").isEmpty)
    #expect(try s.repo.quarantineLog(signers: nil).map(\.action) == ["add", "remove"])
    // The log is outside model history, and gc keeps it.
    #expect(try !s.repo.allRefTargets().contains(log[0].record))
    _ = try s.repo.gc(refsOnly: true)
    #expect(try s.repo.quarantineLog(signers: nil).count == 2)
  }

  @Test func quarantinedDataBlocksEveryModelTrainedOnItAndTheirDescendants() throws {
    let s = try family()
    for target in [QuarantineTarget.dataDigest(Self.chats), .dataURI("hf://chats")] {
      let id = try s.repo.quarantine("add", target, reason: "PII", author: "sec", time: 1_800_000_000, key: nil)
      #expect(try rules(s, "ft").contains { $0.contains("trained on quarantined data") && $0.contains("PII") }, "\(target)")
      #expect(try rules(s, "q8").contains { $0.contains("descends from") && $0.contains("PII") })
      #expect(try rules(s, "base").isEmpty)
      _ = try s.repo.quarantine("remove", target, reason: "ok", author: "sec", time: 1_800_000_001, key: nil)
      #expect(try rules(s, "q8").isEmpty)
      _ = id
    }
    #expect(try s.repo.quarantineTarget("SHA256:" + String(repeating: "AB", count: 32)) == .dataDigest(Self.chats))
    #expect(throws: KitError.self) { try s.repo.quarantineTarget("sha256:12") }
  }
}
