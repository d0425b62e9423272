import Foundation
import LineageCore
import LineageFormats
import LineageNative

/// The distance `infer --all` places models with (Docs/Forensics.md, "infer --all").
public enum PlacementDistance: String, Sendable, CaseIterable {
  /// Mean over shared tensors of the symmetric relative L2 ‖a−b‖ / ((‖a‖+‖b‖)/2).
  case relativeL2 = "relative-l2"
  /// 1 − mean over shared tensors of Pearson's r.
  case pearson
  /// The symmetric relative L2 of all shared tensors as one vector: √Σ‖a−b‖² / ((√Σ‖a‖² + √Σ‖b‖²)/2),
  /// so that every parameter weighs the same (large tensors dominate).
  case pooledL2 = "pooled-l2"
}

/// How `infer --all` builds the forest.
public enum ForestMethod: Sendable, Equatable {
  /// Families from the unit-matching test, a minimum spanning tree per family on aligned
  /// weights, a scored root per family, merges as extra parents.
  case lineage
  /// MoTHer (Horwitz et al. 2024): raw weight distances, `families` clusters (given), a
  /// kurtosis-penalised minimum arborescence per cluster (Chu–Liu/Edmonds).
  case mother(families: Int)
}

/// A declared parent → child pair between two of the models (indices), used as a prior.
public struct DeclaredEdge: Sendable, Hashable {
  public var parent: Int
  public var child: Int
  public init(parent: Int, child: Int) {
    self.parent = parent
    self.child = child
  }
}

/// What `ForestInference.run` looks at.
public struct ForestOptions: Sendable {
  /// Significance level of a pair's Holm-adjusted unit-matching p-value.
  public var alpha = 0.01
  public var distance: PlacementDistance = .pooledL2
  public var method: ForestMethod = .lineage
  /// Declared parent → child pairs (priors for the direction; empty: none).
  public var declared: [DeclaredEdge] = []
  /// Commit times in seconds, one per model or empty (a prior: the earlier is the parent).
  public var times: [Int64?] = []
  /// Nearest family members tried as merge parents.
  public var mergeCandidates = 8
  /// Elements sampled (evenly) from the matrices for the merge fit.
  public var mergeSample = 1 << 20
  /// Elements per row of one streamed Gram block.
  public var chunk = 1 << 16
  /// Re-examine fine-tune edges for adapters (one pairwise comparison each); off where only
  /// the placement and direction are read.
  public var nameAdapters = true
  public init() {}
}

/// One model of the forest and the statistics its direction is scored on.
public struct ForestNode: Sendable {
  public var label: String
  /// Index into `ForestResult.families`.
  public var family: Int
  /// Mean excess kurtosis m₄/m₂² − 3 over the matrices.
  public var kurtosis: Double
  /// ‖θ‖ over the tensors the family shares.
  public var norm: Double
  /// Fraction of exactly zero matrix elements.
  public var zeroFraction: Double
  /// `int8` or `4-bit` when the matrices lie on a per-row quantization grid.
  public var quantization: String?
  /// Hidden units in another order than most of the family's.
  public var permuted: Bool
  /// Whether the unit-matching test could run (an MLP pair).
  public var tested: Bool
}

/// One inferred edge, read "child relation parent".
public struct ForestEdge: Sendable {
  public var parent: Int
  public var child: Int
  public var relation: Relation
  /// The pair's Fisher-combined unit-matching p-value, its log and its Holm-adjusted log (over
  /// all pairs); nil when the pair was not tested.
  public var pValue: Double?
  public var logP: Double?
  public var adjustedLogP: Double?
  /// The placement distance of the pair.
  public var distance: Double
  /// 1 − d / d₂ with d₂ the cheapest other edge reconnecting the two sides (a margin in [0, 1]).
  public var placementConfidence: Double
  /// Weight, over candidate roots, of those that orient this edge this way (Docs/Forensics.md).
  public var directionConfidence: Double
  /// Merge: this parent's coefficient.
  public var mergeWeight: Double?
  public var evidence: [String]
}

/// One tested pair (for calibration).
public struct ForestPair: Sendable {
  public var a: Int
  public var b: Int
  public var pValue: Double
  public var logP: Double
  public var adjustedLogP: Double
  public var related: Bool
}

/// The recovered forest over a set of models.
public struct ForestResult: Sendable {
  public var nodes: [ForestNode]
  /// Member indices per family, the chosen root first.
  public var families: [[Int]]
  public var edges: [ForestEdge]
  public var pairs: [ForestPair]
  /// Which distance placed the models.
  public var distance: PlacementDistance
}

/// Recover the forest/DAG over many models from weights alone (Docs/Forensics.md, "infer --all").
public enum ForestInference {
  /// An MLP block's unit pair in one model: the tensors whose rows (input side) or columns
  /// (output side) are the block's hidden units.
  struct Block {
    var input: String
    var output: String
    var inputSide: [String]
    var units: Int
    var inputMatrix: Matrix
    var outputMatrix: Matrix
  }

  /// Per-model statistics accumulated in the streaming pass.
  struct Moments {
    var sumSquares = 0.0
    var kurtosisSum = 0.0
    var matrices = 0
    var zeros = 0
    var elements = 0
    var int8 = 0
    var int4 = 0
  }

  /// What one streaming pass over a group of models gives.
  struct Measure {
    var distance: [Double]
    var moments: [Moments]
    var samples: [[Float]]
    /// The range of `samples` each matrix's sampled elements fill (the same in every member).
    var matrixRanges: [Range<Int>] = []
  }

