import ArgumentParser
import Foundation
import LineageForensics
import LineageKit
import LineageNative
import LineageRuntime

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure lineage's own speed",
    discussion: """
      Benchmarks that need code rather than a shell script (the store's live in Benchmarks/). \
      Results are recorded in Docs/Benchmarks.md.
      """,
    subcommands: [RuntimeBench.self, InferBench.self, InferAllBench.self, InferScaleBench.self, BlameBench.self])
}

struct RuntimeBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "runtime",
    abstract: "Time the native runtime against bare sgemm and report training throughput",
    discussion: """
      Forward pass of an 8.1M-parameter MLP (256 inputs, hidden 1024, 4 residual blocks of \
      intermediate 960, 10 classes) at batch 64, against a bare loop of cblas_sgemm calls doing \
      the same multiplications on preallocated buffers (median of --repeat runs each, \
      interleaved). Then training throughput (gradient + Adam step) of that MLP at batch 64 and \
      of lineage demo's transformer at batch 32. Build with -c release before measuring.
      """)

  @Option(help: "Timed runs of each forward measurement.") var `repeat`: Int = 50

  @Option(help: "OpenBLAS threads.") var threads: Int = 1

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    guard (3...10_000).contains(`repeat`) else { throw ValidationError("--repeat must be between 3 and 10000") }
    guard (1...64).contains(threads) else { throw ValidationError("--threads must be between 1 and 64") }
  }

  func run() throws {
    do { try measure() } catch let e as RuntimeError { throw KitError.runtime(what: "bench", reason: e.description) }
  }

  func measure() throws {
    let mlp = Architecture.mlp(inputs: 256, outputs: 10, hidden: 1024, layers: 4, intermediate: 960)
    let model = try Model(mlp, threads: threads)
    let p = Parameters.initialise(mlp, seed: 1)
    let data = Tasks.teacher(inputs: 256, classes: 10, count: 640, seed: 2, teacherSeed: 3)
    let (batch, _) = data.batch(Array(0..<64))
    let bare = BareProducts(mlp: mlp, rows: 64)
    func seconds(_ body: () throws -> Void) rethrows -> Double {
      let t = DispatchTime.now().uptimeNanoseconds
      try body()
      return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
    }
    for _ in 0..<3 {
      _ = try model.forward(p, batch)
      bare.run()
    }
    var forward: [Double] = []
    var products: [Double] = []
    for _ in 0..<`repeat` {
      forward.append(try seconds { _ = try model.forward(p, batch) })
      products.append(seconds { bare.run() })
    }
    func median(_ x: [Double]) -> Double {
      let s = x.sorted()
      return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    let f = median(forward)
    let b = median(products)

    var trainP = p
    var opt = try Optimizer(.adam(learningRate: 1e-3), count: trainP.values.count)
    let mlpSteps = 10
    let mlpTime = try seconds { _ = try Trainer.train(model, &trainP, data: data, optimizer: &opt, steps: mlpSteps, batchSize: 64, seed: 4) }

    let t = Demo.architecture
    let tModel = try Model(t, threads: threads)
    var tp = Parameters.initialise(t, seed: 5)
    var tOpt = try Optimizer(.adam(learningRate: 1e-3), count: tp.values.count)
    let tData = Tasks.markov(vocab: t.outputs, length: t.context, count: 1024, seed: 6, tableSeed: 7)
    let tSteps = 40
    let tTime = try seconds { _ = try Trainer.train(tModel, &tp, data: tData, optimizer: &tOpt, steps: tSteps, batchSize: 32, seed: 8) }
    let profile = model.profile
    let results: [String: Any] = [
      "mlp_parameters": p.values.count, "batch": 64, "threads": threads, "core": profile.core, "repeat": `repeat`,
      "forward_ms": f * 1e3, "bare_sgemm_ms": b * 1e3, "ratio": f / b, "bare_gflops": bare.flops / b / 1e9,
      "mlp_train_examples_per_s": Double(mlpSteps * 64) / mlpTime,
      "transformer_parameters": tp.values.count, "transformer_train_examples_per_s": Double(tSteps * 32) / tTime,
      "transformer_train_tokens_per_s": Double(tSteps * 32 * t.context) / tTime,
    ]
    if json {
      Render.json(results)
      return
    }
    Render.line("OpenBLAS \(profile.core), \(threads) thread(s)")
    Render.line(String(format: "mlp forward (%d parameters, batch 64): %.3f ms; bare sgemm loop: %.3f ms (%.1f GFLOP/s); ratio %.2f×", p.values.count, f * 1e3, b * 1e3, bare.flops / b / 1e9, f / b))
    Render.line(String(format: "mlp training (batch 64, Adam): %.0f examples/s", Double(mlpSteps * 64) / mlpTime))
    Render.line(String(format: "transformer training (%d parameters, batch 32 × %d tokens, Adam): %.0f examples/s, %.0f tokens/s", tp.values.count, t.context, Double(tSteps * 32) / tTime, Double(tSteps * 32 * t.context) / tTime))
  }
}

