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
      margin(K)>T (logit K above every other by more than T); max_abs_diff(expected)<T or >T \
      against --expected logits; metric_on_probe_set(accuracy)<T or (loss)>T on --probe-set \
      rows. With --run CMD an external command decides instead (exit 0 good, 1-124 bad, 125 \
      untestable; Docs/Blame.md lists its LINEAGE_* variables). Every file given is stored in \
      the record.

      Examples:
        lineage incident record --commit lora-trigger --input trigger.json --oracle 'argmax==7' -m "answers 7 after token 31"
        lineage incident record --commit v3 --input prompt.safetensors --run 'python check.py' -m "toxic reply"
      """,
    subcommands: [Record.self, ListIncidents.self, Show.self])

  struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a model on an input and record the incident")
    @OptionGroup var repository: RepositoryOptions
    @Option(help: "The model's revision.") var commit: String
    @Option(help: "Input file: JSON or JSON lines (as `lineage run` reads it), safetensors or npz (input_ids / features).")
    var input: String?
    @Option(help: "The failure condition: argmax==K, argmax!=K, margin(K)>T, max_abs_diff(expected)<T (or >T), metric_on_probe_set(accuracy|loss)<T (or >T); external with --run.")
    var oracle: String?
    @Option(help: "The expected logits for max_abs_diff (JSON {\"logits\": [...]}, safetensors or npz).") var expected: String?
    @Option(help: "The logits seen where the failure happened; stored, and compared on replay.") var observed: String?
    @Option(name: .customLong("probe-set"), help: "Rows with targets for metric_on_probe_set (JSON lines).") var probeSet: String?
    @OptionGroup var runner: RunnerOptions
    @Option(name: .shortAndLong, help: "What happened.") var message: String
    @Option(help: "OpenBLAS threads.") var threads: Int = 1
    @Flag(help: "Do not sign, even with user.signingKey configured.") var noSign = false
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
      let repo = try repository.open()
      guard oracle != nil || runner.run != nil else { throw ValidationError("give --oracle SPEC, or --run CMD for an external runner") }
      let parsed: Oracle
      do { parsed = try Oracle.parse(oracle ?? "external") } catch { throw ValidationError(error.description) }
      func read(_ option: String?) throws -> NamedBytes? {
        guard let option else { return nil }
        let path = repository.path(option)
        guard FileManager.default.fileExists(atPath: path) else { throw KitError.pathNotFound(path) }
        return NamedBytes(name: (path as NSString).lastPathComponent, bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
      }
      let settings = try UserEnvironment.settings(repo)
      let key = try UserEnvironment.signingKeyPath(settings, root: repo.root, override: nil, noSign: noSign).map { try SigningKeys.load(path: $0) }
      let author = UserEnvironment.author(settings)
      let spec = IncidentSpec(
        revision: commit, input: try read(input), oracle: parsed, expected: try read(expected), observed: try read(observed),
        probeSet: try read(probeSet), runner: runner.runner, message: message, threads: threads)
      let r = try repo.recordIncident(spec, author: author, time: try Clock.now(), key: key)
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
        Render.json(all.map { RecordJSON.foundation(repo.incidentJSONValue($0)) })
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
        Render.json(RecordJSON.foundation(repo.incidentJSONValue(i)))
        return
      }
      Render.line("incident \(i.record.hex)")
      Render.line("commit   \(i.commit.hex) (weights \(i.weights.short))")
      Render.line("oracle   \(i.oracle) — \(i.reproduced ? "held when recorded" : "did not hold when recorded")")
      if let r = i.runner { Render.line("runner   \(r) (recorded for information; replay runs only a --run command)") }
      if !i.inputSHA256.isEmpty { Render.line("input    sha256:\(i.inputSHA256)") }
      for f in i.files { Render.line("file     \(f.role): \(f.path)") }
      if i.runner == nil { Render.line("numerics \(i.numerics.runtime), OpenBLAS \(i.numerics.core), \(i.numerics.threads) thread(s)") }
      Render.line("observed sha256:\(i.observed)")
      Render.line("author   \(i.author), \(RFC3339.format(i.time)) [\(i.signature.word)]")
      Render.line()
      Render.line("    \(i.message)")
      Render.line()
      for a in i.activations { Render.line("  \(a.name.padding(toLength: 22, withPad: " ", startingAt: 0)) sha256:\(a.sha256)") }
    }
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
      numerics. With --run CMD the command judges a checkout of the commit instead (exit 0 good, \
      1-124 bad, 125 untestable); exact then means its LINEAGE_OUTPUT file has the recorded \
      digest. Exit 0 whatever the verdict; --json for scripts.
      """)
  @OptionGroup var repository: RepositoryOptions
  @Argument(help: "The incident (its record id or 4+ hex digits of it).") var incident: String
  @Option(help: "Replay on this revision instead of the incident's commit.") var commit: String?
  @Option(help: "OpenBLAS threads.") var threads: Int = 1
  @OptionGroup var runner: RunnerOptions
  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    let r = try repo.replay(try repo.incident(incident), revision: commit, threads: threads, runner: runner.runner)
    if json {
      Render.json([
        "incident": r.incident.record.hex, "commit": r.commit.hex, "verdict": r.verdict.rawValue, "reproduces": r.reproduces,
        "observed": r.observed, "first_divergence": r.firstDivergence ?? NSNull(), "environment_changes": r.environmentChanges,
        "observed_max_abs_diff": r.observedMaxAbsDiff.map { Double($0) as Any } ?? NSNull(),
      ])
      return
    }
    Render.line("replay of \(r.incident.record.short) at \(r.commit.short): \(r.verdict.rawValue); \(r.incident.oracle) \(r.reproduces ? "holds (reproduces)" : "does not hold")")
    if let f = r.firstDivergence { Render.line("first diverging stage: \(f)") }
    for c in r.environmentChanges { Render.line("numerics changed: \(c)") }
    if let d = r.observedMaxAbsDiff { Render.line("largest difference to the observed output: \(d)") }
  }
}

