import Foundation
import LineageCore
import LineageForensics

extension Repository {
  /// Compare two models tensor by tensor (Docs/Forensics.md).
  public static func compare(
    _ a: ModelTensors, _ b: ModelTensors, options: CompareOptions = CompareOptions(), progress: ProgressSink = SilentProgress()
  ) throws -> Comparison {
    progress.begin("Comparing", total: UInt64(a.items.count), unit: .items)
    defer { progress.end() }
    do {
      return try Compare.run(a, b, options: options) { _, _ in progress.advance(1) }
    } catch let e as ForensicsError {
      throw KitError.forensics(e.description)
    }
  }
}

/// The files `compare --out DIR` writes: CSVs of every tensor, layer and module, an SVG layer
/// profile, and REPORT.md with the evidence summary (Docs/Forensics.md).
public enum ComparisonReport {
  /// Significance level of the report's one-line verdict.
  public static let alpha = 0.01

  /// Write the report files into `directory` (created if missing); returns their paths.
  public static func write(_ c: Comparison, a: String, b: String, to directory: String) throws -> [String] {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let files: [(String, String)] = [
      ("raw_tensor_metrics.csv", rawCSV(c)), ("by_layer.csv", layerCSV(c)), ("by_module.csv", moduleCSV(c)),
      ("layer_profile.svg", profileSVG(c, a: a, b: b)), ("REPORT.md", markdown(c, a: a, b: b)),
    ]
    var written: [String] = []
    for (name, text) in files {
      let path = "\(directory)/\(name)"
      let out = try Fixtures.Output(path: path)
      try out.write(Array(text.utf8))
      try out.finish()
      written.append(path)
    }
    return written
  }

  /// A number as CSV/Markdown text: empty for nil, `nan` for non-finite.
  static func number(_ x: Double?, _ format: String = "%.6g") -> String {
    guard let x else { return "" }
    return x.isFinite ? String(format: format, x) : "nan"
  }

  /// RFC 4180 quoting where needed.
  static func field(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
  }

  static func rawCSV(_ c: Comparison) -> String {
    var out = "name,layer,module,shape,dtype_a,dtype_b,elements,cosine,pearson,relative_l2,cka,spectrum_cosine\n"
    for r in c.rows {
      let m = r.metrics
      out += [
        field(r.name), r.group.layer.map(String.init) ?? "", field(r.group.module), r.shape.map(String.init).joined(separator: "x"),
        r.dtypeA.rawValue, r.dtypeB.rawValue, m.map { String($0.count) } ?? "", number(m?.cosine), number(m?.pearson),
        number(m?.relativeL2), number(r.cka), number(r.spectrum),
      ].joined(separator: ",") + "\n"
    }
    return out
  }

  static func layerCSV(_ c: Comparison) -> String {
    let tests = Dictionary(c.unitTests.map { ($0.layer, $0) }, uniquingKeysWith: { x, _ in x })
    var out =
      "layer,tensors,elements,cosine,pearson,relative_l2,cka,spectrum_cosine,unit_rho,unit_p_value,unit_log_p,unit_agreement,aligned_similarity,identity_fraction\n"
    for r in c.byLayer {
      let t = r.layer.flatMap { tests[$0] }
      out += [
        r.layer.map(String.init) ?? "-", String(r.tensors), String(r.elements), number(r.cosine), number(r.pearson), number(r.relativeL2),
        number(r.cka), number(r.spectrum), number(t?.rho), number(t?.pValue), number(t?.logP), number(t?.agreement),
        number(t?.alignedSimilarity), number(t?.identityFraction),
      ].joined(separator: ",") + "\n"
    }
    return out
  }

  static func moduleCSV(_ c: Comparison) -> String {
    var out = "module,tensors,elements,cosine,pearson,relative_l2,cka,spectrum_cosine\n"
    for r in c.byModule {
      out += [
        field(r.module), String(r.tensors), String(r.elements), number(r.cosine), number(r.pearson), number(r.relativeL2), number(r.cka),
        number(r.spectrum),
      ].joined(separator: ",") + "\n"
    }
    return out
  }

