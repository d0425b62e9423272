import LineageCore

/// A model the runtime can run: one of two hand-written families (Docs/Runtime.md).
public struct Architecture: Equatable, Sendable {
  public enum Kind: String, Sendable { case mlp, transformer }
  public enum Norm: String, Sendable { case rms, layer }
  public enum Activation: String, Sendable { case gelu, relu, silu }

  public var kind: Kind
  /// mlp: input features (0 for a transformer).
  public var inputs: Int
  /// mlp: classes; transformer: the vocabulary (logits' width).
  public var outputs: Int
  /// transformer: the longest sequence (0 for an mlp).
  public var context: Int
  public var hidden: Int
  public var layers: Int
  /// transformer: attention heads (0 for an mlp).
  public var heads: Int
  public var intermediate: Int
  public var norm: Norm
  public var activation: Activation
  public var normEpsilon: Float

  public static let formatName = "lineage-architecture/1"

  /// An MLP with residual blocks: `inputs` features → `outputs` classes.
  public static func mlp(
    inputs: Int, outputs: Int, hidden: Int, layers: Int, intermediate: Int, norm: Norm = .rms, activation: Activation = .gelu
  ) -> Architecture {
    Architecture(
      kind: .mlp, inputs: inputs, outputs: outputs, context: 0, hidden: hidden, layers: layers, heads: 0,
      intermediate: intermediate, norm: norm, activation: activation, normEpsilon: 1e-5)
  }

  /// A pre-norm causal transformer over `vocab` tokens.
  public static func transformer(
    vocab: Int, context: Int, hidden: Int, layers: Int, heads: Int, intermediate: Int, norm: Norm = .rms,
    activation: Activation = .silu
  ) -> Architecture {
    Architecture(
      kind: .transformer, inputs: 0, outputs: vocab, context: context, hidden: hidden, layers: layers, heads: heads,
      intermediate: intermediate, norm: norm, activation: activation, normEpsilon: 1e-5)
  }

  /// Width of one attention head.
  public var headDimension: Int { heads > 0 ? hidden / heads : 0 }

  /// Check the counts; the runtime never runs an architecture that fails this.
  public func validate() throws(RuntimeError) {
    func positive(_ key: String, _ v: Int, limit: Int = 1 << 20) throws(RuntimeError) {
      guard v >= 1, v <= limit else { throw .architectureField(key: key, problem: "must be between 1 and \(limit), is \(v)") }
    }
    try positive("hidden", hidden)
    try positive("layers", layers, limit: 1024)
    try positive("intermediate", intermediate)
    switch kind {
    case .mlp:
      try positive("inputs", inputs)
      try positive("outputs", outputs)
    case .transformer:
      try positive("vocab", outputs)
      try positive("context", context, limit: 1 << 16)
      try positive("heads", heads, limit: hidden)
      guard hidden % heads == 0 else { throw .architectureField(key: "heads", problem: "\(heads) does not divide hidden \(hidden)") }
    }
    guard normEpsilon > 0, normEpsilon.isFinite else { throw .architectureField(key: "norm_eps", problem: "must be positive") }
  }

  // MARK: - architecture.json

  /// Parse `architecture.json` strictly: unknown keys, wrong types and bad counts are errors.
  public static func parse(_ bytes: [UInt8]) throws(RuntimeError) -> Architecture {
    let root: JSONValue
    do { root = try StrictJSONParser.parse(bytes) } catch { throw .architectureJSON("\(error)") }
    guard let members = root.objectValue else { throw .architectureJSON("the top level must be an object") }
    let format = root["format"]?.stringValue
    guard format == formatName else { throw .architectureFormat(format) }
    guard let kind = root["kind"]?.stringValue.flatMap(Kind.init(rawValue:)) else {
      throw .architectureField(key: "kind", problem: "must be \"mlp\" or \"transformer\"")
    }
    let allowed: Set<String> =
      kind == .mlp
      ? ["format", "kind", "inputs", "outputs", "hidden", "layers", "intermediate", "norm", "activation", "norm_eps"]
      : ["format", "kind", "vocab", "context", "hidden", "layers", "heads", "intermediate", "norm", "activation", "norm_eps"]
    for (key, _) in members where !allowed.contains(key) { throw .unknownArchitectureKey(key) }
    func int(_ key: String) throws(RuntimeError) -> Int {
      guard let v = root[key] else { throw .architectureField(key: key, problem: "missing") }
      guard let n = v.int64Value, let i = Int(exactly: n) else { throw .architectureField(key: key, problem: "must be an integer") }
      return i
    }
    func word<T: RawRepresentable>(_ key: String, _ fallback: T) throws(RuntimeError) -> T where T.RawValue == String {
      guard let v = root[key] else { return fallback }
      guard let s = v.stringValue, let t = T(rawValue: s) else { throw .architectureField(key: key, problem: "unknown value") }
      return t
    }
    var a: Architecture
    switch kind {
    case .mlp:
      a = .mlp(
        inputs: try int("inputs"), outputs: try int("outputs"), hidden: try int("hidden"), layers: try int("layers"),
        intermediate: try int("intermediate"), norm: try word("norm", Norm.rms), activation: try word("activation", Activation.gelu))
    case .transformer:
      a = .transformer(
        vocab: try int("vocab"), context: try int("context"), hidden: try int("hidden"), layers: try int("layers"),
        heads: try int("heads"), intermediate: try int("intermediate"), norm: try word("norm", Norm.rms),
        activation: try word("activation", Activation.silu))
    }
    if let e = root["norm_eps"] {
      guard case .number(let text) = e, let v = Float(text) else { throw .architectureField(key: "norm_eps", problem: "must be a number") }
      a.normEpsilon = v
    }
    try a.validate()
    return a
  }

  /// The canonical `architecture.json` text (keys in the documented order, a final newline).
  public func json() -> String {
    var fields: [(String, String)] = [("format", "\"\(Self.formatName)\""), ("kind", "\"\(kind.rawValue)\"")]
    switch kind {
    case .mlp: fields += [("inputs", "\(inputs)"), ("outputs", "\(outputs)")]
    case .transformer: fields += [("vocab", "\(outputs)"), ("context", "\(context)")]
    }
    fields += [("hidden", "\(hidden)"), ("layers", "\(layers)")]
    if kind == .transformer { fields.append(("heads", "\(heads)")) }
    fields += [
      ("intermediate", "\(intermediate)"), ("norm", "\"\(norm.rawValue)\""), ("activation", "\"\(activation.rawValue)\""),
      ("norm_eps", "\(normEpsilon)"),
    ]
    return "{\n" + fields.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n"
  }
}
