import ArgumentParser
import Foundation
import LineageCore
import LineageForensics
import LineageKit
import LineageNative
import LineageSigning

struct InferCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "infer",
    abstract: "Infer undeclared parentage of a model from its weights",
    discussion: """
      Compares TARGET (a path in any format lineage reads, a directory, or REV / REV:DIR) with \
      every model in the store (every commit reachable from a ref whose top-level files hold a \
      model sharing tensor names with it; or only --among REV…), and gives each candidate a \
      relation, read as "CHILD relation PARENT":

        identical       every shared tensor bit-identical
        converted       the same values up to another dtype's rounding
        quantized-from  one side on a quantization grid (per-row int8, GGUF blocks)
        pruned-from     one side is the other with weights set to zero
        adapter-of      every changed matrix differs by a low-rank matrix (rank reported)
        merge-of        the target is a non-negative combination of several candidates (α)
        finetuned-from  related, and the nearest related candidate
        related         related, but placed by neither structure nor distance
        unrelated       no evidence at α = 0.01

      Relatedness is the unit-matching test of `lineage compare` (a p-value against \
      independent models, robust to permuted hidden units), Holm-corrected over the candidates. \
      The direction is given with its \
      basis: structural (a grid, zeros) or a prior (the stored model came first), and with a \
      confidence in brackets: the weight infer --all's direction score, run on the target and \
      that candidate alone (weights only), gives to the stated direction (near 0: the weights \
      point the other way). Weights cannot show distillation or retraining from scratch.

      --record stores the edges in which TARGET (a revision) is the child as a signed record on \
      refs/inferred, apart from declared parents: `log` and `graph` show them as inferred, \
      `descendants --inferred` follows them, and a recorded verdict satisfies the policy's \
      require_declared_parents. Recording again replaces the verdict.

      Screening: every candidate is first ranked from its stored sketch alone (the estimated \
      distance and the hidden-unit-permutation-invariant norm profiles, Docs/Forensics.md), and \
      only the --shortlist K best are loaded and tested in full; the relatedness test is still \
      Holm-corrected over every screened candidate. --no-sketch tests every candidate in full. \
      Commits made before sketches existed are sketched on the fly (`lineage sketch` stores them).

      --all [REV…] recovers the forest over many stored models (by default every commit a \
      branch or tag names that holds a model): families are the connected components of pairs \
      related at α = 0.01 (Holm over all pairs; no family count needed), each family is placed \
      by a minimum spanning tree on the distance of its weights after aligning hidden units, \
      raised for pairs whose difference looks like a sum of several training runs (its \
      per-element kurtosis), a root is chosen per family by scoring direction evidence \
      (quantized and pruned models are children, permuted copies are children, how \
      consistently norm and kurtosis move away from the root, the \
      most central model, and declared parents and commit times unless --weights-only), and \
      merges become extra parents. Each edge has a p-value, a placement confidence and a \
      direction confidence, all margins in [0, 1] and not probabilities (Docs/Forensics.md). \
      --mother runs MoTHer's algorithm instead (kurtosis-penalised Chu–Liu/Edmonds), which \
      needs --families N.

      --all --record stores the forest on refs/inferred: one signed record per model placed, \
      its inferred parents (tree parent or merge parents, with placement and direction \
      confidence) as edges, none for a family root; like a single-target record it replaces that \
      model's earlier verdict. Not with --mother.

      --null DIR also scores each shown candidate against an empirical null of independent \
      models (`lineage null build`): the unit-matching statistic's add-one p-value (1+k)/(N+1) \
      among the null's N pairs, and its z-score, beside the analytic p-value. Candidates of \
      another tensor signature than the null's are listed as not scored, with the reason.

      Examples:
        lineage infer downloads/model.safetensors
        lineage infer suspect/ --among base --among ft --json
        lineage infer suspect/ --null nulls/small
        lineage infer --all
        lineage infer --all v1 v2 v3 --weights-only --json
        lineage infer --all --weights-only --record
        lineage infer --all --mother --families 3
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: ArgumentHelp("The model: a path, REV or REV:DIR; with --all, the revisions to place (default: every branch and tag).", valueName: "target"))
  var targets: [String] = []

  @Flag(help: "Recover the forest over many stored models instead of placing one.") var all = false

  @Flag(help: "With --all: run MoTHer's algorithm (for comparison); needs --families.") var mother = false

  @Option(help: "With --mother: the number of families (MoTHer cannot find it).") var families: Int?

  @Flag(help: "With --all: ignore declared parents and commit times; weights alone decide directions.") var weightsOnly = false

  @Option(help: "With --all: placement distance, pooled-l2, relative-l2 or pearson.") var distance: String = "pooled-l2"

  @Option(help: ArgumentHelp("Compare only with this revision; repeatable.", valueName: "rev")) var among: [String] = []

  @Option(help: "Show the K most related candidates (0: all).") var top: Int = 10

  @Option(help: "How names map to layers: auto, llama, gpt2, bert, vit, gguf or none.") var grouping: String = "auto"

  @Flag(help: "Record the inferred parents as a signed record on refs/inferred (TARGET must be a revision; with --all, one record per model).") var record = false

  @Flag(help: "Do not sign the record, even with user.signingKey configured.") var noSign = false

  @Option(help: ArgumentHelp("Sign the record with this private key instead of user.signingKey.", valueName: "path"))
  var signingKey: String?

  @Flag(help: "Print the result as JSON.") var json = false

  @Option(help: ArgumentHelp("Also score the shown candidates against this empirical null (`lineage null build`).", valueName: "dir"))
  var null: String?

  @Option(help: "Candidates tested in full after ranking by sketch.") var shortlist: Int = 8

  @Flag(help: "Test every candidate in full instead of screening by sketch.") var noSketch = false

  func validate() throws {
    guard shortlist >= 1 else { throw ValidationError("--shortlist must be at least 1") }
    guard Grouping(rawValue: grouping) != nil else {
      throw ValidationError("--grouping must be one of " + Grouping.allCases.map(\.rawValue).joined(separator: ", "))
    }
    guard top >= 0 else { throw ValidationError("--top must not be negative") }
    guard PlacementDistance(rawValue: distance) != nil else {
      throw ValidationError("--distance must be one of " + PlacementDistance.allCases.map(\.rawValue).joined(separator: ", "))
    }
    if all {
      guard null == nil else { throw ValidationError("--null scores one model's candidates; it does not apply to --all") }
      guard !(record && mother) else { throw ValidationError("--record stores lineage's forest, not the MoTHer comparison: drop --mother") }
      guard among.isEmpty else { throw ValidationError("--among does not apply to --all: list the revisions as arguments") }
      guard !mother || (families ?? 0) >= 1 else { throw ValidationError("--mother needs --families N (N ≥ 1): MoTHer does not find the number of families") }
      guard mother || families == nil else { throw ValidationError("--families applies only to --mother (lineage finds the families)") }
    } else {
      guard targets.count == 1 else { throw ValidationError("give one model to place, or --all to place many") }
      guard !mother, families == nil, !weightsOnly else { throw ValidationError("--mother, --families and --weights-only apply only to --all") }
    }
  }

  /// The key records are signed with (none with --no-sign or without user.signingKey) and the author.
  func signer(_ repo: Repository) throws -> (SSHPrivateKey?, String) {
    let settings = try UserEnvironment.settings(repo)
    let key = try UserEnvironment.signingKeyPath(settings, root: repo.root, override: signingKey.map(repository.path), noSign: noSign)
      .map { try SigningKeys.load(path: $0) }
    return (key, UserEnvironment.author(settings))
  }

  func run() throws {
    let repo = try repository.open()
    if all {
      var options = ForestOptions()
      options.distance = PlacementDistance(rawValue: distance) ?? .pooledL2
      if mother, let families { options.method = .mother(families: families) }
      let report = try repo.inferForest(
        revisions: targets.isEmpty ? nil : targets, priors: !weightsOnly && !mother, options: options, progress: TerminalProgress())
      var recorded: Repository.ForestRecording?
      if record {
        let (key, author) = try signer(repo)
        recorded = try repo.recordForest(report, author: author, time: try Clock.now(), key: key)
      }
      ForestRendering.render(report, json: json, method: mother ? "mother" : "lineage", alpha: options.alpha, recorded: recorded)
      return
    }
    // The null is read before any model, so that a wrong --null fails before the comparisons.
    let nullModel = try null.map { try NullModel.load(from: repository.path($0)) }
    let target = targets[0]
    let path = repository.path(target)
    var query: ModelTensors
    var own: ObjectID?
    if FileManager.default.fileExists(atPath: path) {
      query = try Repository.modelTensors(atPath: path)
    } else {
      let (revision, directory) = splitRevision(target)
      query = try repo.modelTensors(revision: revision, directory: directory)
      own = try repo.resolve(revision)
      query.label = target
    }
    var options = InferOptions()
    options.compare.grouping = Grouping(rawValue: grouping) ?? .auto
    let matches: [InferenceMatch]
    var screened: ScreenedInference?
    if noSketch {
      matches = try repo.infer(query, among: among.isEmpty ? nil : among, excluding: own, options: options, progress: TerminalProgress())
    } else {
      let s = try repo.inferScreened(
        query, among: among.isEmpty ? nil : among, excluding: own, options: options, screening: ScreeningOptions(shortlist: shortlist),
        progress: TerminalProgress())
      matches = s.matches
      screened = s
    }
    let all = matches.map(\.candidate)
    var recorded: (record: ObjectID, edges: Int)?
    if record {
      guard let own else {
        throw CommandFailure(message: "--record needs a stored model: commit \(target) first, then `lineage infer REV --record`", code: ErrorReport.Code.badInput)
      }
      let (key, author) = try signer(repo)
      recorded = try repo.recordInference(child: own, matches: matches, author: author, time: try Clock.now(), key: key)
    }
    let shown = top > 0 ? Array(all.prefix(top)) : all
    let limits = ForestRendering.limits
    var calibrated: [String: MatchScore] = [:]
    if let model = nullModel {
      let scored = try repo.scoreMatches(query, Array(matches.prefix(shown.count)), null: model, progress: TerminalProgress())
      for (m, s) in zip(matches, scored) { calibrated[m.candidate.label] = s }
    }
    func empirical(_ label: String) -> Any {
      guard let s = calibrated[label] else { return NSNull() }
      if let why = s.unavailable { return ["unavailable": why] }
      guard let u = s.units, let summary = u.summary else { return ["unavailable": "the statistic is absent for this pair"] }
      return [
        "statistic": u.name.rawValue, "p_value": summary.pValue, "at_least_as_extreme": summary.atLeastAsExtreme, "null_size": u.nullSize,
        "z_score": number(summary.zScore), "smallest_p_value": number(u.smallestPValue),
      ] as [String: Any]
    }
    func number(_ x: Double?) -> Any { x.map { $0.isFinite ? $0 : "nan" as Any } ?? NSNull() }
    if json {
      Render.json([
        "query": query.label, "alpha": options.alpha, "candidates_compared": all.count, "limits": limits,
        "screening": screened.map { s -> Any in
          [
            "screened_by_sketch": s.screened.count, "tested_in_full": s.testedInFull, "shortlist": shortlist, "sketched_now": s.sketchedNow,
            "query_seconds": s.querySeconds, "screening_seconds": s.screeningSeconds, "full_test_seconds": s.fullTestSeconds,
          ] as [String: Any]
        } ?? NSNull(),
        "recorded": recorded.map { ["record": $0.record.hex, "edges": $0.edges] as [String: Any] } ?? NSNull(),
        "null": nullModel.map { ["architecture": $0.architecture, "models": $0.models.count, "pairs": $0.pairs.count] as [String: Any] } ?? NSNull(),
        "candidates": shown.map { c -> [String: Any] in
          var v: [String: Any] = [
            "candidate": c.label, "relation": c.relation.rawValue, "direction_basis": c.directionBasis, "p_value": number(c.pValue),
            "log_p": number(c.logP), "log_p_holm": number(c.adjustedLogP), "distance": number(c.distance), "mean_cosine": number(c.meanCosine), "evidence": c.evidence,
            "query_is_child": c.queryIsChild.map { $0 as Any } ?? NSNull(), "direction_confidence": number(c.directionConfidence),
          ]
          if let r = c.adapterRank { v["adapter_rank"] = r }
          if !c.adapterLayers.isEmpty { v["adapter_layers"] = c.adapterLayers }
          if let w = c.mergeWeight { v["merge_weight"] = w }
          if nullModel != nil { v["empirical"] = empirical(c.label) }
          return v
        },
      ])
      return
    }
    if let s = screened {
      Render.line(
        "\(query.label): screened \(s.screened.count) stored model(s) by sketch, tested \(s.testedInFull) in full"
          + (s.sketchedNow > 0 ? " (\(s.sketchedNow) had no stored sketch: run `lineage sketch`)" : ""))
    } else {
      Render.line("\(query.label): compared with \(all.count) stored model(s)")
    }
    if let best = all.first, best.relation != .unrelated {
      let parent = best.queryIsChild == false ? query.label : best.label
      let child = best.queryIsChild == false ? best.label : query.label
      Render.line("most likely: \(child) \(best.relation.rawValue) \(parent)")
    } else {
      Render.line("no stored model is related at α = \(options.alpha)")
    }
    var rows = [["candidate", "relation", "direction", "log p"] + (nullModel == nil ? [] : ["null p = (1+k)/(N+1)"]) + ["distance", "evidence"]]
    for c in shown {
      let direction =
        (c.queryIsChild.map { $0 ? "target is child" : "candidate is child" } ?? "-")
        + (c.directionConfidence.map { String(format: " (%.2f)", $0) } ?? "")
      var nullText: [String] = []
      if nullModel != nil {
        let s = calibrated[c.label]
        nullText = [
          s?.units?.summary.map { String(format: "%.3g = %d/%d", $0.pValue, 1 + $0.atLeastAsExtreme, $0.nullSize + 1) }
            ?? (s?.unavailable.map { "not scored: \($0)" } ?? "-")
        ]
      }
      rows.append(
        [c.label, c.relation.rawValue, direction, c.logP.map { String(format: "%.1f", $0) } ?? "-"] + nullText + [
          String(format: "%.4f", c.distance), c.evidence.joined(separator: "; "),
        ])
    }
    Render.table(rows)
    if let nullModel {
      Render.line(
        "null: \(nullModel.architecture), \(nullModel.models.count) models, \(nullModel.pairs.count) pairs; the smallest p-value it can give is 1/\(nullModel.pairs.count + 1)")
    }
    Render.line(limits)
    if let recorded {
      Render.line("recorded \(recorded.edges) inferred parent edge(s) in \(recorded.record.short) on refs/inferred")
    }
  }
}