  /// The verdict line: the combined unit-matching p-value against independence, when there is one.
  public static func verdict(_ c: Comparison) -> String {
    guard let f = c.combined else {
      return "No block has an MLP pair (e.g. mlp.up_proj + mlp.down_proj) in both models: no permutation-robust test was run; the metrics are descriptive only."
    }
    let log10p = f.logP / log(10)
    let p = f.pValue > 0 ? String(format: "%.3g", f.pValue) : String(format: "10^%.0f", log10p)
    if f.pValue < alpha || (f.pValue == 0 && f.logP < log(alpha)) {
      return "Related: the hidden units of \(c.unitTests.count) block(s) correspond (Fisher-combined unit-matching p = \(p) against independent models; α = \(alpha))."
    }
    return "No evidence of relatedness: the units of \(c.unitTests.count) block(s) do not correspond beyond chance (Fisher-combined p = \(p); α = \(alpha))."
  }

  static func markdown(_ c: Comparison, a: String, b: String) -> String {
    var out = "# Comparison: \(a) vs \(b)\n\n"
    out += "## Evidence\n\n\(verdict(c))\n\n"
    out += "A p-value is the probability, were the two models independent, of unit matchings agreeing at least this well; it is not the probability that they are related. "
    out += "Weights cannot show distillation or retraining from scratch on the same data: such models are independent by this test.\n\n"
    let measured = c.rows.filter { $0.metrics != nil }
    out += "- tensors in common: \(c.rows.count) (\(measured.count) measured, \(c.shapeMismatch.count) with other shapes); only in A: \(c.onlyInA.count); only in B: \(c.onlyInB.count)\n"
    out += "- grouping: \(c.grouping.rawValue)\n\n"
    if !c.unitTests.isEmpty {
      out += "## Unit matching by block\n\n| layer | pair | units | Spearman ρ | p-value | log p | agreement | aligned similarity | unpermuted |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
      for t in c.unitTests {
        out += "| \(t.layer) | \(t.input) / \(t.output) | \(t.units) | \(number(t.rho, "%.4f")) | \(number(t.pValue, "%.3g")) | \(number(t.logP, "%.1f")) | \(number(t.agreement, "%.3f")) | \(number(t.alignedSimilarity, "%.4f")) | \(number(t.identityFraction, "%.3f")) |\n"
      }
      out += "\n"
    }
    out += "## By layer\n\n| layer | tensors | cosine | Pearson | rel. L2 | CKA | spectrum |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    for r in c.byLayer {
      out += "| \(r.layer.map(String.init) ?? "other") | \(r.tensors) | \(number(r.cosine, "%.4f")) | \(number(r.pearson, "%.4f")) | \(number(r.relativeL2, "%.4f")) | \(number(r.cka, "%.4f")) | \(number(r.spectrum, "%.4f")) |\n"
    }
    out += "\n## By module\n\n| module | tensors | cosine | Pearson | rel. L2 | CKA | spectrum |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    for r in c.byModule {
      out += "| \(r.module) | \(r.tensors) | \(number(r.cosine, "%.4f")) | \(number(r.pearson, "%.4f")) | \(number(r.relativeL2, "%.4f")) | \(number(r.cka, "%.4f")) | \(number(r.spectrum, "%.4f")) |\n"
    }
    out += "\nFiles: raw_tensor_metrics.csv (every tensor), by_layer.csv, by_module.csv, layer_profile.svg. Formulas: Docs/Forensics.md.\n"
    return out
  }

  static func xml(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
      .replacingOccurrences(of: "\"", with: "&quot;")
  }

  /// Per-layer lines of cosine, Pearson, CKA and aligned unit similarity, on [-1, 1].
  static func profileSVG(_ c: Comparison, a: String, b: String) -> String {
    let layers = c.byLayer.filter { $0.layer != nil }
    let tests = Dictionary(c.unitTests.map { ($0.layer, $0) }, uniquingKeysWith: { x, _ in x })
    let (w, h, left, right, top, bottom) = (720.0, 360.0, 56.0, 150.0, 40.0, 40.0)
    let plotW = w - left - right
    let plotH = h - top - bottom
    func x(_ i: Int) -> Double { left + (layers.count > 1 ? Double(i) / Double(layers.count - 1) * plotW : plotW / 2) }
    func y(_ v: Double) -> Double { top + (1 - (max(-1, min(1, v)) + 1) / 2) * plotH }
    var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
    out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    out += "<text x=\"\(Int(left))\" y=\"20\">\(xml(a)) vs \(xml(b)): by layer</text>\n"
    for v in [-1.0, -0.5, 0, 0.5, 1] {
      out += "<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(left + plotW)\" y2=\"\(y(v))\" stroke=\"#ddd\"/>"
      out += "<text x=\"\(left - 8)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(v)</text>\n"
    }
    for (i, r) in layers.enumerated() where layers.count <= 64 || i % (layers.count / 32) == 0 {
      out += "<text x=\"\(x(i))\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\">\(r.layer ?? 0)</text>\n"
    }
    let series: [(String, String, (Rollup) -> Double?)] = [
      ("cosine", "#1f77b4", { $0.cosine }), ("Pearson", "#ff7f0e", { $0.pearson }), ("CKA", "#2ca02c", { $0.cka }),
      ("aligned units", "#d62728", { r in r.layer.flatMap { tests[$0]?.alignedSimilarity } }),
    ]
    for (k, (name, colour, value)) in series.enumerated() {
      let points = layers.enumerated().compactMap { i, r in value(r).flatMap { $0.isFinite ? "\(x(i)),\(y($0))" : nil } }
      guard !points.isEmpty else { continue }
      out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
      let ly = top + 16 * Double(k)
      out += "<line x1=\"\(w - right + 12)\" y1=\"\(ly)\" x2=\"\(w - right + 32)\" y2=\"\(ly)\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
      out += "<text x=\"\(w - right + 38)\" y=\"\(ly + 4)\">\(name)</text>\n"
    }
    out += "<text x=\"\(left + plotW / 2)\" y=\"\(h - 6)\" text-anchor=\"middle\">layer</text>\n</svg>\n"
    return out
  }
}

