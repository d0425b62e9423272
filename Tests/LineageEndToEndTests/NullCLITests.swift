import Foundation
import LineageKit
import LineageRuntime
import LineageTensor
import LineageTestSupport
import Testing

/// `lineage null build` and `lineage score` on runtime models written as directories, outside a
/// repository (paths need no store).
@Suite struct NullCLITests {
  @Test func aNullIsBuiltAndARelatedPairScoresAtItsFloor() throws {
    let dir = TemporaryDirectory("lineage-null-cli")
    let d = dir.path
    let arch = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)
    func write(_ p: Parameters, _ name: String) throws {
      try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file(name))
    }
    let seeds = 100...103
    for seed in seeds { try write(Parameters.initialise(arch, seed: UInt64(seed)), "m\(seed)") }
    let base = Parameters.initialise(arch, seed: 200)
    var tuned = base
    var rng = Xoshiro(seed: 201)
    for i in tuned.values.indices { tuned.values[i] += 0.01 * rng.normal() }
    try write(base, "base")
    try write(tuned, "tuned")

    let build = ["null", "build"] + seeds.map { "m\($0)" } + ["--out", "nulls/small", "--architecture", "tiny", "--json"]
    let built = try #require(parseJSON(try lineage(build, in: d).stdout) as? [String: Any])
    #expect(built["pairs"] as? Int == 6 && (built["models"] as? [String])?.count == 4 && built["architecture"] as? String == "tiny")
    #expect(built["smallest_p_value"] as? Double == 1.0 / 7 && built["format"] as? String == "lineage-null/1")
    #expect(FileManager.default.fileExists(atPath: "\(d)/nulls/small/null.json"))

    let scoring = try lineage(["score", "base", "tuned", "--null", "nulls/small", "--json"], in: d)
    let scored = try #require(parseJSON(scoring.stdout) as? [String: Any])
    #expect(scored["smallest_p_value"] as? Double == 1.0 / 7 && (scored["null"] as? [String: Any])?["pairs"] as? Int == 6)
    let statistics = try #require(scored["statistics"] as? [[String: Any]])
    #expect(statistics.compactMap { $0["name"] as? String } == [
      "mean_cosine", "mean_pearson", "mean_cka", "mean_spectrum", "unit_agreement", "unit_aligned_similarity", "unit_neg_log_p",
    ])
    let cka = try #require(statistics.first { $0["name"] as? String == "mean_cka" })
    #expect(cka["p_value"] as? Double == 1.0 / 7 && cka["null_size"] as? Int == 6 && cka["at_least_as_extreme"] as? Int == 0)
    #expect((cka["z_score"] as? Double ?? 0) > 5 && cka["analytic_p_value"] is NSNull)
    let units = try #require(statistics.first { $0["name"] as? String == "unit_neg_log_p" })
    #expect((units["analytic_log10_p"] as? Double ?? 0) < -20)

    let text = try lineage(["score", "base", "tuned", "--null", "nulls/small/null.json"], in: d).stdout
    #expect(text.contains("The smallest p-value this null can give is 1/7") && text.contains("0.143 = 1/7"), "\(text)")
    #expect(!text.lowercased().contains("confidence"))

    let few = try lineage(["null", "build", "m100", "m101", "--out", "two"], in: d, expect: 4)
    #expect(few.stderr.contains("needs at least 3 independent models, got 2"))
    try FileManager.default.createDirectory(atPath: dir.file("bad"), withIntermediateDirectories: true)
    dir.write("bad/null.json", Array(#"{"format": "lineage-null/9"}"#.utf8))
    let bad = try lineage(["score", "base", "tuned", "--null", "bad"], in: d, expect: 4)
    #expect(bad.stderr.contains("is not lineage-null/1") && bad.stderr.contains("hint: build a null"))

    // infer --null: base stored, the tuned download calibrated against the same null.
    try lineage(["init"], in: d)
    try lineage(["commit", "base", "-m", "base", "--tag", "base", "--no-sign"], in: d)
    let inferred = try #require(parseJSON(try lineage(["infer", "tuned", "--null", "nulls/small", "--json"], in: d).stdout) as? [String: Any])
    #expect((inferred["null"] as? [String: Any])?["pairs"] as? Int == 6)
    let first = try #require((inferred["candidates"] as? [[String: Any]])?.first)
    let empirical = try #require(first["empirical"] as? [String: Any])
    #expect(empirical["statistic"] as? String == "unit_neg_log_p" && empirical["p_value"] as? Double == 1.0 / 7 && empirical["null_size"] as? Int == 6)
    let table = try lineage(["infer", "tuned", "--null", "nulls/small"], in: d).stdout
    #expect(table.contains("null p = (1+k)/(N+1)") && table.contains("0.143 = 1/7") && table.contains("smallest p-value it can give is 1/7"), "\(table)")
    let refused = try lineage(["infer", "--all", "--null", "nulls/small"], in: d, expect: 64)
    #expect(refused.stderr.contains("does not apply to --all"))
  }
}