  public static func run(
    models: [ModelTensors], options: ForestOptions = ForestOptions(), progress: (String, Int, Int) -> Void = { _, _, _ in }
  ) throws -> ForestResult {
    let n = models.count
    guard n >= 2 else { throw ForensicsError.tooFewModels(minimum: 2, count: n) }
    let canonical = models.map { m in Dictionary(m.items.map { (TensorNames.canonical($0.entry.name), $0) }, uniquingKeysWith: { x, _ in x }) }
    switch options.method {
    case .lineage:
      var forest = try lineage(models: models, canonical: canonical, options: options, progress: progress)
      if options.nameAdapters { try labelAdapters(&forest, models: models, progress: progress) }
      return forest
    case .mother(let k):
      return try mother(models: models, canonical: canonical, families: k, options: options, progress: progress)
    }
  }

  /// Name the fine-tune edges that are adapters: the child compared with its parent as
  /// single-target `infer` does, and `adapter-of` when every changed matrix differs by a
  /// low-rank matrix (Docs/Forensics.md, "Relations"); the rank and layers join the evidence.
  static func labelAdapters(_ forest: inout ForestResult, models: [ModelTensors], progress: (String, Int, Int) -> Void) throws {
    let edges = forest.edges.indices.filter { forest.edges[$0].relation == .finetunedFrom }
    for (k, e) in edges.enumerated() {
      defer { progress("Naming adapters", k + 1, edges.count) }
      let edge = forest.edges[e]
      var o = InferOptions()
      o.scoreDirection = false
      guard let r = try Infer.run(query: models[edge.child], candidates: [models[edge.parent]], options: o).first, r.relation == .adapterOf else { continue }
      forest.edges[e].relation = .adapterOf
      forest.edges[e].evidence.append(
        "low-rank difference: rank ≤ \(r.adapterRank ?? 0) in layer(s) \(r.adapterLayers.map(String.init).joined(separator: ", "))")
    }
  }

  // MARK: - Relatedness

  /// Every block with an MLP pair, by layer.
  static func blocks(_ items: [String: ModelTensors.Item]) throws -> [Int: Block] {
    let grouping = Grouping.detect(Array(items.keys))
    var byLayer: [Int: [String: (name: String, shape: [UInt64])]] = [:]
    for (name, item) in items where name.hasSuffix(".weight") && item.entry.shape.count == 2 {
      let g = grouping.group(name)
      if let l = g.layer { byLayer[l, default: [:]][g.module] = (name, item.entry.shape) }
    }
    var out: [Int: Block] = [:]
    for (layer, modules) in byLayer {
      guard let pair = Grouping.unitPairs.first(where: { modules[$0.input] != nil && modules[$0.output] != nil }),
        let i = modules[pair.input], let o = modules[pair.output], let inItem = items[i.name], let outItem = items[o.name],
        i.shape[0] == o.shape[1], i.shape[0] >= 3
      else { continue }
      let units = Int(i.shape[0])
      // The gate and up projections of a gated MLP share the units; so do the input side's biases.
      let siblings: Set<String> = ["mlp.up_proj", "mlp.gate_proj"].contains(pair.input) ? ["mlp.up_proj", "mlp.gate_proj"] : [pair.input]
      var side: [String] = []
      for (name, item) in items {
        let g = grouping.group(name)
        guard g.layer == layer, siblings.contains(g.module), item.entry.shape.first == UInt64(units), item.entry.shape.count <= 2 else { continue }
        side.append(name)
      }
      out[layer] = Block(
        input: i.name, output: o.name, inputSide: side.sorted(), units: units,
        inputMatrix: try Matrix(shape: i.shape, values: try Compare.floats(inItem)),
        outputMatrix: try Matrix(shape: o.shape, values: try Compare.floats(outItem)))
    }
    return out
  }

  /// The unit-matching test of every pair with a block in common, Holm-adjusted over the pairs.
  static func testPairs(_ blocks: [[Int: Block]], alpha: Double, progress: (String, Int, Int) -> Void) throws -> [ForestPair] {
    let n = blocks.count
    var raw: [(Int, Int, FisherCombination)] = []
    let total = n * (n - 1) / 2
    var done = 0
    for i in 0..<n {
      for j in (i + 1)..<n {
        done += 1
        progress("Testing pairs", done, total)
        var tests: [Double] = []
        for (layer, a) in blocks[i].sorted(by: { $0.key < $1.key }) {
          guard let b = blocks[j][layer], a.inputMatrix.rows == b.inputMatrix.rows, a.inputMatrix.cols == b.inputMatrix.cols,
            a.outputMatrix.rows == b.outputMatrix.rows, a.outputMatrix.cols == b.outputMatrix.cols
          else { continue }
          let t = try UnitMatchingTest.run(
            layer: layer, input: a.input, output: a.output, inputA: a.inputMatrix, inputB: b.inputMatrix, outputA: a.outputMatrix,
            outputB: b.outputMatrix)
          tests.append(t.logP)
        }
        guard !tests.isEmpty else { continue }
        raw.append((i, j, try PValues.fisher(logPValues: tests)))
      }
    }
    let adjusted = try PValues.holm(logPValues: raw.map(\.2.logP))
    return zip(raw, adjusted).map { r, h in
      ForestPair(a: r.0, b: r.1, pValue: r.2.pValue, logP: r.2.logP, adjustedLogP: h, related: h < log(alpha))
    }
  }

  /// Connected components of `related` over 0..<n, each sorted, ordered by their first member.
  static func components(_ n: Int, _ related: [(Int, Int)]) -> [[Int]] {
    var parent = Array(0..<n)
    func find(_ x: Int) -> Int {
      var x = x
      while parent[x] != x {
        parent[x] = parent[parent[x]]
        x = parent[x]
      }
      return x
    }
    for (a, b) in related {
      let (ra, rb) = (find(a), find(b))
      if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
    }
    var groups: [Int: [Int]] = [:]
    for i in 0..<n { groups[find(i), default: []].append(i) }
    return groups.values.sorted { $0[0] < $1[0] }
  }

  // MARK: - Alignment and the streaming Gram pass

