/// A one-to-one matching of the rows of a square matrix to its columns.
public struct Assignment: Equatable, Sendable {
  /// `columnOfRow[i]` is the column matched to row i: a permutation of 0..<n.
  public var columnOfRow: [Int]
  /// Σᵢ matrix[i, columnOfRow[i]] over the matrix the assignment was solved for.
  public var total: Double
}

/// The linear assignment problem on dense n×n matrices: the Hungarian method with row and column
/// potentials and shortest augmenting paths (Jonker–Volgenant style, O(n³) worst case), started from
/// a column reduction (Docs/Forensics.md, "Linear assignment").
public enum LinearAssignment {
  /// The permutation π minimising Σᵢ cost[i, π(i)] for the row-major n×n `cost` (finite values).
  /// Ties between optimal assignments are broken deterministically.
  public static func minimizingCost(_ cost: [Double], n: Int) throws(ForensicsError) -> Assignment {
    try check(cost, n: n)
    let columns = solve(cost, n: n)
    return Assignment(columnOfRow: columns, total: total(cost, n: n, columns))
  }

  /// The permutation π maximising Σᵢ similarity[i, π(i)] for the row-major n×n `similarity`.
  public static func maximizingSimilarity(_ similarity: [Double], n: Int) throws(ForensicsError) -> Assignment {
    try check(similarity, n: n)
    let columns = solve(similarity.map { -$0 }, n: n)
    return Assignment(columnOfRow: columns, total: total(similarity, n: n, columns))
  }

  static func check(_ matrix: [Double], n: Int) throws(ForensicsError) {
    let op = "linear assignment"
    guard n > 0 else { throw .empty(operation: op, input: "matrix") }
    let (size, overflow) = n.multipliedReportingOverflow(by: n)
    guard !overflow, size == matrix.count else { throw .shapeMismatch(operation: op, "\(n)×\(n)", "\(matrix.count) values") }
    try Validate.finite(matrix, operation: op, input: "matrix")
  }

  static func total(_ matrix: [Double], n: Int, _ columns: [Int]) -> Double {
    var sum = 0.0
    for (i, j) in columns.enumerated() { sum += matrix[i * n + j] }
    return sum
  }

  /// Shortest augmenting paths over dual potentials u (rows), v (columns) with
  /// cost[i, j] − u[i] − v[j] ≥ 0 everywhere and = 0 on matched pairs; rows and columns are 1-based
  /// inside, index 0 being the virtual column the current row starts from.
  static func solve(_ cost: [Double], n: Int) -> [Int] {
    // Potentials and path lengths reach about n times the range of the costs: costs near the top of
    // the double range are scaled down first (a positive scale changes no optimal assignment), so that
    // no reduced cost overflows to infinity and the search always finds a column.
    let largest = cost.reduce(0) { max($0, abs($1)) }
    if largest > 1e150 { return solve(cost.map { $0 / largest }, n: n) }
    var u = [Double](repeating: 0, count: n + 1)
    var v = [Double](repeating: .infinity, count: n + 1)
    // rowOfColumn[j]: the row matched to column j (0: free). columnOfRow[i]: the column the column
    // reduction gave row i (0: none, the row is matched by a search).
    var rowOfColumn = [Int](repeating: 0, count: n + 1)
    var columnOfRow = [Int](repeating: 0, count: n + 1)
    var way = [Int](repeating: 0, count: n + 1)
    var minv = [Double](repeating: 0, count: n + 1)
    var used = [Bool](repeating: false, count: n + 1)
    var argmin = [Int](repeating: 0, count: n + 1)
    var settled = [Int](repeating: 0, count: n + 1)
    cost.withUnsafeBufferPointer { c in
      // Column reduction: v[j] = minᵢ cost[i, j] keeps every reduced cost ≥ 0 with u = 0, and each
      // column goes to its cheapest row if that row is still free. On near-permutation matrices this
      // matches almost every row before any search. Row by row, for contiguous reads.
      for i in 1...n {
        let base = (i - 1) * n - 1
        for j in 1...n where c[base + j] < v[j] {
          v[j] = c[base + j]
          argmin[j] = i
        }
      }
      for j in 1...n where columnOfRow[argmin[j]] == 0 {
        columnOfRow[argmin[j]] = j
        rowOfColumn[j] = argmin[j]
      }
      u.withUnsafeMutableBufferPointer { u in
        v.withUnsafeMutableBufferPointer { v in
          minv.withUnsafeMutableBufferPointer { minv in
            used.withUnsafeMutableBufferPointer { used in
              way.withUnsafeMutableBufferPointer { way in
                rowOfColumn.withUnsafeMutableBufferPointer { p in
                  settled.withUnsafeMutableBufferPointer { settled in
                    for i in 1...n where columnOfRow[i] == 0 {
                      augment(row: i, n: n, c, u, v, minv, used, way, p, settled)
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    var result = [Int](repeating: 0, count: n)
    for j in 1...n { result[rowOfColumn[j] - 1] = j - 1 }
    return result
  }

  /// Match the free `row` by a Dijkstra search over columns in reduced costs, then update the
  /// potentials so that the matching stays tight and the reduced costs non-negative. `minv[j]` is the
  /// tentative path length to column j; the potentials change only once, at the end, for the
  /// settled columns (shifting every column each step, as the textbook form does, doubles the work).
  @inline(__always)
  static func augment(
    row: Int, n: Int, _ c: UnsafeBufferPointer<Double>, _ u: UnsafeMutableBufferPointer<Double>,
    _ v: UnsafeMutableBufferPointer<Double>, _ minv: UnsafeMutableBufferPointer<Double>,
    _ used: UnsafeMutableBufferPointer<Bool>, _ way: UnsafeMutableBufferPointer<Int>, _ p: UnsafeMutableBufferPointer<Int>,
    _ settled: UnsafeMutableBufferPointer<Int>
  ) {
    for j in 0...n {
      minv[j] = .infinity
      used[j] = false
    }
    p[0] = row
    minv[0] = 0
    var j0 = 0
    var settledCount = 0
    var mu = 0.0
    repeat {
      used[j0] = true
      settled[settledCount] = j0
      settledCount += 1
      let i0 = p[j0]
      let base = (i0 - 1) * n - 1
      // Path length to j through row i0: dist(j0) + cost[i0, j] − u[i0] − v[j], and dist(j0) = mu.
      let offset = mu - u[i0]
      var best = Double.infinity
      var j1 = 0
      for j in 1...n where !used[j] {
        let length = c[base + j] - v[j] + offset
        if length < minv[j] {
          minv[j] = length
          way[j] = j0
        }
        if minv[j] < best {
          best = minv[j]
          j1 = j
        }
      }
      mu = best
      j0 = j1
    } while p[j0] != 0
    // Settled column s moves by mu − dist(s), and its row by the same, which keeps matched pairs
    // tight and every reduced cost ≥ 0 (the virtual column 0 carries the new row).
    for k in 0..<settledCount {
      let s = settled[k]
      let shift = mu - minv[s]
      u[p[s]] += shift
      v[s] -= shift
    }
    // Flip the matching along the path back to the virtual column.
    repeat {
      let j1 = way[j0]
      p[j0] = p[j1]
      j0 = j1
    } while j0 != 0
  }
}
