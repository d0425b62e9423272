import Foundation
import LineageCore
import LineageNative
import LineageRuntime

/// How `attributeData` scores and confirms (Docs/Blame.md, "Data attribution").
public struct DataAttributionOptions: Sendable {
  /// At most this many examples of each source are scored (evenly spaced when there are more).
  public var examplesPerSource = 2048
  /// A source file larger than this is reported as not available.
  public var maxSourceBytes = 64 << 20
  /// Retrain once per added source when the first bad commit records a replayable recipe.
  public var leaveOneOut = true
  /// OpenBLAS threads of the gradients and replays (retraining uses the recipe's own).
  public var threads = 1

  public init() {}
}

/// Progress of `attributeData`.
public enum DataAttributionEvent: Sendable {
  /// Per-example gradients of a source at one checkpoint.
  case scoring(source: String, checkpoint: Int, done: Int, total: Int)
  /// A leave-one-source-out retrain (`run` is "control" or the left-out source's URI).
  case retraining(run: String, step: Int, steps: Int)
}

/// A data source the first bad commit added, and its TracIn-style score.
public struct SourceAttribution: Sendable {
  public var source: DataRef
  /// Why the source's examples could not be scored; nil when they were.
  public var unavailable: String?
  /// Examples in the source, and how many were scored.
  public var examples: Int
  public var scored: Int
  /// Σ and mean over scored examples of the averaged ⟨∇L(z), ∇L_fail⟩; positive pushes toward the failure.
  public var sum: Double
  public var mean: Double
  /// Fraction of scored examples with a positive score.
  public var positiveFraction: Double
  /// 1 for the source whose examples most push toward the failure (by `sum`); nil when unavailable.
  public var rank: Int?
}

/// The outcome of retraining the first bad commit without each added source (Docs/Blame.md).
public struct LeaveOneOutConfirmation: Sendable {
  public struct Removal: Sendable {
    public var source: DataRef
    /// Whether the incident's failure holds on the model retrained without the source; nil when
    /// it could not be retrained (`note` says why).
    public var failureHolds: Bool?
    public var note: String?
  }
  public var recipe: TrainingRecipe
  /// The retrain with every source reproduces the first bad commit's weights bit for bit.
  public var controlBitExact: Bool
  /// Tensors whose values differ between the control retrain and the first bad commit.
  public var controlDiffering: [String]
  /// Whether the failure holds on the control retrain.
  public var controlFails: Bool
  public var removals: [Removal]
  /// Retrains run, the control included.
  public var retrains: Int
  /// Exact when the control is bit-exact (each removal is then a faithful re-computation of the
  /// commit without that source); approximate otherwise.
  public var exact: Bool { controlBitExact }
  /// The sources whose removal stops the failure.
  public var stoppers: [DataRef] { removals.filter { $0.failureHolds == false }.map(\.source) }
}

/// Which data the first bad commit added and which of it drives the failure (Docs/Blame.md).
public struct DataAttribution: Sendable {
  public var firstBad: ObjectID
  public var lastGood: ObjectID
  /// The loss whose decrease makes the failure more likely, in words.
  public var failureLoss: String
  /// Checkpoints whose gradients are averaged with equal weights (good parent, first bad commit).
  public var checkpoints: [ObjectID]
  /// Added sources: scored ones ranked (rank 1 first), then those not available, in record order.
  public var sources: [SourceAttribution]
  /// Per-example gradients computed.
  public var gradients: Int
  public var confirmation: LeaveOneOutConfirmation?
  /// Why leave-one-source-out did not run; nil when it did.
  public var confirmationUnavailable: String?
}

