import Testing

@testable import LineageForensics

@Suite struct MatrixTests {
  @Test func shapesAndViews() throws {
    let m = try Matrix(rows: 2, cols: 3, values: [1, 2, 3, 4, 5, 6])
    #expect(m[1, 0] == 4 && m.shapeDescription == "2×3")
    #expect(try Matrix(shape: [4], values: [1, 2, 3, 4]).rows == 1)
    #expect(try Matrix(shape: [], values: [7]).cols == 1)
    let conv = try Matrix(shape: [2, 3, 2, 2], values: [Float](repeating: 0, count: 24))
    #expect(conv.rows == 2 && conv.cols == 12)
    #expect(throws: ForensicsError.self) { try Matrix(rows: 2, cols: 2, values: [1, 2, 3]) }
    #expect(throws: ForensicsError.self) { try Matrix(shape: [2, 2], values: [1, 2, 3]) }
    #expect(try m.selectingRows([1, 0]).values == [4, 5, 6, 1, 2, 3])
    #expect(throws: ForensicsError.invalidPermutation(count: 2)) { try m.selectingRows([2]) }
  }

  @Test func productGoesThroughGemm() throws {
    let a = try Matrix(rows: 2, cols: 3, values: [1, 2, 3, 4, 5, 6])
    let b = try Matrix(rows: 3, cols: 2, values: [7, 8, 9, 10, 11, 12])
    #expect(try a.multiplied(by: b).values == [58, 64, 139, 154])
    #expect(throws: ForensicsError.shapeMismatch(operation: "matrix product", "2×3", "2×3")) { try a.multiplied(by: a) }
  }

  /// [[3, 0], [4, 5]]: AᵀA = [[25, 20], [20, 25]] has eigenvalues 45 and 5.
  @Test func singularValuesOfAKnownMatrix() throws {
    let s = try Matrix(rows: 2, cols: 2, values: [3, 0, 4, 5]).singularValues()
    #expect(s.count == 2 && close(s[0], 45.0.squareRoot(), relative: 1e-6) && close(s[1], 5.0.squareRoot(), relative: 1e-6))
    let wide = try Matrix(rows: 2, cols: 3, values: [2, 0, 0, 0, 0, 1]).singularValues()
    #expect(wide.count == 2 && close(wide[0], 2, relative: 1e-6) && close(wide[1], 1, relative: 1e-6))
    #expect(throws: ForensicsError.nonFinite(operation: "singular values", input: "matrix", index: 1)) {
      try Matrix(rows: 1, cols: 2, values: [1, .nan]).singularValues()
    }
  }
}