  /// For each member, each layer's matching of its units to the reference's (`rowOfB` of
  /// `RowAlignment`), from each unit's input-side rows and output column together.
  static func alignments(reference: Int, members: [Int], blocks: [[Int: Block]]) throws -> [Int: [Int: [Int]]] {
    func features(_ b: Block) -> Matrix {
      let out = b.outputMatrix.transposed()
      var v: [Float] = []
      v.reserveCapacity(b.units * (b.inputMatrix.cols + out.cols))
      for u in 0..<b.units {
        v += b.inputMatrix.values[(u * b.inputMatrix.cols)..<((u + 1) * b.inputMatrix.cols)]
        v += out.values[(u * out.cols)..<((u + 1) * out.cols)]
      }
      return (try? Matrix(rows: b.units, cols: b.inputMatrix.cols + out.cols, values: v)) ?? b.inputMatrix
    }
    var out: [Int: [Int: [Int]]] = [:]
    for m in members where m != reference {
      for (layer, a) in blocks[reference] {
        guard let b = blocks[m][layer], a.units == b.units, a.inputMatrix.cols == b.inputMatrix.cols,
          a.outputMatrix.rows == b.outputMatrix.rows
        else { continue }
        out[m, default: [:]][layer] = try RowAlignment.align(features(a), features(b)).rowOfB
      }
    }
    return out
  }

  /// `values` of `name` (shape `shape`) with its units put in the reference's order.
  static func permuted(_ values: [Float], name: String, shape: [UInt64], block: Block?, order: [Int]?) -> [Float] {
    guard let block, let order else { return values }
    if name == block.output, shape.count == 2 {
      let (rows, cols) = (Int(shape[0]), Int(shape[1]))
      var out = values
      for r in 0..<rows {
        for c in 0..<cols { out[r * cols + c] = values[r * cols + order[c]] }
      }
      return out
    }
    guard block.inputSide.contains(name) else { return values }
    let width = values.count / block.units
    var out = values
    for u in 0..<block.units {
      out.replaceSubrange((u * width)..<((u + 1) * width), with: values[(order[u] * width)..<((order[u] + 1) * width)])
    }
    return out
  }

  /// Whether every sampled row of a rows×cols matrix lies on its own symmetric grid of
  /// multiples of max|row|/levels.
  static func onGrid(_ v: [Float], rows: Int, cols: Int, levels: Float) -> Bool {
    guard rows > 0, cols >= 8 else { return false }
    var any = false
    for r in stride(from: 0, to: rows, by: max(1, rows / 16)) {
      let row = v[(r * cols)..<((r + 1) * cols)]
      let m = row.reduce(Float(0)) { max($0, abs($1)) }
      guard m > 0 else { continue }
      any = true
      let step = m / levels
      guard row.allSatisfy({ abs($0 / step - ($0 / step).rounded()) < 1e-3 }) else { return false }
    }
    return any
  }

  /// Whether sampled rows of at least 32 columns hold at most 16 distinct values each.
  static func fewDistinct(_ v: [Float], rows: Int, cols: Int) -> Bool {
    guard rows > 0, cols >= 32 else { return false }
    for r in stride(from: 0, to: rows, by: max(1, rows / 16)) where Set(v[(r * cols)..<((r + 1) * cols)]).count > 16 { return false }
    return true
  }

