import Foundation
import LineageForensics
import LineageKit

/// Output of `infer --all`: JSON, or a forest per family.
enum ForestRendering {
  /// What weights cannot show, printed by every infer.
  static let limits = "Weights cannot show distillation or retraining from scratch on the same data: such models look unrelated here."

  static func number(_ x: Double?) -> Any { x.map { $0.isFinite ? $0 : "nan" as Any } ?? NSNull() }

  static func render(_ report: ForestReport, json: Bool, method: String, alpha: Double, recorded: Repository.ForestRecording? = nil) {
    let f = report.forest
    let ids = report.members.map(\.commit.hex)
    if json {
      Render.json([
        "recorded": recorded.map { r -> Any in
          [
            "records": r.records.map { ["child": $0.child.hex, "record": $0.record.hex, "edges": $0.edges] as [String: Any] },
            "skipped": r.skipped.map { ["model": $0.label, "reason": $0.reason] },
          ] as [String: Any]
        } ?? NSNull(),
        "method": method, "alpha": alpha, "distance": f.distance.rawValue, "priors": report.priors, "limits": limits,
        "nodes": report.members.enumerated().map { i, m -> [String: Any] in
          let n = f.nodes[i]
          return [
            "commit": m.commit.hex, "label": n.label, "refs": m.refs.filter { !$0.hasPrefix("tag: ") },
            "tags": m.refs.filter { $0.hasPrefix("tag: ") }.map { String($0.dropFirst(5)) }, "path": m.path, "family": n.family,
            "kurtosis": number(n.kurtosis), "norm": number(n.norm), "zero_fraction": number(n.zeroFraction),
            "quantization": n.quantization.map { $0 as Any } ?? NSNull(), "permuted": n.permuted, "tested": n.tested,
          ]
        },
        "edges": f.edges.map { e -> [String: Any] in
          var v: [String: Any] = [
            "parent": ids[e.parent], "child": ids[e.child], "relation": e.relation.rawValue, "p_value": number(e.pValue),
            "log_p": number(e.logP), "log_p_holm": number(e.adjustedLogP), "distance": number(e.distance),
            "placement_confidence": number(e.placementConfidence), "direction_confidence": number(e.directionConfidence), "evidence": e.evidence,
          ]
          if let w = e.mergeWeight { v["merge_weight"] = w }
          return v
        },
        "families": f.families.map { members in ["root": ids[members[0]], "members": members.map { ids[$0] }] as [String: Any] },
      ])
      return
    }
    let method = method == "mother" ? "MoTHer (families given)" : "lineage"
    Render.line("\(report.members.count) model(s), \(f.families.count) famil\(f.families.count == 1 ? "y" : "ies") (\(method); distance \(f.distance.rawValue); \(report.priors ? "declared parents and commit times as priors" : "weights only"))")
    var children: [Int: [ForestEdge]] = [:]
    for e in f.edges { children[e.parent, default: []].append(e) }
    for (k, members) in f.families.enumerated() {
      Render.line()
      Render.line("family \(k + 1): \(members.count) model(s)")
      var shown = Set<Int>()
      func walk(_ v: Int, edge: ForestEdge?, indent: String) {
        let label = f.nodes[v].label
        if let e = edge {
          let p = e.pValue.map { String(format: "p=%.2g", $0) } ?? "untested"
          let extra = e.mergeWeight.map { String(format: ", α=%.2f", $0) } ?? ""
          Render.line(String(format: "%@└─ %@  %@%@ (%@, placement %.2f, direction %.2f)", indent, label, e.relation.rawValue, extra, p, e.placementConfidence, e.directionConfidence))
        } else {
          Render.line("  \(label) (root)")
        }
        guard shown.insert(v).inserted else { return }
        for c in (children[v] ?? []).sorted(by: { f.nodes[$0.child].label < f.nodes[$1.child].label }) {
          walk(c.child, edge: c, indent: indent + "   ")
        }
      }
      walk(members[0], edge: nil, indent: "  ")
    }
    Render.line()
    Render.line("Confidences are margins in [0, 1], not probabilities; a p-value is against independent models (Docs/Forensics.md).")
    Render.line(limits)
    if let r = recorded {
      let edges = r.records.reduce(0) { $0 + $1.edges }
      Render.line("recorded \(edges) inferred parent edge(s) of \(r.records.count) model(s) in \(r.records.count) record(s) on refs/inferred")
      for s in r.skipped { Render.line("not recorded: \(s.label): \(s.reason)") }
    }
  }
}