extension Repository {
  /// Rank the data sources `firstBad` added relative to `lastGood` by TracIn-style scores and,
  /// when `firstBad` records a replayable `params.training` recipe, confirm by retraining from its
  /// first parent once per added source left out (Docs/Blame.md, "Data attribution").
  public func attributeData(
    incident: Incident, firstBad: ObjectID, lastGood: ObjectID, options: DataAttributionOptions = .init(),
    progress: (DataAttributionEvent) -> Void = { _ in }
  ) throws -> DataAttribution {
    let bad = try runnableModel(revision: firstBad.hex)
    let good = try runnableModel(revision: lastGood.hex)
    let architecture = bad.architecture
    guard good.architecture == architecture else {
      throw KitError.runtime(what: "data attribution", reason: "\(lastGood.short) and \(firstBad.short) have different architectures")
    }
    guard let input = try incidentInput(incident) else {
      throw KitError.runtime(what: "data attribution", reason: "the incident has no input to score against")
    }
    let (batch, _) = try RuntimeInput.parse(input, for: architecture, what: "incident input")
    let model = try runtime("data attribution") { try Model(architecture, threads: options.threads) }
    let (failTargets, sign, failureLoss) = try failureTargets(incident.oracle, batch: batch, architecture: architecture)
    // ∇L_fail at each checkpoint (sign folded in), good parent first.
    let checkpoints = [(lastGood, good.parameters), (firstBad, bad.parameters)]
    let failGradients = try checkpoints.map { c in
      try runtime("data attribution") { try model.gradient(c.1, batch, targets: failTargets).gradient.map { sign * $0 } }
    }

    let badRecord = try commit(firstBad)
    let parentDigests = Set(try commit(lastGood).data.map(\.digest))
    let added = badRecord.data.filter { !parentDigests.contains($0.digest) }
    var loaded: [String: TrainingExamples] = [:]
    var results: [SourceAttribution] = []
    var gradients = 0
    for ref in added {
      var r = SourceAttribution(source: ref, unavailable: nil, examples: 0, scored: 0, sum: 0, mean: 0, positiveFraction: 0, rank: nil)
      guard ref.role == "train" else {
        r.unavailable = "role '\(ref.role)' is not training data"
        results.append(r)
        continue
      }
      let examples: TrainingExamples
      switch loadExamples(ref, architecture: architecture, maxBytes: options.maxSourceBytes) {
      case .failure(let why):
        r.unavailable = why.reason
        results.append(r)
        continue
      case .success(let e): examples = e
      }
      loaded[ref.digest] = examples
      r.examples = examples.count
      let n = examples.count
      let k = min(n, max(1, options.examplesPerSource))
      // Evenly spaced when the source is larger than the budget.
      let picked = (0..<k).map { $0 * n / k }
      var scores = [Double](repeating: 0, count: k)
      let per = examples.perExample
      for (c, (params, fail)) in zip(checkpoints.map(\.1), failGradients).enumerated() {
        for (j, i) in picked.enumerated() {
          let t = examples.targets[(i * per)..<((i + 1) * per)]
          // An example with no counted target adds nothing to a training step: its score is 0.
          guard t.contains(where: { $0 >= 0 }) else { continue }
          let g = try runtime("data attribution") { try model.gradient(params, examples.inputs, targets: examples.targets, example: i) }
          gradients += 1
          let d = g.withUnsafeBufferPointer { gp in fail.withUnsafeBufferPointer { BLAS.dot(gp, $0) } }
          // TracInCP with two checkpoints of equal weight.
          scores[j] += d / Double(checkpoints.count)
          if j % 64 == 63 || j == k - 1 { progress(.scoring(source: ref.uri, checkpoint: c, done: j + 1, total: k)) }
        }
      }
      r.scored = k
      r.sum = scores.reduce(0, +)
      r.mean = r.sum / Double(k)
      r.positiveFraction = Double(scores.filter { $0 > 0 }.count) / Double(k)
      results.append(r)
    }
    let ranked = results.filter { $0.unavailable == nil }.enumerated().sorted { a, b in
      a.element.sum != b.element.sum ? a.element.sum > b.element.sum : a.offset < b.offset
    }.map(\.element)
    var sources: [SourceAttribution] = []
    for (i, var s) in ranked.enumerated() {
      s.rank = i + 1
      sources.append(s)
    }
    sources += results.filter { $0.unavailable != nil }

    var out = DataAttribution(
      firstBad: firstBad, lastGood: lastGood, failureLoss: failureLoss, checkpoints: checkpoints.map(\.0), sources: sources,
      gradients: gradients, confirmation: nil, confirmationUnavailable: nil)
    if !options.leaveOneOut {
      out.confirmationUnavailable = "not asked for"
      return out
    }
    switch try leaveOneOut(
      incident: incident, record: badRecord, bad: bad, batch: batch, replayModel: model, added: added, loaded: loaded, options: options,
      progress: progress)
    {
    case .success(let c): out.confirmation = c
    case .failure(let why): out.confirmationUnavailable = why.reason
    }
    return out
  }

