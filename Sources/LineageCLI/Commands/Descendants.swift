import ArgumentParser
import Foundation
import LineageCore
import LineageKit

struct Descendants: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List every model that inherits from a commit or from training data",
    discussion: """
      FROM is a revision, or sha256:HEX, a data digest (as `lineage show` prints it): then the \
      commits whose records list that data are the roots, and everything descended from them is \
      listed too. Inheritance follows declared parents through every branch and tag, whatever \
      the relation (fine-tune, quantize, merge…); each descendant is shown with its nearest path \
      of inheritance.

      With --inferred, the parent edges `lineage infer REV --record` and `infer --all --record` \
      stored are followed too, \
      marked as inferred ("~quantized-from~>" in text, dashed in dot, "inferred" in JSON).
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "A revision, or sha256:HEX (a data digest).") var from: String

  @Option(name: .long, help: "text, dot (Graphviz) or json.") var format: String = "text"

  @Flag(help: "Also follow parent edges recorded by `lineage infer --record`.") var inferred = false

  @Flag(help: "Same as --format json.") var json = false

  func validate() throws {
    guard ["text", "dot", "json"].contains(format) else { throw ValidationError("--format must be text, dot or json") }
  }

  func run() throws {
    let report = try repository.open().descendants(of: from, followInferred: inferred)
    func title(_ r: CommitRecord) -> String { String(r.message.split(separator: "\n").first ?? "") }
    func chain(_ d: LineageKit.Descendant) -> String {
      let path = report.path(to: d.id)
      guard let first = path.first else { return "" }
      // Long chains show their two ends.
      let shown = path.count > 4 ? Array(path.prefix(1)) + Array(path.suffix(2)) : path
      var text = first.parent.short
      for (k, step) in shown.enumerated() {
        if path.count > 4, k == 1 { text += " … \(path.count - 3) more …" }
        text += (step.inferred.map { " ~\($0)~> " } ?? " -\(step.relation?.rawValue ?? "parent")-> ") + step.child.short
      }
      return text
    }
    switch json ? "json" : format {
    case "json":
      Render.json([
        "query": report.query,
        "roots": report.roots.map { r -> [String: Any] in
          var v: [String: Any] = ["id": r.id.hex, "message": r.record.message]
          if let d = r.data { v["data"] = ["uri": d.uri, "role": d.role, "digest": d.digest] }
          return v
        },
        "descendants": report.descendants.map { d in
          [
            "id": d.id.hex, "message": d.record.message, "root": d.root.hex, "depth": d.depth,
            "via": [
              "parent": d.via.parent.hex, "relation": d.via.inferred ?? d.via.relation?.rawValue ?? NSNull(), "inferred": d.via.inferred != nil,
            ] as [String: Any],
          ] as [String: Any]
        },
      ])
    case "dot":
      Render.line("digraph descendants {")
      Render.line("  rankdir=BT;")
      Render.line("  node [shape=box, fontname=\"Helvetica\"];")
      for r in report.roots {
        let why = r.data.map { "\\ntrained on \($0.uri)" } ?? ""
        Render.line("  \"\(r.id.short)\" [label=\"\(Render.dotEscape(r.id.short + " " + title(r.record) + why))\", style=filled, fillcolor=\"#f4cccc\"];")
      }
      for d in report.descendants {
        Render.line("  \"\(d.id.short)\" [label=\"\(Render.dotEscape(d.id.short + " " + title(d.record)))\"];")
        let style = d.via.inferred == nil ? "" : ", style=dashed"
        Render.line("  \"\(d.id.short)\" -> \"\(d.via.parent.short)\" [label=\"\(d.via.inferred.map { "inferred: \($0)" } ?? d.via.relation?.rawValue ?? "")\"\(style)];")
      }
      Render.line("}")
    default:
      for r in report.roots {
        let why = r.data.map { " (trained on \($0.uri))" } ?? ""
        Render.line("\(r.id.short) \(title(r.record))\(why)")
      }
      Render.line("\(report.descendants.count) descendant(s)")
      for d in report.descendants { Render.line("  \(d.id.short) \(title(d.record))  via \(chain(d))") }
    }
  }
}