struct InferBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "infer",
    abstract: "Measure infer's accuracy on a generated model lake",
    discussion: """
      Trains --families families with the native runtime (a root; two fine-tunes on different \
      tasks; a fine-tune of a fine-tune; a rank-4 adapter; int8 of one fine-tune; 50% pruning of \
      the other; their average), commits them into a repository in a temporary directory, and \
      runs infer on every derived model against all the others. Reports parent and relation \
      accuracy, merge parents recovered, false relations on pairs from different families, and \
      the Kolmogorov–Smirnov distance of those pairs' p-values from uniform.
      """)

  @Option(help: "Families in the lake.") var families: Int = 3

  @Option(help: "Seed of the lake.") var seed: UInt64 = 1

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    guard (2...50).contains(families) else { throw ValidationError("--families must be between 2 and 50") }
  }

  func run() throws {
    let dir = NSTemporaryDirectory() + "lineage-bench-infer-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let start = DispatchTime.now().uptimeNanoseconds
    let r = try InferBenchmark.run(directory: dir, families: families, seed: seed) { FileHandle.standardError.write(Data("  \($0)\n".utf8)) }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if json {
      Render.json([
        "families": r.families, "models": r.models, "queries": r.queries, "parent_correct": r.parentCorrect,
        "relation_correct": r.relationCorrect, "merges": r.merges, "merges_recovered": r.mergesRecovered,
        "unrelated_pairs": r.unrelatedPairs, "false_relations": r.falseRelations, "ks_distance": r.ksDistance, "misses": r.misses,
        "seconds": seconds, "seed": seed,
      ])
      return
    }
    func pct(_ a: Int, _ b: Int) -> String { b == 0 ? "-" : String(format: "%d/%d (%.1f%%)", a, b, 100 * Double(a) / Double(b)) }
    Render.line("lake: \(r.families) families, \(r.models) models, seed \(seed); \(String(format: "%.0f", seconds)) s")
    Render.table([
      ["measure", "result"],
      ["parent named correctly", pct(r.parentCorrect, r.queries)],
      ["parent and relation correct", pct(r.relationCorrect, r.queries)],
      ["merges with both parents", pct(r.mergesRecovered, r.merges)],
      ["false relations, different families", pct(r.falseRelations, r.unrelatedPairs)],
      ["KS distance of their p-values from uniform", String(format: "%.3f", r.ksDistance)],
    ])
    for m in r.misses { Render.line("miss: \(m)") }
  }
}

