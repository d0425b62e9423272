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

/// The per-tensor comparison of two models, matched by tensor name.
public struct Comparison: Sendable {
  public struct Row: Sendable {
    public var name: String
    public var shape: [UInt64]
    public var dtypeA: DType
    public var dtypeB: DType
    /// nil when the shapes differ (the tensors cannot be compared element by element).
    public var metrics: TensorMetrics?
  }
  public var rows: [Row]
  public var onlyInA: [String]
  public var onlyInB: [String]
  /// Matched tensors whose shapes differ.
  public var shapeMismatch: [String]
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
    }
  }
}

public enum Compare {
  /// Compare every tensor name the two models share: values as floats (dequantized, converted
  /// from any dtype), in row-major order.
  public static func run(_ a: ModelTensors, _ b: ModelTensors, progress: (Int, Int) -> Void = { _, _ in }) throws -> Comparison {
    let byName = Dictionary(b.items.map { ($0.entry.name, $0) }, uniquingKeysWith: { x, _ in x })
    let namesA = Set(a.items.map(\.entry.name))
    var rows: [Comparison.Row] = []
    var mismatch: [String] = []
    let shared = a.items.filter { byName[$0.entry.name] != nil }
    guard !shared.isEmpty else { throw ForensicsError.nothingInCommon(a.label, b.label) }
    for (k, x) in shared.enumerated() {
      defer { progress(k + 1, shared.count) }
      guard let y = byName[x.entry.name] else { continue }
      var row = Comparison.Row(name: x.entry.name, shape: x.entry.shape, dtypeA: x.entry.dtype, dtypeB: y.entry.dtype, metrics: nil)
      if x.entry.shape == y.entry.shape {
        row.metrics = TensorMetrics.compare(try floats(x), try floats(y))
      } else {
        mismatch.append(x.entry.name)
      }
      rows.append(row)
    }
    return Comparison(
      rows: rows, onlyInA: a.items.map(\.entry.name).filter { byName[$0] == nil },
      onlyInB: b.items.map(\.entry.name).filter { !namesA.contains($0) }, shapeMismatch: mismatch)
  }

  static func floats(_ item: ModelTensors.Item) throws -> [Float] {
    do { return try item.source.floats(of: item.entry) } catch let p as any FormatProblem {
      throw ForensicsError.unreadable(tensor: item.entry.name, reason: p.description)
    }
  }
}
