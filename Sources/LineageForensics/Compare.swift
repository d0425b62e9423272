import LineageCore
import LineageFormats

/// One side of a comparison: a model's tensors with the reader that holds each.
public struct ModelTensors: Sendable {
  public struct Item: Sendable {
    public var file: String
    public var entry: TensorEntry
    public var source: any TensorSource
    public init(file: String, entry: TensorEntry, source: any TensorSource) {
      self.file = file
      self.entry = entry
      self.source = source
    }
  }
  public var label: String
  public var items: [Item]
  public init(label: String, items: [Item]) {
    self.label = label
    self.items = items
  }
}

/// The result of comparing two models tensor by tensor (Docs/Forensics.md).
public struct Comparison: Sendable {
  public struct Row: Sendable {
    public var name: String
    public var shape: [UInt64]
    public var dtypeA: DType
    public var dtypeB: DType
    /// Nil when the shapes differ.
    public var metrics: TensorMetrics?
    public var group: TensorGroup
    /// Unbiased linear CKA with rows as samples (2-D tensors of at least 4 rows; evenly spaced
    /// rows beyond `CompareOptions.ckaRows`).
    public var cka: Double?
    /// Cosine of the normalised singular-value spectra (2-D tensors within the size limit).
    public var spectrum: Double?
  }
  public var grouping: Grouping
  public var rows: [Row]
  public var onlyInA: [String]
  public var onlyInB: [String]
  /// Tensors present in both with different shapes.
  public var shapeMismatch: [String]
  /// The unit-matching test of every block whose MLP pair both models have.
  public var unitTests: [UnitMatchingTest]
  /// Fisher's combination of the blocks' unit-matching p-values: the evidence that the two
  /// models are not independent. Nil without unit tests.
  public var combined: FisherCombination?
  /// Means by layer (blocks in order, then tensors outside blocks as layer nil) and by module.
  public var byLayer: [Rollup]
  public var byModule: [Rollup]
}

/// Mean metrics over a group of tensors (those whose shapes match; non-finite values skipped).
public struct Rollup: Sendable, Equatable {
  /// The layer index, or nil for tensors outside blocks (by layer); nil by module.
  public var layer: Int?
  /// The module name (by module); "" by layer.
  public var module: String
  public var tensors: Int
  public var elements: Int
  public var cosine: Double
  public var pearson: Double
  public var relativeL2: Double
  public var cka: Double?
  public var spectrum: Double?
}

/// What `Compare.run` computes beyond the per-tensor metrics.
public struct CompareOptions: Sendable {
  public var grouping: Grouping = .auto
  public var cka = true
  public var spectrum = true
  public var unitMatching = true
  /// CKA uses at most this many evenly spaced rows (each side n×n Gram matrices).
  public var ckaRows = 1024
  /// Spectra only for matrices whose smaller side is at most this (LAPACK sgesdd time grows
  /// with it cubed).
  public var spectrumDimension = 1024

  public init() {}
}

/// Why a comparison or a statistic cannot be computed.
public enum ForensicsError: Error, Equatable, CustomStringConvertible {
  /// No tensor name is in both models.
  case nothingInCommon(String, String)
  /// A tensor's values cannot be read as floats (the reader's reason).
  case unreadable(tensor: String, reason: String)
  /// Operands whose shapes do not fit together; carries the operation and both shapes (e.g. "4×3").
  case shapeMismatch(operation: String, String, String)
  /// An input with no elements; carries the operation and which input.
  case empty(operation: String, input: String)
  /// Fewer samples than the statistic needs; carries the operation, the minimum and the count given.
  case tooFewSamples(operation: String, minimum: Int, count: Int)
  /// An infinity or NaN in an input; carries the operation, the input and the first offending index.
  case nonFinite(operation: String, input: String, index: Int)
  /// The statistic is undefined because an input does not vary (zero self-HSIC, all values tied,
  /// an all-zero spectrum); carries the operation and the input.
  case noVariance(operation: String, input: String)
  /// A p-value outside (0, 1], or a log p-value outside (−∞, 0]; carries its index and value.
  case invalidPValue(index: Int, value: Double)
  /// An index list that is not a permutation of 0..<n (or indexes past the rows); carries n.
  case invalidPermutation(count: Int)
  /// A LAPACK routine failed; carries its message.
  case linearAlgebra(String)
  /// An iterative method stopped at its iteration cap; carries the method and the cap.
  case noConvergence(method: String, iterations: Int)
  /// An empirical null needs more models; carries the minimum and the count given.
  case tooFewModels(minimum: Int, count: Int)
  /// A model for a null whose tensor names or shapes differ from the first model's; carries the
  /// model, the first differing tensor (in name order) and how it differs.
  case architectureMismatch(model: String, tensor: String, reason: String)
  /// A model scored against a null has another tensor signature; carries the model and both
  /// signatures.
  case signatureMismatch(model: String, expected: String, found: String)
  /// A graph node no spanning structure can reach; carries the operation and the node.
  case disconnected(operation: String, node: Int)
  /// A null file declares a format other than `lineage-null/1`; carries it.
  case unsupportedNullFormat(String)
  /// A null file lacks required members; carries their names.
  case missingNullFields([String])
  /// A null file's member breaks the format (Docs/Forensics.md); carries the member ("" for the
  /// whole file) and why.
  case malformedNull(field: String, reason: String)