  /// One pass over the tensors `group` shares (same canonical name and shape in all): per tensor
  /// the models' flattened values, each minus the first model's (distances do not change, and the
  /// Gram matrix of small differences loses no precision), go in blocks of `chunk` columns through
  /// `BLAS.gram` (ssyrk); ‖a−b‖² = g_aa + g_bb − 2g_ab per tensor, then the mean distance.
  static func measure(
    group: [Int], canonical: [[String: ModelTensors.Item]], blocks: [[Int: Block]], orders: [Int: [Int: [Int]]],
    options: ForestOptions, progress: (String, Int, Int) -> Void
  ) throws -> Measure {
    let k = group.count
    guard let first = group.first else { return Measure(distance: [], moments: [], samples: [], matrixRanges: []) }
    let grouping = Grouping.detect(Array(canonical[first].keys))
    let names = canonical[first].keys.sorted().filter { name in
      let shape = canonical[first][name]?.entry.shape
      return group.allSatisfy { canonical[$0][name]?.entry.shape == shape }
    }
    let matrixElements = names.reduce(0) { n, name in
      n + (canonical[first][name].map { $0.entry.shape.count == 2 ? Int($0.entry.shape.reduce(1, *)) : 0 } ?? 0)
    }
    let step = max(1, matrixElements / max(1, options.mergeSample))
    var sum = [Double](repeating: 0, count: k * k)
    var counted = [Int](repeating: 0, count: k * k)
    var pooledDifference = [Double](repeating: 0, count: k * k)
    var pooledNorm = [Double](repeating: 0, count: k)
    var moments = [Moments](repeating: Moments(), count: k)
    var samples = [[Float]](repeating: [], count: k)
    var matrixRanges: [Range<Int>] = []
    for (t, name) in names.enumerated() {
      progress("Measuring tensors", t + 1, names.count)
      guard let shape = canonical[first][name]?.entry.shape else { continue }
      let layer = grouping.group(name).layer
      var values: [[Float]] = []
      for m in group {
        guard let item = canonical[m][name] else { continue }
        let block = layer.flatMap { blocks[m][$0] }
        values.append(permuted(try Compare.floats(item), name: name, shape: shape, block: block, order: layer.flatMap { orders[m]?[$0] }))
      }
      guard values.count == k, let len = values.first?.count, len > 0, values.allSatisfy({ $0.count == len }) else { continue }
      let sampleStart = samples[0].count
      defer { if shape.count == 2 { matrixRanges.append(sampleStart..<samples[0].count) } }
      var norms = [Double](repeating: 0, count: k)
      for (i, v) in values.enumerated() {
        let (s1, s2, s3, s4) = v.reduce((0.0, 0.0, 0.0, 0.0)) { acc, x in
          let d = Double(x)
          return (acc.0 + d, acc.1 + d * d, acc.2 + d * d * d, acc.3 + d * d * d * d)
        }
        norms[i] = s2
        moments[i].sumSquares += s2
        guard shape.count == 2 else { continue }
        let c = Double(len)
        let mean = s1 / c
        let m2 = s2 / c - mean * mean
        let m4 = s4 / c - 4 * mean * s3 / c + 6 * mean * mean * s2 / c - 3 * mean * mean * mean * mean
        if m2 > 0 {
          moments[i].kurtosisSum += m4 / (m2 * m2) - 3
          moments[i].matrices += 1
        }
        moments[i].zeros += v.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        moments[i].elements += len
        let (rows, cols) = (Int(shape[0]), Int(shape[1]))
        if onGrid(v, rows: rows, cols: cols, levels: 127) { moments[i].int8 += 1 }
        if onGrid(v, rows: rows, cols: cols, levels: 7) || fewDistinct(v, rows: rows, cols: cols) { moments[i].int4 += 1 }
        samples[i] += stride(from: 0, to: len, by: step).map { v[$0] }
      }
      // The Gram matrix of the differences from the first model, streamed in column blocks.
      var gram = [Double](repeating: 0, count: k * k)
      let width = max(1, min(options.chunk, len))
      var block = [Float](repeating: 0, count: k * width)
      for start in stride(from: 0, to: len, by: width) {
        let w = min(width, len - start)
        for i in 0..<k {
          for c in 0..<w { block[i * w + c] = values[i][start + c] - values[0][start + c] }
        }
        let g = block.withUnsafeBufferPointer { BLAS.gram(UnsafeBufferPointer(rebasing: $0[0..<(k * w)]), rows: k, cols: w) }
        for x in 0..<(k * k) { gram[x] += Double(g[x]) }
      }
      let means = values.map { v in v.reduce(0.0) { $0 + Double($1) } / Double(len) }
      for i in 0..<k { pooledNorm[i] += norms[i] }
      for i in 0..<k {
        for j in (i + 1)..<k {
          let d2 = max(0, gram[i * k + i] + gram[j * k + j] - 2 * gram[i * k + j])
          pooledDifference[i * k + j] += d2
          let value: Double
          switch options.distance {
          case .pooledL2:
            value = 0
          case .relativeL2:
            let scale = (norms[i].squareRoot() + norms[j].squareRoot()) / 2
            guard scale > 0 else { continue }
            value = d2.squareRoot() / scale
          case .pearson:
            // cov = (σ²_a + σ²_b − ‖(a−μa) − (b−μb)‖²) / 2, all from the differences.
            let c = Double(len)
            let va = norms[i] - c * means[i] * means[i]
            let vb = norms[j] - c * means[j] * means[j]
            let dc = d2 - c * (means[i] - means[j]) * (means[i] - means[j])
            guard va > 0, vb > 0 else { continue }
            value = 1 - max(-1, min(1, (va + vb - dc) / 2 / (va * vb).squareRoot()))
          }
          sum[i * k + j] += value
          counted[i * k + j] += 1
        }
      }
    }
    var distance = [Double](repeating: 0, count: k * k)
    for i in 0..<k {
      for j in (i + 1)..<k {
        var d = counted[i * k + j] > 0 ? sum[i * k + j] / Double(counted[i * k + j]) : 1
        if options.distance == .pooledL2 {
          let scale = (pooledNorm[i].squareRoot() + pooledNorm[j].squareRoot()) / 2
          d = scale > 0 ? pooledDifference[i * k + j].squareRoot() / scale : 1
        }
        distance[i * k + j] = d
        distance[j * k + i] = d
      }
    }
    return Measure(distance: distance, moments: moments, samples: samples, matrixRanges: matrixRanges)
  }

  // MARK: - lineage

