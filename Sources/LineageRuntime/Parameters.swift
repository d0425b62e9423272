import LineageTensor

/// One named parameter tensor inside the flat parameter vector.
public struct ParameterSpec: Equatable, Sendable {
  public enum Role: Sendable, Equatable {
    /// A linear layer's `[out, in]` matrix.
    case matrix
    /// A linear layer's bias (initialised to 0).
    case bias
    /// A norm's scale (initialised to 1).
    case normWeight
    /// A layer norm's shift (initialised to 0).
    case normBias
    /// An embedding table `[rows, hidden]`.
    case embedding
  }
  public var name: String
  public var shape: [Int]
  public var role: Role
  /// Offset of the first element in the flat vector.
  public var offset: Int
  public var count: Int { shape.reduce(1, *) }
  /// Output projections (`o_proj`, `down_proj`) start smaller, so the residual stream's variance
  /// does not grow with depth.
  public var isOutputProjection: Bool { name.hasSuffix("o_proj.weight") || name.hasSuffix("down_proj.weight") }
}

/// Where every parameter of an architecture lives in one flat float32 vector, in a fixed order
/// (the order of Docs/Runtime.md); the optimiser and gradients use the same layout.
public struct ParameterLayout: Sendable, Equatable {
  public let architecture: Architecture
  public let specs: [ParameterSpec]
  /// Total number of float32 parameters.
  public let count: Int
  private let index: [String: Int]

  public init(_ a: Architecture) {
    var specs: [ParameterSpec] = []
    var offset = 0
    func add(_ name: String, _ shape: [Int], _ role: ParameterSpec.Role) {
      specs.append(ParameterSpec(name: name, shape: shape, role: role, offset: offset))
      offset += shape.reduce(1, *)
    }
    func norm(_ prefix: String) {
      add(prefix + ".weight", [a.hidden], .normWeight)
      if a.norm == .layer { add(prefix + ".bias", [a.hidden], .normBias) }
    }
    switch a.kind {
    case .mlp:
      add("model.input_proj.weight", [a.hidden, a.inputs], .matrix)
      add("model.input_proj.bias", [a.hidden], .bias)
      for i in 0..<a.layers {
        let p = "model.layers.\(i)"
        norm(p + ".norm")
        add(p + ".mlp.up_proj.weight", [a.intermediate, a.hidden], .matrix)
        add(p + ".mlp.up_proj.bias", [a.intermediate], .bias)
        add(p + ".mlp.down_proj.weight", [a.hidden, a.intermediate], .matrix)
        add(p + ".mlp.down_proj.bias", [a.hidden], .bias)
      }
      norm("model.norm")
      add("lm_head.weight", [a.outputs, a.hidden], .matrix)
      add("lm_head.bias", [a.outputs], .bias)
    case .transformer:
      add("model.embed_tokens.weight", [a.outputs, a.hidden], .embedding)
      add("model.embed_positions.weight", [a.context, a.hidden], .embedding)
      for i in 0..<a.layers {
        let p = "model.layers.\(i)"
        norm(p + ".input_layernorm")
        for m in ["q_proj", "k_proj", "v_proj", "o_proj"] { add(p + ".self_attn.\(m).weight", [a.hidden, a.hidden], .matrix) }
        norm(p + ".post_attention_layernorm")
        add(p + ".mlp.gate_proj.weight", [a.intermediate, a.hidden], .matrix)
        add(p + ".mlp.up_proj.weight", [a.intermediate, a.hidden], .matrix)
        add(p + ".mlp.down_proj.weight", [a.hidden, a.intermediate], .matrix)
      }
      norm("model.norm")
      add("lm_head.weight", [a.outputs, a.hidden], .matrix)
    }
    self.architecture = a
    self.specs = specs
    self.count = offset
    self.index = Dictionary(uniqueKeysWithValues: specs.enumerated().map { ($1.name, $0) })
  }

  public func spec(_ name: String) -> ParameterSpec? { index[name].map { specs[$0] } }

  /// Offset of a parameter the layout is known to hold (internal names only).
  func offset(_ name: String) -> Int {
    guard let i = index[name] else { preconditionFailure("no parameter \(name)") }
    return specs[i].offset
  }

  /// Offset of a parameter that exists only for layer norms (their bias), or nil.
  func optionalOffset(_ name: String) -> Int? { index[name].map { specs[$0].offset } }

  public static func == (a: ParameterLayout, b: ParameterLayout) -> Bool { a.architecture == b.architecture }
}

/// A model's weights: the layout and one flat float32 vector.
public struct Parameters: Sendable, Equatable {
  public let layout: ParameterLayout
  public var values: [Float]

  public init(layout: ParameterLayout, values: [Float]) {
    precondition(values.count == layout.count, "parameter vector of the wrong length")
    self.layout = layout
    self.values = values
  }

  /// Seeded initialisation (Docs/Runtime.md): weights N(0, 0.02²), output projections scaled by
  /// 1/√(2·layers), biases 0, norm weights 1.
  public static func initialise(_ architecture: Architecture, seed: UInt64) -> Parameters {
    let layout = ParameterLayout(architecture)
    var values = [Float](repeating: 0, count: layout.count)
    for spec in layout.specs {
      var rng = Xoshiro(seed: SyntheticCheckpoint.seed(seed, name: spec.name))
      switch spec.role {
      case .bias, .normBias: break
      case .normWeight:
        for k in 0..<spec.count { values[spec.offset + k] = 1 }
      case .matrix, .embedding:
        let scale: Float = 0.02 * (spec.isOutputProjection ? 1 / Float(2 * architecture.layers).squareRoot() : 1)
        for k in 0..<spec.count { values[spec.offset + k] = scale * rng.normal() }
      }
    }
    return Parameters(layout: layout, values: values)
  }

  /// Weights from named tensors (e.g. read from a stored commit): every parameter must be
  /// present with its exact shape, and nothing else may be.
  public init(architecture: Architecture, tensors: [String: (shape: [Int], values: [Float])]) throws(RuntimeError) {
    try architecture.validate()
    let layout = ParameterLayout(architecture)
    var values = [Float](repeating: 0, count: layout.count)
    for spec in layout.specs {
      guard let t = tensors[spec.name] else { throw .missingParameter(spec.name) }
      // A 1-element-per-row shape written as [n, 1] or [n] is not the same tensor: shapes must match.
      guard t.shape == spec.shape, t.values.count == spec.count else {
        throw .parameterShape(name: spec.name, expected: spec.shape, found: t.shape)
      }
      values.replaceSubrange(spec.offset..<(spec.offset + spec.count), with: t.values)
    }
    let extra = tensors.keys.filter { layout.spec($0) == nil }.sorted()
    guard extra.isEmpty else { throw .unexpectedParameters(extra) }
    self.init(layout: layout, values: values)
  }

  /// One parameter's values.
  public func tensor(_ name: String) -> [Float]? {
    guard let s = layout.spec(name) else { return nil }
    return Array(values[s.offset..<(s.offset + s.count)])
  }

  /// Replace one parameter's values (same count).
  public mutating func setTensor(_ name: String, _ v: [Float]) {
    guard let s = layout.spec(name), v.count == s.count else { preconditionFailure("setTensor: \(name)") }
    values.replaceSubrange(s.offset..<(s.offset + s.count), with: v)
  }
}