extension Repository {
  /// Infer how `query` relates to the models in the store: every commit reachable from a ref
  /// (or the revisions in `among`) whose top-level model shares tensor names with the query,
  /// except `excluding` (the query's own commit). Docs/Forensics.md, "infer".
  public func infer(
    _ query: ModelTensors, among: [String]? = nil, excluding: ObjectID? = nil, options: InferOptions = InferOptions(),
    progress: ProgressSink = SilentProgress()
  ) throws -> [InferenceMatch] {
    let ids: [ObjectID]
    if let among {
      ids = try among.map { try resolve($0) }
    } else {
      ids = try ancestry(from: try allRefTargets()).map(\.id)
    }
    let names = try refNames()
    var seen = Set<ObjectID>()
    var candidates: [ModelTensors] = []
    var commits: [String: ObjectID] = [:]
    for id in ids where id != excluding && seen.insert(id).inserted {
      // Commits without a readable model at the top level (quarantine records, code-only
      // commits, opaque files) are not candidates.
      guard var m = try? modelTensors(revision: id.hex), !m.items.isEmpty else { continue }
      let tags = (names[id] ?? []).filter { $0.hasPrefix("tag: ") }.map { String($0.dropFirst(5)) }
      m.label = tags.isEmpty ? id.short : "\(tags.joined(separator: ",")) (\(id.short))"
      commits[m.label] = id
      candidates.append(m)
    }
    // A stored target's declared descendants cannot be its parent (declared history as a prior).
    let below = try excluding.map { own in Set(try descendants(of: own.hex).descendants.map(\.id)) } ?? []
    let descendantLabels = Set(commits.filter { below.contains($0.value) }.map(\.key))
    progress.begin("Comparing", total: UInt64(candidates.count), unit: .items)
    defer { progress.end() }
    do {
      return try Infer.run(query: query, candidates: candidates, descendants: descendantLabels, options: options) { _, _ in
        progress.advance(1)
      }.compactMap { c in
        commits[c.label].map { InferenceMatch(commit: $0, candidate: c) }
      }
    } catch let e as ForensicsError {
      throw KitError.forensics(e.description)
    }
  }
}