  static func lineage(
    models: [ModelTensors], canonical: [[String: ModelTensors.Item]], options: ForestOptions, progress: (String, Int, Int) -> Void
  ) throws -> ForestResult {
    let n = models.count
    let blocks = try canonical.map(blocks)
    let pairs = try testPairs(blocks, alpha: options.alpha, progress: progress)
    var pairOf: [Int: ForestPair] = [:]
    for p in pairs { pairOf[p.a * n + p.b] = p }
    func pair(_ a: Int, _ b: Int) -> ForestPair? { pairOf[min(a, b) * n + max(a, b)] }
    let families = components(n, pairs.filter(\.related).map { ($0.a, $0.b) })
    var nodes = models.enumerated().map { i, m in
      ForestNode(label: m.label, family: 0, kurtosis: 0, norm: 0, zeroFraction: 0, quantization: nil, permuted: false, tested: !blocks[i].isEmpty)
    }
    var orderedFamilies: [[Int]] = []
    var edges: [ForestEdge] = []
    for (f, members) in families.enumerated() {
      for m in members { nodes[m].family = f }
      let reference = members[0]
      let orders = try alignments(reference: reference, members: members, blocks: blocks)
      let measured = try measure(group: members, canonical: canonical, blocks: blocks, orders: orders, options: options, progress: progress)
      let k = members.count
      for (x, m) in members.enumerated() {
        let s = measured.moments[x]
        nodes[m].norm = s.sumSquares.squareRoot()
        nodes[m].kurtosis = s.matrices > 0 ? s.kurtosisSum / Double(s.matrices) : 0
        nodes[m].zeroFraction = s.elements > 0 ? Double(s.zeros) / Double(s.elements) : 0
        let mats = max(1, s.matrices)
        nodes[m].quantization = s.int4 * 10 >= mats * 9 ? "4-bit" : s.int8 * 10 >= mats * 9 ? "int8" : nil
      }
      // Units in another order than the majority of the family: a permuted copy.
      let identity = members.map { m -> Double in
        guard let layers = orders[m], !layers.isEmpty else { return 1 }
        let fractions = layers.values.map { o in Double(o.enumerated().filter { $0.offset == $0.element }.count) / Double(max(1, o.count)) }
        return fractions.reduce(0, +) / Double(fractions.count)
      }
      let referenceOdd = identity.filter { $0 < 0.5 }.count * 2 > k
      for (x, m) in members.enumerated() { nodes[m].permuted = (identity[x] < 0.5) != referenceOdd }
      func d(_ a: Int, _ b: Int) -> Double { measured.distance[a * k + b] }
      let merges = try findMerges(members: members, measured: measured, nodes: nodes, options: options)
      let placed = members.indices.filter { merges[$0] == nil }
      // Structural children are leaves: quantized members, permuted copies and members with
      // clearly more exact zeros than the family's sparsest-free member are attached to their
      // nearest other member after the spanning tree of the rest is built.
      let fewestZeros = placed.map { nodes[members[$0]].zeroFraction }.min() ?? 0
      func isLeaf(_ x: Int) -> Bool {
        let v = nodes[members[x]]
        return v.quantization != nil || v.permuted || v.zeroFraction - fewestZeros > 0.05
      }
      let backbone = placed.filter { !isLeaf($0) }
      // The spanning tree's cost (step 5): d·√m̂, m̂ the number of optimisation runs the pair's
      // difference looks like the sum of, from its delta kurtosis.
      let spanned = backbone.isEmpty ? placed : backbone
      var kappa: [Int: Double?] = [:]
      func kurtosis(_ a: Int, _ b: Int) -> Double? {
        let key = min(a, b) * k + max(a, b)
        if let x = kappa[key] { return x }
        let x = deltaKurtosis(measured, a, b)
        kappa[key] = x
        return x
      }
      let runReference = kurtosisReference(kurtosis: kurtosis, tree: try SpanningTrees.minimumSpanningTree(nodes: spanned, cost: d))
      func runs(_ a: Int, _ b: Int) -> Double { runEstimate(kurtosis(a, b), reference: runReference) }
      func cost(_ a: Int, _ b: Int) -> Double { d(a, b) * runs(a, b).squareRoot() }
      var tree: [SpanningTrees.Edge]
      if backbone.isEmpty {
        tree = try SpanningTrees.minimumSpanningTree(nodes: placed, cost: cost)
      } else {
        tree = try SpanningTrees.minimumSpanningTree(nodes: backbone, cost: cost)
        for x in placed where isLeaf(x) {
          // A leaf's parent is the nearest backbone member, or a coarser-grained leaf (int8 before
          // 4-bit) when that is nearer still.
          let candidates = placed.filter { $0 != x && (!isLeaf($0) || quantizationRank(nodes[members[$0]]) < quantizationRank(nodes[members[x]])) }
          guard let parent = candidates.min(by: { (d(x, $0), $0) < (d(x, $1), $1) }) else { continue }
          tree.append(SpanningTrees.Edge(a: x, b: parent, cost: d(x, parent)))
        }
      }
      let (root, confidence) = chooseRoot(
        members: members, placed: placed, backbone: backbone.isEmpty ? placed : backbone, tree: tree, distance: d, nodes: nodes, options: options)
      orderedFamilies.append([members[root]] + members.enumerated().filter { $0.offset != root }.map(\.element))
      for e in tree {
        let (p, c) = orientation(e, root: root, tree: tree)
        let pr = pair(members[p], members[c])
        var evidence = [String(format: "%@ %.4g", options.distance.rawValue, d(e.a, e.b))]
        if let x = kurtosis(e.a, e.b) {
          evidence.append(String(format: "delta kurtosis %.2f (looks like %.1f optimisation run(s))", x, runs(e.a, e.b)))
        }
        evidence.append(contentsOf: confidence.basis[edgeKey(e)] ?? [])
        edges.append(
          ForestEdge(
            parent: members[p], child: members[c], relation: relation(nodes[members[p]], nodes[members[c]], distance: d(e.a, e.b), evidence: &evidence),
            pValue: pr?.pValue, logP: pr?.logP, adjustedLogP: pr?.adjustedLogP, distance: d(e.a, e.b),
            placementConfidence: placementMargin(e, tree: tree, nodes: placed, distance: cost),
            directionConfidence: confidence.edge[edgeKey(e)] ?? 0.5, mergeWeight: nil, evidence: evidence))
      }
      for (x, fit) in merges.sorted(by: { $0.key < $1.key }) {
        for (parent, weight) in fit.parents {
          let pr = pair(members[parent], members[x])
          let margin = fit.bestSingle > 0 ? max(0, min(1, 1 - fit.residual / fit.bestSingle)) : 0
          edges.append(
            ForestEdge(
              parent: members[parent], child: members[x], relation: .mergeOf, pValue: pr?.pValue, logP: pr?.logP,
              adjustedLogP: pr?.adjustedLogP, distance: d(parent, x), placementConfidence: margin, directionConfidence: margin,
              mergeWeight: weight,
              evidence: [
                String(format: "child ≈ Σ αᵢ·parentᵢ with α = %.3f here; relative residual %.2g (best single parent %.2g)", weight, fit.residual, fit.bestSingle)
              ]))
        }
      }
    }
    return ForestResult(nodes: nodes, families: orderedFamilies, edges: edges, pairs: pairs, distance: options.distance)
  }

  /// A merge: parents (family positions) with their coefficients, the fit's residual and the best
  /// single parent's.
  struct Merge {
    var parents: [(Int, Double)]
    var residual: Double
    var bestSingle: Double
  }

