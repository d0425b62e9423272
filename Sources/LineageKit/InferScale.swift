import Foundation
import LineageCore
import LineageForensics
import LineageRuntime
import LineageTensor

/// One timed query of the scale benchmark.
public struct InferScaleQuery: Sendable {
  /// What the query is ("fine-tune of m123", "permuted copy of m45").
  public var description: String
  /// The stored model it was derived from, and whether infer named it as the parent.
  public var truth: String
  public var parentFound: Bool
  /// Whether the true parent was in the shortlist.
  public var shortlisted: Bool
  public var screened: Int
  public var testedInFull: Int
  public var querySeconds: Double
  public var screeningSeconds: Double
  public var fullTestSeconds: Double
  /// Everything but reading and sketching the query.
  public var secondsBeyondQuery: Double { screeningSeconds + fullTestSeconds }
}

/// What `lineage bench infer-scale` measured (Docs/Benchmarks.md).
public struct InferScaleResult: Sendable {
  public var models: Int
  public var families: Int
  public var parameters: Int
  /// Seconds to write and commit the lake, and the sketch time inside those commits.
  public var commitSeconds: Double
  public var sketchSeconds: Double
  public var queries: [InferScaleQuery]
  /// The exhaustive path on `exhaustiveModels` candidates (nil when skipped) and its seconds.
  public var exhaustiveModels: Int?
  public var exhaustiveSeconds: Double?
}

/// The recall of sketch screening: whether each declared parent is in its child's shortlist.
public struct ShortlistRecall: Sendable {
  /// Children queried, and parents (a merge has two) found in their shortlist.
  public var queries: Int
  public var parents: Int
  public var parentsShortlisted: Int
  /// "child: parent not shortlisted (rank by distance R, by profile S)".
  public var misses: [String]
}