  /// Targets of the failure loss on the incident input, the sign to apply to its gradient, and a
  /// description: cross-entropy toward K at the last position of every row for `argmax==K` and
  /// `margin(K)>T` (lowering it makes K more likely); its negation for `argmax!=K`.
  func failureTargets(_ oracle: Oracle, batch: Batch, architecture: Architecture) throws -> ([Int32], Float, String) {
    let k: Int
    let sign: Float
    switch oracle {
    case .argmaxIs(let x), .margin(let x, _):
      k = x
      sign = 1
    case .argmaxIsNot(let x):
      k = x
      sign = -1
    case .maxAbsDiff, .probeMetric, .external:
      throw KitError.runtime(what: "data attribution", reason: "TracIn scores need a class oracle (argmax or margin), not \(oracle)")
    }
    guard k < architecture.outputs else {
      throw KitError.runtime(what: "data attribution", reason: "oracle class \(k) is outside the model's \(architecture.outputs) outputs")
    }
    let targets: [Int32]
    switch batch {
    case .features(_, let rows): targets = [Int32](repeating: Int32(k), count: rows)
    case .tokens(_, let rows, let length):
      targets = (0..<(rows * length)).map { $0 % length == length - 1 ? Int32(k) : -1 }
    }
    let text =
      sign > 0
      ? "cross-entropy toward \(k) at the last position of each incident row"
      : "minus the cross-entropy toward \(k) at the last position of each incident row"
    return (targets, sign, text)
  }

  /// Why a source or a confirmation is not available, in words.
  struct Unavailable: Error {
    var reason: String
  }

