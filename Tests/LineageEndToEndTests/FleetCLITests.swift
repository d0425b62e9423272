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
}
