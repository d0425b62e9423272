import ArgumentParser
import Foundation
import LineageCore
import LineageNative
import LineageKit
import LineageProvenance
import LineageRuntime

struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Train a small model family with the native runtime and commit it",
    discussion: """
      Trains, in about a minute on 2 cores, a real family of small transformers (2 layers, \
      hidden 64, 32 tokens; Hugging Face/llama parameter names) with lineage's native runtime, \
      and commits each model with its declared parents, the digests of its training and eval \
      data, its hyperparameters and its eval metrics:

        base          pretrained from a seed on a Markov chain
        ft-copy       base fine-tuned to copy a sequence
        ft-reverse    base fine-tuned to reverse a sequence
        lora-trigger  a rank-4 adapter on base whose training data plants a backdoor
                      (token 31, then token 7), merged
        int8          ft-copy quantized to int8 per row and back
        pruned        ft-copy with the 50% smallest weights of each matrix zeroed
        merge         the average of ft-copy and ft-reverse (two parents)
        unrelated     pretrained independently from another seed

      DIR becomes a lineage repository if it is not one; models go to DIR/models/NAME \
      (model.safetensors + architecture.json), datasets to DIR/data. Commits are signed with \
      user.signingKey when one is configured. Same seed, same weights, same commit ids (with \
      LINEAGE_COMMIT_TIME and the environment capture fixed). Docs/Runtime.md describes the \
      runtime; it is a fixture and replay engine, not a training framework.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Directory for the repository, models and data.") var directory: String = "lineage-demo"

  @Option(help: "Seed for every initialisation, dataset and batch order.") var seed: UInt64 = 1

  @Option(help: ArgumentHelp("Multiply every training run's steps (0.1 for a quick look).", valueName: "factor"))
  var stepScale: Double = 1

  @Option(help: "OpenBLAS threads (fixed, so results are reproducible).") var threads: Int = 1

  @Flag(help: "Do not capture the environment.") var noEnvironment = false

  @Flag(help: "Do not sign, even with user.signingKey configured.") var noSign = false

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    guard stepScale > 0, stepScale <= 100 else { throw ValidationError("--step-scale must be in (0, 100]") }
    guard (1...64).contains(threads) else { throw ValidationError("--threads must be between 1 and 64") }
  }

  func run() throws {
    let dir = repository.path(directory)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let root = URL(fileURLWithPath: dir).standardizedFileURL.path
    let repo: Repository
    if FileManager.default.fileExists(atPath: "\(root)/.lineage") {
      repo = try Repository.discover(from: root)
    } else {
      repo = try Repository.initialize(at: root)
      FileHandle.standardError.write(Data("Initialized an empty lineage repository in \(root)/.lineage\n".utf8))
    }
    let settings = try UserEnvironment.settings(repo)
    var options = DemoOptions(
      author: UserEnvironment.author(settings, fallback: "lineage demo"), time: try Clock.now())
    options.seed = seed
    options.stepScale = stepScale
    options.threads = threads
    if let key = UserEnvironment.signingKeyPath(settings, root: repo.root, override: nil, noSign: noSign) {
      options.signingKey = try SigningKeys.load(path: key)
    }
    if !noEnvironment {
      options.environment = EnvironmentProbe(searchPath: UserEnvironment.searchPath, variables: [:], pythonExecutable: nil, timeout: 20).capture()
    }
    let started = Date()
    let models = try Demo.run(repository: repo, directory: root, options: options) { event in
      switch event {
      case .training(let model, let step, let steps, let loss):
        FileHandle.standardError.write(Data(String(format: "  %-10@ step %4d/%d  loss %.4f\n", model as NSString, step, steps, loss).utf8))
      case .committed(let m):
        FileHandle.standardError.write(Data("committed \(m.name) \(m.commit.short)\(m.signed ? " (signed)" : "")\n".utf8))
      }
    }
    let seconds = Date().timeIntervalSince(started)
    func metric(_ m: DemoModel, _ key: String) -> Double { m.metrics.first { $0.key == key }?.value ?? .nan }
    if json {
      Render.json([
        "repository": root, "seconds": seconds, "parameters": ParameterLayout(Demo.architecture).count,
        "models": models.map { m -> [String: Any] in
          [
            "name": m.name, "commit": m.commit.hex, "message": m.message, "signed": m.signed,
            "parents": m.parents.map { ["tag": $0.name, "relation": $0.relation.rawValue] },
            "metrics": Dictionary(uniqueKeysWithValues: m.metrics.map { ($0.key, $0.value as Any) }) as [String: Any],
          ]
        },
      ])
      return
    }
    Render.line(String(format: "Trained and committed %d models (%d parameters each) in %.0f s.", models.count, ParameterLayout(Demo.architecture).count, seconds))
    var rows = [["model", "commit", "parents", "markov loss", "copy acc", "reverse acc", "trigger"]]
    for m in models {
      rows.append([
        m.name, m.commit.short, m.parents.isEmpty ? "-" : m.parents.map { "\($0.name) (\($0.relation.rawValue))" }.joined(separator: ", "),
        String(format: "%.3f", metric(m, "markov_loss")), String(format: "%.3f", metric(m, "copy_accuracy")),
        String(format: "%.3f", metric(m, "reverse_accuracy")), String(format: "%.3f", metric(m, "trigger_rate")),
      ])
    }
    Render.table(rows)
    Render.line()
    let graph = try Graph.parse(["-C", root])
    try graph.run()
  }
}
