import LineageForensics
import Testing

/// Prim's tree and Chu–Liu/Edmonds' arborescence on hand-made graphs.
@Suite struct SpanningTreesTests {
  typealias Arc = SpanningTrees.Arc

  func parents(_ result: [Arc?]) -> [Int?] { result.map { $0?.from } }

  @Test func minimumSpanningTreeOfASquareWithDiagonals() throws {
    // 0–1 1, 1–2 2, 2–3 1, 3–0 3, 0–2 4, 1–3 5: the tree is {0–1, 2–3, 1–2}, cost 4.
    let cost: [[Double]] = [[0, 1, 4, 3], [1, 0, 2, 5], [4, 2, 0, 1], [3, 5, 1, 0]]
    let tree = try SpanningTrees.minimumSpanningTree(nodes: [0, 1, 2, 3]) { cost[$0][$1] }
    #expect(Set(tree.map { [$0.a, $0.b] }) == [[0, 1], [1, 2], [2, 3]])
    #expect(tree.reduce(0) { $0 + $1.cost } == 4)
  }

  @Test func minimumSpanningTreeOverASubsetUsesItsNodeIndices() throws {
    let tree = try SpanningTrees.minimumSpanningTree(nodes: [7, 3, 9]) { a, b in Double(abs(a - b)) }
    #expect(Set(tree.map { [$0.a, $0.b] }) == [[3, 7], [7, 9]])
    #expect(try SpanningTrees.minimumSpanningTree(nodes: [5]) { _, _ in 1 }.isEmpty)
  }

  @Test func minimumSpanningTreeRejectsNonFiniteCosts() {
    #expect(throws: ForensicsError.self) { try SpanningTrees.minimumSpanningTree(nodes: [0, 1]) { _, _ in .nan } }
  }

  @Test func arborescenceWithoutCycleTakesTheCheapestIncomingArcs() throws {
    let arcs = [Arc(from: 0, to: 1, cost: 1), Arc(from: 0, to: 2, cost: 5), Arc(from: 1, to: 2, cost: 1), Arc(from: 2, to: 1, cost: 3)]
    #expect(parents(try SpanningTrees.minimumArborescence(nodeCount: 3, root: 0, arcs: arcs)) == [nil, 0, 1])
  }

  @Test func arborescenceContractsACycle() throws {
    // 1 and 2 prefer each other (cost 1 each): a cycle. Entering it costs 10 at 1 or 12 at 2;
    // breaking it at 1 saves more: 0 → 1 (10) and 1 → 2 (1), total 11, not 0 → 2 + 2 → 1 = 13.
    let arcs = [
      Arc(from: 0, to: 1, cost: 10), Arc(from: 0, to: 2, cost: 12), Arc(from: 1, to: 2, cost: 1), Arc(from: 2, to: 1, cost: 1),
      Arc(from: 2, to: 3, cost: 2), Arc(from: 1, to: 3, cost: 6), Arc(from: 0, to: 3, cost: 9),
    ]
    let result = try SpanningTrees.minimumArborescence(nodeCount: 4, root: 0, arcs: arcs)
    #expect(parents(result) == [nil, 0, 1, 2])
    #expect(result.compactMap { $0?.cost }.reduce(0, +) == 13)
  }

  @Test func arborescenceContractsANestedCycle() throws {
    // A three-cycle 1 → 2 → 3 → 1 (costs 1) whose cheapest entry is at 3 (from 0, cost 4) after
    // the saving: entering at 1 costs 8 − 1, at 2 costs 9 − 1, at 3 costs 4 − 1.
    let arcs = [
      Arc(from: 1, to: 2, cost: 1), Arc(from: 2, to: 3, cost: 1), Arc(from: 3, to: 1, cost: 1), Arc(from: 0, to: 1, cost: 8),
      Arc(from: 0, to: 2, cost: 9), Arc(from: 0, to: 3, cost: 4), Arc(from: 3, to: 4, cost: 2), Arc(from: 0, to: 4, cost: 1),
    ]
    let result = try SpanningTrees.minimumArborescence(nodeCount: 5, root: 0, arcs: arcs)
    #expect(parents(result) == [nil, 3, 1, 0, 0])
  }

  @Test func arborescenceMatchesBruteForceOnRandomGraphs() throws {
    var state: UInt64 = 0x9E37_79B9
    func next() -> Double {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Double(state >> 40 % 1000)
    }
    for _ in 0..<30 {
      let n = 5
      var arcs: [Arc] = []
      var cost = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
      for u in 0..<n {
        for v in 1..<n where u != v {
          cost[u][v] = next()
          arcs.append(Arc(from: u, to: v, cost: cost[u][v]))
        }
      }
      let got = try SpanningTrees.minimumArborescence(nodeCount: n, root: 0, arcs: arcs).compactMap { $0?.cost }.reduce(0, +)
      // Brute force: every parent assignment of nodes 1…4 that reaches the root without a cycle.
      var best = Double.infinity
      func search(_ v: Int, _ parent: [Int]) {
        guard v < n else {
          for start in 1..<n {
            var x = start
            var steps = 0
            while x != 0, steps <= n {
              x = parent[x]
              steps += 1
            }
            if x != 0 { return }
          }
          best = min(best, (1..<n).reduce(0) { $0 + cost[parent[$1]][$1] })
          return
        }
        for p in 0..<n where p != v { search(v + 1, parent.enumerated().map { $0.offset == v ? p : $0.element }) }
      }
      search(1, [Int](repeating: 0, count: n))
      #expect(got == best)
    }
  }

  @Test func arborescenceRejectsAnUnreachableNode() {
    #expect(throws: ForensicsError.disconnected(operation: "minimum arborescence", node: 2)) {
      try SpanningTrees.minimumArborescence(nodeCount: 3, root: 0, arcs: [Arc(from: 0, to: 1, cost: 1)])
    }
  }
}
