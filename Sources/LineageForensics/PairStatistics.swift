/// The scalar statistics of one comparison that an empirical null is built from (Docs/Forensics.md,
/// "Pair statistics"). Each is oriented so that a higher value means more related.
public struct PairStatistics: Equatable, Sendable {
  /// A statistic's name as written in `null.json`; `allCases` is the fixed order.
  public enum Name: String, CaseIterable, Sendable {
    /// Mean per-tensor cosine over the measured tensors.
    case meanCosine = "mean_cosine"
    /// Mean per-tensor Pearson r over the measured tensors.
    case meanPearson = "mean_pearson"
    /// Mean per-tensor CKA over the tensors that have one.
    case meanCKA = "mean_cka"
    /// Mean per-tensor spectrum cosine over the tensors that have one.
    case meanSpectrum = "mean_spectrum"
    /// Mean over the unit-matching tests of the fraction of units both matchings agree on.
    case unitAgreement = "unit_agreement"
    /// Mean over the unit-matching tests of the aligned similarity.
    case unitAlignedSimilarity = "unit_aligned_similarity"
    /// −ln p of the Fisher-combined unit-matching p-value.
    case unitNegLogP = "unit_neg_log_p"
  }

  /// The finite values; a name is missing when the comparison had nothing to average for it.
  public var values: [Name: Double]

  public init(values: [Name: Double]) {
    self.values = values
  }

  /// The statistics of `comparison`: means that skip nil and non-finite entries.
  public init(_ comparison: Comparison) {
    func mean(_ xs: [Double?]) -> Double? {
      let finite = xs.compactMap { $0 }.filter(\.isFinite)
      return finite.isEmpty ? nil : finite.reduce(0, +) / Double(finite.count)
    }
    let measured = comparison.rows.compactMap(\.metrics)
    let tests = comparison.unitTests
    var values: [Name: Double] = [:]
    values[.meanCosine] = mean(measured.map(\.cosine))
    values[.meanPearson] = mean(measured.map(\.pearson))
    values[.meanCKA] = mean(comparison.rows.map(\.cka))
    values[.meanSpectrum] = mean(comparison.rows.map(\.spectrum))
    values[.unitAgreement] = mean(tests.map(\.agreement))
    values[.unitAlignedSimilarity] = mean(tests.map(\.alignedSimilarity))
    // 0 − ln p rather than −ln p: a p-value of exactly 1 gives +0, not −0.
    if let f = comparison.combined, f.logP.isFinite { values[.unitNegLogP] = 0 - f.logP }
    self.values = values
  }

  /// The value of `name`, or nil when absent.
  public subscript(name: Name) -> Double? { values[name] }
}
