import Foundation

/// Several p-values combined into one by Fisher's method.
public struct FisherCombination: Equatable, Sendable {
  /// X = −2 Σ ln pᵢ.
  public var statistic: Double
  /// 2k for k p-values.
  public var degreesOfFreedom: Int
  /// P(χ²_{2k} ≥ X).
  public var pValue: Double
  /// ln pValue, finite where pValue underflows.
  public var logP: Double
}

/// Combining and correcting p-values (Docs/Forensics.md, "Combining and correcting p-values").
/// Inputs in log form are natural logs in (−∞, 0]; plain p-values are in (0, 1].
public enum PValues {
  /// Fisher's method on independent p-values given as natural logs: X = −2 Σ ln pᵢ follows χ² with
  /// 2k degrees of freedom under the null, and P(χ²_{2k} ≥ X) = e^{−X/2} Σ_{j<k} (X/2)ʲ/j! exactly,
  /// summed in log space. One p-value comes back unchanged.
  public static func fisher(logPValues: [Double]) throws(ForensicsError) -> FisherCombination {
    guard !logPValues.isEmpty else { throw .empty(operation: "Fisher's method", input: "p-values") }
    try checkLogs(logPValues)
    let statistic = -2 * logPValues.reduce(0, +)
    let logP = SpecialFunctions.chiSquaredEvenLogSurvival(statistic, halfDegreesOfFreedom: logPValues.count)
    return FisherCombination(statistic: statistic, degreesOfFreedom: 2 * logPValues.count, pValue: exp(logP), logP: logP)
  }

  /// Fisher's method on plain p-values in (0, 1].
  public static func fisher(pValues: [Double]) throws(ForensicsError) -> FisherCombination {
    try checkPlain(pValues)
    return try fisher(logPValues: pValues.map { log($0) })
  }

  /// Holm–Bonferroni step-down adjusted p-values, as natural logs, in the input order: with the m
  /// p-values sorted ascending, p̃₍ᵢ₎ = max_{j≤i} min(1, (m − j + 1)·p₍ⱼ₎). Reject at level α
  /// where p̃ ≤ α; this controls the family-wise error rate under any dependence.
  public static func holm(logPValues: [Double]) throws(ForensicsError) -> [Double] {
    try checkLogs(logPValues)
    let m = logPValues.count
    // Stable order: equal p-values keep their input order, so the result is deterministic.
    let order = logPValues.indices.sorted { logPValues[$0] < logPValues[$1] || (logPValues[$0] == logPValues[$1] && $0 < $1) }
    var adjusted = [Double](repeating: 0, count: m)
    var running = -Double.infinity
    for (rank, index) in order.enumerated() {
      running = max(running, min(0, log(Double(m - rank)) + logPValues[index]))
      adjusted[index] = running
    }
    return adjusted
  }

  /// Holm–Bonferroni adjusted p-values for plain p-values in (0, 1], in the input order.
  public static func holm(pValues: [Double]) throws(ForensicsError) -> [Double] {
    try checkPlain(pValues)
    return try holm(logPValues: pValues.map { log($0) }).map { exp($0) }
  }

  static func checkLogs(_ logs: [Double]) throws(ForensicsError) {
    if let i = logs.firstIndex(where: { !($0 <= 0 && $0 > -.infinity) }) { throw .invalidPValue(index: i, value: logs[i]) }
  }

  static func checkPlain(_ p: [Double]) throws(ForensicsError) {
    if let i = p.firstIndex(where: { !($0 > 0 && $0 <= 1) }) { throw .invalidPValue(index: i, value: p[i]) }
  }
}

/// Scores of a statistic on pairs known to be unrelated, against which an observed score is judged
/// (Docs/Forensics.md, "Empirical null").
public struct EmpiricalNull: Equatable, Sendable {
  /// Which side of the null counts as evidence.
  public enum Tail: Equatable, Sendable {
    /// Higher scores mean more related (cosine, CKA, Spearman ρ): count null scores ≥ observed.
    case upper
    /// Lower scores mean more related (distances): count null scores ≤ observed.
    case lower
  }

  /// How an observed score stands against the null.
  public struct Summary: Equatable, Sendable {
    public var observed: Double
    public var tail: Tail
    /// Null scores at least as extreme as the observed one (ties count).
    public var atLeastAsExtreme: Int
    /// N, the number of null scores.
    public var nullSize: Int
    /// (1 + atLeastAsExtreme) / (N + 1): never 0, at least 1/(N+1).
    public var pValue: Double
    /// ln pValue.
    public var logP: Double
    /// (observed − mean) / sd, signed so that positive is towards `tail` (for `.lower`,
    /// (mean − observed) / sd); nil when N < 2 or the null does not vary.
    public var zScore: Double?
  }

  /// The null scores, ascending.
  public let scores: [Double]
  /// Mean of the null scores.
  public let mean: Double
  /// Sample standard deviation (denominator N − 1); 0 when N = 1.
  public let standardDeviation: Double

  /// A null from its scores (at least one, all finite).
  public init(scores: [Double]) throws(ForensicsError) {
    guard !scores.isEmpty else { throw .empty(operation: "empirical null", input: "scores") }
    try Validate.finite(scores, operation: "empirical null", input: "scores")
    self.scores = scores.sorted()
    let n = Double(scores.count)
    let mean = scores.reduce(0, +) / n
    self.mean = mean
    let squares = scores.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) }
    standardDeviation = scores.count > 1 ? (squares / (n - 1)).squareRoot() : 0
  }

  /// Judge the finite `observed` score on the given tail.
  public func summary(of observed: Double, tail: Tail) throws(ForensicsError) -> Summary {
    try Validate.finite([observed], operation: "empirical null", input: "observed score")
    let extreme: Int
    switch tail {
    case .upper: extreme = scores.count - partitionPoint { $0 >= observed }
    case .lower: extreme = partitionPoint { $0 > observed }
    }
    let p = Double(1 + extreme) / Double(scores.count + 1)
    var z: Double?
    if scores.count >= 2 && standardDeviation > 0 {
      z = (tail == .upper ? observed - mean : mean - observed) / standardDeviation
    }
    return Summary(
      observed: observed, tail: tail, atLeastAsExtreme: extreme, nullSize: scores.count, pValue: p, logP: log(p), zScore: z)
  }

  /// The first index of the sorted scores where `predicate` holds (it must be false, then true).
  func partitionPoint(_ predicate: (Double) -> Bool) -> Int {
    var lo = 0
    var hi = scores.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if predicate(scores[mid]) { hi = mid } else { lo = mid + 1 }
    }
    return lo
  }
}
