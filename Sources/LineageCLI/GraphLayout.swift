import Foundation
import LineageCore

/// Lanes for drawing an ancestry DAG in text beside a list of commits (children first).
enum GraphLayout {
  struct Row {
    /// Prefix of the commit's first line, with `*` in its lane.
    var node: String
    /// Prefix of the commit's other lines.
    var continuation: String
    /// Lines that route lanes to the next row (merges fan out, forks join).
    var after: [String]
  }

  static func lanes(_ commits: [(id: ObjectID, parents: [ObjectID])]) -> [Row] {
    let shown = Set(commits.map(\.id))
    var columns: [ObjectID] = []
    var rows: [Row] = []
    for (id, allParents) in commits {
      let col: Int
      if let c = columns.firstIndex(of: id) { col = c } else {
        columns.append(id)
        col = columns.count - 1
      }
      let node = columns.indices.map { $0 == col ? "*" : "|" }.joined(separator: " ") + " "
      let parents = allParents.filter { shown.contains($0) }
      // Each next lane remembers the old lane it continues, to draw the routing line.
      var next: [(id: ObjectID, from: Int)] = []
      for (k, lane) in columns.enumerated() {
        if k == col {
          for p in parents where !next.contains(where: { $0.id == p }) && !columns.enumerated().contains(where: { $0.offset != col && $0.element == p }) {
            next.append((p, col))
          }
        } else if lane != id {
          next.append((lane, k))
        }
      }
      let continuation = next.isEmpty ? "" : String(repeating: "| ", count: max(1, columns.count)).dropLast() + " "
      // Parents already drawn in another lane: this commit's edge joins that lane (git draws
      // the same with `/`, `\\` and `_`); without the join mark, stacked lanes would read as a chain.
      let joins = parents.compactMap { p in next.firstIndex { $0.id == p && $0.from != col } }
      var after: [String] = []
      if !joins.isEmpty || next.enumerated().contains(where: { $0.offset != $0.element.from }) {
        var chars = [Character](repeating: " ", count: 2 * max(next.count, columns.count) + 2)
        for (n, lane) in next.enumerated() {
          if lane.from == n { chars[2 * n] = "|" } else if lane.from < n { chars[2 * n - 1] = "\\" } else { chars[2 * n + 1] = "/" }
        }
        for n in joins {
          if n < col {
            chars[2 * col - 1] = "/"
            for i in (2 * n + 1)..<(2 * col - 1) where chars[i] == " " { chars[i] = "_" }
          } else if n > col {
            chars[2 * col + 1] = "\\"
            for i in (2 * col + 2)..<(2 * n) where chars[i] == " " { chars[i] = "_" }
          }
        }
        after.append(String(chars).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
      }
      rows.append(Row(node: node, continuation: String(continuation), after: after))
      columns = next.map(\.id)
    }
    return rows
  }
}
