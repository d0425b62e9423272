import LineageCore
import LineageRuntime

/// Why a commit's `params.training` cannot be replayed (Docs/Blame.md, "Training recipes").
public enum TrainingRecipeError: Error, Equatable, Sendable, CustomStringConvertible {
  /// `params.training` (or its `adapter`) is not a JSON object.
  case notAnObject(key: String)
  /// A key the recipe format does not define (a typo would otherwise be ignored silently).
  case unknownKey(String)
  /// A required key is absent.
  case missingKey(String)
  /// A key holds another JSON type than the format says.
  case wrongType(key: String, expected: String)
  /// `optimizer` is neither `adam` nor `sgd`.
  case unknownOptimizer(String)
  /// A decimal (learning rate, momentum, alpha) is not a finite number in its range.
  case badDecimal(key: String, text: String)
  /// An integer is outside its range.
  case outOfRange(key: String, value: String, range: String)
  /// A source is not `sha256:` and 64 lowercase hex digits.
  case badSourceDigest(String)
  /// A source is listed twice.
  case duplicateSource(String)
  /// `sources` is empty.
  case noSources

  public var description: String {
    switch self {
    case .notAnObject(let k): "'\(k)' is not a JSON object"
    case .unknownKey(let k): "unknown key '\(k)'"
    case .missingKey(let k): "missing key '\(k)'"
    case .wrongType(let k, let e): "'\(k)' must be \(e)"
    case .unknownOptimizer(let o): "optimizer '\(o)' is not adam or sgd"
    case .badDecimal(let k, let t): "'\(k)' is \(t.debugDescription), not a decimal in range"
    case .outOfRange(let k, let v, let r): "'\(k)' is \(v), outside \(r)"
    case .badSourceDigest(let s): "source \(s.debugDescription) is not sha256: and 64 lowercase hex digits"
    case .duplicateSource(let s): "source \(s) is listed twice"
    case .noSources: "'sources' is empty"
    }
  }
}

/// How a commit was trained from its first parent, as recorded in `params.training`, so that it
/// can be retrained (Docs/Blame.md, "Training recipes"). Canonical records hold integers only, so
/// learning rate, momentum and alpha are decimal strings.
public struct TrainingRecipe: Sendable, Equatable {
  public enum OptimizerKind: String, Sendable { case adam, sgd }

  /// A low-rank adapter on a frozen first parent, merged into it for storage.
  public struct Adapter: Sendable, Equatable {
    public var rank: Int
    public var alpha: Float
    public var seed: UInt64
    /// Weight matrices of the architecture, in order.
    public var targets: [String]

    public init(rank: Int, alpha: Float, seed: UInt64, targets: [String]) {
      self.rank = rank
      self.alpha = alpha
      self.seed = seed
      self.targets = targets
    }
  }

  public var optimizer: OptimizerKind
  public var learningRate: Float
  /// SGD only (0: plain SGD).
  public var momentum: Float
  public var steps: Int
  /// Examples per step.
  public var batch: Int
  /// Seeds the example order (`Trainer`).
  public var seed: UInt64
  /// OpenBLAS threads: the same recipe gives the same bits at the same thread count.
  public var threads: Int
  /// Data digests of the commit's data, in the order their examples are concatenated.
  public var sources: [String]
  public var adapter: Adapter?

  public init(
    optimizer: OptimizerKind, learningRate: Float, momentum: Float = 0, steps: Int, batch: Int, seed: UInt64, threads: Int = 1,
    sources: [String], adapter: Adapter? = nil
  ) {
    self.optimizer = optimizer
    self.learningRate = learningRate
    self.momentum = momentum
    self.steps = steps
    self.batch = batch
    self.seed = seed
    self.threads = threads
    self.sources = sources
    self.adapter = adapter
  }

  static let keys: Set<String> = ["optimizer", "learning_rate", "momentum", "steps", "batch", "seed", "threads", "sources", "adapter"]
  static let adapterKeys: Set<String> = ["rank", "alpha", "seed", "targets"]

