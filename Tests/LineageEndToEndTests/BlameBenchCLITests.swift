import Foundation
import LineageTestSupport
import Testing

/// `lineage bench blame` end to end on one tiny seed.
@Suite struct BlameBenchCLITests {
  @Test func oneTinySeedReportsEveryScenario() throws {
    let dir = TemporaryDirectory("lineage-bench-blame")
    let r = try lineage(["bench", "blame", "--seeds", "1", "--size", "tiny", "--json"], in: dir.path)
    let o = try #require(parseJSON(r.stdout) as? [String: Any])
    let runs = try #require(o["runs"] as? [[String: Any]])
    #expect(runs.compactMap { $0["scenario"] as? String } == ["a-poisoning", "b-tampering", "c-split-dose", "d-since-root", "e-fade-return", "f-merge", "g-numerics"])
    #expect(runs.first?["poison_rank"] as? Int != nil && runs.first?["control_bit_exact"] as? Bool == true, "\(runs.first ?? [:])")
    #expect((runs.last?["replay"] as? String)?.contains("threads: 1 → 2") == true)
    let human = try lineage(["bench", "blame", "--seeds", "1", "--size", "tiny"], in: dir.path)
    #expect(human.stdout.contains("a-poisoning") && human.stdout.contains("total"))
    let bad = try lineage(["bench", "blame", "--size", "huge"], in: dir.path, expect: 64)
    #expect(bad.stderr.contains("--size must be standard or tiny"))
  }
}
