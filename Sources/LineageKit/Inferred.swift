import LineageCore
import LineageForensics
import LineageSigning

/// A parent edge that `lineage infer --record` found from weights, kept apart from declared
/// parents (Docs/Forensics.md, "Recorded inferences").
public struct InferredEdge: Sendable, Equatable {
  public var parent: ObjectID
  public var child: ObjectID
  /// An infer relation (`quantized-from`, `adapter-of`, `finetuned-from`, …).
  public var relation: String
  /// Natural log of the unit-matching p-value against independence, when there was a test.
  public var logP: Double?
  public var directionBasis: String
  public var evidence: [String]
  /// The record that holds the edge.
  public var record: ObjectID
}

/// One `infer --record` verdict: the child and the parents found (possibly none).
public struct InferenceVerdict: Sendable {
  public var record: ObjectID
  public var child: ObjectID
  public var edges: [InferredEdge]
  public var author: String
  public var time: Int64
  public var signature: SignatureStatus
}

/// A candidate of `infer` with the commit it was read from.
public struct InferenceMatch: Sendable {
  public var commit: ObjectID
  public var candidate: InferredCandidate
}

extension Repository {
  /// The log of recorded inferences: a chain of signed records, like the quarantine log.
  public static let inferredRef = "refs/inferred"

  /// The newest inference record, if any.
  public func inferredHead() throws -> ObjectID? { try wrap { try store.refs.read(Self.inferredRef) } }

  /// Record `child`'s inferred parents (the matches in which the child is derived from the
  /// candidate) as a signed record on `refs/inferred`; a later record for the same child
  /// replaces it. A verdict with no parent is recorded too: the model was examined.
  public func recordInference(
    child: ObjectID, matches: [InferenceMatch], author: String, time: Int64, key: SSHPrivateKey?
  ) throws -> (record: ObjectID, edges: Int) {
    let kept: Set<Relation> = [.quantizedFrom, .prunedFrom, .adapterOf, .mergeOf, .finetunedFrom]
    let parents = matches.filter { kept.contains($0.candidate.relation) && $0.candidate.queryIsChild == true }
    func text(_ x: Double?) -> JSONValue { x.map { .string($0.isFinite ? String(format: "%.6g", $0) : "nan") } ?? .null }
    let edges: [JSONValue] = parents.map { m in
      var fields: [(String, JSONValue)] = [
        ("parent", .string(m.commit.hex)), ("relation", .string(m.candidate.relation.rawValue)), ("log_p", text(m.candidate.logP)),
        ("direction_basis", .string(m.candidate.directionBasis)), ("evidence", .array(m.candidate.evidence.map { .string($0) })),
      ]
      if let w = m.candidate.mergeWeight { fields.append(("merge_weight", text(w))) }
      if let r = m.candidate.adapterRank { fields.append(("adapter_rank", .number(String(r)))) }
      return .object(fields)
    }
    let id = try appendRecord(
      to: Self.inferredRef, role: "inferred-log", message: "infer: \(parents.count) inferred parent(s) of \(child.short)",
      params: .object([("inferred", .object([("child", .string(child.hex)), ("edges", .array(edges))]))]), author: author, time: time,
      key: key, operation: "infer --record")
    return (id, parents.count)
  }

  /// The current verdict of every examined child (the newest record per child wins).
  public func inferenceVerdicts(signers: AllowedSigners? = nil) throws -> [ObjectID: InferenceVerdict] {
    var out: [ObjectID: InferenceVerdict] = [:]
    var next = try inferredHead()
    while let id = next {
      let r = try commit(id)
      next = r.parents.first?.id
      guard let v = r.params?["inferred"], let childText = v["child"]?.stringValue, let child = ObjectID(hex: childText),
        let edgeValues = v["edges"]?.arrayValue
      else { throw KitError.corruptObject(id, reason: "an inference record without params.inferred") }
      guard out[child] == nil else { continue }
      let edges = try edgeValues.map { e -> InferredEdge in
        guard let p = e["parent"]?.stringValue.flatMap(ObjectID.init(hex:)), let relation = e["relation"]?.stringValue else {
          throw KitError.corruptObject(id, reason: "an inferred edge without parent or relation")
        }
        return InferredEdge(
          parent: p, child: child, relation: relation, logP: e["log_p"]?.stringValue.flatMap(Double.init),
          directionBasis: e["direction_basis"]?.stringValue ?? "", evidence: e["evidence"]?.arrayValue?.compactMap(\.stringValue) ?? [],
          record: id)
      }
      out[child] = InferenceVerdict(
        record: id, child: child, edges: edges, author: r.author, time: r.time, signature: Self.checkSignature(r, signers: signers).status)
    }
    return out
  }

  /// Every current inferred edge.
  public func inferredEdges() throws -> [InferredEdge] {
    try inferenceVerdicts().values.flatMap(\.edges).sorted { ($0.child.hex, $0.parent.hex) < ($1.child.hex, $1.parent.hex) }
  }
}