  /// Parse the value of `params.training`; unknown keys are refused.
  public static func parse(_ value: JSONValue) throws(TrainingRecipeError) -> TrainingRecipe {
    guard let members = value.objectValue else { throw .notAnObject(key: "training") }
    for (k, _) in members where !keys.contains(k) { throw .unknownKey(k) }
    guard let o = value["optimizer"] else { throw .missingKey("optimizer") }
    guard let oText = o.stringValue else { throw .wrongType(key: "optimizer", expected: "a string") }
    guard let optimizer = OptimizerKind(rawValue: oText) else { throw .unknownOptimizer(oText) }
    let lr = try decimal(value, "learning_rate", required: true, open: 0, below: nil) ?? 0
    let momentum = try decimal(value, "momentum", required: false, closed: 0, below: 1) ?? 0
    // Adam has no momentum key: its betas are fixed (Docs/Runtime.md).
    if value["momentum"] != nil, optimizer != .sgd { throw .unknownKey("momentum") }
    let steps = try integer(value, "steps", 1...10_000_000)
    let batch = try integer(value, "batch", 1...1_000_000)
    let seed = try integer(value, "seed", 0...Int64.max)
    let threads = value["threads"] == nil ? 1 : try integer(value, "threads", 1...256)
    guard let s = value["sources"] else { throw .missingKey("sources") }
    guard let list = s.arrayValue else { throw .wrongType(key: "sources", expected: "an array of data digests") }
    var sources: [String] = []
    for item in list {
      guard let d = item.stringValue else { throw .wrongType(key: "sources", expected: "an array of data digests") }
      guard DataRef.isValidDigest(d) else { throw .badSourceDigest(d) }
      guard !sources.contains(d) else { throw .duplicateSource(d) }
      sources.append(d)
    }
    guard !sources.isEmpty else { throw .noSources }
    var adapter: Adapter?
    if let a = value["adapter"] {
      guard let am = a.objectValue else { throw .notAnObject(key: "adapter") }
      for (k, _) in am where !adapterKeys.contains(k) { throw .unknownKey("adapter.\(k)") }
      let rank = try integer(a, "rank", 1...4096, prefix: "adapter.")
      let alpha = try decimal(a, "alpha", required: true, open: 0, below: nil, prefix: "adapter.") ?? 0
      let aSeed = try integer(a, "seed", 0...Int64.max, prefix: "adapter.")
      guard let t = a["targets"] else { throw .missingKey("adapter.targets") }
      guard let names = t.arrayValue?.compactMap(\.stringValue), names.count == t.arrayValue?.count, !names.isEmpty else {
        throw .wrongType(key: "adapter.targets", expected: "a non-empty array of tensor names")
      }
      adapter = Adapter(rank: Int(rank), alpha: alpha, seed: UInt64(aSeed), targets: names)
    }
    return TrainingRecipe(
      optimizer: optimizer, learningRate: lr, momentum: momentum, steps: Int(steps), batch: Int(batch), seed: UInt64(seed),
      threads: Int(threads), sources: sources, adapter: adapter)
  }

  /// An integer member in `range`.
  static func integer(_ v: JSONValue, _ key: String, _ range: ClosedRange<Int64>, prefix: String = "") throws(TrainingRecipeError) -> Int64 {
    guard let x = v[key] else { throw .missingKey(prefix + key) }
    guard case .number(let text) = x else { throw .wrongType(key: prefix + key, expected: "an integer") }
    guard let n = Int64(text) else { throw .wrongType(key: prefix + key, expected: "an integer") }
    guard range.contains(n) else { throw .outOfRange(key: prefix + key, value: text, range: "\(range.lowerBound)…\(range.upperBound)") }
    return n
  }

  /// A decimal member: a string (canonical records hold no fractions) or an integer; finite, above
  /// `open` (exclusive) or from `closed` (inclusive), and below `below` (exclusive) when given.
  static func decimal(
    _ v: JSONValue, _ key: String, required: Bool, open: Float? = nil, closed: Float? = nil, below: Float?, prefix: String = ""
  ) throws(TrainingRecipeError) -> Float? {
    guard let x = v[key] else {
      if required { throw .missingKey(prefix + key) }
      return nil
    }
    let text: String
    switch x {
    case .string(let t): text = t
    case .number(let t) where Int64(t) != nil: text = t
    default: throw .wrongType(key: prefix + key, expected: "a decimal string such as \"0.003\"")
    }
    guard let f = Float(text), f.isFinite else { throw .badDecimal(key: prefix + key, text: text) }
    if let open, !(f > open) { throw .badDecimal(key: prefix + key, text: text) }
    if let closed, !(f >= closed) { throw .badDecimal(key: prefix + key, text: text) }
    if let below, !(f < below) { throw .badDecimal(key: prefix + key, text: text) }
    return f
  }

