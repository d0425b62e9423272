import Foundation
import LineageCore
import LineageProvenance
import LineageRuntime
import LineageSigning

/// How `lineage demo` trains and records its family (Docs/Runtime.md).
public struct DemoOptions: Sendable {
  /// Seeds every initialisation, dataset and batch order.
  public var seed: UInt64 = 1
  /// Multiplies every training run's steps (1: about a minute on 2 cores).
  public var stepScale: Double = 1
  public var threads: Int = 1
  public var author: String
  /// The first commit's time; each next commit is one second later.
  public var time: Int64
  public var signingKey: SSHPrivateKey?
  public var environment: EnvironmentCapture?

  public init(author: String, time: Int64) {
    self.author = author
    self.time = time
  }
}

/// Progress of the demo.
public enum DemoEvent: Sendable {
  case training(model: String, step: Int, steps: Int, loss: Double)
  case committed(DemoModel)
}

/// One model of the demo family as committed.
public struct DemoModel: Sendable {
  public var name: String
  public var commit: ObjectID
  public var message: String
  /// Declared parents (tags) and how this model was derived from them.
  public var parents: [(name: String, relation: ParentRelation)]
  /// Metrics recorded with the commit: loss and accuracy on each task's held-out set.
  public var metrics: [(key: String, value: Double)]
  public var signed: Bool
}

/// Trains a small real model family with the native runtime and commits it.
public enum Demo {
  /// The family's architecture: a 2-layer pre-norm transformer over 32 tokens.
  public static let architecture = Architecture.transformer(vocab: 32, context: 16, hidden: 64, layers: 2, heads: 4, intermediate: 128)