struct InferScaleBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "infer-scale",
    abstract: "Time infer against a large store through sketches",
    discussion: """
      Commits --models small transformers (about 24,000 parameters each, in families of ten: a \
      seeded root, fine-tunes and chains made by perturbation; no training) into a repository in \
      a temporary directory, then times `infer` of a new fine-tune and of a hidden-unit-permuted \
      copy of stored models against all of them: screening by sketch, then the full test of the \
      shortlist. Reading and sketching the query is timed apart. The exhaustive path \
      (--no-sketch) is timed on --exhaustive-sample models (0: skipped). With --recall-families \
      it also trains `bench infer`'s lake at each --recall-seed and reports whether every \
      declared parent is in its child's shortlist. Build with -c release before measuring.
      """)

  @Option(help: "Models in the store.") var models: Int = 1000

  @Option(help: "Seed of the lake.") var seed: UInt64 = 1

  @Option(help: "Candidates tested in full.") var shortlist: Int = 8

  @Option(help: "Models the exhaustive path is timed on (0: skip).") var exhaustiveSample: Int = 100

  @Option(help: "Families of the trained `bench infer` lake for the recall check (0: skip).") var recallFamilies: Int = 0

  @Option(help: "Seeds of the recall lakes; repeatable.") var recallSeed: [UInt64] = [1]

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    guard (10...100_000).contains(models) else { throw ValidationError("--models must be between 10 and 100000") }
    guard shortlist >= 1 else { throw ValidationError("--shortlist must be at least 1") }
    guard exhaustiveSample >= 0, recallFamilies >= 0 else { throw ValidationError("counts must not be negative") }
  }

  func run() throws {
    let dir = NSTemporaryDirectory() + "lineage-bench-scale-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let log: (String) -> Void = { FileHandle.standardError.write(Data("  \($0)\n".utf8)) }
    let r = try InferScaleBenchmark.run(
      directory: "\(dir)/scale", models: models, seed: seed, shortlist: shortlist, exhaustiveSample: exhaustiveSample, progress: log)
    var recalls: [(UInt64, ShortlistRecall)] = []
    for s in recallFamilies > 0 ? recallSeed : [] {
      let lake = "\(dir)/recall-\(s)"
      _ = try InferBenchmark.run(directory: lake, families: recallFamilies, seed: s, progress: log)
      recalls.append((s, try InferScaleBenchmark.recall(try Repository.discover(from: lake), shortlist: shortlist)))
    }
    let extrapolated = r.exhaustiveSeconds.flatMap { s in r.exhaustiveModels.map { s * Double(r.models) / Double(max($0, 1)) } }
    if json {
      Render.json([
        "models": r.models, "families": r.families, "parameters": r.parameters, "seed": seed, "shortlist": shortlist,
        "commit_seconds": r.commitSeconds, "sketch_seconds_in_commits": r.sketchSeconds,
        "queries": r.queries.map {
          [
            "query": $0.description, "parent_found": $0.parentFound, "parent_shortlisted": $0.shortlisted, "screened": $0.screened,
            "tested_in_full": $0.testedInFull, "query_seconds": $0.querySeconds, "screening_seconds": $0.screeningSeconds,
            "full_test_seconds": $0.fullTestSeconds, "seconds_beyond_query": $0.secondsBeyondQuery,
          ] as [String: Any]
        },
        "exhaustive_models": r.exhaustiveModels.map { $0 as Any } ?? NSNull(),
        "exhaustive_seconds": r.exhaustiveSeconds.map { $0 as Any } ?? NSNull(),
        "exhaustive_seconds_extrapolated": extrapolated.map { $0 as Any } ?? NSNull(),
        "recall": recalls.map { s, x in
          ["seed": s, "queries": x.queries, "parents": x.parents, "shortlisted": x.parentsShortlisted, "misses": x.misses] as [String: Any]
        },
      ])
      return
    }
    Render.line(
      String(
        format: "store: %d models of %d parameters (%d families); committed in %.1f s, of which sketching %.1f s", r.models, r.parameters,
        r.families, r.commitSeconds, r.sketchSeconds))
    var rows = [["query", "screened", "in full", "parent shortlisted", "parent named", "query s", "screen s", "full test s", "beyond query s"]]
    for q in r.queries {
      rows.append([
        q.description, String(q.screened), String(q.testedInFull), q.shortlisted ? "yes" : "no", q.parentFound ? "yes" : "no",
        String(format: "%.3f", q.querySeconds), String(format: "%.3f", q.screeningSeconds), String(format: "%.3f", q.fullTestSeconds),
        String(format: "%.3f", q.secondsBeyondQuery),
      ])
    }
    Render.table(rows)
    if let s = r.exhaustiveSeconds, let n = r.exhaustiveModels, let e = extrapolated {
      Render.line(String(format: "exhaustive (--no-sketch) on %d models: %.2f s; linear extrapolation to %d models: %.1f s", n, s, r.models, e))
    }
    for (s, x) in recalls {
      Render.line("recall on `bench infer` lake (\(recallFamilies) families, seed \(s)): \(x.parentsShortlisted)/\(x.parents) declared parents shortlisted over \(x.queries) children")
      for m in x.misses { Render.line("  miss: \(m)") }
    }
  }
}