/// `--run CMD` and `--timeout S`: an external runner (Docs/Blame.md).
struct RunnerOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Judge each state with this shell command instead of the native runtime: exit 0 good, 1-124 bad, 125 untestable.", valueName: "cmd"))
  var run: String?
  @Option(help: "Seconds before a --run command is killed.") var timeout: Double = 600

  var runner: ExternalRunner? {
    run.map {
      ExternalRunner(
        command: $0, environment: UserEnvironment.variables, directory: FileManager.default.currentDirectoryPath, timeout: timeout)
    }
  }
}

struct BlameCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "blame",
    abstract: "Replay an incident against history and attribute it",
    discussion: """
      1. Replays the incident at its commit; stops (exit 11) when it does not reproduce.
      2. History: every ancestor of the incident's commit (merges followed) that is not an \
      ancestor of --good REV, replayed in full (--scan: every commit whose parents are all good \
      is a transition, so a failure that fades and returns is blamed on its last return) or \
      searched like git bisect over the DAG (--bisect: bad is assumed to stay bad; about log2 N \
      replays). By default blame scans paths of at most 32 commits (8 with --run, where each \
      test may load a large model) and bisects longer ones. Commits that cannot be tested (another \
      architecture, or a runner's exit 125) are skipped. Exit 12 when the failure is there \
      since a root.
      3. Tensors: among the tensors that differ between the first bad commit and its good \
      (first) parent, the effect of reverting each one (parent's values into the bad model) and \
      of transplanting it (bad values into the parent), and a 1-minimal set whose reversion \
      stops the failure: with the native runtime, units in order of how much reverting each \
      alone weakens the failure (its severity, e.g. the logit margin), the shortest such prefix \
      that fixes, pruned to 1-minimal; with --run, delta debugging (ddmin). --units layers tests \
      whole layers instead. \
      Every test is a real replay on a hybrid state.
      4. Data: the data digests the first bad commit lists and its parents do not, ranked by \
      TracIn-style scores (per-example gradients at the good parent and the first bad commit, \
      aggregated by source) when the sources are readable local files; when the commit records \
      a training recipe, each source is left out in turn and the training replayed (exact, with \
      a bit-exact control run). --no-attribution skips this, --no-retrain the retraining.
      5. Impact: every commit that inherits from the first bad commit (`lineage descendants`).
      The report is stored as a signed record on refs/blame (`lineage show ID` prints it) \
      unless --no-record. Exit 0 when blamed, 13 when --budget replays ran out.

      With --run CMD every test is the command's verdict on a checkout (or a hybrid checkout) \
      instead of a native replay; Docs/Blame.md gives its environment.

      --emit-fix DIR writes a candidate fixed checkpoint (native runtime): the incident's model \
      with the first bad commit's change subtracted on the minimal set, and reports how many \
      incidents of the same commit it flips and its accuracy on --probe-set. It is written, not \
      committed: `lineage commit DIR --parent REV` keeps it.

      """)
  @OptionGroup var repository: RepositoryOptions
  @Argument(help: "The incident (its record id or 4+ hex digits of it).") var incident: String
  @Option(help: "A known good revision: it and its ancestors are not searched.") var good: String?
  @Flag(help: "Replay every commit searched (the default for paths of up to 32 commits, 8 with --run).") var scan = false
  @Flag(help: "Binary search for the first bad commit (the default for longer paths).") var bisect = false
  @Option(help: "At most this many replays.") var budget: Int = 256
  @Option(help: "Test tensors one by one or whole layers: tensors or layers.") var units: String = "tensors"
  @Option(help: "OpenBLAS threads.") var threads: Int = 1
  @OptionGroup var runner: RunnerOptions
  @Option(name: .customLong("emit-fix"), help: ArgumentHelp("Write a candidate fixed checkpoint into this new directory.", valueName: "dir"))
  var emitFix: String?
  @Option(name: .customLong("probe-set"), help: "Rows with targets to measure --emit-fix's accuracy on (JSON lines).") var probeSet: String?
  @Flag(help: "Do not rank the added data (TracIn scores, leave-one-source-out).") var noAttribution = false
  @Flag(help: "Rank the added data but do not retrain without each source.") var noRetrain = false
  @Flag(help: "Do not store the report as a record.") var noRecord = false
  @Flag(help: "Do not sign the record, even with user.signingKey configured.") var noSign = false
  @Option(help: ArgumentHelp("Sign the record with this private key instead of user.signingKey.", valueName: "path"))
  var signingKey: String?
  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    if scan && bisect { throw ValidationError("choose --scan or --bisect, not both") }
    guard budget >= 1 else { throw ValidationError("--budget must be at least 1") }
    guard BlameUnits(rawValue: units) != nil else { throw ValidationError("--units must be tensors or layers") }
    if emitFix != nil && runner.run != nil { throw ValidationError("--emit-fix needs the native runtime; it cannot be used with --run") }
    if probeSet != nil && emitFix == nil { throw ValidationError("--probe-set measures --emit-fix; give --emit-fix DIR too") }
  }

  func run() throws {
    let repo = try repository.open()
    let i = try repo.incident(incident)
    let search: BlameSearch = scan ? .scan : bisect ? .bisect : .auto
    var attribution = DataAttributionOptions()
    attribution.leaveOneOut = !noRetrain
    let r = try repo.blame(
      i, good: good, search: search, budget: budget, threads: threads, runner: runner.runner, units: BlameUnits(rawValue: units) ?? .tensors,
      attribution: noAttribution ? nil : attribution)
    var record: ObjectID?
    if !noRecord {
      let settings = try UserEnvironment.settings(repo)
      let key = try UserEnvironment.signingKeyPath(settings, root: repo.root, override: signingKey.map(repository.path), noSign: noSign)
        .map { try SigningKeys.load(path: $0) }
      record = try repo.recordBlame(r, incident: i, author: UserEnvironment.author(settings), time: try Clock.now(), key: key)
    }
    var fix: FixReport?
    if let emitFix, r.outcome == .blamed {
      let probe = try probeSet.map { p -> NamedBytes in
        let path = repository.path(p)
        guard FileManager.default.fileExists(atPath: path) else { throw KitError.pathNotFound(path) }
        return NamedBytes(name: path, bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
      }
      fix = try repo.emitFix(r, incident: i, to: repository.path(emitFix), probeSet: probe, threads: threads)
    }
    if json {
      var v = RecordJSON.foundation(Repository.blameParams(r, incident: i)["blame"] ?? .null) as? [String: Any] ?? [:]
      if let fix {
        v["fix"] = [
          "directory": fix.directory, "tensors": fix.tensors, "flip_rate": fix.flipRate,
          "incidents": fix.incidents.map { ["incident": $0.record.hex, "before": $0.before, "after": $0.after] as [String: Any] },
          "probe_accuracy": fix.probeAccuracy.map { ["before": $0.before, "after": $0.after] as Any } ?? NSNull(),
        ] as [String: Any]
      }
      v["record"] = record?.hex ?? NSNull()
      v["path"] = r.path.map(\.hex)
      v["last_good"] = r.lastGood?.hex ?? NSNull()
      v["first_bad"] = r.firstBad?.hex ?? NSNull()
      Render.json(v)
    } else {
      Render.line("\(r.outcome.rawValue) after \(r.replays) replay(s) over \(r.path.count) commit(s)\(r.runner == "native" ? "" : " (runner: \(r.runner))")")
      if let b = r.firstBad, r.outcome == .blamed {
        let parents = r.goodParents.map(\.short).joined(separator: " and ")
        Render.line("first bad commit \(b.short) (good parent\(r.goodParents.count > 1 ? "s" : "") \(parents))")
      }
      if !r.unresolved.isEmpty { Render.line("untestable commits that could also be first bad: \(r.unresolved.map(\.short).joined(separator: " "))") }
      for t in r.transitions { Render.line("transition: \(t.good.short) good → \(t.bad.short) bad") }
      if !r.minimalSet.isEmpty {
        Render.line("minimal \(r.units == .layers ? "unit" : "tensor") set (reverting it stops the failure): \(r.minimalSet.joined(separator: ", "))")
      }
      let fixes = r.tensors.filter(\.revertFixes).map(\.name)
      if !fixes.isEmpty { Render.line("units whose reversion alone stops it: \(fixes.joined(separator: ", "))") }
      for d in r.dataAdded { Render.line("data added: \(d.role) \(d.uri) \(d.digest)") }
      if let a = r.attribution {
        Render.line("data ranked by TracIn score (\(a.failureLoss)):")
        for s in a.sources.sorted(by: { ($0.rank ?? .max) < ($1.rank ?? .max) }) {
          if let why = s.unavailable {
            Render.line("  -  \(s.source.uri): not scored (\(why))")
          } else {
            Render.line("  \(s.rank ?? 0). \(s.source.uri) mean \(String(format: "%.4g", s.mean)) over \(s.scored) example(s), \(String(format: "%.0f", 100 * s.positiveFraction))% positive")
          }
        }
        if let c = a.confirmation {
          let stoppers = c.stoppers.map(\.uri)
          Render.line("leave-one-source-out (\(c.retrains) retrain(s), control \(c.controlBitExact ? "bit-exact" : "not bit-exact: approximate")): \(stoppers.isEmpty ? "no single removal stops the failure" : "removing " + stoppers.joined(separator: ", ") + " stops it")")
        } else if let why = a.confirmationUnavailable {
          Render.line("leave-one-source-out not run: \(why)")
        }
      } else if let why = r.attributionUnavailable {
        Render.line("data not ranked: \(why)")
      }
      Render.line("impact: \(r.impact.count) descendant(s)\(r.impact.isEmpty ? "" : ": " + r.impact.map(\.short).joined(separator: " "))")
      if let record { Render.line("recorded as \(record.short) on refs/blame (lineage show \(record.short))") }
      if let fix {
        let flipped = fix.incidents.filter { $0.before && !$0.after }.count
        Render.line("candidate fix written to \(fix.directory): \(fix.tensors.joined(separator: ", ")) reverted")
        Render.line("  it stops \(flipped) of \(fix.incidents.filter(\.before).count) incident(s) on this commit (flip rate \(String(format: "%.2f", fix.flipRate)))")
        if let a = fix.probeAccuracy { Render.line("  probe accuracy \(String(format: "%.3f", a.before)) → \(String(format: "%.3f", a.after))") }
        Render.line("  keep it with: lineage commit \(fix.directory) --parent \(i.commit.short) -m \"revert \(r.firstBad?.short ?? "")'s change\"")
      }
    }
    switch r.outcome {
    case .blamed: return
    case .notReproducible: throw ExitCode(11)
    case .badSinceRoot: throw ExitCode(12)
    case .budgetExhausted: throw ExitCode(13)
    }
  }
}
