import ArgumentParser
import Foundation
import LineageCore
import LineageKit
import LineageRuntime

struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run a model on an input with the native runtime",
    discussion: """
      MODEL is a revision (REV or REV:DIR) or a directory holding architecture.json and the \
      weights (any format lineage reads, any float dtype). The runtime runs only the two \
      architectures of Docs/Runtime.md (an MLP with residual blocks, a small pre-norm \
      transformer); it is a fixture and replay engine, not a general inference server.

      INPUT is JSON: {"tokens": [[…], …]} (transformer) or {"features": [[…], …]} (mlp), with \
      optional "targets", or the JSON lines the seeded tasks write (lineage demo's data files: \
      {"tokens": […], "targets": […]} or {"x": […], "y": k} per line). With targets the loss \
      and accuracy are reported.

      The result names its numerics (runtime version, OpenBLAS kernel, threads) and the SHA-256 \
      of the logits: the same model, input and numerics give the same digest. --activations \
      adds the digest of every stage's output (embedding, each layer, final norm, logits); \
      --reference checks the logits against the slow float64 path.

      Examples:
        lineage run ft-copy --input data/copy-eval.jsonl
        lineage run HEAD --input prompt.json --activations --json
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "A revision (REV, REV:DIR) or a model directory.") var model: String

  @Option(help: "Input file (JSON, or JSON lines).") var input: String

  @Option(help: "OpenBLAS threads (fixed, and recorded).") var threads: Int = 1

  @Flag(help: "Record every stage's output digest.") var activations = false

  @Flag(help: "Also run the float64 reference path and report the largest difference.") var reference = false

  @Option(help: "Show the predictions of at most N rows (0: none).") var show: Int = 4

  @Flag(help: "Print the result as JSON (every prediction).") var json = false

  func validate() throws {
    guard (1...64).contains(threads) else { throw ValidationError("--threads must be between 1 and 64") }
    guard show >= 0 else { throw ValidationError("--show must not be negative") }
  }

  func run() throws {
    let path = repository.path(model)
    var isDirectory: ObjCBool = false
    let m: RunnableModel
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
      m = try Repository.runnableModel(atPath: path)
    } else {
      let (revision, directory) = splitRevision(model)
      m = try repository.open().runnableModel(revision: revision, directory: directory)
    }
    let inputPath = repository.path(input)
    guard FileManager.default.fileExists(atPath: inputPath) else { throw KitError.pathNotFound(inputPath) }
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: inputPath)))
    let (batch, targets) = try RuntimeInput.parse(bytes, for: m.architecture, what: inputPath)
    let result = try runtime(m.label) {
      let runner = try Model(m.architecture, threads: threads)
      let out = try runner.forward(m.parameters, batch, record: activations)
      let evaluation = try targets.map { try runner.evaluate(m.parameters, batch, targets: $0) }
      let slow = reference ? try Reference.forward(m.parameters, batch) : nil
      return (out, evaluation, runner.profile, slow)
    }
    let (out, evaluation, profile, slow) = result
    let maxDifference = slow.map { s in zip(out.logits, s).reduce(0.0) { max($0, abs(Double($1.0) - $1.1)) } }
    let predictions = out.predictions
    let width = batch.rows > 0 ? out.positions / batch.rows : 0
    if json {
      var v: [String: Any] = [
        "model": m.label, "kind": m.architecture.kind.rawValue, "parameters": m.parameters.values.count, "rows": batch.rows,
        "logits_shape": [out.positions, out.width], "logits_sha256": out.digest.hex,
        "numerics": ["runtime": profile.runtime, "blas": profile.blas, "core": profile.core, "threads": profile.threads],
        "predictions": (0..<batch.rows).map { r in Array(predictions[(r * width)..<((r + 1) * width)]) },
      ]
      if let evaluation { v["evaluation"] = ["loss": evaluation.loss, "accuracy": evaluation.accuracy, "targets": evaluation.counted] }
      if activations {
        v["activations"] = out.activations.map { ["name": $0.name, "shape": $0.shape, "sha256": $0.digest.hex] as [String: Any] }
      }
      if let maxDifference { v["reference_max_abs_difference"] = maxDifference }
      Render.json(v)
      return
    }
    Render.line("\(m.label): \(m.architecture.kind.rawValue), \(m.parameters.values.count) parameters, \(batch.rows) row(s)")
    Render.line("logits  [\(out.positions), \(out.width)] sha256:\(out.digest.hex)")
    Render.line("numerics \(profile.runtime), OpenBLAS \(profile.core), \(profile.threads) thread(s)")
    if let evaluation {
      Render.line(String(format: "loss %.4f, accuracy %.4f over %d target(s)", evaluation.loss, evaluation.accuracy, evaluation.counted))
    }
    if let maxDifference { Render.line(String(format: "reference: largest |logit − float64 logit| = %.3g", maxDifference)) }
    for a in out.activations { Render.line("  \(a.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(a.shape) sha256:\(a.digest.hex)") }
    for r in 0..<min(show, batch.rows) {
      Render.line("row \(r): " + predictions[(r * width)..<((r + 1) * width)].map(String.init).joined(separator: " "))
    }
  }

  func runtime<T>(_ what: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as RuntimeError { throw KitError.runtime(what: what, reason: e.description) }
  }
}