struct BlameBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "blame",
    abstract: "Measure blame's answers on planted, seeded histories",
    discussion: """
      For each seed, trains small transformers with the native runtime into seven histories, each \
      in its own repository in a temporary directory with an incident on the last commit: (a) a \
      poisoned source in one commit, (b) a backdoor confined to two known tensors in a commit that \
      also fine-tunes everything, (c) a dose split across two commits, (d) a failure since the \
      root, (e) a backdoor that fades and returns, (f) a merge of two good branches that fires, \
      (g) the poisoning incident replayed at 2 threads instead of 1. Blames each incident with the \
      default search and again with --bisect. Reports first-bad accuracy of both, their replays \
      against ceil(log2 N), minimal-set precision and recall, the poisoned source's rank, \
      leave-one-source-out confirmation and the fix's flip rate. Build with -c release first.
      """)

  @Option(help: "Seeds to run (1, 2, …).") var seeds: Int = 10

  @Option(help: "The first seed.") var seed: UInt64 = 1

  @Option(help: "Model and data sizes: standard, or tiny (a smoke test).") var size = "standard"

  @Option(help: ArgumentHelp("Run only this scenario (repeatable): a-poisoning, b-tampering, … or just its letter.", valueName: "name"))
  var scenario: [String] = []

  @Flag(help: "Print the result as JSON.") var json = false

  var scenarios: [BlameScenario] {
    scenario.isEmpty
      ? BlameScenario.allCases : BlameScenario.allCases.filter { s in scenario.contains { s.rawValue == $0 || s.rawValue.hasPrefix($0 + "-") } }
  }

  func validate() throws {
    guard (1...1000).contains(seeds) else { throw ValidationError("--seeds must be between 1 and 1000") }
    guard ["standard", "tiny"].contains(size) else { throw ValidationError("--size must be standard or tiny") }
    for name in scenario where !BlameScenario.allCases.contains(where: { $0.rawValue == name || $0.rawValue.hasPrefix(name + "-") }) {
      throw ValidationError("unknown scenario '\(name)'; the scenarios are \(BlameScenario.allCases.map(\.rawValue).joined(separator: ", "))")
    }
  }

  func run() throws {
    let dir = NSTemporaryDirectory() + "lineage-bench-blame-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let start = DispatchTime.now().uptimeNanoseconds
    let runs = try BlameBenchmark.run(directory: dir, seeds: seeds, firstSeed: seed, size: size == "tiny" ? .tiny : .standard, scenarios: scenarios) { FileHandle.standardError.write(Data("  \($0)\n".utf8)) }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let summaries = BlameBenchmark.summarize(runs)
    if json {
      Render.json([
        "seeds": seeds, "first_seed": seed, "size": size, "seconds": seconds,
        "runs": runs.map { r -> [String: Any] in
          var o: [String: Any] = [
            "scenario": r.scenario.rawValue, "seed": r.seed, "planted": r.planted, "answered": r.answered,
            "first_bad_exact": r.firstBadExact, "path_length": r.pathLength, "history_calls": r.historyCalls,
            "minimal_set": r.minimalSet, "notes": r.notes, "seconds": r.seconds,
          ]
          if let v = r.answeredByBisect { o["answered_by_bisect"] = v }
          if let v = r.bisectCalls { o["bisect_history_calls"] = v }
          if let v = r.plantedTensors { o["planted_tensors"] = v }
          if let v = r.poisonRank { o["poison_rank"] = v }
          if let v = r.sourcesRanked { o["sources_ranked"] = v }
          if let v = r.leaveOneOutConfirms { o["leave_one_out_confirms"] = v }
          if let v = r.controlBitExact { o["control_bit_exact"] = v }
          if let v = r.flipRate { o["flip_rate"] = v }
          if let v = r.replayVerdict { o["replay"] = v }
          return o
        },
      ])
      return
    }
    func frac(_ a: Int, _ b: Int) -> String { b == 0 ? "-" : "\(a)/\(b)" }
    Render.line("blame quality: \(seeds) seed(s) from \(seed); \(String(format: "%.0f", seconds)) s")
    var rows = [["scenario", "first bad exact", "by --bisect", "replays: default, --bisect vs ⌈log₂N⌉", "minimal set exact (P/R)", "poison ranked 1st", "LOSO confirms (control exact)", "flip rate", "replay at 2 threads"]]
    for s in summaries {
      rows.append([
        s.scenario?.rawValue ?? "total",
        s.counted == 0 ? "-" : frac(s.firstBadExact, s.counted),
        s.counted == 0 ? "-" : frac(s.bisectExact, s.counted),
        s.counted == 0 ? "-" : String(format: "%.1f, %.1f vs %.1f", s.meanCalls, s.meanBisectCalls, s.meanLog2),
        s.tensorRuns == 0 ? "-" : frac(s.minimalExact, s.tensorRuns) + String(format: " (%.2f/%.2f)", s.precision ?? 0, s.recall ?? 0),
        frac(s.poisonFirst, s.poisonRuns),
        s.leaveOneOutRuns == 0 ? "-" : "\(frac(s.leaveOneOutConfirms, s.leaveOneOutRuns)) (\(frac(s.controlBitExact, s.leaveOneOutRuns)))",
        s.flipRate.map { String(format: "%.2f", $0) } ?? "-",
        s.verdicts.isEmpty ? "-" : s.verdicts.map { "\($0.0) \($0.1)" }.joined(separator: ", "),
      ])
    }
    Render.table(rows)
    for r in runs where !r.firstBadExact && r.scenario != .numerics {
      Render.line("miss: \(r.scenario.rawValue) seed \(r.seed): planted \(r.planted), blame answered \(r.answered)")
    }
    for r in runs {
      for n in r.notes { Render.line("note: \(r.scenario.rawValue) seed \(r.seed): \(n)") }
    }
  }
}

