import Foundation
import LineageCore
import LineageForensics
import LineageRuntime

/// The accuracy of `infer` on a generated model lake (Docs/Benchmarks.md): families trained with
/// the native runtime, every derived model inferred against all the others.
public struct InferBenchmarkResult: Sendable {
  public var families: Int
  public var models: Int
  /// Derived models queried (each against every other model of the lake).
  public var queries: Int
  /// Queries whose named parent is the true parent (for a merge: both parents named).
  public var parentCorrect: Int
  /// Queries whose relation is also the true one.
  public var relationCorrect: Int
  public var merges: Int
  public var mergesRecovered: Int
  /// Query–candidate pairs from different families, and those given any relation but unrelated.
  public var unrelatedPairs: Int
  public var falseRelations: Int
  /// Kolmogorov–Smirnov distance of those pairs' unit-matching p-values from uniform.
  public var ksDistance: Double
  /// Misplaced queries: "model: expected relation parent, got relation parent".
  public var misses: [String]
}

/// Writes and commits a generated lake's models (tagged by name, one second apart) and trains
/// them, for the forensics benchmarks.
struct LakeWriter {
  let repository: Repository
  let directory: String
  let architecture: Architecture
  let model: Model
  var time: Int64 = 1_767_322_800

  mutating func commit(_ name: String, _ p: Parameters, parents: [(String, ParentRelation)]) throws {
    let dir = "\(directory)/models/\(name)"
    try RunnableModel(label: name, architecture: architecture, parameters: p).write(to: dir)
    var o = CommitOptions(paths: [dir], message: name, author: "bench", time: time)
    time += 1
    o.parents = parents.map { ParentSpec(revision: $0.0, relation: $0.1) }
    o.tags = [name]
    _ = try repository.commit(o)
  }

  /// Adam at 3e-3, batches of 16.
  func train(_ p: inout Parameters, _ data: TokenDataset, steps: Int, seed: UInt64) throws {
    var opt = try Demo.wrapRuntime { try Optimizer(.adam(learningRate: 3e-3), count: p.values.count) }
    _ = try Demo.wrapRuntime { try Trainer.train(model, &p, data: data, optimizer: &opt, steps: steps, batchSize: 16, seed: seed) }
  }
}

