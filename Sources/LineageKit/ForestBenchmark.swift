import Foundation
import LineageCore
import LineageForensics
import LineageRuntime
import LineageTensor

/// The accuracy of one method of `infer --all` on a generated lake (Docs/Benchmarks.md).
public struct ForestScore: Sendable {
  /// Σ over inferred families of the largest overlap with one true family, over the models.
  public var purityHits: Int
  public var models: Int
  /// True tree edges (every derived model but the merges, to its one parent).
  public var treeEdges: Int
  /// Of those, found as an undirected edge, and found parent → child.
  public var placed: Int
  public var directed: Int
  /// Directed hits split: edges whose child differs structurally (quantized, pruned, permuted),
  /// and fine-tune edges (fine-tunes, chains, adapters), which only trends and priors orient.
  public var structuralEdges: Int
  public var structuralDirected: Int
  public var finetuneEdges: Int
  public var finetuneDirected: Int
  /// Adapters (tree edges whose child is a low-rank adapter of its parent), those whose edge is
  /// named `adapter-of`, and edges named `adapter-of` whose child is no adapter.
  public var adapters: Int = 0
  public var adaptersNamed: Int = 0
  public var adapterFalse: Int = 0
  public var merges: Int
  /// Merges whose inferred parents are exactly the two true parents.
  public var mergesRecovered: Int
  /// Pairs of models from different true families, and those put in one inferred family (for
  /// lineage: judged related by the test).
  public var unrelatedPairs: Int
  public var falseRelations: Int
  /// Kolmogorov–Smirnov distance of the unrelated pairs' p-values from uniform (lineage only).
  public var ksDistance: Double?
  public var seconds: Double
  /// Wrong edges: "child: true parent P, inferred Q".
  public var misses: [String]
}

/// One lake, both methods.
public struct ForestBenchmarkResult: Sendable {
  public var families: Int
  public var unrelatedRoots: Int
  public var models: Int
  public var seed: UInt64
  public var lineage: ForestScore
  public var mother: ForestScore
}

