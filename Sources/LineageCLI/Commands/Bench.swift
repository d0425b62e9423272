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
    subcommands: [RuntimeBench.self, InferBench.self, InferAllBench.self])
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

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    guard (1...50).contains(families) else { throw ValidationError("--families must be between 1 and 50") }
    guard (0...50).contains(unrelated) else { throw ValidationError("--unrelated must be between 0 and 50") }
    guard PlacementDistance(rawValue: distance) != nil else { throw ValidationError("--distance must be one of " + PlacementDistance.allCases.map(\.rawValue).joined(separator: ", ")) }
  }

  func run() throws {
    var results: [ForestBenchmarkResult] = []
    for s in seed {
      let dir = NSTemporaryDirectory() + "lineage-bench-infer-all-\(UUID().uuidString.prefix(8))"
      defer { try? FileManager.default.removeItem(atPath: dir) }
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
        "finetune_directed": x.finetuneDirected, "merges": x.merges, "merges_recovered": x.mergesRecovered, "unrelated_pairs": x.unrelatedPairs,
        "false_relations": x.falseRelations, "ks_distance": x.ksDistance.map { $0 as Any } ?? NSNull(), "seconds": x.seconds, "misses": x.misses,
      ]
    }
    if json {
      Render.json(results.map { ["seed": $0.seed, "families": $0.families, "unrelated": $0.unrelatedRoots, "models": $0.models, "lineage": score($0.lineage), "mother": score($0.mother)] as [String: Any] })
      return
    }
    func pct(_ a: Int, _ b: Int) -> String { b == 0 ? "-" : String(format: "%d/%d (%.1f%%)", a, b, 100 * Double(a) / Double(b)) }
    var rows = [["seed", "method", "purity", "placed", "directed", "structural", "fine-tune", "merges", "false rel.", "KS", "time"]]
    for r in results {
      for (name, x) in [("lineage", r.lineage), ("MoTHer", r.mother)] {
        rows.append([
          String(r.seed), name, pct(x.purityHits, x.models), pct(x.placed, x.treeEdges), pct(x.directed, x.treeEdges),
          pct(x.structuralDirected, x.structuralEdges), pct(x.finetuneDirected, x.finetuneEdges), name == "MoTHer" ? "n/a (tree)" : pct(x.mergesRecovered, x.merges),
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
