import Foundation
import LineageCore
import LineageKit
import LineageTestSupport
import Testing

@Suite struct DescendantsTests {
  static let chats = "sha256:" + String(repeating: "ab", count: 32)
  static let web = "sha256:" + String(repeating: "cd", count: 32)

  /// base ─finetune(chats)→ ft ─quantize→ q8;  base ─lora→ adapter;  merge(ft, adapter);
  /// stranger (trained on chats too, unrelated to base);  unrelated root.
  func family() throws -> Sandbox {
    let s = try Sandbox()
    var n: UInt64 = 0
    func commit(_ message: String, tag: String, parents: [String] = [], data: [String] = []) throws {
      n += 1
      let path = s.dir.write("\(tag).safetensors", SafetensorsBytes.valid([("w", [4])], seed: n))
      var o = commitOptions([path], message, parents: parents, tags: [tag], time: 1_767_322_800 + Int64(n))
      o.data = data.map { .digest(role: "train", uri: "hf://\($0.suffix(4))", digest: $0) }
      _ = try s.repo.commit(o)
    }
    try commit("pretrain", tag: "base", data: [Self.web])
    try commit("fine-tune on chats", tag: "ft", parents: ["base:finetune"], data: [Self.chats])
    try commit("int8", tag: "q8", parents: ["ft:quantize"])
    try commit("adapter", tag: "adapter", parents: ["base:lora"])
    try commit("average", tag: "merged", parents: ["ft:merge", "adapter:merge"])
    try commit("other root on chats", tag: "stranger", data: [Self.chats])
    try commit("unrelated", tag: "unrelated")
    return s
  }

  @Test func aCommitsDescendantsComeWithTheirNearestPath() throws {
    let s = try family()
    let r = try s.repo.descendants(of: "base")
    let names = try Dictionary(uniqueKeysWithValues: ["ft", "q8", "adapter", "merged"].map { (try s.repo.resolve($0), $0) })
    #expect(Set(r.descendants.compactMap { names[$0.id] }) == ["ft", "q8", "adapter", "merged"])
    #expect(r.descendants.count == 4)
    let q8 = try #require(r.descendants.first { names[$0.id] == "q8" })
    #expect(r.path(to: q8.id).map { $0.relation } == [.finetune, .quantize])
    let merged = try #require(r.descendants.first { names[$0.id] == "merged" })
    #expect(merged.depth == 2 && r.path(to: merged.id).count == 2)
    #expect(try s.repo.descendants(of: "q8").descendants.isEmpty)
    #expect(try s.repo.descendants(of: "adapter").descendants.map(\.id) == [try s.repo.resolve("merged")])
  }

  @Test func trainingDataFindsEveryModelTrainedOnItAndTheirDescendants() throws {
    let s = try family()
    let r = try s.repo.descendants(of: Self.chats)
    #expect(try Set(r.roots.map(\.id)) == Set(["ft", "stranger"].map { try s.repo.resolve($0) }))
    #expect(try Set(r.descendants.map(\.id)) == Set(["q8", "merged"].map { try s.repo.resolve($0) }))
    let web = try s.repo.descendants(of: Self.web.uppercased().replacingOccurrences(of: "SHA256:", with: "sha256:"))
    #expect(web.descendants.count == 4)
    #expect(try s.repo.descendants(of: "sha256:" + String(repeating: "0", count: 64)).roots.isEmpty)
    #expect(throws: KitError.self) { try s.repo.descendants(of: "sha256:xyz") }
  }
}