  /// For each family member, whether its sampled matrices are a non-negative combination of two or
  /// more other members (`Infer.mergeFit`, the test `infer` uses).
  static func findMerges(members: [Int], measured: Measure, nodes: [ForestNode], options: ForestOptions) throws -> [Int: Merge] {
    let k = members.count
    var out: [Int: Merge] = [:]
    guard k >= 3 else { return out }
    for q in 0..<k {
      // Quantized and permuted members come after the others: a merge is of full-precision models,
      // and their near-twins would otherwise take a parent's place.
      func late(_ x: Int) -> Bool { nodes[members[x]].quantization != nil || nodes[members[x]].permuted }
      let pool = Array(
        (0..<k).filter { $0 != q }.sorted { a, b in
          late(a) != late(b) ? !late(a) : measured.distance[q * k + a] < measured.distance[q * k + b]
        }.prefix(options.mergeCandidates))
      guard let fit = try Infer.mergeFit(target: measured.samples[q], candidates: pool.map { measured.samples[$0] }) else { continue }
      out[q] = Merge(parents: fit.parents.map { (pool[$0.index], $0.weight) }, residual: fit.residual, bestSingle: fit.bestSingle)
    }
    // Of a member and one of its own merge parents, only the better fit is a merge.
    for (q, m) in out.sorted(by: { $0.key < $1.key }) {
      for (p, _) in m.parents {
        guard let other = out[p], out[q] != nil else { continue }
        if other.residual > m.residual { out[p] = nil } else { out[q] = nil }
      }
    }
    return out
  }

  static func edgeKey(_ e: SpanningTrees.Edge) -> Int { e.a << 32 | e.b }

  /// The edge as parent → child when the tree hangs from `root`.
  static func orientation(_ e: SpanningTrees.Edge, root: Int, tree: [SpanningTrees.Edge]) -> (Int, Int) {
    let depth = depths(root: root, tree: tree)
    return (depth[e.a] ?? 0) < (depth[e.b] ?? 0) ? (e.a, e.b) : (e.b, e.a)
  }

  static func depths(root: Int, tree: [SpanningTrees.Edge]) -> [Int: Int] {
    var depth = [root: 0]
    var frontier = [root]
    while let v = frontier.popLast() {
      for e in tree where e.a == v || e.b == v {
        let w = e.a == v ? e.b : e.a
        guard depth[w] == nil else { continue }
        depth[w] = (depth[v] ?? 0) + 1
        frontier.append(w)
      }
    }
    return depth
  }

  /// 1 − d/d₂: d₂ is the cheapest pair other than the edge that joins the two sides the edge
  /// separates; 0 on a tie, near 1 when nothing else comes close.
  static func placementMargin(_ e: SpanningTrees.Edge, tree: [SpanningTrees.Edge], nodes: [Int], distance: (Int, Int) -> Double) -> Double {
    let rest = tree.filter { $0 != e }
    let side = Set(depths(root: e.a, tree: rest).keys)
    var second = Double.infinity
    for a in nodes where side.contains(a) {
      for b in nodes where !side.contains(b) && !(a == e.a && b == e.b) && !(a == e.b && b == e.a) { second = min(second, distance(a, b)) }
    }
    guard second.isFinite, second > 0 else { return second.isFinite ? 0 : 1 }
    return max(0, min(1, 1 - distance(e.a, e.b) / second))
  }

  /// Elements of the merge sample the delta kurtosis reads at most per pair.
  static let kurtosisSample = 1 << 16

  /// The energy-weighted excess kurtosis of the difference of members `a` and `b` (family
  /// positions) over their sampled matrices: per matrix t, κₜ = m₄/m₂² − 3 of δ = b − a (central
  /// moments), weighted by Σδ²; matrices with δ ≡ 0 are skipped. Nil when nothing differs.
  static func deltaKurtosis(_ m: Measure, _ a: Int, _ b: Int) -> Double? {
    let total = m.matrixRanges.reduce(0) { $0 + $1.count }
    let step = max(1, total / kurtosisSample)
    var weighted = 0.0
    var energy = 0.0
    for r in m.matrixRanges {
      var (s1, s2, s3, s4, c) = (0.0, 0.0, 0.0, 0.0, 0.0)
      for x in stride(from: r.lowerBound, to: r.upperBound, by: step) {
        let d = Double(m.samples[b][x]) - Double(m.samples[a][x])
        let d2 = d * d
        (s1, s2, s3, s4, c) = (s1 + d, s2 + d2, s3 + d2 * d, s4 + d2 * d2, c + 1)
      }
      guard c >= 8 else { continue }
      let mean = s1 / c
      let m2 = s2 / c - mean * mean
      guard m2 > 0 else { continue }
      let m4 = s4 / c - 4 * mean * s3 / c + 6 * mean * mean * s2 / c - 3 * mean * mean * mean * mean
      weighted += (m4 / (m2 * m2) - 3) * s2
      energy += s2
    }
    return energy > 0 ? weighted / energy : nil
  }

  /// The median |κ| of the delta kurtosis over the edges of a plain spanning tree (0 when none
  /// has one): the kurtosis of one optimisation run in this family.
  static func kurtosisReference(kurtosis: (Int, Int) -> Double?, tree: [SpanningTrees.Edge]) -> Double {
    let magnitudes = tree.compactMap { kurtosis($0.a, $0.b).map(abs) }.sorted()
    guard !magnitudes.isEmpty else { return 0 }
    let h = magnitudes.count / 2
    return magnitudes.count % 2 == 1 ? magnitudes[h] : (magnitudes[h - 1] + magnitudes[h]) / 2
  }

  /// The number of independent optimisation runs a difference of delta kurtosis `x` looks like
  /// the sum of, m̂ = κ_ref / |x| clipped to [1, 4] (Docs/Forensics.md, "infer --all", step 5);
  /// 1 without a kurtosis or a reference.
  static func runEstimate(_ x: Double?, reference: Double) -> Double {
    guard let x, reference > 0 else { return 1 }
    return min(4, max(1, reference / max(abs(x), 1e-12)))
  }

