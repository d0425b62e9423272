import ArgumentParser
import Foundation
import LineageForensics
import LineageKit

struct Compare: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two models tensor by tensor",
    discussion: """
      A and B are each a path (a model file in any format lineage reads, or a directory: \
      Hugging Face shards, or its model files) or a revision, optionally REV:DIR for a directory \
      in it. Tensors are matched by name; values are read as floats (GGUF blocks dequantized) \
      and compared with OpenBLAS: cosine, Pearson (centred cosine; plain cosine is inflated when \
      values share a mean, as norm weights near 1 do) and symmetric relative L2 \
      ‖a−b‖ / ((‖a‖+‖b‖)/2). Docs/Forensics.md gives the formulas.

      Not built yet (issue 7): CKA and spectrum similarity, layer/module roll-ups and reports, \
      alignment of permuted hidden units, null models with p-values, and `lineage infer`. These \
      metrics alone are descriptive, not a calibrated test of relatedness.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "First model: a path, REV or REV:DIR.") var a: String
  @Argument(help: "Second model: a path, REV or REV:DIR.") var b: String

  @Option(name: .long, help: "Show the N least similar tensors (by cosine); 0 shows all.") var top: Int = 20

  @Flag(help: "Print the result as JSON (every tensor).") var json = false

  func run() throws {
    let repo = try? repository.open()
    func side(_ spec: String) throws -> ModelTensors {
      let path = repository.path(spec)
      // Paths compare outside a repository too: the store is not needed.
      if FileManager.default.fileExists(atPath: path) || repo == nil { return try Repository.modelTensors(atPath: path) }
      let (revision, directory) = spec.firstIndex(of: ":").map { (String(spec[..<$0]), String(spec[spec.index(after: $0)...])) } ?? (spec, "")
      return try (repo ?? repository.open()).modelTensors(revision: revision, directory: directory)
    }
    let left = try side(a)
    let right = try side(b)
    let c = try Repository.compare(left, right, progress: TerminalProgress())
    func number(_ x: Double) -> Any { x.isFinite ? x : "nan" }
    if json {
      Render.json([
        "a": left.label, "b": right.label, "only_in_a": c.onlyInA, "only_in_b": c.onlyInB, "shape_mismatch": c.shapeMismatch,
        "tensors": c.rows.map { r -> [String: Any] in
          var v: [String: Any] = ["name": r.name, "shape": r.shape, "dtype_a": r.dtypeA.rawValue, "dtype_b": r.dtypeB.rawValue]
          if let m = r.metrics {
            v["cosine"] = number(m.cosine)
            v["pearson"] = number(m.pearson)
            v["relative_l2"] = number(m.relativeL2)
            v["elements"] = m.count
          }
          return v
        },
      ])
      return
    }
    let measured = c.rows.filter { $0.metrics != nil }
    let cosines = measured.compactMap { $0.metrics?.cosine }.filter(\.isFinite)
    let mean = cosines.isEmpty ? Double.nan : cosines.reduce(0, +) / Double(cosines.count)
    Render.line("\(left.label) vs \(right.label): \(c.rows.count) tensors in common, \(c.onlyInA.count) only in A, \(c.onlyInB.count) only in B, \(c.shapeMismatch.count) with other shapes")
    Render.line(String(format: "mean cosine %.6f over %d tensors", mean, cosines.count))
    let shown = measured.sorted { ($0.metrics?.cosine ?? 0) < ($1.metrics?.cosine ?? 0) }.prefix(top > 0 ? top : measured.count)
    var rows: [[String]] = [["tensor", "shape", "cosine", "pearson", "rel. L2"]]
    for r in shown {
      guard let m = r.metrics else { continue }
      rows.append([r.name, Render.shape(r.shape), String(format: "%.6f", m.cosine), String(format: "%.6f", m.pearson), String(format: "%.3g", m.relativeL2)])
    }
    Render.table(rows)
  }
}