  /// The examples of a data source: a local file (`file://`) of JSON lines (or a JSON batch, as
  /// `lineage run` reads them) whose data digest (Docs/DataDigest.md) matches the recorded one,
  /// with targets.
  func loadExamples(_ ref: DataRef, architecture: Architecture, maxBytes: Int) -> Result<TrainingExamples, Unavailable> {
    func no(_ why: String) -> Result<TrainingExamples, Unavailable> { .failure(Unavailable(reason: why)) }
    guard ref.uri.hasPrefix("file://") else { return no("not a local file (\(ref.uri)); only file:// sources are read") }
    let path = String(ref.uri.dropFirst(7))
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return no("no file at \(path)") }
    guard !isDirectory.boolValue else { return no("\(path) is a directory; only a single file of examples is read") }
    let bytes: [UInt8]
    do {
      let h = try InputHandle(path: path)
      guard h.stat.size <= UInt64(maxBytes) else { return no("\(path) is larger than \(maxBytes >> 20) MiB") }
      bytes = try h.readPrefix(upTo: Int(h.stat.size))
      try h.checkUnchanged()
    } catch {
      return no("cannot read \(path): \(error)")
    }
    // Docs/DataDigest.md for a single file: SHA-256 of the one `sha256sum` line naming it.
    let name = path.split(separator: "/").last.map(String.init) ?? path
    let line = Array((SHA256Hasher.hash(bytes).hex + "  " + name + "\n").utf8)
    let digest = "sha256:" + SHA256Hasher.hash(line).hex
    guard digest == ref.digest else { return no("\(path) has data digest \(digest), the commit records \(ref.digest)") }
    do {
      let (batch, targets) = try RuntimeInput.parse(bytes, for: architecture, what: path)
      guard let targets else { return no("\(path) holds inputs without targets") }
      return .success(TrainingExamples(inputs: batch, targets: targets))
    } catch KitError.runtime(_, let reason) {
      return no("\(path) is not examples for this model: \(reason)")
    } catch {
      return no("\(path) is not examples for this model: \(error)")
    }
  }

  /// Leave-one-source-out: retrain `record`'s commit from its first parent with its recipe, once
  /// with every source (the control) and once without each added source, and replay the incident.
  func leaveOneOut(
    incident: Incident, record: CommitRecord, bad: RunnableModel, batch: Batch, replayModel: Model, added: [DataRef],
    loaded: [String: TrainingExamples], options: DataAttributionOptions, progress: (DataAttributionEvent) -> Void
  ) throws -> Result<LeaveOneOutConfirmation, Unavailable> {
    func no(_ why: String) -> Result<LeaveOneOutConfirmation, Unavailable> { .failure(Unavailable(reason: why)) }
    guard let value = record.params?["training"] else { return no("the first bad commit records no params.training recipe") }
    let recipe: TrainingRecipe
    do { recipe = try TrainingRecipe.parse(value) } catch { return no("params.training is not a replayable recipe: \(error)") }
    guard let parentID = record.parents.first?.id else { return no("the first bad commit has no parent to retrain from") }
    let parent: RunnableModel
    do { parent = try runnableModel(revision: parentID.hex) } catch { return no("its first parent \(parentID.short) cannot be run: \(error)") }
    guard parent.architecture == bad.architecture else { return no("its first parent \(parentID.short) has another architecture") }
    // Every recipe source, in order, from the commit's own data list.
    var parts: [(ref: DataRef, examples: TrainingExamples)] = []
    for digest in recipe.sources {
      guard let ref = record.data.first(where: { $0.digest == digest }) else { return no("recipe source \(digest) is not in the commit's data") }
      if let e = loaded[digest] {
        parts.append((ref, e))
        continue
      }
      switch loadExamples(ref, architecture: bad.architecture, maxBytes: options.maxSourceBytes) {
      case .success(let e): parts.append((ref, e))
      case .failure(let why): return no("recipe source \(ref.uri) is not available: \(why.reason)")
      }
    }
    guard let all = TrainingExamples.concatenating(parts.map(\.examples)) else { return no("the recipe's sources do not fit together") }
    let trainer = try runtime("leave-one-source-out") { try Model(bad.architecture, threads: recipe.threads) }
    var retrains = 0
    func retrain(_ label: String, _ data: TrainingExamples) throws -> Parameters {
      retrains += 1
      return try runtime("leave-one-source-out") {
        try recipe.train(trainer, from: parent.parameters, data: data) { step, _ in
          if step % 25 == 0 || step == recipe.steps { progress(.retraining(run: label, step: step, steps: recipe.steps)) }
        }
      }
    }
    func fails(_ p: Parameters) throws -> Bool {
      try runtime("leave-one-source-out") { try incident.oracle.holds(try replayModel.forward(p, batch), rows: batch.rows) }
    }
    guard recipe.batch <= all.count else { return no("the recipe's batch of \(recipe.batch) exceeds its \(all.count) examples") }
    let control = try retrain("control", all)
    let differing = bad.parameters.layout.specs.filter { s in
      !control.values[s.offset..<(s.offset + s.count)].elementsEqual(bad.parameters.values[s.offset..<(s.offset + s.count)]) {
        $0.bitPattern == $1.bitPattern
      }
    }.map(\.name)
    var removals: [LeaveOneOutConfirmation.Removal] = []
    for ref in added where ref.role == "train" {
      guard parts.contains(where: { $0.ref.digest == ref.digest }) else {
        removals.append(.init(source: ref, failureHolds: nil, note: "not among the recipe's sources"))
        continue
      }
      let rest = parts.filter { $0.ref.digest != ref.digest }.map(\.examples)
      guard let data = TrainingExamples.concatenating(rest) else {
        // Without it nothing is left to train on: the result is the parent itself.
        removals.append(.init(source: ref, failureHolds: try fails(parent.parameters), note: "no other source: the first parent itself"))
        continue
      }
      guard recipe.batch <= data.count else {
        removals.append(.init(source: ref, failureHolds: nil, note: "\(data.count) examples remain, fewer than the batch of \(recipe.batch)"))
        continue
      }
      removals.append(.init(source: ref, failureHolds: try fails(try retrain(ref.uri, data)), note: nil))
    }
    return .success(
      LeaveOneOutConfirmation(
        recipe: recipe, controlBitExact: differing.isEmpty, controlDiffering: differing, controlFails: try fails(control),
        removals: removals, retrains: retrains))
  }
}
