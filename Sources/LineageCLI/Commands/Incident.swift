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
      let key = try UserEnvironment.signingKeyPath(settings, root: repo.root, override: nil, noSign: noSign).map { try SigningKeys.load(path: $0) }
      let author = UserEnvironment.author(settings)
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

struct BlameCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "blame",
    abstract: "Replay an incident against history and attribute it",
    discussion: """
      1. Replays the incident at its commit; stops (exit 11) when it does not reproduce.
      2. History: the first-parent path from the incident's commit back to the root (or --good \
      REV), replayed by binary search (--bisect, the default: bad is assumed to stay bad) or \
      all of it (--scan: every good→bad transition). Commits the runtime cannot run with the \
      incident's architecture are skipped. Exit 12 when the failure is there since the root.
      3. Tensors: among the tensors that differ between the first bad commit and its good \
      parent, the effect of reverting each one (parent's tensor into the bad model) and of \
      transplanting it (bad tensor into the parent), and a 1-minimal set whose reversion stops \
      the failure (delta debugging, ddmin). Every test is a real replay on a hybrid state.
      4. Data: the data digests the first bad commit lists and its parent does not.
      5. Impact: every commit that inherits from the first bad commit (`lineage descendants`).
      Exit 0 when blamed, 13 when --budget replays ran out.

      Not built yet (issue 8): merges on the path (only first parents are followed), TracIn \
      data attribution and leave-one-source-out, --run CMD (external runners), --units layers, \
      --emit-fix, a signed blame record, and the quality benchmark (Docs/Blame.md).
      """)
  @OptionGroup var repository: RepositoryOptions
  @Argument(help: "The incident (its record id or 4+ hex digits of it).") var incident: String
  @Option(help: "A known good revision on the path: the search stops there.") var good: String?
  @Flag(help: "Replay every commit on the path.") var scan = false
  @Flag(help: "Binary search for the first bad commit (the default).") var bisect = false
  @Option(help: "At most this many replays.") var budget: Int = 256
  @Option(help: "OpenBLAS threads.") var threads: Int = 1
  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    if scan && bisect { throw ValidationError("choose --scan or --bisect, not both") }
    guard budget >= 1 else { throw ValidationError("--budget must be at least 1") }
  }

  func run() throws {
    let repo = try repository.open()
    let r = try repo.blame(try repo.incident(incident), good: good, search: scan ? .scan : .bisect, budget: budget, threads: threads)
    if json {
      Render.json([
        "outcome": r.outcome.rawValue, "replays": r.replays, "first_bad": r.firstBad?.hex ?? NSNull(), "last_good": r.lastGood?.hex ?? NSNull(),
        "path": r.path.map(\.hex), "tested": r.tested.map { ["commit": $0.commit.hex, "bad": $0.bad.map { $0 as Any } ?? NSNull()] as [String: Any] },
        "transitions": r.transitions.map { ["good": $0.good.hex, "bad": $0.bad.hex] }, "minimal_set": r.minimalSet,
        "tensors": r.tensors.map { ["name": $0.name, "revert_fixes": $0.revertFixes, "transplant_breaks": $0.transplantBreaks] as [String: Any] },
        "data_added": r.dataAdded.map { ["uri": $0.uri, "role": $0.role, "digest": $0.digest] }, "impact": r.impact.map(\.hex),
      ])
    } else {
      Render.line("\(r.outcome.rawValue) after \(r.replays) replay(s) on a path of \(r.path.count) commit(s)")
      if let b = r.firstBad, let g = r.lastGood { Render.line("first bad commit \(b.short) (good parent \(g.short))") }
      for t in r.transitions { Render.line("transition: \(t.good.short) good → \(t.bad.short) bad") }
      if !r.minimalSet.isEmpty { Render.line("minimal tensor set (reverting it stops the failure): \(r.minimalSet.joined(separator: ", "))") }
      let fixes = r.tensors.filter(\.revertFixes).map(\.name)
      if !fixes.isEmpty { Render.line("tensors whose reversion alone stops it: \(fixes.joined(separator: ", "))") }
      for d in r.dataAdded { Render.line("data added: \(d.role) \(d.uri) \(d.digest)") }
      Render.line("impact: \(r.impact.count) descendant(s)\(r.impact.isEmpty ? "" : ": " + r.impact.map(\.short).joined(separator: " "))")
    }
    switch r.outcome {
    case .blamed: return
    case .notReproducible: throw ExitCode(11)
    case .badSinceRoot: throw ExitCode(12)
    case .budgetExhausted: throw ExitCode(13)
    }
  }
}
