/// Spanning trees over small dense graphs (Docs/Forensics.md, "infer --all"): Prim's undirected
/// minimum spanning tree and Chu–Liu/Edmonds' minimum spanning arborescence.
public enum SpanningTrees {
  /// An undirected edge of a spanning tree: the two node indices (a < b) and its cost.
  public struct Edge: Equatable, Sendable {
    public var a: Int
    public var b: Int
    public var cost: Double
    public init(a: Int, b: Int, cost: Double) {
      self.a = min(a, b)
      self.b = max(a, b)
      self.cost = cost
    }
  }

  /// A directed edge `from → to` (parent → child) with its cost.
  public struct Arc: Equatable, Sendable {
    public var from: Int
    public var to: Int
    public var cost: Double
    public init(from: Int, to: Int, cost: Double) {
      self.from = from
      self.to = to
      self.cost = cost
    }
  }

  /// The minimum spanning tree of `nodes` under the symmetric cost `cost(i, j)` (Prim, O(n²)):
  /// n − 1 edges, ties broken towards the lower node index so the result is deterministic.
  /// Costs must be finite; an empty or one-node set has no edge.
  public static func minimumSpanningTree(nodes: [Int], cost: (Int, Int) -> Double) throws(ForensicsError) -> [Edge] {
    guard nodes.count > 1 else { return [] }
    var inTree = [Bool](repeating: false, count: nodes.count)
    var best = [Double](repeating: .infinity, count: nodes.count)
    var link = [Int](repeating: -1, count: nodes.count)
    var edges: [Edge] = []
    best[0] = 0
    for _ in 0..<nodes.count {
      var k = -1
      for i in nodes.indices where !inTree[i] && (k < 0 || best[i] < best[k]) { k = i }
      guard k >= 0 else { break }
      inTree[k] = true
      if link[k] >= 0 { edges.append(Edge(a: nodes[link[k]], b: nodes[k], cost: best[k])) }
      for j in nodes.indices where !inTree[j] {
        let c = cost(nodes[k], nodes[j])
        guard c.isFinite else { throw .nonFinite(operation: "minimum spanning tree", input: "cost", index: nodes[j]) }
        if c < best[j] {
          best[j] = c
          link[j] = k
        }
      }
    }
    return edges
  }

  /// The minimum-cost spanning arborescence rooted at `root` over nodes 0..<n (Chu–Liu/Edmonds,
  /// O(n·m)): `parent[v]` is the chosen arc into v, nil for the root. Every node must be reachable
  /// from the root; self-arcs and arcs into the root are ignored.
  ///
  /// Each non-root node takes its cheapest incoming arc; if those arcs form no cycle they are the
  /// answer. Otherwise every cycle is contracted into one node, an arc entering the cycle at v costs
  /// its cost minus the cost of v's cycle arc (the saving of breaking the cycle there), the smaller
  /// graph is solved, and the cycle is expanded again by keeping all its arcs but the one into the
  /// node its chosen entering arc reaches.
  public static func minimumArborescence(nodeCount n: Int, root: Int, arcs: [Arc]) throws(ForensicsError) -> [Arc?] {
    guard n > 0, root >= 0, root < n else { throw .empty(operation: "minimum arborescence", input: "nodes") }
    if let i = arcs.firstIndex(where: { !$0.cost.isFinite }) { throw .nonFinite(operation: "minimum arborescence", input: "cost", index: i) }
    let usable = arcs.filter { $0.from != $0.to && $0.to != root && $0.from >= 0 && $0.from < n && $0.to >= 0 && $0.to < n }
    let chosen = try solve(n: n, root: root, arcs: usable.indices.map { (from: usable[$0].from, to: usable[$0].to, cost: usable[$0].cost, origin: $0) })
    var parent = [Arc?](repeating: nil, count: n)
    for i in chosen { parent[usable[i].to] = usable[i] }
    return parent
  }

  /// One level of Chu–Liu/Edmonds; returns the `origin`s of the chosen arcs.
  static func solve(n: Int, root: Int, arcs: [(from: Int, to: Int, cost: Double, origin: Int)]) throws(ForensicsError) -> [Int] {
    // Cheapest incoming arc of every node (index into `arcs`); ties to the first listed.
    var incoming = [Int](repeating: -1, count: n)
    for (i, a) in arcs.enumerated() where a.to != root && a.from != a.to {
      if incoming[a.to] < 0 || a.cost < arcs[incoming[a.to]].cost { incoming[a.to] = i }
    }
    for v in 0..<n where v != root && incoming[v] < 0 {
      throw .disconnected(operation: "minimum arborescence", node: v)
    }
    // Find the cycles among the chosen arcs (each node has one predecessor).
    var cycleOf = [Int](repeating: -1, count: n)
    var state = [Int](repeating: 0, count: n)  // 0 unvisited, 1 on the current walk, 2 done
    var cycles = 0
    for start in 0..<n where state[start] == 0 {
      var walk: [Int] = []
      var v = start
      while v != root, state[v] == 0 {
        state[v] = 1
        walk.append(v)
        v = arcs[incoming[v]].from
      }
      if v != root, state[v] == 1 {
        // v closes a cycle: the walk from v's position on.
        var u = v
        repeat {
          cycleOf[u] = cycles
          u = arcs[incoming[u]].from
        } while u != v
        cycles += 1
      }
      for w in walk { state[w] = 2 }
    }
    guard cycles > 0 else { return (0..<n).filter { $0 != root }.map { arcs[incoming[$0]].origin } }
    // Contract: cycle c becomes node c; every other node gets a number after the cycles.
    var component = [Int](repeating: -1, count: n)
    var next = cycles
    for v in 0..<n {
      if cycleOf[v] >= 0 {
        component[v] = cycleOf[v]
      } else {
        component[v] = next
        next += 1
      }
    }
    var contracted: [(from: Int, to: Int, cost: Double, origin: Int)] = []
    var reference: [Int] = []  // index into `arcs` of each contracted arc
    for (i, a) in arcs.enumerated() {
      let (cu, cv) = (component[a.from], component[a.to])
      guard cu != cv, a.to != root else { continue }
      let saving = cycleOf[a.to] >= 0 ? arcs[incoming[a.to]].cost : 0
      contracted.append((cu, cv, a.cost - saving, contracted.count))
      reference.append(i)
    }
    let inner = try solve(n: next, root: component[root], arcs: contracted)
    var result: [Int] = []
    var entered = Set<Int>()
    for k in inner {
      let a = arcs[reference[k]]
      result.append(a.origin)
      if cycleOf[a.to] >= 0 { entered.insert(a.to) }
    }
    // Keep every cycle arc except the one into the node where the cycle is entered.
    for v in 0..<n where cycleOf[v] >= 0 && !entered.contains(v) { result.append(arcs[incoming[v]].origin) }
    return result
  }
}