public enum InferScaleBenchmark {
  /// The model every lake member shares (about 24,000 parameters: 100 KB of safetensors).
  public static let architecture = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)

  /// `p` with the MLP hidden units of every layer permuted (gate and up rows, down columns):
  /// the same function, and a naive tensor comparison sees an unrelated model.
  public static func permuteHiddenUnits(_ p: Parameters, architecture a: Architecture, seed: UInt64) -> Parameters {
    var out = p
    var rng = Xoshiro(seed: seed)
    for layer in 0..<a.layers {
      var perm = Array(0..<a.intermediate)
      for i in stride(from: perm.count - 1, to: 0, by: -1) { perm.swapAt(i, rng.below(i + 1)) }
      let prefix = "model.layers.\(layer).mlp."
      for name in ["gate_proj.weight", "up_proj.weight"] {
        guard let v = p.tensor(prefix + name) else { continue }
        let cols = v.count / a.intermediate
        var w = v
        for r in 0..<a.intermediate { w.replaceSubrange((r * cols)..<((r + 1) * cols), with: v[(perm[r] * cols)..<((perm[r] + 1) * cols)]) }
        out.setTensor(prefix + name, w)
      }
      if let v = p.tensor(prefix + "down_proj.weight") {
        let rows = v.count / a.intermediate
        var w = v
        for r in 0..<rows {
          for c in 0..<a.intermediate { w[r * a.intermediate + c] = v[r * a.intermediate + perm[c]] }
        }
        out.setTensor(prefix + "down_proj.weight", w)
      }
    }
    return out
  }

  /// `p` plus seeded N(0, scale²) noise: a cheap stand-in for a fine-tune (timing needs no training).
  public static func perturbed(_ p: Parameters, seed: UInt64, scale: Float) -> Parameters {
    var out = p
    var rng = Xoshiro(seed: seed)
    for i in out.values.indices { out.values[i] += scale * rng.normal() }
    return out
  }

  /// Commit `models` models into a new repository at `directory` (families of ten: a root from
  /// a seeded initialisation, fine-tunes and chains by perturbation), then time `infer` of a
  /// fine-tune and of a permuted copy of stored models against all of them through sketches, and
  /// the exhaustive path on `exhaustiveSample` of them (0: skipped).
  public static func run(
    directory: String, models: Int, seed: UInt64, shortlist: Int, exhaustiveSample: Int, progress: (String) -> Void = { _ in }
  ) throws -> InferScaleResult {
    let repo = try Repository.initialize(at: directory)
    let arch = architecture
    var time: Int64 = 1_767_322_800
    var stored: [String: Parameters] = [:]
    var names: [String] = []
    var sketchSeconds = 0.0
    let start = DispatchTime.now().uptimeNanoseconds
    func commit(_ name: String, _ p: Parameters, parent: String?) throws {
      let dir = "\(directory)/models/\(name)"
      try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir)
      var o = CommitOptions(paths: [dir], message: name, author: "bench", time: time)
      time += 1
      o.parents = parent.map { [ParentSpec(revision: $0, relation: .finetune)] } ?? []
      o.tags = [name]
      let s = try repo.commit(o)
      if case .stored(_, _, let seconds) = s.sketch { sketchSeconds += seconds }
      try? FileManager.default.removeItem(atPath: dir)
      stored[name] = p
      names.append(name)
    }
    let families = max(1, models / 10)
    var k = 0
    for f in 0..<families {
      progress("family \(f + 1) of \(families)")
      let root = perturbed(Parameters.initialise(arch, seed: seed &+ UInt64(f) &* 7919), seed: seed &+ UInt64(f) &* 7919 &+ 1, scale: 0.02)
      let rootName = "m\(k)"
      try commit(rootName, root, parent: nil)
      k += 1
      var previous = rootName
      while k < min(models, (f + 1) * 10) || (f == families - 1 && k < models) {
        // Alternate siblings of the root and chains below the previous model.
        let parent = k % 2 == 0 ? previous : rootName
        guard let base = stored[parent] else { break }
        let name = "m\(k)"
        try commit(name, perturbed(base, seed: seed &+ UInt64(k) &* 104_729, scale: 0.004), parent: parent)
        previous = name
        k += 1
      }
    }
    let commitSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    var rng = Xoshiro(seed: seed &+ 99)
    var queries: [InferScaleQuery] = []
    let fineTuneOf = names[rng.below(names.count)]
    let permutedOf = names[rng.below(names.count)]
    let cases: [(String, String, Parameters)] = [
      ("fine-tune of \(fineTuneOf)", fineTuneOf, perturbed(stored[fineTuneOf] ?? Parameters.initialise(arch, seed: 0), seed: seed &+ 7, scale: 0.004)),
      (
        "permuted copy of \(permutedOf)", permutedOf,
        permuteHiddenUnits(perturbed(stored[permutedOf] ?? Parameters.initialise(arch, seed: 0), seed: seed &+ 8, scale: 0.002), architecture: arch, seed: seed &+ 9)
      ),
    ]
    var exhaustiveSeconds: Double?
    var exhaustiveModels: Int?
    for (n, (description, truth, p)) in cases.enumerated() {
      progress("infer: \(description)")
      let dir = "\(directory)/queries/q\(n)"
      try RunnableModel(label: "q\(n)", architecture: arch, parameters: p).write(to: dir)
      let query = try Repository.modelTensors(atPath: dir)
      var screening = ScreeningOptions()
      screening.shortlist = shortlist
      let r = try repo.inferScreened(query, screening: screening)
      func tag(_ label: String) -> String { String(label.split(separator: " ").first ?? "") }
      let parent = r.matches.first { $0.candidate.queryIsChild == true && ![.related, .unrelated].contains($0.candidate.relation) }
      queries.append(
        InferScaleQuery(
          description: description, truth: truth, parentFound: parent.map { tag($0.candidate.label) } == truth,
          shortlisted: r.screened.contains { $0.shortlisted && tag($0.label) == truth }, screened: r.screened.count,
          testedInFull: r.testedInFull, querySeconds: r.querySeconds, screeningSeconds: r.screeningSeconds,
          fullTestSeconds: r.fullTestSeconds))
      if n == 0, exhaustiveSample > 0 {
        progress("infer --no-sketch against \(min(exhaustiveSample, names.count)) models")
        var sample = names
        for i in stride(from: sample.count - 1, to: 0, by: -1) { sample.swapAt(i, rng.below(i + 1)) }
        let among = Array(sample.prefix(exhaustiveSample))
        let t = DispatchTime.now().uptimeNanoseconds
        _ = try repo.infer(query, among: among)
        exhaustiveSeconds = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
        exhaustiveModels = among.count
      }
    }
    return InferScaleResult(
      models: names.count, families: families, parameters: Parameters.initialise(arch, seed: 0).values.count, commitSeconds: commitSeconds,
      sketchSeconds: sketchSeconds, queries: queries, exhaustiveModels: exhaustiveModels, exhaustiveSeconds: exhaustiveSeconds)
  }

  /// For every commit with declared parents, screen its model against the rest of the store and
  /// check that each parent is in the shortlist of `shortlist` (e.g. on `bench infer`'s lake).
  public static func recall(_ repo: Repository, shortlist: Int) throws -> ShortlistRecall {
    var r = ShortlistRecall(queries: 0, parents: 0, parentsShortlisted: 0, misses: [])
    for info in try repo.ancestry(from: try repo.allRefTargets()) where !info.record.parents.isEmpty {
      let query = try repo.modelTensors(revision: info.id.hex)
      guard !query.items.isEmpty else { continue }
      let screened = try repo.screen(query, excluding: info.id, screening: ScreeningOptions(shortlist: shortlist)).screened
      r.queries += 1
      for p in info.record.parents {
        r.parents += 1
        if screened.contains(where: { $0.commit == p.id && $0.shortlisted }) {
          r.parentsShortlisted += 1
        } else {
          let byDistance = screened.sorted { $0.estimate.distance < $1.estimate.distance }.firstIndex { $0.commit == p.id }
          r.misses.append("\(info.id.short): parent \(p.id.short) not shortlisted (rank by distance \(byDistance.map { String($0 + 1) } ?? "-"))")
        }
      }
    }
    return r
  }
}
