/// The failure condition an incident names (Docs/Blame.md): it holds when the incident
/// reproduces. It is checked at the last position of every input row, and holds only when it
/// holds for all of them.
public enum Oracle: Equatable, Sendable, CustomStringConvertible {
  /// The top logit is class/token K.
  case argmaxIs(Int)
  /// The top logit is not K.
  case argmaxIsNot(Int)
  /// Logit K exceeds every other logit by more than T.
  case margin(Int, Float)

  /// Parse `argmax==K`, `argmax!=K` or `margin(K)>T`.
  public static func parse(_ text: String) throws(RuntimeError) -> Oracle {
    let t = text.filter { !$0.isWhitespace }
    if t.hasPrefix("argmax=="), let k = Int(t.dropFirst(8)), k >= 0 { return .argmaxIs(k) }
    if t.hasPrefix("argmax!="), let k = Int(t.dropFirst(8)), k >= 0 { return .argmaxIsNot(k) }
    if t.hasPrefix("margin("), let close = t.firstIndex(of: ")"), t[close...].hasPrefix(")>"),
      let k = Int(t[t.index(t.startIndex, offsetBy: 7)..<close]), k >= 0, let v = Float(t[t.index(close, offsetBy: 2)...]), v.isFinite
    {
      return .margin(k, v)
    }
    throw .input(
      "oracle '\(text)' is not argmax==K, argmax!=K or margin(K)>T (max_abs_diff and metric_on_probe_set are not built yet)")
  }

  public var description: String {
    switch self {
    case .argmaxIs(let k): "argmax==\(k)"
    case .argmaxIsNot(let k): "argmax!=\(k)"
    case .margin(let k, let t): "margin(\(k))>\(t)"
    }
  }

  /// Whether the condition holds on a forward result of `rows` input rows.
  public func holds(_ r: ForwardResult, rows: Int) throws(RuntimeError) -> Bool {
    let k: Int
    switch self {
    case .argmaxIs(let x), .argmaxIsNot(let x), .margin(let x, _): k = x
    }
    guard k < r.width else { throw .input("oracle class \(k) is outside the model's \(r.width) outputs") }
    let per = r.positions / max(rows, 1)
    for row in 0..<rows {
      let base = (row * per + per - 1) * r.width
      let z = r.logits[base..<(base + r.width)]
      var best = base
      var other = -Float.infinity
      for j in z.indices where z[j] > z[best] { best = j }
      for j in z.indices where j != base + k { other = max(other, z[j]) }
      let ok: Bool
      switch self {
      case .argmaxIs: ok = best - base == k
      case .argmaxIsNot: ok = best - base != k
      case .margin(_, let t): ok = z[base + k] - other > t
      }
      if !ok { return false }
    }
    return true
  }
}
