import Foundation

/// Spearman's rank correlation with a one-sided p-value (Docs/Forensics.md, "Spearman").
public struct SpearmanCorrelation: Equatable, Sendable {
  /// How the p-value was obtained.
  public enum Method: Equatable, Sendable {
    /// Counted over all n! pairings (n ≤ 9): exact under the permutation null, ties included.
    case exact
    /// Student's t approximation with n − 2 degrees of freedom (n ≥ 10), floored at 1/n!.
    case studentT
  }

  /// Samples (pairs).
  public var count: Int
  /// ρ: Pearson's correlation of the average ranks, in [−1, 1].
  public var rho: Double
  /// One-sided p-value P(ρ* ≥ ρ) for ρ* under the null that y's values are paired with x's in a
  /// uniformly random order; small when x and y rise together. In [1/n!, 1].
  public var pValue: Double
  /// ln pValue, finite and accurate where pValue itself underflows to 0 (below about 1e-308).
  public var logP: Double
  public var method: Method

  /// Largest n whose p-value is counted exactly: 9! = 362,880 pairings.
  public static let exactLimit = 9

  /// ρ and its one-sided (greater) p-value for the paired samples `x`, `y` (same length n ≥ 3,
  /// finite). Throws `.noVariance` when all of x's or all of y's values are equal.
  public static func compute(_ x: [Double], _ y: [Double]) throws(ForensicsError) -> SpearmanCorrelation {
    let op = "Spearman correlation"
    guard x.count == y.count else { throw .shapeMismatch(operation: op, "\(x.count)", "\(y.count)") }
    guard x.count >= 3 else { throw .tooFewSamples(operation: op, minimum: 3, count: x.count) }
    try Validate.finite(x, operation: op, input: "x")
    try Validate.finite(y, operation: op, input: "y")
    let n = x.count
    // Doubled average ranks are integers, and so are their deviations from the doubled mean rank n+1:
    // sums stay exact, and the exact p-value compares integers, not rounded correlations.
    let rx = doubledRanks(x).map { $0 - (n + 1) }
    let ry = doubledRanks(y).map { $0 - (n + 1) }
    let sxx = rx.reduce(0.0) { $0 + Double($1) * Double($1) }
    let syy = ry.reduce(0.0) { $0 + Double($1) * Double($1) }
    guard sxx > 0 else { throw .noVariance(operation: op, input: "x") }
    guard syy > 0 else { throw .noVariance(operation: op, input: "y") }
    var sxy = 0.0
    for i in 0..<n { sxy += Double(rx[i]) * Double(ry[i]) }
    let rho = max(-1, min(1, sxy / (sxx * syy).squareRoot()))
    let floor = -SpecialFunctions.logGamma(Double(n) + 1)
    if n <= exactLimit {
      let logP = log(Double(exactCount(rx, ry))) + floor
      return SpearmanCorrelation(count: n, rho: rho, pValue: exp(logP), logP: logP, method: .exact)
    }
    // t = ρ√((n−2)/(1−ρ²)) gives ν/(ν+t²) = 1 − ρ², computed as (1−ρ)(1+ρ) to keep digits near ρ = 1.
    // The pairing that orders y as x does has probability 1/n! under the null, so no attainable
    // ρ has a smaller p-value: the approximation's tail is floored there (and ρ = 1 gets exactly it).
    let logT = SpecialFunctions.studentTLogSurvival(
      tailBetaArgument: (1 - rho) * (1 + rho), positive: rho >= 0, degreesOfFreedom: Double(n - 2))
    let logP = min(0, max(floor, logT))
    return SpearmanCorrelation(count: n, rho: rho, pValue: exp(logP), logP: logP, method: .studentT)
  }

  /// Average ranks (1-based): tied values share the mean of the ranks they span, so [10, 20, 20, 30]
  /// ranks as [1, 2.5, 2.5, 4].
  public static func ranks(_ values: [Double]) -> [Double] {
    doubledRanks(values).map { Double($0) / 2 }
  }

  /// Twice the average ranks, as integers: a run of ties over ranks lo...hi gets lo + hi.
  static func doubledRanks(_ values: [Double]) -> [Int] {
    let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
    var ranks = [Int](repeating: 0, count: values.count)
    var start = 0
    while start < order.count {
      var end = start
      while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
      for k in start...end { ranks[order[k]] = (start + 1) + (end + 1) }
      start = end + 1
    }
    return ranks
  }

  /// Number of the n! orderings σ of `ry` with Σᵢ rx[i]·ry[σ(i)] ≥ the observed Σᵢ rx[i]·ry[i]
  /// (Heap's algorithm: each step swaps two entries, which updates the sum in O(1)).
  static func exactCount(_ rx: [Int], _ ry: [Int]) -> Int {
    let n = rx.count
    var a = ry
    var observed = 0
    for i in 0..<n { observed += rx[i] * ry[i] }
    var sum = observed
    var count = 1
    var c = [Int](repeating: 0, count: n)
    var i = 1
    while i < n {
      if c[i] < i {
        let k = i % 2 == 0 ? 0 : c[i]
        sum += (rx[k] - rx[i]) * (a[i] - a[k])
        a.swapAt(k, i)
        if sum >= observed { count += 1 }
        c[i] += 1
        i = 1
      } else {
        c[i] = 0
        i += 1
      }
    }
    return count
  }
}