  public var description: String {
    switch self {
    case .nothingInCommon(let a, let b): return "\(a) and \(b) have no tensor name in common"
    case .unreadable(let t, let r): return "tensor '\(t)' cannot be read as floats: \(r)"
    case .shapeMismatch(let op, let a, let b): return "\(op): shapes \(a) and \(b) do not fit together"
    case .empty(let op, let input): return "\(op): \(input) is empty"
    case .tooFewSamples(let op, let minimum, let count): return "\(op) needs at least \(minimum) samples, got \(count)"
    case .nonFinite(let op, let input, let i): return "\(op): \(input) holds an infinity or NaN at index \(i)"
    case .noVariance(let op, let input): return "\(op) is undefined: \(input) does not vary"
    case .invalidPValue(let i, let v): return "p-value \(i) is \(v), outside (0, 1] (or its log outside (-inf, 0])"
    case .invalidPermutation(let n): return "not a permutation of 0..<\(n)"
    case .linearAlgebra(let message): return "linear algebra failed: \(message)"
    case .noConvergence(let method, let n): return "\(method) did not converge in \(n) iterations"
    case .tooFewModels(let minimum, let count): return "an empirical null needs at least \(minimum) independent models, got \(count)"
    case .architectureMismatch(let model, let tensor, let reason):
      return "\(model) is not the first model's architecture: tensor '\(tensor)' \(reason)"
    case .signatureMismatch(let model, let expected, let found):
      return "\(model) has tensor signature \(found), but the null was built for signature \(expected) (another architecture)"
    case .disconnected(let op, let node): return "\(op): node \(node) cannot be reached"
    case .unsupportedNullFormat(let f): return "null file format \(f.debugDescription) is not lineage-null/1"
    case .missingNullFields(let names): return "null file lacks \(names.joined(separator: ", "))"
    case .malformedNull(let field, let reason): return field.isEmpty ? "null file: \(reason)" : "null file member \(field): \(reason)"
    }
  }
}

