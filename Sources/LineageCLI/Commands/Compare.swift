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
      in it. Tensors are matched by name (GGUF llama names read as Hugging Face names); values \
      are read as floats (GGUF blocks dequantized) and compared with OpenBLAS/LAPACK: cosine, \
      Pearson (centred cosine; plain cosine is inflated when values share a mean, as norm \
      weights near 1 do), symmetric relative L2 \
      ‖a−b‖ / ((‖a‖+‖b‖)/2), unbiased linear CKA (rows as samples) and singular-value spectrum \
      similarity; then means by layer and by module, with names parsed by --grouping.

      Evidence: in every block whose MLP pair (up_proj/gate_proj + down_proj, or \
      intermediate/output dense) both models have, B's hidden units are matched to A's twice \
      (from the input projection's rows and from the output projection's columns, each a linear \
      assignment), and Spearman's ρ between the two matchings gives a p-value against \
      independent models; Fisher combines the blocks. This survives hidden-unit permutation, \
      which destroys plain cosine. Docs/Forensics.md gives every formula and its limits.

      --out DIR writes raw_tensor_metrics.csv, by_layer.csv, by_module.csv, layer_profile.svg \
      and REPORT.md.

      To put these numbers against independent models of the same architecture, build a null \
      with `lineage null build` and use `lineage score`; `lineage infer` names the relation.

      Examples:
        lineage compare base ft --out report
        lineage compare model.gguf hf-dir --grouping none --json
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "First model: a path, REV or REV:DIR.") var a: String
  @Argument(help: "Second model: a path, REV or REV:DIR.") var b: String

  @Option(name: .long, help: "Show the N least similar tensors (by cosine); 0 shows all.") var top: Int = 20

  @Option(help: "How names map to layers: auto, llama, gpt2, bert, vit, gguf or none.") var grouping: String = "auto"

  @Option(help: ArgumentHelp("Write CSVs, an SVG layer profile and REPORT.md here.", valueName: "dir")) var out: String?

  func validate() throws {
    guard Grouping(rawValue: grouping) != nil else {
      throw ValidationError("--grouping must be one of " + Grouping.allCases.map(\.rawValue).joined(separator: ", "))
    }
    guard top >= 0 else { throw ValidationError("--top must not be negative") }
  }

  @Flag(help: "Print the result as JSON (every tensor).") var json = false

  func run() throws {
    let repo = try? repository.open()
    let left = try repository.modelTensors(a, in: repo)
    let right = try repository.modelTensors(b, in: repo)
    var options = CompareOptions()
    options.grouping = Grouping(rawValue: grouping) ?? .auto
    let c = try Repository.compare(left, right, options: options, progress: TerminalProgress())
    let files = try out.map { try ComparisonReport.write(c, a: left.label, b: right.label, to: repository.path($0)) } ?? []
    func number(_ x: Double) -> Any { x.isFinite ? x : "nan" }
    func rollup(_ r: Rollup) -> [String: Any] {
      var v: [String: Any] = [
        "tensors": r.tensors, "elements": r.elements, "cosine": number(r.cosine), "pearson": number(r.pearson),
        "relative_l2": number(r.relativeL2),
      ]
      if let l = r.layer { v["layer"] = l }
      if !r.module.isEmpty { v["module"] = r.module }
      if let x = r.cka { v["cka"] = number(x) }
      if let x = r.spectrum { v["spectrum_cosine"] = number(x) }
      return v
    }
    if json {
      var v: [String: Any] = [
        "a": left.label, "b": right.label, "grouping": c.grouping.rawValue, "only_in_a": c.onlyInA, "only_in_b": c.onlyInB,
        "shape_mismatch": c.shapeMismatch, "verdict": ComparisonReport.verdict(c),
        "tensors": c.rows.map { r -> [String: Any] in
          var v: [String: Any] = [
            "name": r.name, "shape": r.shape, "dtype_a": r.dtypeA.rawValue, "dtype_b": r.dtypeB.rawValue, "module": r.group.module,
          ]
          if let l = r.group.layer { v["layer"] = l }
          if let m = r.metrics {
            v["cosine"] = number(m.cosine)
            v["pearson"] = number(m.pearson)
            v["relative_l2"] = number(m.relativeL2)
            v["elements"] = m.count
          }
          if let x = r.cka { v["cka"] = number(x) }
          if let x = r.spectrum { v["spectrum_cosine"] = number(x) }
          return v
        },
        "unit_tests": c.unitTests.map { t -> [String: Any] in
          [
            "layer": t.layer, "input": t.input, "output": t.output, "units": t.units, "rho": number(t.rho), "p_value": t.pValue,
            "log_p": number(t.logP), "agreement": t.agreement, "aligned_similarity": number(t.alignedSimilarity),
            "identity_fraction": t.identityFraction,
          ]
        },
        "by_layer": c.byLayer.map(rollup), "by_module": c.byModule.map(rollup), "files": files,
      ]
      if let f = c.combined {
        v["combined"] = ["method": "fisher", "blocks": c.unitTests.count, "p_value": f.pValue, "log_p": number(f.logP), "statistic": number(f.statistic)]
      }
      Render.json(v)
      return
    }
    let measured = c.rows.filter { $0.metrics != nil }
    let cosines = measured.compactMap { $0.metrics?.cosine }.filter(\.isFinite)
    let mean = cosines.isEmpty ? Double.nan : cosines.reduce(0, +) / Double(cosines.count)
    Render.line("\(left.label) vs \(right.label): \(c.rows.count) tensors in common, \(c.onlyInA.count) only in A, \(c.onlyInB.count) only in B, \(c.shapeMismatch.count) with other shapes")
    Render.line(String(format: "mean cosine %.6f over %d tensors (grouping: %@)", mean, cosines.count, c.grouping.rawValue))
    Render.line(ComparisonReport.verdict(c))
    if !c.unitTests.isEmpty {
      var tests: [[String]] = [["layer", "units", "Spearman ρ", "log p", "agreement", "aligned sim.", "unpermuted"]]
      for t in c.unitTests {
        tests.append([
          "\(t.layer)", "\(t.units)", String(format: "%.4f", t.rho), String(format: "%.1f", t.logP), String(format: "%.3f", t.agreement),
          String(format: "%.4f", t.alignedSimilarity), String(format: "%.3f", t.identityFraction),
        ])
      }
      Render.table(tests)
    }
    let shown = measured.sorted { ($0.metrics?.cosine ?? 0) < ($1.metrics?.cosine ?? 0) }.prefix(top > 0 ? top : measured.count)
    var rows: [[String]] = [["tensor", "shape", "cosine", "pearson", "rel. L2", "CKA", "spectrum"]]
    func optional(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
    for r in shown {
      guard let m = r.metrics else { continue }
      rows.append([
        r.name, Render.shape(r.shape), String(format: "%.6f", m.cosine), String(format: "%.6f", m.pearson), String(format: "%.3g", m.relativeL2),
        optional(r.cka), optional(r.spectrum),
      ])
    }
    Render.line()
    Render.table(rows)
    for f in files { Render.line("wrote \(f)") }
  }
}
