import ArgumentParser
import Foundation
import LineageForensics
import LineageKit

struct Score: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Score two models against an empirical null of independent models",
    discussion: """
      A and B are each a path, REV or REV:DIR, and must have the tensor names and shapes the \
      null was built for (`lineage null build`). They are compared with the null's grouping, \
      and each pair statistic (higher means more related) is set against the null's pairs:

        observed    the statistic for A and B
        null N      null pairs with a value (their mean, and sd with N-1)
        z           (observed - mean) / sd
        p           (1+k)/(N+1), k = null pairs at least as high: the
                    empirical add-one p-value, never below 1/(N+1)
        analytic p  unit_neg_log_p only: Fisher's combination of the blocks'
                    unit-matching p-values under independent initialisation
                    (no null needed; 10^x when it underflows)

      A p-value is the probability, were A and B an independent pair like the null's, of a \
      value at least this high. It is not the probability that they are related, and there is \
      no "confidence". The null's pairs share models, so the empirical p-values are \
      approximate (Docs/Forensics.md).

      Examples:
        lineage score base suspect.safetensors --null nulls/small
        lineage score base ft:model --null nulls/small --json
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "First model: a path, REV or REV:DIR.") var a: String
  @Argument(help: "Second model: a path, REV or REV:DIR.") var b: String

  @Option(help: ArgumentHelp("The null: a directory written by `lineage null build`, or its null.json.", valueName: "dir"))
  var null: String

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try? repository.open()
    let model = try NullModel.load(from: repository.path(null))
    let left = try repository.modelTensors(a, in: repo)
    let right = try repository.modelTensors(b, in: repo)
    let s = try Repository.score(left, right, null: model, progress: TerminalProgress())
    let floor = 1 / Double(model.pairs.count + 1)
    if json {
      func value(_ x: Double?) -> Any { x ?? NSNull() }
      Render.json([
        "a": s.a, "b": s.b,
        "null": [
          "architecture": model.architecture, "signature": model.signature, "grouping": model.grouping.rawValue,
          "models": model.models.count, "pairs": model.pairs.count,
        ],
        "smallest_p_value": floor,
        "statistics": s.statistics.map { t -> [String: Any] in
          [
            "name": t.name.rawValue, "observed": value(t.observed), "null_size": t.nullSize, "null_mean": value(t.nullMean),
            "null_sd": value(t.nullStandardDeviation), "z_score": value(t.summary?.zScore),
            "at_least_as_extreme": t.summary.map { $0.atLeastAsExtreme as Any } ?? NSNull(), "p_value": value(t.summary?.pValue),
            "smallest_p_value": value(t.smallestPValue), "analytic_p_value": value(t.analyticPValue),
            "analytic_log10_p": value(t.analyticLogP.map { $0 / log(10) }),
          ]
        },
      ])
      return
    }
    Render.line("\(s.a) vs \(s.b) against the null \(model.architecture) (\(model.models.count) models, \(model.pairs.count) pairs)")
    func text(_ x: Double?, _ format: String = "%.4g") -> String { x.map { String(format: format, $0) } ?? "-" }
    var rows = [["statistic", "observed", "null N", "null mean", "null sd", "z", "p = (1+k)/(N+1)", "analytic p"]]
    for t in s.statistics {
      let p = t.summary.map { String(format: "%.3g = %d/%d", $0.pValue, 1 + $0.atLeastAsExtreme, $0.nullSize + 1) } ?? "-"
      rows.append([
        t.name.rawValue, text(t.observed), "\(t.nullSize)", text(t.nullMean), text(t.nullStandardDeviation), text(t.summary?.zScore, "%.2f"), p,
        Self.analytic(t.analyticPValue, logP: t.analyticLogP),
      ])
    }
    Render.table(rows)
    Render.line(String(format: "The smallest p-value this null can give is 1/%d = %.3g.", model.pairs.count + 1, floor))
    Render.line(
      "A p-value is the probability, were A and B an independent pair like the null's, of a value at least this high; "
        + "it is not the probability that they are related.")
  }

  /// A p-value as text, as a power of ten where it underflows a double.
  static func analytic(_ p: Double?, logP: Double?) -> String {
    guard let p, let logP else { return "-" }
    return p >= Double.leastNormalMagnitude ? String(format: "%.3g", p) : String(format: "10^%.1f", logP / log(10))
  }
}