public enum Compare {
  /// Compare the tensors two models share by name: per-tensor metrics, CKA and spectra; roll-ups
  /// by layer and module; the unit-matching test of every block (Docs/Forensics.md).
  /// `progress(done, total)` after each tensor.
  public static func run(
    _ a: ModelTensors, _ b: ModelTensors, options: CompareOptions = CompareOptions(), progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> Comparison {
    // Tensors match by canonical name (GGUF llama names read as Hugging Face names).
    let byName = Dictionary(b.items.map { (TensorNames.canonical($0.entry.name), $0) }, uniquingKeysWith: { x, _ in x })
    let namesA = Set(a.items.map { TensorNames.canonical($0.entry.name) })
    let shared = a.items.filter { byName[TensorNames.canonical($0.entry.name)] != nil }
    guard !shared.isEmpty else { throw ForensicsError.nothingInCommon(a.label, b.label) }
    let grouping =
      options.grouping == .auto ? Grouping.detect(shared.map { TensorNames.canonical($0.entry.name) }) : options.grouping
    var rows: [Comparison.Row] = []
    var mismatch: [String] = []
    for (k, x) in shared.enumerated() {
      defer { progress(k + 1, shared.count) }
      guard let y = byName[TensorNames.canonical(x.entry.name)] else { continue }
      var row = Comparison.Row(
        name: x.entry.name, shape: x.entry.shape, dtypeA: x.entry.dtype, dtypeB: y.entry.dtype, metrics: nil,
        group: grouping.group(TensorNames.canonical(x.entry.name)), cka: nil, spectrum: nil)
      guard x.entry.shape == y.entry.shape else {
        mismatch.append(x.entry.name)
        rows.append(row)
        continue
      }
      let fa = try floats(x)
      let fb = try floats(y)
      row.metrics = TensorMetrics.compare(fa, fb)
      if x.entry.shape.count == 2, row.metrics?.cosine.isFinite == true {
        let ma = try Matrix(shape: x.entry.shape, values: fa)
        let mb = try Matrix(shape: y.entry.shape, values: fb)
        if options.cka, ma.rows >= 4 {
          let picked = evenlySpaced(ma.rows, options.ckaRows)
          row.cka = try? CKA.unbiasedLinear(try ma.selectingRows(picked), try mb.selectingRows(picked))
        }
        if options.spectrum, min(ma.rows, ma.cols) >= 2, min(ma.rows, ma.cols) <= options.spectrumDimension {
          row.spectrum = (try? SpectrumSimilarity.compare(ma, mb))?.cosine
        }
      }
      rows.append(row)
    }
    let tests = options.unitMatching ? try unitTests(rows: rows, a: a, byName: byName) : []
    let combined = tests.isEmpty ? nil : try PValues.fisher(logPValues: tests.map(\.logP))
    return Comparison(
      grouping: grouping, rows: rows, onlyInA: a.items.map(\.entry.name).filter { byName[TensorNames.canonical($0)] == nil },
      onlyInB: b.items.map(\.entry.name).filter { !namesA.contains(TensorNames.canonical($0)) }, shapeMismatch: mismatch, unitTests: tests,
      combined: combined, byLayer: rollups(rows, byLayer: true), byModule: rollups(rows, byLayer: false))
  }

  /// `count` indices spread evenly over 0..<n (all of them when n ≤ count).
  static func evenlySpaced(_ n: Int, _ count: Int) -> [Int] {
    guard n > count, count > 0 else { return Array(0..<n) }
    return (0..<count).map { $0 * n / count }
  }

  /// The unit-matching test for every block with an MLP pair of matching shapes in both models.
  static func unitTests(rows: [Comparison.Row], a: ModelTensors, byName: [String: ModelTensors.Item]) throws -> [UnitMatchingTest] {
    let itemsA = Dictionary(a.items.map { ($0.entry.name, $0) }, uniquingKeysWith: { x, _ in x })
    var byLayer: [Int: [String: Comparison.Row]] = [:]
    for r in rows where r.metrics != nil && r.name.hasSuffix(".weight") && r.shape.count == 2 {
      if let l = r.group.layer { byLayer[l, default: [:]][r.group.module] = r }
    }
    var tests: [UnitMatchingTest] = []
    for layer in byLayer.keys.sorted() {
      guard let modules = byLayer[layer],
        let pair = Grouping.unitPairs.first(where: { modules[$0.input] != nil && modules[$0.output] != nil }),
        let inRow = modules[pair.input], let outRow = modules[pair.output],
        let inA = itemsA[inRow.name], let inB = byName[TensorNames.canonical(inRow.name)], let outA = itemsA[outRow.name],
        let outB = byName[TensorNames.canonical(outRow.name)],
        inRow.shape[0] == outRow.shape[1], inRow.shape[0] >= 3
      else { continue }
      tests.append(
        try UnitMatchingTest.run(
          layer: layer, input: pair.input, output: pair.output, inputA: try Matrix(shape: inRow.shape, values: try floats(inA)),
          inputB: try Matrix(shape: inRow.shape, values: try floats(inB)), outputA: try Matrix(shape: outRow.shape, values: try floats(outA)),
          outputB: try Matrix(shape: outRow.shape, values: try floats(outB))))
    }
    return tests
  }

  static func rollups(_ rows: [Comparison.Row], byLayer: Bool) -> [Rollup] {
    var order: [String] = []
    var groups: [String: (layer: Int?, module: String, rows: [Comparison.Row])] = [:]
    // Blocks in numeric order first, then tensors outside blocks, each module in first-seen order.
    let sorted = byLayer ? rows.enumerated().sorted { ($0.element.group.layer ?? .max, $0.offset) < ($1.element.group.layer ?? .max, $1.offset) }.map(\.element) : rows
    for r in sorted where r.metrics.map({ $0.cosine.isFinite }) == true {
      let key = byLayer ? r.group.layer.map(String.init) ?? "-" : r.group.module
      if groups[key] == nil {
        order.append(key)
        groups[key] = (byLayer ? r.group.layer : nil, byLayer ? "" : r.group.module, [])
      }
      groups[key]?.rows.append(r)
    }
    return order.compactMap { key in
      guard let g = groups[key] else { return nil }
      let m = g.rows.compactMap(\.metrics)
      func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
      return Rollup(
        layer: g.layer, module: g.module, tensors: m.count, elements: m.reduce(0) { $0 + $1.count },
        cosine: mean(m.map(\.cosine)) ?? .nan, pearson: mean(m.map(\.pearson)) ?? .nan, relativeL2: mean(m.map(\.relativeL2)) ?? .nan,
        cka: mean(g.rows.compactMap(\.cka)), spectrum: mean(g.rows.compactMap(\.spectrum)))
    }
  }

  static func floats(_ item: ModelTensors.Item) throws -> [Float] {
    do { return try item.source.floats(of: item.entry) } catch let p as any FormatProblem {
      throw ForensicsError.unreadable(tensor: item.entry.name, reason: p.description)
    }
  }
}
