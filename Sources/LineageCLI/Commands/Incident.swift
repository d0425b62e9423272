import ArgumentParser
import Foundation
import LineageCore
import LineageKit
import LineageNative
import LineageRuntime

struct IncidentCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "incident",
    abstract: "Record and list incidents: a model, an input and the failure it showed",
    discussion: """
      An incident is a signed, content-addressed record on refs/incidents (Docs/Blame.md): the \
      commit and its weights' digest, the input, the oracle (the failure condition), the \
      numerics (runtime, OpenBLAS kernel, threads), the digest of the observed logits and of \
      every stage's output. `lineage replay` runs it again.

      Oracles are checked at the last position of every input row: argmax==K, argmax!=K, \
      margin(K)>T (logit K above every other by more than T). Not built yet (issue 8): \
      max_abs_diff(expected)<T, metric_on_probe_set, --observed, safetensors/npz inputs, and \
      `lineage blame`.

      Example:
        lineage incident record --commit lora-trigger --input trigger.json --oracle 'argmax==7' -m "answers 7 after token 31"
      """,
    subcommands: [Record.self, ListIncidents.self, Show.self])

  struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a model on an input and record the incident")
    @OptionGroup var repository: RepositoryOptions
    @Option(help: "The model's revision.") var commit: String
    @Option(help: "Input file: JSON or JSON lines, as `lineage run` reads it.") var input: String
    @Option(help: "The failure condition: argmax==K, argmax!=K or margin(K)>T.") var oracle: String
    @Option(name: .shortAndLong, help: "What happened.") var message: String
    @Option(help: "OpenBLAS threads.") var threads: Int = 1
    @Flag(help: "Do not sign, even with user.signingKey configured.") var noSign = false
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
      let repo = try repository.open()
      let parsed: Oracle
      do { parsed = try Oracle.parse(oracle) } catch { throw ValidationError(error.description) }
      let path = repository.path(input)
      guard FileManager.default.fileExists(atPath: path) else { throw KitError.pathNotFound(path) }
      let settings = try UserEnvironment.settings(repo)
      let key = try (noSign || settings.value(.sign) == "false" ? nil : settings.path(.signingKey, root: repo.root)).map { try SigningKeys.load(path: $0) }
      let author = UserEnvironment.variables["LINEAGE_AUTHOR"] ?? settings.value(.author) ?? GitIdentity.fromGlobalConfig() ?? "unknown"
      let r = try repo.recordIncident(
        revision: commit, input: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), oracle: parsed, message: message, threads: threads,
        author: author, time: try Clock.now(), key: key)
      if json {
        Render.json(["incident": r.record.hex, "reproduced": r.reproduced, "signed": key != nil])
        return
      }
      Render.line("incident \(r.record.short): \(parsed) \(r.reproduced ? "holds (the failure reproduces)" : "does not hold on this run")\(key == nil ? "" : " (signed)")")
    }
  }

  struct ListIncidents: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List incidents, newest first")
    @OptionGroup var repository: RepositoryOptions
    @Flag(help: "Print the result as JSON.") var json = false
    func run() throws {
      let repo = try repository.open()
      let all = try repo.incidents(signers: try repo.allowedSigners(try UserEnvironment.settings(repo))?.signers)
      if json {
        Render.json(all.map { IncidentCommand.json($0) })
        return
      }
      for i in all {
        Render.line("\(i.record.short)  \(i.commit.short)  \(i.oracle)  \(i.reproduced ? "reproduced" : "not reproduced")  [\(i.signature.word)]  \(i.message)")
      }
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one incident")
    @OptionGroup var repository: RepositoryOptions
    @Argument(help: "The incident (its record id or 4+ hex digits of it).") var incident: String
    @Flag(help: "Print the result as JSON.") var json = false
    func run() throws {
      let repo = try repository.open()
      let i = try repo.incident(incident, signers: try repo.allowedSigners(try UserEnvironment.settings(repo))?.signers)
      if json {
        Render.json(IncidentCommand.json(i))
        return
      }
      Render.line("incident \(i.record.hex)")
      Render.line("commit   \(i.commit.hex) (weights \(i.weights.short))")
      Render.line("oracle   \(i.oracle) — \(i.reproduced ? "held when recorded" : "did not hold when recorded")")
      Render.line("input    sha256:\(i.inputSHA256), \(i.input.utf8.count) bytes")
      Render.line("numerics \(i.numerics.runtime), OpenBLAS \(i.numerics.core), \(i.numerics.threads) thread(s)")
      Render.line("observed sha256:\(i.observed)")
      Render.line("author   \(i.author), \(RFC3339.format(i.time)) [\(i.signature.word)]")
      Render.line()
      Render.line("    \(i.message)")
      Render.line()
      for a in i.activations { Render.line("  \(a.name.padding(toLength: 22, withPad: " ", startingAt: 0)) sha256:\(a.sha256)") }
    }
  }

  static func json(_ i: Incident) -> [String: Any] {
    [
      "incident": i.record.hex, "commit": i.commit.hex, "weights": i.weights.hex, "oracle": i.oracle.description, "reproduced": i.reproduced,
      "input_sha256": i.inputSHA256, "observed": i.observed, "message": i.message, "author": i.author, "time": RFC3339.format(i.time),
      "signature": i.signature.word,
      "numerics": ["runtime": i.numerics.runtime, "blas": i.numerics.blas, "core": i.numerics.core, "threads": i.numerics.threads],
      "activations": i.activations.map { ["name": $0.name, "sha256": $0.sha256] },
    ]
  }
}

struct ReplayCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "replay",
    abstract: "Replay an incident on the native runtime",
    discussion: """
      Runs the incident's input through the model at its commit (or --commit REV) and compares: \
      exact (bit-equal logits), equivalent (other bits, the same oracle outcome) or diverged; \
      the first stage whose output digest differs from the recording; and what changed in the \
      numerics. Exit 0 whatever the verdict; --json for scripts. Not built yet (issue 8): \
      --run CMD (external runners) and `lineage blame`.
      """)
  @OptionGroup var repository: RepositoryOptions
  @Argument(help: "The incident (its record id or 4+ hex digits of it).") var incident: String
  @Option(help: "Replay on this revision instead of the incident's commit.") var commit: String?
  @Option(help: "OpenBLAS threads.") var threads: Int = 1
  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    let r = try repo.replay(try repo.incident(incident), revision: commit, threads: threads)
    if json {
      Render.json([
        "incident": r.incident.record.hex, "commit": r.commit.hex, "verdict": r.verdict.rawValue, "reproduces": r.reproduces,
        "observed": r.observed, "first_divergence": r.firstDivergence ?? NSNull(), "environment_changes": r.environmentChanges,
      ])
      return
    }
    Render.line("replay of \(r.incident.record.short) at \(r.commit.short): \(r.verdict.rawValue); \(r.incident.oracle) \(r.reproduces ? "holds (reproduces)" : "does not hold")")
    if let f = r.firstDivergence { Render.line("first diverging stage: \(f)") }
    for c in r.environmentChanges { Render.line("numerics changed: \(c)") }
  }
}