public enum InferBenchmark {
  /// Train `families` families (root; two fine-tunes; a fine-tune of a fine-tune; a LoRA; int8;
  /// pruned; a merge), commit them into a new repository under `directory`, and infer each
  /// derived model against all the others.
  public static func run(directory: String, families: Int, seed: UInt64, progress: (String) -> Void = { _ in }) throws
    -> InferBenchmarkResult
  {
    let repo = try Repository.initialize(at: directory)
    let arch = Architecture.transformer(vocab: 32, context: 16, hidden: 48, layers: 2, heads: 4, intermediate: 96)
    let model = try Demo.wrapRuntime { try Model(arch) }
    var truth: [String: (parents: [String], relation: Relation)] = [:]
    var family: [String: Int] = [:]
    var lake = LakeWriter(repository: repo, directory: directory, architecture: arch, model: model)
    func commit(_ name: String, _ p: Parameters, parents: [(String, ParentRelation)], f: Int) throws {
      try lake.commit(name, p, parents: parents)
      family[name] = f
    }
    func train(_ p: inout Parameters, _ data: TokenDataset, steps: Int, seed: UInt64) throws {
      try lake.train(&p, data, steps: steps, seed: seed)
    }
    for f in 0..<families {
      let s = seed &+ UInt64(f) &* 1000
      progress("family \(f + 1) of \(families)")
      let markov = Tasks.markov(vocab: 31, length: 16, count: 512, seed: s &+ 1, tableSeed: s &+ 2)
      let copy = Tasks.copy(vocab: 32, length: 16, count: 512, seed: s &+ 3, reversed: false)
      let reverse = Tasks.copy(vocab: 32, length: 16, count: 512, seed: s &+ 4, reversed: true)
      let n = "f\(f)"
      var root = Parameters.initialise(arch, seed: s &+ 5)
      try train(&root, markov, steps: 80, seed: s &+ 6)
      try commit("\(n)-root", root, parents: [], f: f)
      var a = root
      try train(&a, copy, steps: 40, seed: s &+ 7)
      try commit("\(n)-ft-a", a, parents: [("\(n)-root", .finetune)], f: f)
      truth["\(n)-ft-a"] = (["\(n)-root"], .finetunedFrom)
      var b = root
      try train(&b, reverse, steps: 40, seed: s &+ 8)
      try commit("\(n)-ft-b", b, parents: [("\(n)-root", .finetune)], f: f)
      truth["\(n)-ft-b"] = (["\(n)-root"], .finetunedFrom)
      var chain = a
      try train(&chain, markov, steps: 30, seed: s &+ 9)
      try commit("\(n)-chain", chain, parents: [("\(n)-ft-a", .finetune)], f: f)
      truth["\(n)-chain"] = (["\(n)-ft-a"], .finetunedFrom)
      var adapter = try Demo.wrapRuntime {
        try LowRankAdapter(base: root, targets: ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.up_proj.weight"], rank: 4, alpha: 8, seed: s &+ 10)
      }
      var adapterOpt = try Demo.wrapRuntime { try Optimizer(.adam(learningRate: 5e-3), count: adapter.values.count) }
      _ = try Demo.wrapRuntime {
        try Trainer.train(model, adapter: &adapter, base: root, data: copy, optimizer: &adapterOpt, steps: 40, batchSize: 16, seed: s &+ 11)
      }
      try commit("\(n)-lora", adapter.merged(into: root), parents: [("\(n)-root", .lora)], f: f)
      truth["\(n)-lora"] = (["\(n)-root"], .adapterOf)
      try commit("\(n)-int8", Transform.int8RoundTrip(b), parents: [("\(n)-ft-b", .quantize)], f: f)
      truth["\(n)-int8"] = (["\(n)-ft-b"], .quantizedFrom)
      try commit("\(n)-pruned", Transform.magnitudePrune(a, fraction: 0.5), parents: [("\(n)-ft-a", .prune)], f: f)
      truth["\(n)-pruned"] = (["\(n)-ft-a"], .prunedFrom)
      let merged = try Demo.wrapRuntime { try Transform.weightedAverage([(a, 0.5), (b, 0.5)]) }
      try commit("\(n)-merge", merged, parents: [("\(n)-ft-a", .merge), ("\(n)-ft-b", .merge)], f: f)
      truth["\(n)-merge"] = (["\(n)-ft-a", "\(n)-ft-b"], .mergeOf)
    }
    var r = InferBenchmarkResult(
      families: families, models: family.count, queries: 0, parentCorrect: 0, relationCorrect: 0, merges: 0, mergesRecovered: 0,
      unrelatedPairs: 0, falseRelations: 0, ksDistance: 0, misses: [])
    var nullP: [Double] = []
    for name in truth.keys.sorted() {
      guard let t = truth[name], let f = family[name] else { continue }
      progress("infer \(name)")
      let id = try repo.resolve(name)
      let matches = try repo.infer(try repo.modelTensors(revision: name), excluding: id)
      func tag(_ c: InferredCandidate) -> String { String(c.label.split(separator: " ").first ?? "") }
      let parents = matches.map(\.candidate).filter { $0.queryIsChild == true && ![.related, .unrelated].contains($0.relation) }
      let named: [String]
      if t.relation == .mergeOf {
        named = parents.filter { $0.relation == .mergeOf }.map(tag).sorted()
        r.merges += 1
      } else {
        named = parents.first.map { [tag($0)] } ?? []
      }
      let got = parents.first
      r.queries += 1
      if named == t.parents.sorted() {
        r.parentCorrect += 1
        if got?.relation == t.relation { r.relationCorrect += 1 }
        if t.relation == .mergeOf { r.mergesRecovered += 1 }
      }
      if named != t.parents.sorted() || got?.relation != t.relation {
        r.misses.append("\(name): expected \(t.relation.rawValue) \(t.parents.joined(separator: "+")), got \(got?.relation.rawValue ?? "none") \(named.joined(separator: "+"))")
      }
      for m in matches where family[tag(m.candidate)] != f {
        r.unrelatedPairs += 1
        if m.candidate.relation != .unrelated { r.falseRelations += 1 }
        if let p = m.candidate.pValue { nullP.append(p) }
      }
    }
    let sorted = nullP.sorted()
    for (i, p) in sorted.enumerated() {
      r.ksDistance = max(r.ksDistance, abs(Double(i + 1) / Double(sorted.count) - p), abs(p - Double(i) / Double(sorted.count)))
    }
    return r
  }
}