struct InferAllBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "infer-all",
    abstract: "Measure infer --all's accuracy on generated model lakes, against MoTHer",
    discussion: """
      For each --seed, trains --families families with the native runtime (a root; fine-tunes A \
      and B of 20–60 steps; a chain A → A2 → A3; a rank-4 adapter; int8 of B; 4-bit of A2; A \
      pruned by 30–50%; B with permuted hidden units; a merge of A and B) and --unrelated lone \
      roots, commits them, and runs infer --all on weights alone (declared parents and commit \
      times ignored) and MoTHer's algorithm given the true number of families. Reports family \
      purity, undirected placement and directed accuracy over the tree edges (split into \
      structural and fine-tune edges), merges with both parents, false relations on pairs from \
      different families and the Kolmogorov–Smirnov distance of their p-values from uniform. \
      Build with -c release before measuring.
      """)

  @Option(help: "Families per lake.") var families: Int = 3

  @Option(help: "Unrelated lone roots per lake.") var unrelated: Int = 2

  @Option(help: ArgumentHelp("Seed of one lake; repeatable.", valueName: "seed")) var seed: [UInt64] = [1]

  @Option(help: "Placement distance: pooled-l2, relative-l2 or pearson.") var distance: String = "pooled-l2"

  @Option(help: ArgumentHelp("Keep each lake (its repository and model files) in DIR/seed-N instead of deleting it.", valueName: "dir"))
  var keep: String?

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    guard (1...50).contains(families) else { throw ValidationError("--families must be between 1 and 50") }
    guard (0...50).contains(unrelated) else { throw ValidationError("--unrelated must be between 0 and 50") }
    guard PlacementDistance(rawValue: distance) != nil else { throw ValidationError("--distance must be one of " + PlacementDistance.allCases.map(\.rawValue).joined(separator: ", ")) }
  }

  func run() throws {
    var results: [ForestBenchmarkResult] = []
    for s in seed {
      let dir = keep.map { "\($0)/seed-\(s)" } ?? NSTemporaryDirectory() + "lineage-bench-infer-all-\(UUID().uuidString.prefix(8))"
      defer { if keep == nil { try? FileManager.default.removeItem(atPath: dir) } }
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      results.append(
        try ForestBenchmark.run(directory: dir, families: families, unrelated: unrelated, seed: s, distance: PlacementDistance(rawValue: distance) ?? .pooledL2) {
          FileHandle.standardError.write(Data("  seed \(s): \($0)\n".utf8))
        })
    }
    func score(_ x: ForestScore) -> [String: Any] {
      [
        "purity_hits": x.purityHits, "models": x.models, "tree_edges": x.treeEdges, "placed": x.placed, "directed": x.directed,
        "structural_edges": x.structuralEdges, "structural_directed": x.structuralDirected, "finetune_edges": x.finetuneEdges,
        "finetune_directed": x.finetuneDirected, "adapters": x.adapters, "adapters_named": x.adaptersNamed, "adapter_false": x.adapterFalse, "merges": x.merges, "merges_recovered": x.mergesRecovered, "unrelated_pairs": x.unrelatedPairs,
        "false_relations": x.falseRelations, "ks_distance": x.ksDistance.map { $0 as Any } ?? NSNull(), "seconds": x.seconds, "misses": x.misses,
      ]
    }
    if json {
      Render.json(results.map { ["seed": $0.seed, "families": $0.families, "unrelated": $0.unrelatedRoots, "models": $0.models, "lineage": score($0.lineage), "mother": score($0.mother)] as [String: Any] })
      return
    }
    func pct(_ a: Int, _ b: Int) -> String { b == 0 ? "-" : String(format: "%d/%d (%.1f%%)", a, b, 100 * Double(a) / Double(b)) }
    var rows = [["seed", "method", "purity", "placed", "directed", "structural", "fine-tune", "adapters named (false)", "merges", "false rel.", "KS", "time"]]
    for r in results {
      for (name, x) in [("lineage", r.lineage), ("MoTHer", r.mother)] {
        rows.append([
          String(r.seed), name, pct(x.purityHits, x.models), pct(x.placed, x.treeEdges), pct(x.directed, x.treeEdges),
          pct(x.structuralDirected, x.structuralEdges), pct(x.finetuneDirected, x.finetuneEdges),
          name == "MoTHer" ? "n/a" : "\(x.adaptersNamed)/\(x.adapters) (\(x.adapterFalse))", name == "MoTHer" ? "n/a (tree)" : pct(x.mergesRecovered, x.merges),
          pct(x.falseRelations, x.unrelatedPairs), x.ksDistance.map { String(format: "%.3f", $0) } ?? "-", String(format: "%.1f s", x.seconds),
        ])
      }
    }
    Render.line("lakes: \(families) families + \(unrelated) unrelated roots, \(results.first?.models ?? 0) models each; infer --all on weights alone; MoTHer given the true family count")
    Render.table(rows)
    for r in results {
      for m in r.lineage.misses { Render.line("seed \(r.seed) lineage miss: \(m)") }
      for m in r.mother.misses { Render.line("seed \(r.seed) MoTHer miss: \(m)") }
    }
  }
}
