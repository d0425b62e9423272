import ArgumentParser
import Foundation
import LineageCore
import LineageKit

struct Graph: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Draw the ancestry DAG",
    discussion: """
      Every commit reachable from the revisions (default: every branch and tag), with an edge \
      from each commit to each declared parent labelled by its relation; merges have several.
        ascii    lanes and one line per commit, like git log --graph --oneline
        dot      Graphviz: lineage graph --format dot | dot -Tsvg > lineage.svg
        mermaid  a flowchart to paste into Markdown inside a ```mermaid block
        json     {"nodes": [...], "edges": [...]}
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revisions whose ancestry to draw (default: all branches and tags).") var revisions: [String] = []

  @Option(help: "ascii, dot, mermaid or json.") var format: String = "ascii"

  func validate() throws {
    guard ["ascii", "dot", "mermaid", "json"].contains(format) else {
      throw ValidationError("unknown format '\(format)'; use ascii, dot, mermaid or json")
    }
  }

  func run() throws {
    let repo = try repository.open()
    let roots = revisions.isEmpty ? try repo.allRefTargets() : try revisions.map { try repo.resolve($0) }
    let commits = try repo.ancestry(from: roots)
    let names = try repo.refNames()
    let shown = Set(commits.map(\.id))
    // Parent edges recorded by `lineage infer --record`: drawn apart from declared parents.
    let inferred = try repo.inferredEdges().filter { shown.contains($0.child) && shown.contains($0.parent) }
    func title(_ c: CommitInfo) -> String { String(c.record.message.split(separator: "\n").first ?? "") }
    switch format {
    case "dot":
      Render.line("digraph lineage {")
      Render.line("  rankdir=BT;")
      Render.line("  node [shape=box, fontname=\"Helvetica\"];")
      for c in commits {
        let refs = names[c.id].map { "\\n" + $0.joined(separator: ", ") } ?? ""
        Render.line("  \"\(c.id.short)\" [label=\"\(dot(c.id.short + " " + title(c)))\(dot(refs, keepNewlines: true))\"];")
      }
      for c in commits {
        for p in c.record.parents where shown.contains(p.id) {
          Render.line("  \"\(c.id.short)\" -> \"\(p.id.short)\" [label=\"\(p.relation?.rawValue ?? "")\"];")
        }
      }
      for e in inferred {
        Render.line("  \"\(e.child.short)\" -> \"\(e.parent.short)\" [label=\"inferred: \(e.relation)\", style=dashed];")
      }
      Render.line("}")
    case "mermaid":
      Render.line("flowchart BT")
      for c in commits {
        let refs = names[c.id].map { " (" + $0.joined(separator: ", ") + ")" } ?? ""
        Render.line("  c\(c.id.short)[\"\(mermaid(c.id.short + " " + title(c) + refs))\"]")
      }
      for c in commits {
        for p in c.record.parents where shown.contains(p.id) {
          let label = p.relation.map { "|\($0.rawValue)|" } ?? ""
          Render.line("  c\(c.id.short) -->\(label) c\(p.id.short)")
        }
      }
      for e in inferred { Render.line("  c\(e.child.short) -.->|inferred: \(e.relation)| c\(e.parent.short)") }
    case "json":
      Render.json([
        "nodes": commits.map {
          ["id": $0.id.hex, "message": $0.record.message, "author": $0.record.author,
           "time": RFC3339.format($0.record.time), "refs": names[$0.id] ?? []] as [String: Any]
        },
        "edges": commits.flatMap { c in
          c.record.parents.filter { shown.contains($0.id) }.map {
            ["child": c.id.hex, "parent": $0.id.hex, "relation": $0.relation?.rawValue ?? NSNull(), "role": $0.role ?? NSNull(), "inferred": false]
              as [String: Any]
          }
        } + inferred.map { ["child": $0.child.hex, "parent": $0.parent.hex, "relation": $0.relation, "inferred": true, "record": $0.record.hex] },
      ])
    default:
      let rows = GraphLayout.lanes(commits.map { ($0.id, $0.record.parents.map(\.id)) })
      for (c, row) in zip(commits, rows) {
        let refs = names[c.id].map { " (" + $0.joined(separator: ", ") + ")" } ?? ""
        let rel = c.record.parents.first?.relation.map { " [\($0.rawValue)]" } ?? ""
        Render.line("\(row.node)\(c.id.short)\(refs)\(rel) \(title(c))")
        for line in row.after { Render.line(line) }
      }
      if !inferred.isEmpty {
        Render.line()
        Render.line("inferred parents (lineage infer --record; not declared):")
        for e in inferred {
          let p = e.logP.map { String(format: ", log p %.1f", $0) } ?? ""
          Render.line("  \(e.child.short) ~\(e.relation)~> \(e.parent.short)\(p)")
        }
      }
    }
  }

  func dot(_ s: String, keepNewlines: Bool = false) -> String { Render.dotEscape(s, keepNewlines: keepNewlines) }

  /// Escape for a double-quoted Mermaid label (entity codes for quotes).
  func mermaid(_ s: String) -> String {
    s.replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "\n", with: " ")
  }
}
