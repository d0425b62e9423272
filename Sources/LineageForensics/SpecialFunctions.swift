import Foundation

/// Scalar special functions behind the p-values, in log space where tails underflow
/// (Docs/Forensics.md, "Special functions").
enum SpecialFunctions {
  /// ln |Γ(x)|. The Swift overlay's `(value, sign)` form calls the reentrant `lgamma_r`; plain C
  /// `lgamma` writes the global `signgam`, a data race when statistics run on several threads.
  static func logGamma(_ x: Double) -> Double {
    let (value, _): (Double, Int) = lgamma(x)
    return value
  }

  /// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b) for a, b > 0.
  static func logBeta(_ a: Double, _ b: Double) -> Double {
    logGamma(a) + logGamma(b) - logGamma(a + b)
  }

  /// ln I_x(a, b), the log of the regularised incomplete beta function, for a, b > 0; −∞ at x = 0.
  /// I_x(a, b) = xᵃ(1−x)ᵇ / (a·B(a, b)) · CF(a, b, x), with the continued fraction evaluated by the
  /// modified Lentz method where it converges fast (x < (a+1)/(a+b+2)), and the symmetry
  /// I_x(a, b) = 1 − I_{1−x}(b, a) elsewhere (Numerical Recipes, §6.4).
  static func logRegularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
    if x <= 0 { return -.infinity }
    if x >= 1 { return 0 }
    let logFront = a * log(x) + b * log1p(-x) - logBeta(a, b)
    if x < (a + 1) / (a + b + 2) {
      return logFront + log(continuedFraction(a, b, x)) - log(a)
    }
    return log1p(-exp(logFront + log(continuedFraction(b, a, 1 - x)) - log(b)))
  }

  /// I_x(a, b), the regularised incomplete beta function, in [0, 1].
  static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
    exp(logRegularizedIncompleteBeta(x, a, b))
  }

  /// The continued fraction of I_x(a, b) by the modified Lentz method; stops when a step changes
  /// the value by less than 1e-15 relative, or after 10,000 steps (which needs a, b far beyond
  /// 10⁷: the step count grows like √max(a, b)).
  static func continuedFraction(_ a: Double, _ b: Double, _ x: Double) -> Double {
    let tiny = 1e-300
    let qab = a + b
    let qap = a + 1
    let qam = a - 1
    var c = 1.0
    var d = 1 - qab * x / qap
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var h = d
    for m in 1...10_000 {
      let m = Double(m)
      let m2 = 2 * m
      // Even step.
      var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
      d = 1 + aa * d
      if abs(d) < tiny { d = tiny }
      c = 1 + aa / c
      if abs(c) < tiny { c = tiny }
      d = 1 / d
      h *= d * c
      // Odd step.
      aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
      d = 1 + aa * d
      if abs(d) < tiny { d = tiny }
      c = 1 + aa / c
      if abs(c) < tiny { c = tiny }
      d = 1 / d
      let step = d * c
      h *= step
      if abs(step - 1) < 1e-15 { break }
    }
    return h
  }

  /// ln P(T ≥ t) for Student's t with ν > 0 degrees of freedom:
  /// P(T ≥ t) = ½·I_{ν/(ν+t²)}(ν/2, ½) for t ≥ 0, and 1 − P(T ≥ −t) for t < 0.
  static func studentTLogSurvival(_ t: Double, degreesOfFreedom nu: Double) -> Double {
    if t.isNaN { return .nan }
    let x = t.isInfinite ? 0 : nu / (nu + t * t)
    return studentTLogSurvival(tailBetaArgument: x, positive: t >= 0, degreesOfFreedom: nu)
  }

  /// The same from x = ν/(ν+t²) and the sign of t, for callers that know x more precisely than
  /// t (Spearman: x = 1 − ρ²).
  static func studentTLogSurvival(tailBetaArgument x: Double, positive: Bool, degreesOfFreedom nu: Double) -> Double {
    let logUpper = log(0.5) + logRegularizedIncompleteBeta(x, nu / 2, 0.5)
    return positive ? logUpper : log1p(-exp(logUpper))
  }

  /// ln P(X ≥ x) for X ~ χ² with 2k degrees of freedom (k ≥ 1), x ≥ 0, in closed form:
  /// P = e^{−x/2} Σ_{j<k} (x/2)ʲ / j!, summed in log space (log-sum-exp) so that huge x does not
  /// underflow to ln 0.
  static func chiSquaredEvenLogSurvival(_ x: Double, halfDegreesOfFreedom k: Int) -> Double {
    precondition(k >= 1, "chi-squared needs at least 2 degrees of freedom")
    let y = x / 2
    if y <= 0 { return 0 }
    let logY = log(y)
    var terms = [Double]()
    terms.reserveCapacity(k)
    for j in 0..<k { terms.append(-y + Double(j) * logY - logGamma(Double(j) + 1)) }
    return min(0, logSumExp(terms))
  }

  /// ln Σ exp(termsᵢ), without overflow or underflow; −∞ for no terms.
  static func logSumExp(_ terms: [Double]) -> Double {
    guard let top = terms.max(), top > -.infinity else { return -.infinity }
    if top == .infinity { return .infinity }
    return top + log(terms.reduce(0) { $0 + exp($1 - top) })
  }
}