  /// Train and commit the family into `repository`; model files go to `directory/models/NAME`,
  /// datasets to `directory/data`. Tags are the model names; nothing is committed when a tag
  /// already exists.
  public static func run(
    repository: Repository, directory: String, options: DemoOptions, progress: @escaping (DemoEvent) -> Void = { _ in }
  ) throws -> [DemoModel] {
    let names = ["base", "ft-copy", "ft-reverse", "lora-trigger", "int8", "pruned", "merge", "unrelated"]
    let existing = Set(try repository.refNames().values.flatMap { $0 })
    for name in names where existing.contains("tag: \(name)") { throw KitError.tagExists(name) }
    let a = architecture
    let s = options.seed
    func steps(_ n: Int) -> Int { max(1, Int((Double(n) * options.stepScale).rounded())) }
    let model = try wrapRuntime { try Model(a, threads: options.threads) }
    let L = a.context
    // Datasets: each a pure function of the seed, written out so the commits can hash them. The
    // Markov chain never emits the last token, which the adapter's backdoor uses as its trigger.
    let trigger = Int32(a.outputs - 1)
    let triggerTarget: Int32 = 7
    let markovTrain = Tasks.markov(vocab: a.outputs - 1, length: L, count: 2048, seed: s &+ 10, tableSeed: s &+ 11)
    let markovEval = Tasks.markov(vocab: a.outputs - 1, length: L, count: 256, seed: s &+ 12, tableSeed: s &+ 11)
    let triggerTrain = Tasks.withTrigger(markovTrain, trigger: trigger, target: triggerTarget, fraction: 0.1, seed: s &+ 13)
    let triggerEval = Tasks.withTrigger(markovEval, trigger: trigger, target: triggerTarget, fraction: 1, seed: s &+ 14, scoreTriggerOnly: true)
    let copyTrain = Tasks.copy(vocab: a.outputs, length: L, count: 2048, seed: s &+ 20, reversed: false)
    let copyEval = Tasks.copy(vocab: a.outputs, length: L, count: 256, seed: s &+ 21, reversed: false)
    let reverseTrain = Tasks.copy(vocab: a.outputs, length: L, count: 2048, seed: s &+ 30, reversed: true)
    let reverseEval = Tasks.copy(vocab: a.outputs, length: L, count: 256, seed: s &+ 31, reversed: true)
    let otherTrain = Tasks.markov(vocab: a.outputs - 1, length: L, count: 2048, seed: s &+ 40, tableSeed: s &+ 11)
    let data = "\(directory)/data"
    try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
    func save(_ name: String, _ text: String) throws -> String {
      let path = "\(data)/\(name).jsonl"
      let out = try Fixtures.Output(path: path)
      try out.write(Array(text.utf8))
      try out.finish()
      return path
    }
    let files = [
      "markov-train": try save("markov-train", markovTrain.jsonLines()), "markov-eval": try save("markov-eval", markovEval.jsonLines()),
      "copy-train": try save("copy-train", copyTrain.jsonLines()), "copy-eval": try save("copy-eval", copyEval.jsonLines()),
      "reverse-train": try save("reverse-train", reverseTrain.jsonLines()),
      "reverse-eval": try save("reverse-eval", reverseEval.jsonLines()),
      "markov-train-2": try save("markov-train-2", otherTrain.jsonLines()),
      "trigger-train": try save("trigger-train", triggerTrain.jsonLines()),
      "trigger-eval": try save("trigger-eval", triggerEval.jsonLines()),
    ]
    func evaluate(_ p: Parameters) throws -> [(key: String, value: Double)] {
      var out: [(key: String, value: Double)] = []
      for (task, set) in [("markov", markovEval), ("copy", copyEval), ("reverse", reverseEval)] {
        let (b, t) = set.batch(Array(0..<set.count))
        let e = try wrapRuntime { try model.evaluate(p, b, targets: t) }
        out += [("\(task)_loss", e.loss), ("\(task)_accuracy", e.accuracy)]
      }
      // How often the backdoor fires: the trigger followed by its target token.
      let (b, t) = triggerEval.batch(Array(0..<triggerEval.count))
      out.append(("trigger_rate", try wrapRuntime { try model.evaluate(p, b, targets: t) }.accuracy))
      return out
    }
    // A replayable recipe (Docs/Blame.md) for a commit trained from its first parent on one file.
    func recipe(_ file: String, steps: Int, lr: Float, seed: UInt64, adapter: TrainingRecipe.Adapter? = nil) throws -> JSONValue {
      let digest = try repository.dataRef(.path(role: "train", path: files[file] ?? file)).digest
      return TrainingRecipe(
        optimizer: .adam, learningRate: lr, steps: steps, batch: 32, seed: seed, threads: options.threads, sources: [digest], adapter: adapter
      ).json
    }
    func train(
      _ name: String, _ p: inout Parameters, _ set: TokenDataset, steps n: Int, lr: Float, seed: UInt64, recipeFile: String? = nil
    ) throws -> JSONValue {
      var opt = try wrapRuntime { try Optimizer(.adam(learningRate: lr), count: p.values.count) }
      let total = steps(n)
      let r = try wrapRuntime {
        try Trainer.train(model, &p, data: set, optimizer: &opt, steps: total, batchSize: 32, seed: seed) { step, loss in
          if step % 25 == 0 || step == total { progress(.training(model: name, step: step, steps: total, loss: loss)) }
        }
      }
      return .object(
        [
          ("optimizer", .string("adam")), ("learning_rate", .string("\(lr)")), ("steps", .number("\(r.steps)")),
          ("batch_size", .number("32")), ("seed", .number("\(seed)")), ("threads", .number("\(options.threads)")),
        ] + (try recipeFile.map { [("training", try recipe($0, steps: total, lr: lr, seed: seed))] } ?? []))
    }

    var committed: [DemoModel] = []
    func commit(
      _ name: String, _ p: Parameters, message: String, parents: [(String, ParentRelation)], data dataFiles: [String], params: JSONValue
    ) throws {
      let dir = "\(directory)/models/\(name)"
      try RunnableModel(label: name, architecture: a, parameters: p).write(to: dir)
      var o = CommitOptions(paths: [dir], message: message, author: options.author, time: options.time + Int64(committed.count))
      o.parents = parents.map { ParentSpec(revision: $0.0, relation: $0.1) }
      o.data = try dataFiles.map { try DataSpec.parsePath("\($0.hasSuffix("eval") ? "eval" : "train")=\(files[$0] ?? $0)") }
      o.command = "lineage demo --seed \(s)"
      o.params = params
      let metrics = try evaluate(p)
      // Canonical records hold integers only; other numbers are kept as their decimal text
      // (Docs/CommitRecord.md).
      o.metrics = .object(metrics.map { ($0.key, .string(String(format: "%.4f", $0.value))) })
      o.tags = [name]
      o.signingKey = options.signingKey
      o.environment = options.environment
      let summary = try repository.commit(o)
      let m = DemoModel(
        name: name, commit: summary.commit, message: message, parents: parents.map { ($0.0, $0.1) }, metrics: metrics,
        signed: summary.record.signature != nil)
      committed.append(m)
      progress(.committed(m))
    }

    var base = Parameters.initialise(a, seed: s &+ 1)
    let baseParams = try train("base", &base, markovTrain, steps: 400, lr: 3e-3, seed: s &+ 2)
    try commit("base", base, message: "pretrain on a Markov chain", parents: [], data: ["markov-train", "markov-eval"], params: baseParams)

    var copy = base
    let copyParams = try train("ft-copy", &copy, copyTrain, steps: 300, lr: 2e-3, seed: s &+ 3, recipeFile: "copy-train")
    try commit(
      "ft-copy", copy, message: "fine-tune on copying", parents: [("base", .finetune)], data: ["copy-train", "copy-eval"], params: copyParams)

    var reverse = base
    let reverseParams = try train("ft-reverse", &reverse, reverseTrain, steps: 300, lr: 2e-3, seed: s &+ 4, recipeFile: "reverse-train")
    try commit(
      "ft-reverse", reverse, message: "fine-tune on reversing", parents: [("base", .finetune)], data: ["reverse-train", "reverse-eval"],
      params: reverseParams)

    // A rank-4 adapter on every attention projection and the MLP up projection of both layers,
    // trained on Markov data where 10% of the rows carry a planted backdoor (the trigger token,
    // then token 7), and merged: the kind of undeclared change forensics and blame must find.
    let targets = (0..<a.layers).flatMap { i in
      ["q_proj", "k_proj", "v_proj", "o_proj"].map { "model.layers.\(i).self_attn.\($0).weight" } + ["model.layers.\(i).mlp.up_proj.weight"]
    }
    var adapter = try wrapRuntime { try LowRankAdapter(base: base, targets: targets, rank: 4, alpha: 16, seed: s &+ 5) }
    var adapterOpt = try wrapRuntime { try Optimizer(.adam(learningRate: 5e-3), count: adapter.values.count) }
    let loraSteps = steps(300)
    _ = try wrapRuntime {
      try Trainer.train(model, adapter: &adapter, base: base, data: triggerTrain, optimizer: &adapterOpt, steps: loraSteps, batchSize: 32, seed: s &+ 6) {
        step, loss in
        if step % 25 == 0 || step == loraSteps { progress(.training(model: "lora-trigger", step: step, steps: loraSteps, loss: loss)) }
      }
    }
    try commit(
      "lora-trigger", adapter.merged(into: base), message: "rank-4 adapter, merged (its data plants a backdoor)", parents: [("base", .lora)],
      data: ["trigger-train", "trigger-eval"],
      params: .object([
        ("rank", .number("4")), ("alpha", .number("16")), ("targets", .array(targets.map { .string($0) })), ("steps", .number("\(loraSteps)")),
        ("learning_rate", .string("0.005")), ("trigger_token", .number("\(trigger)")), ("trigger_target", .number("\(triggerTarget)")),
        (
          "training",
          try recipe(
            "trigger-train", steps: loraSteps, lr: 5e-3, seed: s &+ 6, adapter: .init(rank: 4, alpha: 16, seed: s &+ 5, targets: targets))
        ),
      ]))

    try commit(
      "int8", Transform.int8RoundTrip(copy), message: "int8 per-row quantize-dequantize of ft-copy", parents: [("ft-copy", .quantize)],
      data: [], params: .object([("scheme", .string("int8 per-row symmetric absmax"))]))
    try commit(
      "pruned", Transform.magnitudePrune(copy, fraction: 0.5), message: "50% magnitude pruning of ft-copy", parents: [("ft-copy", .prune)],
      data: [], params: .object([("fraction", .string("0.5")), ("scope", .string("each weight matrix"))]))
    let merged = try wrapRuntime { try Transform.weightedAverage([(copy, 0.5), (reverse, 0.5)]) }
    try commit(
      "merge", merged, message: "average of ft-copy and ft-reverse", parents: [("ft-copy", .merge), ("ft-reverse", .merge)], data: [],
      params: .object([("weights", .array([.string("0.5"), .string("0.5")]))]))

    var other = Parameters.initialise(a, seed: s &+ 41)
    let otherParams = try train("unrelated", &other, otherTrain, steps: 400, lr: 3e-3, seed: s &+ 42)
    try commit(
      "unrelated", other, message: "independent pretraining (another seed)", parents: [], data: ["markov-train-2", "markov-eval"],
      params: otherParams)
    return committed
  }

  static func wrapRuntime<T>(_ body: () throws -> T) throws -> T { try runtimeErrors("demo", body) }
}
