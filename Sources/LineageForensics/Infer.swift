import Foundation
import LineageCore
import LineageFormats

/// How a query model relates to a candidate (Docs/Forensics.md, "infer").
public enum Relation: String, Sendable, CaseIterable {
  /// Every shared tensor bit-identical, same dtypes, same tensor set.
  case identical
  /// The same values up to the rounding of another dtype (or another format).
  case converted
  /// One side's weights lie on a quantization grid (per-row symmetric int8, or a GGUF block type)
  /// and are close to the other's.
  case quantizedFrom = "quantized-from"
  /// One side is the other with weights set to exactly zero and the rest unchanged.
  case prunedFrom = "pruned-from"
  /// The difference is low-rank in every changed matrix (a merged adapter).
  case adapterOf = "adapter-of"
  /// The same weights with the hidden units of MLP blocks in another order (function-preserving).
  case permutedFrom = "permuted-from"
  /// The query is a non-negative combination of several candidates (a weight merge).
  case mergeOf = "merge-of"
  /// Related (unit matching), and the nearest related candidate.
  case finetunedFrom = "finetuned-from"
  /// Related, but not the nearest: an ancestor, a descendant or a sibling that two models alone
  /// do not place.
  case related
  /// No evidence of relatedness at the significance level.
  case unrelated
}

/// The evidence about one candidate.
public struct InferredCandidate: Sendable {
  public var label: String
  public var relation: Relation
  /// Which side is derived from the other: true when the query is the child (derived from the
  /// candidate), false when the candidate is, nil when the weights do not say.
  public var queryIsChild: Bool?
  /// Why the direction is what it is (or why it is unknown).
  public var directionBasis: String
  /// The weight that `infer --all`'s direction score, run on the query and this candidate alone
  /// (weights only), gives to `queryIsChild`'s orientation, in [0, 1]: near 1 the weights agree
  /// with it, near 0 they point the other way (Docs/Forensics.md). nil when not scored.
  public var directionConfidence: Double? = nil
  /// Fisher-combined unit-matching p-value against independence (and its log); nil without an
  /// MLP pair.
  public var pValue: Double?
  public var logP: Double?
  /// The log p-value Holm-adjusted over all candidates of the query: "related" means it is below
  /// log α.
  public var adjustedLogP: Double?
  /// Mean symmetric relative L2 over shared tensors (placement distance).
  public var distance: Double
  public var meanCosine: Double
  /// Short statements of the evidence (per relation: grids, zeros, ranks, layers, weights).
  public var evidence: [String]
  /// Adapter: the largest rank over changed matrices and the layers they are in.
  public var adapterRank: Int?
  public var adapterLayers: [Int]
  /// Merge: this candidate's coefficient α.
  public var mergeWeight: Double?
  public var comparison: Comparison
}

/// What `Infer.run` looks at beyond `compare`.
public struct InferOptions: Sendable {
  /// Significance level for "related".
  public var alpha = 0.01
  /// Candidates considered for a merge (the most related first).
  public var mergeCandidates = 8
  /// Elements sampled (evenly) from the shared weights for the merge fit.
  public var mergeSample = 1 << 20
  public var compare = CompareOptions()
  /// Hypotheses the relatedness test is Holm-corrected over: at least the candidates compared,
  /// more when they were chosen from a larger set (screening by sketch, Docs/Forensics.md).
  public var hypotheses = 0
  /// Score each derived candidate's direction as a two-model forest (`directionConfidence`).
  public var scoreDirection = true
  public init() {}
}

