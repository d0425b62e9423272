/// The permutation-robust relatedness test of one block (Docs/Forensics.md, "Unit matching").
///
/// A block's MLP hidden units can be permuted without changing the model: the rows of its input
/// projection and the columns of its output projection move together. Two models derived from
/// one another keep their units in correspondence up to such a permutation; independent models
/// have no correspondence at all. The test matches B's units to A's twice, once from the input
/// projection's rows and once from the output projection's columns (each a linear assignment on
/// Pearson similarities), and measures with Spearman's ρ how far the two matchings agree. For
/// independent models the two matchings are unrelated and ρ has the null distribution of two
/// independent random permutations (Zhu et al. 2025, φ_MATCH); for related models they coincide.
public struct UnitMatchingTest: Equatable, Sendable {
  public var layer: Int
  /// The modules used (input projection, output projection).
  public var input: String
  public var output: String
  /// Hidden units matched.
  public var units: Int
  /// Spearman's ρ between the two matchings.
  public var rho: Double
  /// One-sided p-value of ρ under independence, and its natural log (which stays finite when the
  /// p-value underflows).
  public var pValue: Double
  public var logP: Double
  /// Fraction of units both matchings send to the same unit of B.
  public var agreement: Double
  /// Mean Pearson correlation of A's input-projection rows with their matched rows of B.
  public var alignedSimilarity: Double
  /// Fraction of units matched to the unit with the same index (1: not permuted).
  public var identityFraction: Double

  /// Run the test on one block: `inputA`/`inputB` are the input projections `[units, d]`,
  /// `outputA`/`outputB` the output projections `[d′, units]`.
  public static func run(
    layer: Int, input: String, output: String, inputA: Matrix, inputB: Matrix, outputA: Matrix, outputB: Matrix
  ) throws(ForensicsError) -> UnitMatchingTest {
    guard inputA.rows == outputA.cols, inputB.rows == outputB.cols else {
      throw .shapeMismatch(operation: "unit matching", inputA.shapeDescription, outputA.shapeDescription)
    }
    let byRows = try RowAlignment.align(inputA, inputB)
    let byColumns = try RowAlignment.align(outputA.transposed(), outputB.transposed())
    let units = byRows.rowOfB.count
    let s = try SpearmanCorrelation.compute(byRows.rowOfB.map(Double.init), byColumns.rowOfB.map(Double.init))
    let agree = zip(byRows.rowOfB, byColumns.rowOfB).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
    let identity = byRows.rowOfB.enumerated().reduce(0) { $0 + ($1.offset == $1.element ? 1 : 0) }
    return UnitMatchingTest(
      layer: layer, input: input, output: output, units: units, rho: s.rho, pValue: s.pValue, logP: s.logP,
      agreement: Double(agree) / Double(units), alignedSimilarity: byRows.meanSimilarity, identityFraction: Double(identity) / Double(units))
  }
}

extension Matrix {
  /// The transpose (a copy).
  public func transposed() -> Matrix {
    var out = [Float](repeating: 0, count: values.count)
    for r in 0..<rows {
      for c in 0..<cols { out[c * rows + r] = values[r * cols + c] }
    }
    // Same element count, swapped dimensions: always valid.
    return (try? Matrix(rows: cols, cols: rows, values: out)) ?? self
  }
}