public enum ForestBenchmark {
  /// Train `families` families (below) and `unrelated` lone roots with the native runtime, commit
  /// them into a new repository under `directory` with their declared parents, and run
  /// `infer --all` on weights alone (no declared parents, no commit times) and MoTHer's
  /// algorithm given the true number of families.
  ///
  /// A family: a root (80 steps on a Markov chain); fine-tunes A and B on two other tasks
  /// (20–60 steps, drawn per family); a chain A → A2 (30 steps) → A3 (20 steps); a rank-4 adapter
  /// of the root (40 steps); int8 of B; 4-bit of A2; A pruned by 30–50%; B with permuted hidden
  /// units; a merge α·A + (1 − α)·B with α in 0.3–0.7.
  public static func run(
    directory: String, families: Int, unrelated: Int = 2, seed: UInt64, distance: PlacementDistance = .pooledL2,
    progress: (String) -> Void = { _ in }
  ) throws -> ForestBenchmarkResult {
    let repo = try Repository.initialize(at: directory)
    let arch = Architecture.transformer(vocab: 32, context: 16, hidden: 48, layers: 2, heads: 4, intermediate: 96)
    let model = try Demo.wrapRuntime { try Model(arch) }
    var parentsOf: [String: [String]] = [:]
    var familyOf: [String: Int] = [:]
    var structural: Set<String> = []
    var order: [String] = []
    var lake = LakeWriter(repository: repo, directory: directory, architecture: arch, model: model)
    func commit(_ name: String, _ p: Parameters, parents: [(String, ParentRelation)], f: Int) throws {
      try lake.commit(name, p, parents: parents)
      familyOf[name] = f
      parentsOf[name] = parents.map(\.0)
      order.append(name)
    }
    func train(_ p: inout Parameters, _ data: TokenDataset, steps: Int, seed: UInt64) throws {
      try lake.train(&p, data, steps: steps, seed: seed)
    }
    var rng = Xoshiro(seed: seed &+ 77)
    func draw(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }
    for f in 0..<(families + unrelated) {
      let s = seed &* 1_000_003 &+ UInt64(f) &* 1000
      let n = f < families ? "f\(f)" : "u\(f - families)"
      progress("training \(n) (\(f + 1) of \(families + unrelated))")
      let markov = Tasks.markov(vocab: 31, length: 16, count: 512, seed: s &+ 1, tableSeed: s &+ 2)
      var root = Parameters.initialise(arch, seed: s &+ 5)
      try train(&root, markov, steps: 80, seed: s &+ 6)
      try commit("\(n)-root", root, parents: [], f: f)
      guard f < families else { continue }
      let copy = Tasks.copy(vocab: 32, length: 16, count: 512, seed: s &+ 3, reversed: false)
      let reverse = Tasks.copy(vocab: 32, length: 16, count: 512, seed: s &+ 4, reversed: true)
      var a = root
      try train(&a, copy, steps: draw(20...60), seed: s &+ 7)
      try commit("\(n)-a", a, parents: [("\(n)-root", .finetune)], f: f)
      var b = root
      try train(&b, reverse, steps: draw(20...60), seed: s &+ 8)
      try commit("\(n)-b", b, parents: [("\(n)-root", .finetune)], f: f)
      var a2 = a
      try train(&a2, markov, steps: 30, seed: s &+ 9)
      try commit("\(n)-a2", a2, parents: [("\(n)-a", .finetune)], f: f)
      var a3 = a2
      try train(&a3, reverse, steps: 20, seed: s &+ 12)
      try commit("\(n)-a3", a3, parents: [("\(n)-a2", .finetune)], f: f)
      var adapter = try Demo.wrapRuntime {
        try LowRankAdapter(base: root, targets: ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.up_proj.weight"], rank: 4, alpha: 8, seed: s &+ 10)
      }
      var adapterOpt = try Demo.wrapRuntime { try Optimizer(.adam(learningRate: 5e-3), count: adapter.values.count) }
      _ = try Demo.wrapRuntime {
        try Trainer.train(model, adapter: &adapter, base: root, data: copy, optimizer: &adapterOpt, steps: 40, batchSize: 16, seed: s &+ 11)
      }
      try commit("\(n)-lora", adapter.merged(into: root), parents: [("\(n)-root", .lora)], f: f)
      try commit("\(n)-int8", Transform.int8RoundTrip(b), parents: [("\(n)-b", .quantize)], f: f)
      try commit("\(n)-int4", Transform.int4RoundTrip(a2), parents: [("\(n)-a2", .quantize)], f: f)
      try commit("\(n)-pruned", Transform.magnitudePrune(a, fraction: Double(draw(30...50)) / 100), parents: [("\(n)-a", .prune)], f: f)
      try commit("\(n)-permuted", Transform.permuteHiddenUnits(b, seed: s &+ 13), parents: [("\(n)-b", .finetune)], f: f)
      structural.formUnion(["\(n)-int8", "\(n)-int4", "\(n)-pruned", "\(n)-permuted"])
      let alpha = Float(draw(30...70)) / 100
      let merged = try Demo.wrapRuntime { try Transform.weightedAverage([(a, alpha), (b, 1 - alpha)]) }
      try commit("\(n)-merge", merged, parents: [("\(n)-a", .merge), ("\(n)-b", .merge)], f: f)
    }
    let truth = Truth(order: order, parents: parentsOf, family: familyOf, structural: structural)
    var options = ForestOptions()
    options.distance = distance
    progress("infer --all (lineage, weights only)")
    var start = DispatchTime.now().uptimeNanoseconds
    let lineage = try repo.inferForest(revisions: order, priors: false, options: options)
    let lineageSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    progress("infer --all --mother --families \(families + unrelated)")
    options.method = .mother(families: families + unrelated)
    start = DispatchTime.now().uptimeNanoseconds
    let mother = try repo.inferForest(revisions: order, priors: false, options: options)
    let motherSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return ForestBenchmarkResult(
      families: families, unrelatedRoots: unrelated, models: order.count, seed: seed,
      lineage: truth.score(lineage.forest, seconds: lineageSeconds), mother: truth.score(mother.forest, seconds: motherSeconds))
  }

  /// The lake's true forest, by model name (the node labels are the tags).
  struct Truth {
    var order: [String]
    var parents: [String: [String]]
    var family: [String: Int]
    var structural: Set<String>

    func score(_ forest: ForestResult, seconds: Double) -> ForestScore {
      let name = forest.nodes.map(\.label)
      var s = ForestScore(
        purityHits: 0, models: name.count, treeEdges: 0, placed: 0, directed: 0, structuralEdges: 0, structuralDirected: 0,
        finetuneEdges: 0, finetuneDirected: 0, merges: 0, mergesRecovered: 0, unrelatedPairs: 0, falseRelations: 0, ksDistance: nil,
        seconds: seconds, misses: [])
      for members in forest.families {
        var counts: [Int: Int] = [:]
        for m in members { counts[family[name[m]] ?? -1, default: 0] += 1 }
        s.purityHits += counts.values.max() ?? 0
      }
      var undirected = Set<String>()
      var directed = Set<String>()
      var inferredParents: [String: [String]] = [:]
      for e in forest.edges where e.relation == .adapterOf && !name[e.child].hasSuffix("-lora") { s.adapterFalse += 1 }
      for e in forest.edges {
        let (p, c) = (name[e.parent], name[e.child])
        undirected.insert([p, c].sorted().joined(separator: "|"))
        directed.insert("\(p)>\(c)")
        inferredParents[c, default: []].append(p)
      }
      for child in order {
        guard let ps = parents[child], !ps.isEmpty else { continue }
        if ps.count >= 2 {
          s.merges += 1
          let got = forest.edges.filter { name[$0.child] == child && $0.relation == .mergeOf }.map { name[$0.parent] }.sorted()
          if got == ps.sorted() { s.mergesRecovered += 1 } else { s.misses.append("\(child): merge of \(ps.joined(separator: "+")), inferred \(got.isEmpty ? "none" : got.joined(separator: "+"))") }
          continue
        }
        let p = ps[0]
        s.treeEdges += 1
        let isStructural = structural.contains(child)
        if child.hasSuffix("-lora") {
          s.adapters += 1
          if forest.edges.contains(where: { name[$0.parent] == p && name[$0.child] == child && $0.relation == .adapterOf }) { s.adaptersNamed += 1 }
        }
        if isStructural { s.structuralEdges += 1 } else { s.finetuneEdges += 1 }
        if undirected.contains([p, child].sorted().joined(separator: "|")) { s.placed += 1 }
        if directed.contains("\(p)>\(child)") {
          s.directed += 1
          if isStructural { s.structuralDirected += 1 } else { s.finetuneDirected += 1 }
        } else {
          s.misses.append("\(child): parent \(p), inferred \((inferredParents[child] ?? []).joined(separator: "+").isEmpty ? "none (a root)" : (inferredParents[child] ?? []).joined(separator: "+"))")
        }
      }
      let index = Dictionary(uniqueKeysWithValues: name.enumerated().map { ($1, $0) })
      let inferredFamily = Dictionary(uniqueKeysWithValues: forest.nodes.enumerated().map { ($0, $1.family) })
      let tested = Dictionary(forest.pairs.map { ("\($0.a)|\($0.b)", $0) }, uniquingKeysWith: { x, _ in x })
      var nullP: [Double] = []
      for (x, a) in name.enumerated() {
        for b in name[(x + 1)...] where family[a] != family[b] {
          s.unrelatedPairs += 1
          guard let i = index[a], let j = index[b] else { continue }
          if forest.pairs.isEmpty {
            if inferredFamily[i] == inferredFamily[j] { s.falseRelations += 1 }
          } else if let p = tested["\(min(i, j))|\(max(i, j))"] {
            if p.related { s.falseRelations += 1 }
            nullP.append(p.pValue)
          }
        }
      }
      if !nullP.isEmpty {
        let sorted = nullP.sorted()
        var ks = 0.0
        for (i, p) in sorted.enumerated() {
          ks = max(ks, abs(Double(i + 1) / Double(sorted.count) - p), abs(p - Double(i) / Double(sorted.count)))
        }
        s.ksDistance = ks
      }
      return s
    }
  }
}
