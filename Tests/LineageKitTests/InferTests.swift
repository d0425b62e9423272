import Foundation
import LineageForensics
import LineageKit
import LineageRuntime
import LineageTensor
import LineageTestSupport
import Testing

/// `infer` on a family made with the native runtime: the store holds base, two fine-tunes and an
/// independent model; each derived query (not in the store) must get its relation and parent.
@Suite struct InferTests {
  let arch = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)

  struct Family {
    let dir: TemporaryDirectory
    let repo: Repository
    let base: Parameters
    let ft1: Parameters
    let ft2: Parameters
  }

  func noisy(_ p: Parameters, seed: UInt64, scale: Float) -> Parameters {
    var out = p
    var rng = Xoshiro(seed: seed)
    for i in out.values.indices { out.values[i] += scale * rng.normal() }
    return out
  }

  func family() throws -> Family {
    let dir = TemporaryDirectory()
    let repo = try Repository.initialize(at: dir.path)
    let base = noisy(Parameters.initialise(arch, seed: 1), seed: 2, scale: 0.02)
    let ft1 = noisy(base, seed: 3, scale: 0.004)
    let ft2 = noisy(base, seed: 4, scale: 0.004)
    let other = noisy(Parameters.initialise(arch, seed: 5), seed: 6, scale: 0.02)
    for (name, p, parents) in [("base", base, [String]()), ("ft1", ft1, ["base"]), ("ft2", ft2, ["base"]), ("other", other, [])] {
      try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file("m/\(name)"))
      _ = try repo.commit(commitOptions([dir.file("m/\(name)")], name, parents: parents, tags: [name]))
    }
    return Family(dir: dir, repo: repo, base: base, ft1: ft1, ft2: ft2)
  }

  func infer(_ f: Family, _ p: Parameters, _ name: String) throws -> [InferredCandidate] {
    try RunnableModel(label: name, architecture: arch, parameters: p).write(to: f.dir.file("q/\(name)"))
    return try f.repo.infer(try Repository.modelTensors(atPath: f.dir.file("q/\(name)"))).map(\.candidate)
  }

  func relation(_ r: [InferredCandidate], _ tag: String) -> InferredCandidate? { r.first { $0.label.hasPrefix("\(tag) (") } }

  @Test func eachDerivationIsNamedWithItsParent() throws {
    let f = try family()
    let q = try infer(f, Transform.int8RoundTrip(f.ft1), "q8")
    #expect(q.first?.label.hasPrefix("ft1 (") == true && q.first?.relation == .quantizedFrom && q.first?.queryIsChild == true)
    // The grid orients the pair on weights alone: the two-model direction score agrees.
    #expect((q.first?.directionConfidence ?? 0) > 0.9, "\(String(describing: q.first?.directionConfidence))")
    #expect(q.filter { $0.relation == .unrelated }.allSatisfy { $0.directionConfidence == nil })
    let pr = try infer(f, Transform.magnitudePrune(f.ft2, fraction: 0.5), "pruned")
    #expect(pr.first?.label.hasPrefix("ft2 (") == true && pr.first?.relation == .prunedFrom && pr.first?.queryIsChild == true)
    #expect((pr.first?.directionConfidence ?? 0) > 0.9)
    var adapter = try LowRankAdapter(
      base: f.base, targets: ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.up_proj.weight"], rank: 2, alpha: 4, seed: 7)
    var rng = Xoshiro(seed: 8)
    for i in adapter.values.indices { adapter.values[i] += 0.05 * rng.normal() }
    let lora = try infer(f, adapter.merged(into: f.base), "lora")
    let a = try #require(lora.first)
    #expect(a.label.hasPrefix("base (") && a.relation == .adapterOf && a.adapterRank == 2 && a.adapterLayers == [0, 1])
    let merged = try infer(f, try Transform.weightedAverage([(f.ft1, 0.3), (f.ft2, 0.7)]), "merge")
    let weights = merged.filter { $0.relation == .mergeOf }.sorted { $0.label < $1.label }.compactMap(\.mergeWeight)
    #expect(weights.count == 2 && abs(weights[0] - 0.3) < 1e-3 && abs(weights[1] - 0.7) < 1e-3, "\(merged.map { ($0.label, $0.relation) })")
    let tuned = try infer(f, noisy(f.ft1, seed: 9, scale: 0.002), "ft1-more")
    #expect(tuned.first?.label.hasPrefix("ft1 (") == true && tuned.first?.relation == .finetunedFrom)
    let fine = try #require(tuned.first?.directionConfidence)
    #expect(fine >= 0 && fine <= 1)
    #expect(relation(tuned, "other")?.relation == .unrelated)
    #expect(relation(tuned, "base")?.relation == .related)
  }

  /// `infer --null`: each candidate scored against an empirical null of independent models. The
  /// fine-tune's parent is past every null pair (p = 1/(N+1)); the unrelated model is not; a null
  /// of another tensor signature scores nothing and says why.
  @Test func candidatesAreCalibratedAgainstAnEmpiricalNull() throws {
    let f = try family()
    let models = try (100...104).map { k -> ModelTensors in
      try RunnableModel(label: "n\(k)", architecture: arch, parameters: Parameters.initialise(arch, seed: UInt64(k))).write(to: f.dir.file("null/n\(k)"))
      return try Repository.modelTensors(atPath: f.dir.file("null/n\(k)"))
    }
    let null = try Repository.buildNull(models)
    #expect(null.pairs.count == 10)
    try RunnableModel(label: "q", architecture: arch, parameters: noisy(f.ft1, seed: 9, scale: 0.002)).write(to: f.dir.file("q/q"))
    let query = try Repository.modelTensors(atPath: f.dir.file("q/q"))
    let matches = try f.repo.infer(query)
    let scores = try f.repo.scoreMatches(query, matches, null: null)
    #expect(scores.map(\.commit) == matches.map(\.commit))
    let byTag = Dictionary(uniqueKeysWithValues: zip(matches.map { String($0.candidate.label.prefix { $0 != " " }) }, scores))
    let parent = try #require(byTag["ft1"]?.units?.summary)
    #expect(parent.pValue == 1.0 / 11 && parent.atLeastAsExtreme == 0)
    let unrelated = try #require(byTag["other"]?.units?.summary)
    #expect(unrelated.pValue > 1.0 / 11)
    // A null of another architecture: every candidate reported, none scored.
    let small = Architecture.transformer(vocab: 16, context: 8, hidden: 16, layers: 1, heads: 2, intermediate: 32)
    let others = try (200...202).map { k -> ModelTensors in
      try RunnableModel(label: "s\(k)", architecture: small, parameters: Parameters.initialise(small, seed: UInt64(k))).write(to: f.dir.file("small/s\(k)"))
      return try Repository.modelTensors(atPath: f.dir.file("small/s\(k)"))
    }
    let wrong = try f.repo.scoreMatches(query, matches, null: try Repository.buildNull(others))
    #expect(wrong.count == matches.count && wrong.allSatisfy { $0.score == nil && ($0.unavailable ?? "").contains("signature") })
  }

  /// A vocabulary sliced to its first 12 tokens, or extended by 8 new ones (the token tables and
  /// the head change shape; every other tensor is ft1's): still related to ft1, which ranks first
  /// with a significant unit-matching p-value, and unrelated to the independent model.
  @Test func aVocabularySlicedOrExtendedIsStillRelated() throws {
    let f = try family()
    for vocab in [12, 24] {
      let resized = Architecture.transformer(vocab: vocab, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)
      var p = Parameters.initialise(resized, seed: 50)
      var rng = Xoshiro(seed: 51)
      for spec in p.layout.specs {
        let old = try #require(f.ft1.tensor(spec.name))
        if old.count == spec.count {
          p.setTensor(spec.name, old)
        } else {
          // Rows of `hidden` (or single values for the bias): the first ones kept, new ones drawn.
          let width = spec.shape.count == 2 ? spec.shape[1] : 1
          let rows = spec.count / width
          let keep = min(rows, old.count / width)
          p.setTensor(spec.name, Array(old.prefix(keep * width)) + (0..<((rows - keep) * width)).map { _ in 0.02 * rng.normal() })
        }
      }
      let r = try infer(f, p, "vocab\(vocab)")
      let first = try #require(r.first)
      #expect(first.label.hasPrefix("ft1 (") && first.relation != .unrelated, "vocab \(vocab): \(r.map { ($0.label, $0.relation) })")
      #expect((first.logP ?? 0) < log(0.01))
      #expect(relation(r, "other")?.relation == .unrelated)
    }
  }

  @Test func aCopyIsIdenticalAndADtypeChangeIsAConversion() throws {
    let f = try family()
    let same = try infer(f, f.ft2, "copy")
    #expect(same.first?.relation == .identical && same.first?.label.hasPrefix("ft2 (") == true)
    // The same weights in BF16 (rounded by the safetensors package's rule: round to nearest even).
    let names = f.ft1.layout.specs
    let header = SafetensorsWriter.header(names.map { .init(name: $0.name, dtype: .bf16, shape: $0.shape.map { UInt64($0) }) })
    var bytes = header
    for v in f.ft1.values {
      let b = SyntheticCheckpoint.bf16Bits(v)
      bytes += [UInt8(b & 0xFF), UInt8(b >> 8)]
    }
    let path = f.dir.write("bf16/model.safetensors", bytes)
    let r = try f.repo.infer(try Repository.modelTensors(atPath: (path as NSString).deletingLastPathComponent)).map(\.candidate)
    #expect(r.first?.relation == .converted && r.first?.label.hasPrefix("ft1 (") == true, "\(r.map { ($0.label, $0.relation) })")
  }

  /// `infer --record`: the verdict is a record on refs/inferred that descendants can follow,
  /// that satisfies require_declared_parents, survives gc, and is replaced by a newer one.
  @Test func aRecordedVerdictIsFollowedAndSatisfiesThePolicy() throws {
    let f = try family()
    try RunnableModel(label: "q8", architecture: arch, parameters: Transform.int8RoundTrip(f.ft1)).write(to: f.dir.file("m/q8"))
    _ = try f.repo.commit(commitOptions([f.dir.file("m/q8")], "a download", tags: ["q8"], time: 1_767_322_900))
    let q8 = try f.repo.resolve("q8")
    let policy = try Policy.load(f.dir.write("p.toml", Array("[policy]\nrequire_declared_parents = true\n".utf8)))
    func rules() throws -> [String] {
      try f.repo.checkPolicy(revision: "q8", policy: policy, signers: nil).candidates.flatMap { $0.violations.map(\.rule) }
    }
    #expect(try rules() == ["require_declared_parents"])
    #expect(try f.repo.descendants(of: "ft1").descendants.isEmpty)
    let matches = try f.repo.infer(try f.repo.modelTensors(revision: "q8"), excluding: q8)
    let recorded = try f.repo.recordInference(child: q8, matches: matches, author: "auditor <a@example.com>", time: 1_767_323_000, key: nil)
    #expect(recorded.edges == 1)
    let edges = try f.repo.inferredEdges()
    let ft1 = try f.repo.resolve("ft1")
    #expect(edges.count == 1 && edges.first?.parent == ft1 && edges.first?.relation == "quantized-from")
    #expect(try rules().isEmpty)
    let followed = try f.repo.descendants(of: "ft1", followInferred: true)
    #expect(followed.descendants.map(\.id) == [q8] && followed.descendants.first?.via.inferred == "quantized-from")
    #expect(try f.repo.descendants(of: "ft1").descendants.isEmpty)
    _ = try f.repo.gc(refsOnly: false)
    #expect(try f.repo.inferredEdges().count == 1)
    // A second verdict for the same child replaces the first (here: nothing among `base` alone).
    let again = try f.repo.infer(try f.repo.modelTensors(revision: "q8"), among: ["other"], excluding: q8)
    _ = try f.repo.recordInference(child: q8, matches: again, author: "auditor <a@example.com>", time: 1_767_323_100, key: nil)
    #expect(try f.repo.inferredEdges().isEmpty)
    #expect(try f.repo.inferenceVerdicts()[q8] != nil)
    #expect(try rules().isEmpty)
  }
}