/// Infer undeclared parentage of a query model from weights alone (Docs/Forensics.md).
public enum Infer {
  /// Compare `query` with every candidate and assign each a relation; candidates sharing no
  /// tensor name with the query are skipped. Sorted: structural relations and the placed parent
  /// first, then by distance.
  /// `descendants` are the labels of candidates known (from declared history) to descend from
  /// the query: they are compared and listed, but never placed as its fine-tune parent.
  public static func run(
    query: ModelTensors, candidates: [ModelTensors], descendants: Set<String> = [], options: InferOptions = InferOptions(),
    progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> [InferredCandidate] {
    var out: [InferredCandidate] = []
    let names = Set(query.items.map { TensorNames.canonical($0.entry.name) })
    var compared: [(ModelTensors, Comparison)] = []
    for (k, candidate) in candidates.enumerated() {
      defer { progress(k + 1, candidates.count) }
      guard candidate.items.contains(where: { names.contains(TensorNames.canonical($0.entry.name)) }) else { continue }
      compared.append((candidate, try Compare.run(query, candidate, options: options.compare)))
    }
    // One test per candidate: relatedness is decided on Holm-adjusted p-values, so that a store
    // of many independent models does not yield relatives by chance.
    let tested = compared.indices.compactMap { k in compared[k].1.combined.map { (k, $0.logP) } }
    // Candidates screened out before this count as tests with p = 1 (log p = 0).
    let screenedOut = [Double](repeating: 0, count: max(0, options.hypotheses - tested.count))
    let adjusted = try PValues.holm(logPValues: tested.map(\.1) + screenedOut)
    let holm = Dictionary(uniqueKeysWithValues: zip(tested.map(\.0), adjusted))
    for (k, (candidate, c)) in compared.enumerated() {
      out.append(try classify(query: query, candidate: candidate, comparison: c, adjustedLogP: holm[k], options: options))
    }
    try findMerge(query: query, candidates: candidates, results: &out, options: options)
    // Among related candidates without a structural relation, the nearest is the parent.
    let structural: Set<Relation> = [.identical, .converted, .quantizedFrom, .prunedFrom, .adapterOf, .mergeOf]
    let hasStructuralParent = out.contains { structural.contains($0.relation) && $0.queryIsChild == true }
    let related = out.indices.filter { out[$0].relation == .related && !descendants.contains(out[$0].label) }
    for i in out.indices where out[i].relation == .related && descendants.contains(out[i].label) {
      out[i].queryIsChild = false
      out[i].directionBasis = "a declared descendant of the target"
    }
    if !hasStructuralParent, let nearest = related.min(by: { out[$0].distance < out[$1].distance }) {
      out[nearest].relation = .finetunedFrom
      out[nearest].queryIsChild = true
      out[nearest].directionBasis = "prior: the candidate is stored and the query is not (weights alone do not order a fine-tune pair)"
    }
    if options.scoreDirection {
      let byLabel = Dictionary(compared.map { ($0.0.label, $0.0) }, uniquingKeysWith: { a, _ in a })
      let derived: Set<Relation> = [.quantizedFrom, .prunedFrom, .adapterOf, .finetunedFrom]
      for i in out.indices where derived.contains(out[i].relation) {
        guard let queryIsChild = out[i].queryIsChild, let candidate = byLabel[out[i].label] else { continue }
        var o = ForestOptions()
        o.alpha = options.alpha
        o.nameAdapters = false
        let forest = try ForestInference.run(models: [candidate, query], options: o)
        guard let e = forest.edges.first(where: { Set([$0.parent, $0.child]) == [0, 1] && $0.relation != .mergeOf }) else { continue }
        let candidateIsParent = e.parent == 0 ? e.directionConfidence : 1 - e.directionConfidence
        out[i].directionConfidence = queryIsChild ? candidateIsParent : 1 - candidateIsParent
      }
    }
    func rank(_ r: InferredCandidate) -> Int {
      structural.contains(r.relation) ? 0 : r.relation == .finetunedFrom ? 1 : r.relation == .related ? 2 : 3
    }
    return out.sorted { (rank($0), $0.distance) < (rank($1), $1.distance) }
  }

  /// Per-tensor structure of one pair: zeros, grids, equality and the rank of differences.
  struct Structure {
    var tensors = 0
    var changed = 0
    var bitEqual = 0
    var dtypeDiffers = false
    var withinRounding = 0
    var zerosQuery = 0
    var zerosCandidate = 0
    var elements = 0
    /// Positions where the two agree or the query is zero / the candidate is zero.
    var agreeOrQueryZero = 0
    var agreeOrCandidateZero = 0
    var gridQuery = 0
    var gridCandidate = 0
    var matricesChanged = 0
    var lowRank = 0
    var maxRank = 0
    var lowRankLayers: Set<Int> = []
    var quantizedDtypeQuery = false
    var quantizedDtypeCandidate = false
  }

  /// Relative rounding of a dtype (unit roundoff), for "converted".
  static func roundoff(_ d: DType) -> Double {
    switch d {
    case .bf16: 1.0 / 256
    case .f16: 1.0 / 2048
    case .f8e4m3: 1.0 / 16
    case .f8e5m2: 1.0 / 8
    default: 1e-6
    }
  }

  /// Whether every row of `m` lies on its own symmetric int8 grid (multiples of max|row|/127).
  static func onInt8Grid(_ v: [Float], rows: Int, cols: Int) -> Bool {
    guard rows > 0, cols >= 8 else { return false }
    for r in stride(from: 0, to: rows, by: max(1, rows / 16)) {
      let row = v[(r * cols)..<((r + 1) * cols)]
      let m = row.reduce(Float(0)) { max($0, abs($1)) }
      guard m > 0 else { continue }
      let step = m / 127
      guard row.allSatisfy({ abs($0 / step - ($0 / step).rounded()) < 1e-3 }) else { return false }
    }
    return true
  }

  static func classify(
    query: ModelTensors, candidate: ModelTensors, comparison c: Comparison, adjustedLogP: Double?, options: InferOptions
  ) throws -> InferredCandidate {
    let q = Dictionary(query.items.map { ($0.entry.name, $0) }, uniquingKeysWith: { x, _ in x })
    let k = Dictionary(candidate.items.map { (TensorNames.canonical($0.entry.name), $0) }, uniquingKeysWith: { x, _ in x })
    var s = Structure()
    for row in c.rows {
      guard let m = row.metrics, let qi = q[row.name], let ki = k[TensorNames.canonical(row.name)] else { continue }
      s.tensors += 1
      if row.dtypeA != row.dtypeB { s.dtypeDiffers = true }
      if row.dtypeA.isQuantized { s.quantizedDtypeQuery = true }
      if row.dtypeB.isQuantized { s.quantizedDtypeCandidate = true }
      if m.relativeL2 == 0 {
        s.bitEqual += 1
        s.withinRounding += 1
        continue
      }
      s.changed += 1
      // A conversion changes a float dtype; quantized blocks are quantization, tested below.
      if m.relativeL2 <= max(roundoff(row.dtypeA), roundoff(row.dtypeB)) && row.dtypeA != row.dtypeB && !row.dtypeA.isQuantized
        && !row.dtypeB.isQuantized
      {
        s.withinRounding += 1
      }
      let a = try Compare.floats(qi)
      let b = try Compare.floats(ki)
      s.elements += a.count
      for i in a.indices {
        let same = a[i] == b[i]
        if a[i] == 0 { s.zerosQuery += 1 }
        if b[i] == 0 { s.zerosCandidate += 1 }
        if same || a[i] == 0 { s.agreeOrQueryZero += 1 }
        if same || b[i] == 0 { s.agreeOrCandidateZero += 1 }
      }
      guard row.shape.count == 2 else { continue }
      let rows = Int(row.shape[0])
      let cols = Int(row.shape[1])
      if onInt8Grid(a, rows: rows, cols: cols) { s.gridQuery += 1 }
      if onInt8Grid(b, rows: rows, cols: cols) { s.gridCandidate += 1 }
      s.matricesChanged += 1
      if min(rows, cols) >= 4, min(rows, cols) <= options.compare.spectrumDimension {
        let delta = zip(a, b).map { $0 - $1 }
        let sv = try Matrix(rows: rows, cols: cols, values: delta).singularValues()
        let top = sv.first ?? 0
        let norm = b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let rank = sv.filter { $0 > max(1e-3 * top, 1e-6 * norm) }.count
        s.maxRank = max(s.maxRank, rank)
        if rank <= min(rows, cols) / 4 {
          s.lowRank += 1
          if let l = row.group.layer { s.lowRankLayers.insert(l) }
        }
      }
    }
    let measured = c.rows.compactMap(\.metrics)
    let distance = measured.isEmpty ? .nan : measured.reduce(0) { $0 + $1.relativeL2 } / Double(measured.count)
    let cosine = measured.isEmpty ? .nan : measured.reduce(0) { $0 + $1.cosine } / Double(measured.count)
    var r = InferredCandidate(
      label: candidate.label, relation: .unrelated, queryIsChild: nil, directionBasis: "", pValue: c.combined?.pValue,
      logP: c.combined?.logP, adjustedLogP: adjustedLogP, distance: distance, meanCosine: cosine, evidence: [], adapterRank: nil, adapterLayers: [], mergeWeight: nil,
      comparison: c)
    let related = adjustedLogP.map { $0 < log(options.alpha) } ?? (distance < 0.5)
    let sameSet = c.onlyInA.isEmpty && c.onlyInB.isEmpty && c.shapeMismatch.isEmpty
    if s.tensors > 0, s.bitEqual == s.tensors, !s.dtypeDiffers, sameSet {
      r.relation = .identical
      r.directionBasis = "identical weights have no direction"
      r.evidence = ["all \(s.tensors) shared tensors bit-identical"]
    } else if s.tensors > 0, s.withinRounding == s.tensors, s.dtypeDiffers {
      r.relation = .converted
      r.directionBasis = "a lossless-looking conversion has no direction"
      r.evidence = ["every tensor equal within the rounding of its dtypes"]
    } else if related,
      (s.quantizedDtypeQuery != s.quantizedDtypeCandidate && distance <= 0.2)
        || (s.matricesChanged > 0 && (s.gridQuery == s.matricesChanged) != (s.gridCandidate == s.matricesChanged) && distance <= 0.05)
    {
      // A grid alone proves nothing about a distant or unrelated model: the values must be
      // close too (int8 rounding moves a weight by at most half a step, ~1% relative).
      let child = s.quantizedDtypeQuery || s.gridQuery == s.matricesChanged
      r.relation = .quantizedFrom
      r.queryIsChild = child
      r.directionBasis = "the \(child ? "query" : "candidate") alone is on a quantization grid"
      r.evidence = [
        s.quantizedDtypeQuery || s.quantizedDtypeCandidate ? "GGUF block dtype on one side" : "\(max(s.gridQuery, s.gridCandidate)) of \(s.matricesChanged) changed matrices on a per-row int8 grid",
        String(format: "mean relative L2 %.3g", distance),
      ]
    } else if s.elements > 0, abs(s.zerosQuery - s.zerosCandidate) > s.elements / 10,
      (s.zerosQuery > s.zerosCandidate ? s.agreeOrQueryZero : s.agreeOrCandidateZero) == s.elements
    {
      let child = s.zerosQuery > s.zerosCandidate
      r.relation = .prunedFrom
      r.queryIsChild = child
      r.directionBasis = "the \(child ? "query" : "candidate") has more exact zeros and agrees elsewhere"
      r.evidence = [
        String(format: "zeros in changed tensors: query %.1f%%, candidate %.1f%%", 100 * Double(s.zerosQuery) / Double(s.elements), 100 * Double(s.zerosCandidate) / Double(s.elements))
      ]
    } else if s.matricesChanged > 0, s.lowRank == s.matricesChanged, s.changed == s.matricesChanged {
      r.relation = .adapterOf
      r.queryIsChild = true
      r.directionBasis = "prior: the candidate is stored and the query is not (a low-rank difference has no direction)"
      r.adapterRank = s.maxRank
      r.adapterLayers = s.lowRankLayers.sorted()
      r.evidence = ["\(s.matricesChanged) changed matrices, each of rank ≤ \(s.maxRank); \(s.bitEqual) tensors unchanged"]
    } else if related {
      r.relation = .related
      r.directionBasis = "unknown"
      r.evidence = [c.combined.map { String(format: "unit matching over %d blocks: log p = %.1f", c.unitTests.count, $0.logP) } ?? "no MLP pair; distance only"]
    } else {
      r.directionBasis = "not related"
      r.evidence = [c.combined.map { String(format: "unit matching over %d blocks: p = %.3g", c.unitTests.count, $0.pValue) } ?? "no shared MLP pair"]
    }
    return r
  }

  /// A non-negative combination of related candidates that reproduces the query much better than
  /// any one of them marks those candidates `merge-of` with their weights.
  static func findMerge(query: ModelTensors, candidates: [ModelTensors], results: inout [InferredCandidate], options: InferOptions) throws {
    let pool = results.indices.filter { [.related, .adapterOf].contains(results[$0].relation) }
      .sorted { results[$0].distance < results[$1].distance }.prefix(options.mergeCandidates)
    guard pool.count >= 2 else { return }
    let byLabel = Dictionary(candidates.map { ($0.label, $0) }, uniquingKeysWith: { x, _ in x })
    let names = results[pool[pool.startIndex]].comparison.rows.filter { $0.metrics != nil && $0.shape.count == 2 }.map(\.name)
    let total = names.reduce(0) { n, name in n + (query.items.first { $0.entry.name == name }.map { Int($0.entry.shape.reduce(1, *)) } ?? 0) }
    let step = max(1, total / options.mergeSample)
    func sample(_ m: ModelTensors) throws -> [Float]? {
      var out: [Float] = []
      let items = Dictionary(m.items.map { (TensorNames.canonical($0.entry.name), $0) }, uniquingKeysWith: { x, _ in x })
      for name in names {
        guard let item = items[TensorNames.canonical(name)] else { return nil }
        let v = try Compare.floats(item)
        out += stride(from: 0, to: v.count, by: step).map { v[$0] }
      }
      return out
    }
    guard let target = try sample(query) else { return }
    var columns: [[Float]] = []
    var used: [Int] = []
    for i in pool {
      guard let m = byLabel[results[i].label], let col = try sample(m), col.count == target.count else { continue }
      columns.append(col)
      used.append(i)
    }
    guard let fit = try mergeFit(target: target, candidates: columns) else { return }
    for (j, weight) in fit.parents {
      let i = used[j]
      results[i].relation = .mergeOf
      results[i].queryIsChild = true
      results[i].mergeWeight = weight
      results[i].directionBasis = "the query is a combination of several candidates"
      results[i].evidence = [
        String(format: "query ≈ Σ αᵢ·candidateᵢ with α = %.3f here; relative residual %.2g (best single candidate %.2g)", weight, fit.residual, fit.bestSingle)
      ]
    }
  }

  /// The merge test shared by `infer` and `infer --all`: `target` (sampled matrix elements) as a
  /// non-negative combination of `candidates` (sampled the same way, most likely first). A
  /// candidate that is a near-copy (cosine > 0.9999) of one taken earlier is skipped. A merge
  /// needs ≥ 2 coefficients ≥ 0.1, relative residual < 10⁻³ and < 1/10 of the best single
  /// candidate's; returns those parents (indices into `candidates`) with their coefficients.
  public static func mergeFit(target: [Float], candidates: [[Float]]) throws -> (parents: [(index: Int, weight: Double)], residual: Double, bestSingle: Double)? {
    var columns: [[Float]] = []
    var used: [Int] = []
    for (i, col) in candidates.enumerated() where col.count == target.count && !target.isEmpty {
      // A near-copy of a column already chosen (a quantized or pruned twin) would make the normal
      // equations singular and adds nothing a merge needs.
      guard !columns.contains(where: { TensorMetrics.compare($0, col).cosine > 0.9999 }) else { continue }
      columns.append(col)
      used.append(i)
    }
    guard columns.count >= 2 else { return nil }
    let fit: NonNegativeFit
    let singles: [Double]
    do {
      fit = try NonNegativeLeastSquares.fit(columns: columns, target: target)
      singles = try columns.map { try NonNegativeLeastSquares.fit(columns: [$0], target: target).relativeResidual }
    } catch ForensicsError.linearAlgebra {
      // Still too close to singular to fit: no merge is claimed.
      return nil
    }
    let parents = fit.coefficients.indices.filter { fit.coefficients[$0] >= 0.1 }
    let best = singles.min() ?? 0
    guard parents.count >= 2, fit.relativeResidual < 1e-3, best > 10 * fit.relativeResidual else { return nil }
    return (parents.map { (used[$0], fit.coefficients[$0]) }, fit.relativeResidual, best)
  }
}