  /// The recipe as `params.training` holds it (decimals as their shortest round-trip text).
  public var json: JSONValue {
    var m: [(String, JSONValue)] = [
      ("optimizer", .string(optimizer.rawValue)), ("learning_rate", .string("\(learningRate)")),
    ]
    if optimizer == .sgd, momentum != 0 { m.append(("momentum", .string("\(momentum)"))) }
    m += [
      ("steps", .number("\(steps)")), ("batch", .number("\(batch)")), ("seed", .number("\(seed)")), ("threads", .number("\(threads)")),
      ("sources", .array(sources.map { .string($0) })),
    ]
    if let a = adapter {
      m.append(
        (
          "adapter",
          .object([
            ("rank", .number("\(a.rank)")), ("alpha", .string("\(a.alpha)")), ("seed", .number("\(a.seed)")),
            ("targets", .array(a.targets.map { .string($0) })),
          ])
        ))
    }
    return .object(m)
  }

  /// Train from `start` on `data` as the recipe says: Adam or SGD over all parameters, or an
  /// adapter on the frozen `start` merged into it. `model` should run at `threads` threads for
  /// the result to be bit-equal to the recorded one.
  public func train(_ model: Model, from start: Parameters, data: some TrainingData, progress: (Int, Double) -> Void = { _, _ in })
    throws(RuntimeError) -> Parameters
  {
    let rule: Optimizer.Rule = optimizer == .adam ? .adam(learningRate: learningRate) : .sgd(learningRate: learningRate, momentum: momentum)
    if let a = adapter {
      var ad = try LowRankAdapter(base: start, targets: a.targets, rank: a.rank, alpha: a.alpha, seed: a.seed)
      var opt = try Optimizer(rule, count: ad.values.count)
      _ = try Trainer.train(model, adapter: &ad, base: start, data: data, optimizer: &opt, steps: steps, batchSize: batch, seed: seed, progress: progress)
      return ad.merged(into: start)
    }
    var p = start
    var opt = try Optimizer(rule, count: p.values.count)
    _ = try Trainer.train(model, &p, data: data, optimizer: &opt, steps: steps, batchSize: batch, seed: seed, progress: progress)
    return p
  }
}

/// Examples read from data sources, concatenated in order: the training set a recipe replays.
public struct TrainingExamples: TrainingData, Sendable {
  /// Every example, as one batch.
  public var inputs: Batch
  /// Targets per example (mlp: one class; transformer: one per position, -1 not scored).
  public var targets: [Int32]
  public var count: Int { inputs.rows }

  public init(inputs: Batch, targets: [Int32]) {
    self.inputs = inputs
    self.targets = targets
  }

  /// A seeded token task's examples, batched exactly as `TokenDataset.batch` batches them.
  public init(_ d: TokenDataset) {
    self.init(inputs: .tokens(d.tokens, rows: d.count, length: d.length), targets: d.targets)
  }

  public init(_ d: FeatureDataset) {
    self.init(inputs: .features(d.features, rows: d.count), targets: d.labels)
  }

  /// Targets per example.
  var perExample: Int { targets.count / max(count, 1) }

  public func batch(_ indices: [Int]) -> (Batch, [Int32]) {
    let per = perExample
    return (inputs.select(indices), indices.flatMap { targets[($0 * per)..<(($0 + 1) * per)] })
  }

  /// The examples of `parts` one after the other; nil when they do not fit together (features of
  /// other widths, token rows of other lengths) or there are none.
  public static func concatenating(_ parts: [TrainingExamples]) -> TrainingExamples? {
    guard let first = parts.first else { return nil }
    switch first.inputs {
    case .features(_, let rows0):
      let width = first.inputs.width(rows: rows0)
      var values: [Float] = []
      var rows = 0
      for p in parts {
        guard case .features(let v, let r) = p.inputs, p.inputs.width(rows: r) == width, p.perExample == 1 else { return nil }
        values += v
        rows += r
      }
      return TrainingExamples(inputs: .features(values, rows: rows), targets: parts.flatMap(\.targets))
    case .tokens(_, _, let length):
      var values: [Int32] = []
      var rows = 0
      for p in parts {
        guard case .tokens(let v, let r, let l) = p.inputs, l == length, p.perExample == length else { return nil }
        values += v
        rows += r
      }
      return TrainingExamples(inputs: .tokens(values, rows: rows, length: length), targets: parts.flatMap(\.targets))
    }
  }
}

extension Batch {
  /// Values per row.
  func width(rows: Int) -> Int {
    switch self {
    case .features(let v, _): rows > 0 ? v.count / rows : 0
    case .tokens(_, _, let length): length
    }
  }
}