  /// 0 for float weights, 1 on an int8 grid, 2 on a 4-bit grid.
  static func quantizationRank(_ v: ForestNode) -> Int { v.quantization == "4-bit" ? 2 : v.quantization == "int8" ? 1 : 0 }

  /// The relation of an oriented edge from the two nodes' structure.
  static func relation(_ p: ForestNode, _ c: ForestNode, distance: Double, evidence: inout [String]) -> Relation {
    if let q = c.quantization, p.quantization == nil || (q == "4-bit" && p.quantization == "int8") {
      evidence.append("child on a per-row \(q) grid")
      return .quantizedFrom
    }
    if c.zeroFraction - p.zeroFraction > 0.05 {
      evidence.append(String(format: "exact zeros: child %.1f%%, parent %.1f%%", 100 * c.zeroFraction, 100 * p.zeroFraction))
      return .prunedFrom
    }
    if c.permuted != p.permuted {
      evidence.append("hidden units permuted")
      return distance < 1e-4 ? .permutedFrom : .finetunedFrom
    }
    return distance < 1e-6 ? .identical : .finetunedFrom
  }

  /// Weights of the direction evidence (Docs/Forensics.md): structural asymmetries, declared
  /// history, monotone statistics, commit times, the medoid prior.
  static let structuralWeight = 4.0
  static let declaredWeight = 6.0
  static let trendWeight = 1.0
  static let timeWeight = 1.0
  static let medoidWeight = 1.0

  /// Score every placed member as the family's root and return the best, with each edge's
  /// direction confidence: the share of exp(score) over the roots that orient it the same way.
  static func chooseRoot(
    members: [Int], placed: [Int], backbone: [Int], tree: [SpanningTrees.Edge], distance: (Int, Int) -> Double, nodes: [ForestNode],
    options: ForestOptions
  ) -> (Int, (edge: [Int: Double], basis: [Int: [String]])) {
    guard placed.count > 1 else { return (placed.first ?? 0, ([:], [:])) }
    let node = members.map { nodes[$0] }
    var local: [Int: Int] = [:]
    for (x, m) in members.enumerated() { local[m] = x }
    let declared = Set(options.declared.compactMap { e in local[e.parent].flatMap { p in local[e.child].map { p * members.count + $0 } } })
    let time: [Int64?] = members.map { options.times.indices.contains($0) ? options.times[$0] : nil }
    // Structural evidence that u is the parent of v (positive) or the child (negative).
    var basis: [Int: [String]] = [:]
    func structural(_ u: Int, _ v: Int) -> Double {
      var s = 0.0
      let rank: (ForestNode) -> Int = { $0.quantization == "4-bit" ? 2 : $0.quantization == "int8" ? 1 : 0 }
      s += Double((rank(node[v]) - rank(node[u])).signum()) * structuralWeight
      let dz = node[v].zeroFraction - node[u].zeroFraction
      if abs(dz) > 0.05 { s += (dz > 0 ? 1 : -1) * structuralWeight }
      if node[u].permuted != node[v].permuted { s += (node[v].permuted ? 1 : -1) * structuralWeight }
      if declared.contains(u * members.count + v) { s += declaredWeight }
      if declared.contains(v * members.count + u) { s -= declaredWeight }
      if let tu = time[u], let tv = time[v], tu != tv { s += (tu < tv ? 1 : -1) * timeWeight }
      return s
    }
    // Monotone statistics: log norm and kurtosis; each root is credited with how consistently
    // they move one way along the edges hung from it (no sign is assumed).
    let stats: [(String, (ForestNode) -> Double)] = [("norm", { log(max($0.norm, 1e-30)) }), ("kurtosis", { $0.kurtosis })]
    // Centrality among the members that are not structural leaves (quantized, pruned and permuted
    // copies cluster around their parent and would pull the medoid towards it).
    let total = placed.map { a in backbone.reduce(0.0) { $0 + (a == $1 ? 0 : distance(a, $1)) } }
    let plain = tree.filter { structural($0.a, $0.b) == 0 }
    var trend: [(name: String, scale: Double, value: (ForestNode) -> Double)] = []
    for (name, f) in stats {
      let deltas = plain.map { abs(f(node[$0.a]) - f(node[$0.b])) }.sorted()
      let scale = deltas.isEmpty ? 0 : deltas[deltas.count / 2]
      guard scale > 0 else { continue }
      trend.append((name, scale, f))
    }
    // A trend's agreement with a root: Σ over the plain edges, hung from the root, of
    // tanh(Δf / scale) from parent to child. Its weight is its own consistency, a / |plain|.
    func agreement(_ t: (name: String, scale: Double, value: (ForestNode) -> Double), _ depth: [Int: Int]) -> Double {
      plain.reduce(0.0) { acc, e in
        let (p, c) = (depth[e.a] ?? 0) < (depth[e.b] ?? 0) ? (e.a, e.b) : (e.b, e.a)
        return acc + tanh((t.value(node[c]) - t.value(node[p])) / t.scale)
      }
    }
    let core = placed.indices.filter { backbone.contains(placed[$0]) }.map { total[$0] }
    let spread = max(1e-12, (core.max() ?? 0) - (core.min() ?? 0))
    var score: [Int: Double] = [:]
    for (x, r) in placed.enumerated() {
      let depth = depths(root: r, tree: tree)
      var s = -medoidWeight * min(1, max(0, total[x] - (core.min() ?? 0)) / spread)
      for e in tree {
        s += (depth[e.a] ?? 0) < (depth[e.b] ?? 0) ? structural(e.a, e.b) : structural(e.b, e.a)
      }
      if !plain.isEmpty {
        for t in trend {
          let a = agreement(t, depth)
          s += trendWeight * a * a / Double(plain.count)
        }
      }
      score[r] = s
    }
    let best = placed.max { (score[$0] ?? 0, -$0) < (score[$1] ?? 0, -$1) } ?? placed[0]
    let fromBest = depths(root: best, tree: tree)
    for e in tree {
      var lines: [String] = []
      let s = structural(e.a, e.b)
      if s != 0 { lines.append(String(format: "structure/priors favour %@ as parent (%+.1f)", s > 0 ? node[e.a].label : node[e.b].label, abs(s))) }
      for t in trend where !plain.isEmpty {
        let w = agreement(t, fromBest) / Double(plain.count)
        lines.append(String(format: "%@ %.4g → %.4g (family trend from the chosen root: %@ %@ from parent to child, weight %.2f)", t.name, t.value(node[e.a]), t.value(node[e.b]), t.name, w >= 0 ? "grows" : "shrinks", abs(w)))
      }
      basis[edgeKey(e)] = lines
    }
    let top = score.values.max() ?? 0
    let weight = score.mapValues { exp($0 - top) }
    let sum = weight.values.reduce(0, +)
    var confidence: [Int: Double] = [:]
    for e in tree {
      let (p, _) = orientation(e, root: best, tree: tree)
      let rest = tree.filter { $0 != e }
      let side = Set(depths(root: p, tree: rest).keys)
      confidence[edgeKey(e)] = min(1, max(0, placed.filter { side.contains($0) }.reduce(0.0) { $0 + (weight[$1] ?? 0) } / sum))
    }
    return (best, (confidence, basis))
  }

