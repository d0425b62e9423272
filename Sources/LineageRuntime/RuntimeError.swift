/// Why the runtime refused a model, an input or a training request.
public enum RuntimeError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The architecture file is not strict JSON.
  case architectureJSON(String)
  /// The architecture's `format` is missing or not `lineage-architecture/1`.
  case architectureFormat(String?)
  /// A key the format does not define (a typo would otherwise be ignored silently).
  case unknownArchitectureKey(String)
  /// A required key is missing, or has the wrong type or an out-of-range value.
  case architectureField(key: String, problem: String)
  /// A parameter the architecture needs is absent from the weights.
  case missingParameter(String)
  /// A parameter has another shape than the architecture says.
  case parameterShape(name: String, expected: [Int], found: [Int])
  /// Weights hold tensors the architecture does not define.
  case unexpectedParameters([String])
  /// An input does not fit the model (wrong width, empty batch, token out of range, too long).
  case input(String)
  /// Targets do not match the inputs (count, or a class id out of range).
  case targets(String)
  /// A training option is out of range.
  case training(String)

  public var description: String {
    switch self {
    case .architectureJSON(let why): "architecture file is not valid JSON: \(why)"
    case .architectureFormat(let f): "architecture format is \(f.map { "'\($0)'" } ?? "missing"), expected 'lineage-architecture/1'"
    case .unknownArchitectureKey(let k): "architecture has an unknown key '\(k)'"
    case .architectureField(let key, let problem): "architecture key '\(key)': \(problem)"
    case .missingParameter(let n): "weights lack parameter '\(n)'"
    case .parameterShape(let n, let e, let f): "parameter '\(n)' has shape \(f), the architecture needs \(e)"
    case .unexpectedParameters(let names):
      "weights hold \(names.count) tensor(s) the architecture does not define: \(names.prefix(3).joined(separator: ", "))"
    case .input(let why): "input: \(why)"
    case .targets(let why): "targets: \(why)"
    case .training(let why): "training: \(why)"
    }
  }
}
