import Testing

@testable import LineageForensics

/// The best permutation by trying all n! of them.
private func bruteForceMinimum(_ cost: [Double], n: Int) -> Double {
  var best = Double.infinity
  func search(_ row: Int, _ used: inout [Bool], _ sum: Double) {
    if row == n {
      best = min(best, sum)
      return
    }
    for j in 0..<n where !used[j] {
      used[j] = true
      search(row + 1, &used, sum + cost[row * n + j])
      used[j] = false
    }
  }
  var used = [Bool](repeating: false, count: n)
  search(0, &used, 0)
  return best
}

private func isPermutation(_ p: [Int]) -> Bool { p.sorted() == Array(0..<p.count) }

@Suite struct LinearAssignmentTests {
  @Test(arguments: 1...8)
  func agreesWithBruteForce(n: Int) throws {
    var random = SeededRandom(seed: UInt64(100 + n))
    for trial in 0..<25 {
      // Some trials on a coarse integer grid, where ties between assignments are common.
      let cost = (0..<(n * n)).map { _ in trial % 3 == 0 ? Double(random.next() % 4) : random.normal() * 10 }
      let a = try LinearAssignment.minimizingCost(cost, n: n)
      #expect(isPermutation(a.columnOfRow))
      #expect(close(a.total, bruteForceMinimum(cost, n: n), relative: 1e-12, absolute: 1e-9))
      let best = try LinearAssignment.maximizingSimilarity(cost, n: n)
      #expect(close(best.total, -bruteForceMinimum(cost.map { -$0 }, n: n), relative: 1e-12, absolute: 1e-9))
    }
  }

  @Test func recoversAPlantedPermutation() throws {
    var random = SeededRandom(seed: 7)
    for n in [50, 300, 2048] {
      let planted = random.permutation(n)
      var s = (0..<(n * n)).map { _ in random.uniform() }
      for i in 0..<n { s[i * n + planted[i]] += 1 }
      #expect(try LinearAssignment.maximizingSimilarity(s, n: n).columnOfRow == planted)
    }
  }

  /// On a dense random matrix (no planted answer) the optimum beats random pairings and every
  /// exchange of partners between two rows.
  @Test func beatsOtherPermutationsOnARandomMatrix() throws {
    var random = SeededRandom(seed: 8)
    let n = 150
    let cost = (0..<(n * n)).map { _ in random.uniform() }
    let a = try LinearAssignment.minimizingCost(cost, n: n)
    #expect(isPermutation(a.columnOfRow))
    for _ in 0..<50 {
      let p = random.permutation(n)
      #expect(a.total <= p.enumerated().reduce(0) { $0 + cost[$1.offset * n + $1.element] } + 1e-12)
    }
    // No exchange of partners between two rows lowers the cost (necessary for optimality).
    let pi = a.columnOfRow
    var improvable = 0
    for i in 0..<n {
      for k in (i + 1)..<n where cost[i * n + pi[k]] + cost[k * n + pi[i]] < cost[i * n + pi[i]] + cost[k * n + pi[k]] - 1e-12 {
        improvable += 1
      }
    }
    #expect(improvable == 0)
  }

  /// Costs near the top of the double range would overflow the potentials; they are scaled first.
  @Test func hugeCostsGiveTheSameAssignment() throws {
    var random = SeededRandom(seed: 12)
    let cost = (0..<(40 * 40)).map { _ in random.normal() }
    let plain = try LinearAssignment.minimizingCost(cost, n: 40)
    let huge = try LinearAssignment.minimizingCost(cost.map { $0 * 1e306 }, n: 40)
    #expect(huge.columnOfRow == plain.columnOfRow && huge.total.isFinite)
  }

  @Test func rejectsBadInput() {
    #expect(throws: ForensicsError.empty(operation: "linear assignment", input: "matrix")) {
      try LinearAssignment.minimizingCost([], n: 0)
    }
    #expect(throws: ForensicsError.shapeMismatch(operation: "linear assignment", "2×2", "3 values")) {
      try LinearAssignment.minimizingCost([1, 2, 3], n: 2)
    }
    #expect(throws: ForensicsError.nonFinite(operation: "linear assignment", input: "matrix", index: 2)) {
      try LinearAssignment.maximizingSimilarity([1, 2, .nan, 4], n: 2)
    }
  }
}

@Suite struct RowAlignmentTests {
  /// B = P·(A + noise): alignment finds P⁻¹, after which B lines up with A + noise exactly, so the
  /// element-wise metrics equal those of the unpermuted pair.
  @Test func undoesAHiddenUnitPermutation() throws {
    var random = SeededRandom(seed: 9)
    let a = try random.gaussian(rows: 128, cols: 48)
    let noisy = try adding(a, random.gaussian(rows: 128, cols: 48, sigma: 0.2))
    let sigma = random.permutation(128)
    let b = try noisy.selectingRows(sigma)
    let alignment = try RowAlignment.align(a, b)
    for i in 0..<128 { #expect(sigma[alignment.rowOfB[i]] == i) }
    let aligned = try b.selectingRows(alignment.rowOfB)
    #expect(aligned == noisy)
    let before = TensorMetrics.compare(a.values, b.values)
    let after = TensorMetrics.compare(a.values, aligned.values)
    let unpermuted = TensorMetrics.compare(a.values, noisy.values)
    #expect(before.cosine < 0.3 && close(after.cosine, unpermuted.cosine) && after.cosine > 0.95)
    #expect(alignment.similarities.count == 128 && alignment.similarities.allSatisfy { $0 > 0.9 && $0 <= 1 + 1e-6 })
    #expect(close(alignment.meanSimilarity, alignment.similarities.reduce(0, +) / 128))
  }

  @Test func constantRowsMatchWithZeroSimilarity() throws {
    let a = try Matrix(rows: 3, cols: 3, values: [1, 2, 3, 5, 5, 5, 3, 1, 2])
    let b = try Matrix(rows: 3, cols: 3, values: [3, 1, 2, 0, 0, 0, 1, 2, 3])
    let alignment = try RowAlignment.align(a, b)
    #expect(alignment.rowOfB == [2, 1, 0])
    #expect(close(alignment.similarities[0], 1, relative: 1e-6) && alignment.similarities[1] == 0)
    #expect(throws: ForensicsError.shapeMismatch(operation: "row alignment", "3×3", "3×2")) {
      try RowAlignment.align(a, Matrix(rows: 3, cols: 2, values: [1, 2, 3, 4, 5, 6]))
    }
  }
}
