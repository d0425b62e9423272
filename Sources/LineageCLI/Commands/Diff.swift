import ArgumentParser
import Foundation
import LineageCore
import LineageKit

struct Diff: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two revisions tensor by tensor and record by record",
    discussion: """
      Tensors are matched by name across files (so a tensor that moved between shards matches). \
      For each: added, removed, changed or unchanged; a changed tensor with the same dtype and \
      shape gets its relative L2 change ‖new − old‖ / ‖old‖ (OpenBLAS, double accumulation) and \
      the bytes of its chunks that differ. Then every record field that differs: parents, data, \
      environment, code, command, params, metrics.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Old revision.") var old: String
  @Argument(help: "New revision.") var new: String

  @Flag(help: "List unchanged tensors too.") var all = false

  @Flag(help: "Skip the numeric comparison (only chunk identity; fast).") var noNumeric = false

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    let d = try repo.diff(old, new, numeric: !noNumeric)
    if json {
      Render.json([
        "old": d.old.hex, "new": d.new.hex,
        "tensors": d.tensors.filter { all || $0.status != .unchanged }.map { t -> [String: Any] in
          var v: [String: Any] = ["name": t.name, "status": t.status.rawValue, "dtype": t.dtype.rawValue, "shape": t.shape,
                                  "bytes": t.bytes, "changed_bytes": t.changedBytes]
          if let l = t.relativeL2 { v["relative_l2"] = l.isFinite ? l : "inf" as Any }
          if let o = t.oldDType { v["old_dtype"] = o.rawValue }
          if let o = t.oldShape { v["old_shape"] = o }
          return v
        },
        "summary": Dictionary(grouping: d.tensors, by: \.status.rawValue).mapValues(\.count),
        "files": d.files.filter { all || $0.status != .unchanged }.map { ["path": $0.path, "status": $0.status.rawValue] },
        "record": d.record.map { ["field": $0.field, "old": $0.old ?? NSNull(), "new": $0.new ?? NSNull()] as [String: Any] },
      ])
      return
    }
    var rows: [[String]] = [["status", "tensor", "dtype", "shape", "bytes", "changed", "rel. L2"]]
    for t in d.tensors where all || t.status != .unchanged {
      let shape = t.oldShape.map { Render.shape($0) + "→" } ?? ""
      let l2 = t.relativeL2.map { $0.isFinite ? String(format: "%.3e", $0) : "inf" } ?? "-"
      rows.append([t.status.rawValue, t.name, (t.oldDType.map { $0.rawValue + "→" } ?? "") + t.dtype.rawValue,
                   shape + Render.shape(t.shape), Render.bytes(t.bytes), Render.bytes(t.changedBytes), l2])
    }
    if rows.count > 1 { Render.table(rows) }
    let counts = Dictionary(grouping: d.tensors, by: \.status).mapValues(\.count)
    Render.line("tensors: \(counts[.changed] ?? 0) changed, \(counts[.added] ?? 0) added, \(counts[.removed] ?? 0) removed, \(counts[.unchanged] ?? 0) unchanged")
    for f in d.files where f.status != .unchanged { Render.line("file \(f.status.rawValue): \(f.path)") }
    if !d.record.isEmpty {
      Render.line()
      Render.line("record:")
      for c in d.record { Render.line("  \(c.field): \(c.old ?? "(none)") → \(c.new ?? "(none)")") }
    }
  }
}
