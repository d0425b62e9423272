import ArgumentParser
import Foundation
import LineageForensics
import LineageKit

/// `lineage null …`: empirical nulls of independent models.
struct NullCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "null", abstract: "Build empirical nulls from independent models", subcommands: [Build.self])

  struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Build an empirical null from independent models of one architecture",
      discussion: """
        Give at least 3 models of one architecture that are known to be unrelated (trained or \
        initialised independently, each from its own seed); each is a path, REV or REV:DIR. \
        Every unordered pair is compared as `lineage compare` does (N models give N(N-1)/2 \
        pairs) and seven statistics of each pair are kept, each oriented so that higher means \
        more related: mean_cosine, mean_pearson, mean_cka, mean_spectrum, unit_agreement, \
        unit_aligned_similarity and unit_neg_log_p (-ln of the combined unit-matching p-value). \
        They go to DIR/null.json (format lineage-null/1, Docs/Forensics.md), which \
        `lineage score A B --null DIR` reads.

        Every model must have the first model's tensor names and shapes (their SHA-256, the \
        signature, is stored with the null); the first that differs is named. The smallest \
        p-value a null can give is 1/(pairs+1): 6 models give 15 pairs and at best 1/16. The \
        pairs share models, so they are not independent of each other and the p-values are \
        approximate. Score trained models against a null of trained models: a null of fresh \
        initialisations says what unrelated initialisations look like.

        Examples:
          lineage null build seed-1 seed-2 seed-3 seed-4 seed-5 seed-6 --out nulls/small
          lineage null build r1 r2 r3 --out nulls/llama-1b --architecture llama-1b --json
        """)

    @OptionGroup var repository: RepositoryOptions

    @Argument(help: "Independent models (at least 3): paths, REV or REV:DIR.") var models: [String]

    @Option(help: ArgumentHelp("Write null.json into this directory (created if missing).", valueName: "dir")) var out: String

    @Option(help: ArgumentHelp("Name the architecture (default: the grouping and 12 hex digits of the tensor signature).", valueName: "name"))
    var architecture: String?

    @Option(help: "How names map to layers: auto, llama, gpt2, bert, vit, gguf or none.") var grouping: String = "auto"

    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
      guard Grouping(rawValue: grouping) != nil else {
        throw ValidationError("--grouping must be one of " + Grouping.allCases.map(\.rawValue).joined(separator: ", "))
      }
      if let architecture, architecture.isEmpty { throw ValidationError("--architecture must not be empty") }
    }

    func run() throws {
      let repo = try? repository.open()
      let sides = try models.map { try repository.modelTensors($0, in: repo) }
      let null = try Repository.buildNull(
        sides, architecture: architecture, grouping: Grouping(rawValue: grouping) ?? .auto, progress: TerminalProgress())
      let path = try null.write(to: repository.path(out))
      let floor = 1 / Double(null.pairs.count + 1)
      let summaries = null.statistics.map { name -> (PairStatistics.Name, [Double]) in (name, null.values(of: name)) }
      func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
      func sd(_ v: [Double]) -> Double? {
        guard v.count > 1, let m = mean(v) else { return nil }
        return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot()
      }
      if json {
        Render.json([
          "path": path, "format": NullModel.format, "architecture": null.architecture, "signature": null.signature,
          "grouping": null.grouping.rawValue, "models": null.models, "pairs": null.pairs.count, "smallest_p_value": floor,
          "statistics": summaries.map { name, v -> [String: Any] in
            [
              "name": name.rawValue, "null_size": v.count, "mean": mean(v) ?? NSNull(), "sd": sd(v) ?? NSNull(),
              "min": v.min() ?? NSNull(), "max": v.max() ?? NSNull(),
            ]
          },
        ])
        return
      }
      Render.line(
        "wrote \(path): \(null.architecture), \(null.models.count) models, \(null.pairs.count) pairs (grouping \(null.grouping.rawValue))")
      func text(_ x: Double?) -> String { x.map { String(format: "%.4g", $0) } ?? "-" }
      var rows = [["statistic", "pairs", "mean", "sd", "min", "max"]]
      for (name, v) in summaries { rows.append([name.rawValue, "\(v.count)", text(mean(v)), text(sd(v)), text(v.min()), text(v.max())]) }
      Render.table(rows)
      Render.line(String(format: "The smallest p-value `lineage score` can give against this null is 1/%d = %.3g.", null.pairs.count + 1, floor))
    }
  }
}