  // MARK: - MoTHer

  /// MoTHer's algorithm on the same inputs: raw weight distances over all models, single-linkage
  /// clusters (the count given), then per cluster the minimum arborescence (Chu–Liu/Edmonds) of
  /// arc costs d(i, j) + λ·[κᵢ > κⱼ] (fine-tuning raises kurtosis, so a parent with the higher
  /// kurtosis pays λ), λ the median distance in the cluster; a virtual root picks the cluster root.
  static func mother(
    models: [ModelTensors], canonical: [[String: ModelTensors.Item]], families k: Int, options: ForestOptions,
    progress: (String, Int, Int) -> Void
  ) throws -> ForestResult {
    let n = models.count
    let all = Array(0..<n)
    let measured = try measure(group: all, canonical: canonical, blocks: Array(repeating: [:], count: n), orders: [:], options: options, progress: progress)
    func d(_ a: Int, _ b: Int) -> Double { measured.distance[a * n + b] }
    var nodes = models.enumerated().map { i, m in
      let s = measured.moments[i]
      return ForestNode(
        label: m.label, family: 0, kurtosis: s.matrices > 0 ? s.kurtosisSum / Double(s.matrices) : 0, norm: s.sumSquares.squareRoot(),
        zeroFraction: s.elements > 0 ? Double(s.zeros) / Double(s.elements) : 0, quantization: nil, permuted: false, tested: false)
    }
    let mst = try SpanningTrees.minimumSpanningTree(nodes: all, cost: d)
    let cut = mst.sorted { ($0.cost, $0.a, $0.b) > ($1.cost, $1.a, $1.b) }.prefix(max(0, min(k, n) - 1))
    let kept = mst.filter { e in !cut.contains(e) }
    let clusters = components(n, kept.map { ($0.a, $0.b) })
    var families: [[Int]] = []
    var edges: [ForestEdge] = []
    for (f, members) in clusters.enumerated() {
      for m in members { nodes[m].family = f }
      guard members.count > 1 else {
        families.append(members)
        continue
      }
      let c = members.count
      let within = members.flatMap { a in members.filter { $0 > a }.map { d(a, $0) } }.sorted()
      let lambda = within[within.count / 2]
      var arcs: [SpanningTrees.Arc] = []
      for (x, a) in members.enumerated() {
        for (y, b) in members.enumerated() where x != y {
          arcs.append(SpanningTrees.Arc(from: x, to: y, cost: d(a, b) + (nodes[a].kurtosis > nodes[b].kurtosis ? lambda : 0)))
        }
      }
      // A virtual root (index c) with one costly arc to each member: exactly one is used.
      let big = 1 + arcs.reduce(0.0) { $0 + $1.cost }
      arcs += (0..<c).map { SpanningTrees.Arc(from: c, to: $0, cost: big) }
      let parent = try SpanningTrees.minimumArborescence(nodeCount: c + 1, root: c, arcs: arcs)
      let root = (0..<c).first { parent[$0]?.from == c } ?? 0
      families.append([members[root]] + members.enumerated().filter { $0.offset != root }.map(\.element))
      let undirected = (0..<c).compactMap { v in parent[v].flatMap { $0.from == c ? nil : SpanningTrees.Edge(a: $0.from, b: v, cost: d(members[$0.from], members[v])) } }
      for v in 0..<c {
        guard let arc = parent[v], arc.from != c else { continue }
        let (p, ch) = (members[arc.from], members[v])
        let e = SpanningTrees.Edge(a: arc.from, b: v, cost: d(p, ch))
        edges.append(
          ForestEdge(
            parent: p, child: ch, relation: .finetunedFrom, pValue: nil, logP: nil, adjustedLogP: nil, distance: d(p, ch),
            placementConfidence: placementMargin(e, tree: undirected, nodes: Array(0..<c)) { d(members[$0], members[$1]) },
            directionConfidence: nodes[p].kurtosis <= nodes[ch].kurtosis ? 1 : 0, mergeWeight: nil,
            evidence: [String(format: "MoTHer: distance %.4g, kurtosis %.4g → %.4g", d(p, ch), nodes[p].kurtosis, nodes[ch].kurtosis)]))
      }
    }
    return ForestResult(nodes: nodes, families: families, edges: edges, pairs: [], distance: options.distance)
  }
}
