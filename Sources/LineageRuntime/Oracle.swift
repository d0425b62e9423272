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
  /// The largest absolute difference between the logits and an expected output is below
  /// (`below`) or above T.
  case maxAbsDiff(below: Bool, Float)
  /// A metric on a probe set (token or feature rows with targets) is below or above T.
  case probeMetric(ProbeMetric, below: Bool, Float)
  /// An external command decides (`--run`); the runtime cannot evaluate it.
  case external

  /// What `metric_on_probe_set` measures.
  public enum ProbeMetric: String, Sendable {
    /// The share of counted positions whose argmax is the target.
    case accuracy
    /// The mean cross-entropy.
    case loss
  }

  /// The oracle compares the logits with an expected output (`--expected`).
  public var needsExpected: Bool {
    if case .maxAbsDiff = self { true } else { false }
  }

  /// The oracle evaluates a probe set (`--probe-set`), not the input.
  public var needsProbeSet: Bool {
    if case .probeMetric = self { true } else { false }
  }

  /// Parse `argmax==K`, `argmax!=K`, `margin(K)>T`, `max_abs_diff(expected)<T` (or `>T`),
  /// `metric_on_probe_set(accuracy|loss)<T` (or `>T`) or `external`.
  public static func parse(_ text: String) throws(RuntimeError) -> Oracle {
    let t = text.filter { !$0.isWhitespace }
    if t == "external" { return .external }
    func comparison(_ rest: Substring) -> (Bool, Float)? {
      guard let c = rest.first, c == "<" || c == ">", let v = Float(rest.dropFirst()), v.isFinite else { return nil }
      return (c == "<", v)
    }
    if t.hasPrefix("max_abs_diff(expected)"), let (below, v) = comparison(t.dropFirst(22)), v >= 0 {
      return .maxAbsDiff(below: below, v)
    }
    for metric in [ProbeMetric.accuracy, .loss] {
      let head = "metric_on_probe_set(\(metric.rawValue))"
      if t.hasPrefix(head), let (below, v) = comparison(t.dropFirst(head.count)) { return .probeMetric(metric, below: below, v) }
    }
    if t.hasPrefix("argmax=="), let k = Int(t.dropFirst(8)), k >= 0 { return .argmaxIs(k) }
    if t.hasPrefix("argmax!="), let k = Int(t.dropFirst(8)), k >= 0 { return .argmaxIsNot(k) }
    if t.hasPrefix("margin("), let close = t.firstIndex(of: ")"), t[close...].hasPrefix(")>"),
      let k = Int(t[t.index(t.startIndex, offsetBy: 7)..<close]), k >= 0, let v = Float(t[t.index(close, offsetBy: 2)...]), v.isFinite
    {
      return .margin(k, v)
    }
    throw .input(
      "oracle '\(text)' is not one of argmax==K, argmax!=K, margin(K)>T, max_abs_diff(expected)<T, max_abs_diff(expected)>T, "
        + "metric_on_probe_set(accuracy)<T, metric_on_probe_set(loss)>T (either comparison) or external")
  }

  public var description: String {
    switch self {
    case .argmaxIs(let k): "argmax==\(k)"
    case .argmaxIsNot(let k): "argmax!=\(k)"
    case .margin(let k, let t): "margin(\(k))>\(t)"
    case .maxAbsDiff(let below, let t): "max_abs_diff(expected)\(below ? "<" : ">")\(t)"
    case .probeMetric(let m, let below, let t): "metric_on_probe_set(\(m.rawValue))\(below ? "<" : ">")\(t)"
    case .external: "external"
    }
  }

  /// Whether a metric-on-probe-set oracle holds on an evaluation of the probe set.
  public func holds(probe e: Evaluation) throws(RuntimeError) -> Bool {
    guard case .probeMetric(let m, let below, let t) = self else { throw .input("oracle \(self) does not use a probe set") }
    let v = m == .accuracy ? e.accuracy : e.loss
    return below ? v < Double(t) : v > Double(t)
  }

  /// How strongly a metric-on-probe-set failure holds: the metric's distance past its threshold
  /// (positive when the oracle holds). Used to order experiments, never to decide a verdict.
  public func severity(probe e: Evaluation) throws(RuntimeError) -> Float {
    guard case .probeMetric(let m, let below, let t) = self else { throw .input("oracle \(self) does not use a probe set") }
    let v = Float(m == .accuracy ? e.accuracy : e.loss)
    return below ? t - v : v - t
  }

  /// How strongly the condition holds on a forward result (Docs/Blame.md, "Severity"): for
  /// `argmax==K` the smallest margin over rows of K's logit above the best other, for `argmax!=K`
  /// its negation, for `margin(K)>T` that margin minus T, for `max_abs_diff` the distance past T.
  /// Positive when the oracle holds (up to ties); used to order experiments, never for a verdict.
  public func severity(_ r: ForwardResult, rows: Int, expected: [Float]? = nil) throws(RuntimeError) -> Float {
    let k: Int
    switch self {
    case .argmaxIs(let x), .argmaxIsNot(let x), .margin(let x, _): k = x
    case .maxAbsDiff(let below, let t):
      guard let expected, expected.count == r.logits.count else { throw .input("oracle \(self) needs an expected output of the model's size") }
      var d: Float = 0
      for (a, b) in zip(r.logits, expected) { d = max(d, abs(a - b)) }
      return below ? t - d : d - t
    case .probeMetric: throw .input("oracle \(self) is evaluated on its probe set, not on logits")
    case .external: throw .input("an external oracle is decided by the --run command")
    }
    guard k < r.width else { throw .input("oracle class \(k) is outside the model's \(r.width) outputs") }
    let per = r.positions / max(rows, 1)
    var worst = Float.infinity
    for row in 0..<rows {
      let base = (row * per + per - 1) * r.width
      var other = -Float.infinity
      for j in 0..<r.width where j != k { other = max(other, r.logits[base + j]) }
      let m = r.logits[base + k] - other
      let s: Float
      switch self {
      case .argmaxIs: s = m
      case .argmaxIsNot: s = -m
      case .margin(_, let t): s = m - t
      case .maxAbsDiff, .probeMetric, .external: s = 0
      }
      worst = min(worst, s)
    }
    return worst
  }

  /// Whether the condition holds on a forward result of `rows` input rows.
  public func holds(_ r: ForwardResult, rows: Int, expected: [Float]? = nil) throws(RuntimeError) -> Bool {
    let k: Int
    switch self {
    case .argmaxIs(let x), .argmaxIsNot(let x), .margin(let x, _): k = x
    case .maxAbsDiff(let below, let t):
      guard let expected else { throw .input("oracle \(self) needs an expected output") }
      guard expected.count == r.logits.count else {
        throw .input("the expected output has \(expected.count) values, the model gives \(r.logits.count) (\(r.positions) × \(r.width))")
      }
      var d: Float = 0
      for (a, b) in zip(r.logits, expected) { d = max(d, abs(a - b)) }
      return below ? d < t : d > t
    case .probeMetric: throw .input("oracle \(self) is evaluated on its probe set, not on logits")
    case .external: throw .input("an external oracle is decided by the --run command")
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
      case .maxAbsDiff, .probeMetric, .external: ok = false
      }
      if !ok { return false }
    }
    return true
  }
}
