/// Collects the tensors of a graph and its subgraphs, gives each a unique name, and infers
/// Hugging Face–style parameter names from the nodes that consume them.
struct GraphWalk {
  /// A tensor found in the model, in listing order: per graph, its initializers, then its nodes'
  /// attribute tensors and subgraphs depth-first.
  struct Found {
    var tensor: ONNXParser.Tensor
    /// The value name (initializer name, Constant output) or attribute path.
    var rawName: String
    /// The subgraph path, "" for the main graph, else ending in "/" ("If_0/then_branch/").
    var scope: String
    var depth: Int
    /// An initializer or a Constant's output: a value nodes consume by name.
    var isValue: Bool
  }

  struct NodeRef {
    var name: String
    var opType: String
    var inputs: [String]
  }

  private(set) var found: [Found] = []
  private var nodes: [NodeRef] = []
  private var consumers: [String: [(node: Int, input: Int)]] = [:]
  private var producers: [String: Int] = [:]

  mutating func visit(_ graph: ONNXParser.Graph, scope: String, depth: Int) throws {
    var seen = Set<String>()
    for t in graph.initializers {
      guard !t.name.isEmpty else { throw ONNXError.unnamedInitializer(graph: graph.name, offset: t.offset) }
      guard seen.insert(t.name).inserted else { throw ONNXError.duplicateInitializer(name: t.name, graph: graph.name) }
      found.append(Found(tensor: t, rawName: t.name, scope: scope, depth: depth, isValue: true))
    }
    for (k, node) in graph.nodes.enumerated() {
      let index = nodes.count
      let standard = node.domain.isEmpty || node.domain == "ai.onnx"
      nodes.append(NodeRef(name: node.name, opType: standard ? node.opType : "\(node.domain).\(node.opType)", inputs: node.inputs))
      for (i, input) in node.inputs.enumerated() where !input.isEmpty { consumers[input, default: []].append((index, i)) }
      for output in node.outputs where !output.isEmpty { producers[output] = index }
      let label = !node.name.isEmpty ? node.name : node.outputs.first(where: { !$0.isEmpty }) ?? "\(node.opType)_\(k)"
      for a in node.attributes {
        if let t = a.t {
          let isConstant = standard && node.opType == "Constant" && !(node.outputs.first ?? "").isEmpty
          let name = isConstant ? node.outputs[0] : "\(label)/\(a.name)"
          found.append(Found(tensor: t, rawName: name, scope: scope, depth: depth, isValue: isConstant))
        }
        for (i, t) in a.tensors.enumerated() {
          found.append(Found(tensor: t, rawName: "\(label)/\(a.name)/\(i)", scope: scope, depth: depth, isValue: false))
        }
        if let g = a.g { try visit(g, scope: "\(scope)\(label)/\(a.name)/", depth: depth + 1) }
        for (i, g) in a.graphs.enumerated() { try visit(g, scope: "\(scope)\(label)/\(a.name)/\(i)/", depth: depth + 1) }
      }
    }
  }

  /// Unique names for `found`, index for index. Outer graphs choose first (by depth, then listing
  /// order), so a main-graph tensor keeps its own name; a later tensor whose name is taken gets
  /// its subgraph path as a prefix, and then "#2", "#3", … until unique.
  func assignNames() -> [String] {
    var names = [String](repeating: "", count: found.count)
    var used = Set<String>()
    // The next suffix to try per base name, so that many tensors of one name cost linear time.
    var nextSuffix: [String: Int] = [:]
    let order = found.indices.sorted { (found[$0].depth, $0) < (found[$1].depth, $1) }
    for k in order {
      var name = found[k].rawName
      if used.contains(name), !found[k].scope.isEmpty { name = found[k].scope + name }
      if used.contains(name) {
        var n = nextSuffix[name, default: 2]
        while used.contains("\(name)#\(n)") { n += 1 }
        nextSuffix[name] = n + 1
        name = "\(name)#\(n)"
      }
      used.insert(name)
      names[k] = name
    }
    return names
  }

  /// Tensor name → parameter name, for the values the rule in Docs/Formats-ONNX.md covers.
  /// A parameter name two tensors would share is given to neither.
  func parameterNames(names: [String]) -> [String: String] {
    var claims: [String: [String]] = [:]
    for (k, f) in found.enumerated() where f.isValue && names[k] == f.rawName {
      if let p = Self.parameterName(f.rawName, uses: consumers[f.rawName] ?? [], nodes: nodes, producers: producers) {
        claims[p, default: []].append(f.rawName)
      }
    }
    var out: [String: String] = [:]
    for (parameter, tensors) in claims where tensors.count == 1 { out[tensors[0]] = parameter }
    return out
  }

  static func parameterName(_ value: String, uses: [(node: Int, input: Int)], nodes: [NodeRef], producers: [String: Int]) -> String? {
    if isParameterPath(value) { return value }
    guard uses.count == 1 else { return nil }
    let node = nodes[uses[0].node]
    let input = uses[0].input
    guard let module = modulePath(node.name) else { return nil }
    switch (node.opType, input) {
    case ("MatMul", 1), ("Gemm", 1), ("Conv", 1), ("ConvTranspose", 1), ("Gather", 0): return module + ".weight"
    case ("Gemm", 2), ("Conv", 2), ("ConvTranspose", 2): return module + ".bias"
    case ("Add", 0), ("Add", 1):
      guard node.inputs.count == 2, let p = producers[node.inputs[1 - input]], nodes[p].opType == "MatMul",
        modulePath(nodes[p].name) == module
      else { return nil }
      return module + ".bias"
    default: return nil
    }
  }

  /// "/model/layers.0/mlp/up_proj/MatMul" → "model.layers.0.mlp.up_proj": the node's module
  /// path, without the op suffix; nil unless the name is a "/"-path of non-empty components.
  static func modulePath(_ nodeName: String) -> String? {
    let parts = nodeName.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count >= 3, parts[0].isEmpty, parts.dropFirst().allSatisfy({ !$0.isEmpty }) else { return nil }
    return parts.dropFirst().dropLast().joined(separator: ".")
  }

  /// A name already spelled as a parameter path: identifiers joined by ".", at least two parts,
  /// the first not starting with a digit ("model.layers.0.mlp.up_proj.weight").
  static func isParameterPath(_ name: String) -> Bool {
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count >= 2, let first = parts[0].utf8.first, !(0x30...0x39).contains(first) else { return false }
    return parts.allSatisfy { part in
      !part.isEmpty && part.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }
  }
}
