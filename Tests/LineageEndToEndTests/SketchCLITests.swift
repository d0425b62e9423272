import Foundation
import LineageKit
import LineageRuntime
import LineageTestSupport
import Testing

/// `lineage sketch`, `commit --no-sketch` and `infer --shortlist / --no-sketch` through the built
/// binary, in a repository of its own (its own HOME).
@Suite(.serialized) struct SketchCLITests {
  @Test func sketchesAreBackfilledAndInferScreensWithThem() throws {
    let dir = TemporaryDirectory("lineage-sketch")
    let d = dir.path
    let arch = InferScaleBenchmark.architecture
    let base = InferScaleBenchmark.perturbed(Parameters.initialise(arch, seed: 1), seed: 2, scale: 0.02)
    let ft = InferScaleBenchmark.perturbed(base, seed: 3, scale: 0.004)
    let models: [(String, Parameters)] = [("base", base), ("ft", ft)] + (0..<4).map { ("other\($0)", InferScaleBenchmark.perturbed(Parameters.initialise(arch, seed: 50 + UInt64($0)), seed: 9, scale: 0.02)) }
    for (name, p) in models { try RunnableModel(label: name, architecture: arch, parameters: p).write(to: "\(d)/m/\(name)") }
    try RunnableModel(label: "q", architecture: arch, parameters: InferScaleBenchmark.perturbed(ft, seed: 4, scale: 0.002)).write(to: "\(d)/q")
    try lineage(["init"], in: d)
    try lineage(["commit", "m/base", "-m", "base", "--tag", "base", "--no-environment", "--no-sketch"], in: d)
    let committed = try #require(parseJSON(try lineage(["commit", "m/ft", "-m", "ft", "--tag", "ft", "--no-environment", "--json"], in: d).stdout) as? [String: Any])
    #expect((committed["sketch"] as? [String: Any])?["tensors"] as? Int == Parameters.initialise(arch, seed: 0).layout.specs.count, "\(committed)")
    for i in 0..<4 { try lineage(["commit", "m/other\(i)", "-m", "other", "--tag", "other\(i)", "--no-environment", "--no-sketch"], in: d) }
    // Unsketched commits are sketched on the fly and said so.
    let before = try lineage(["infer", "q", "--shortlist", "2"], in: d)
    #expect(before.stdout.contains("screened 6 stored model(s) by sketch, tested 2 in full (5 had no stored sketch"), "\(before.stdout)")
    let added = try #require(parseJSON(try lineage(["sketch", "--all", "--json"], in: d).stdout) as? [String: Any])
    #expect(added["added"] as? Int == 5 && added["present"] as? Int == 1, "\(added)")
    let again = try #require(parseJSON(try lineage(["sketch", "--json"], in: d).stdout) as? [String: Any])
    #expect(again["added"] as? Int == 0 && again["present"] as? Int == 6)
    let screened = try #require(parseJSON(try lineage(["infer", "q", "--shortlist", "2", "--json"], in: d).stdout) as? [String: Any])
    let s = try #require(screened["screening"] as? [String: Any])
    #expect(s["screened_by_sketch"] as? Int == 6 && s["tested_in_full"] as? Int == 2 && s["sketched_now"] as? Int == 0, "\(s)")
    let first = try #require((screened["candidates"] as? [[String: Any]])?.first)
    #expect((first["candidate"] as? String)?.hasPrefix("ft (") == true && first["relation"] as? String == "finetuned-from", "\(first)")
    let exhaustive = try #require(parseJSON(try lineage(["infer", "q", "--no-sketch", "--json"], in: d).stdout) as? [String: Any])
    #expect(exhaustive["candidates_compared"] as? Int == 6 && exhaustive["screening"] is NSNull)
    try lineage(["fsck", "--full"], in: d)
    try lineage(["gc"], in: d)
    #expect(try lineage(["sketch", "--all"], in: d).stdout.contains("6 already sketched, 0 sketched now"))
    let bad = try lineage(["infer", "q", "--shortlist", "0"], in: d, expect: 64)
    #expect(bad.stderr.contains("--shortlist must be at least 1"))
  }
}
