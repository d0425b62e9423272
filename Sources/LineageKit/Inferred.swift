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

  /// What `recordForest` wrote: one record per member of the forest (the member as child, its
  /// inferred parents as edges, possibly none), and the members it left out with the reason.
  public struct ForestRecording: Sendable {
    public var records: [(child: ObjectID, record: ObjectID, edges: Int)]
    public var skipped: [(label: String, reason: String)]
  }

  /// Record the forest `infer --all` recovered: for each member a signed record on
  /// `refs/inferred` in the format of `recordInference` (Docs/Forensics.md, "Recorded
  /// inferences"), whose edges are the forest edges with that member as child (its tree parent, or
  /// its merge parents), each with its placement and direction confidence; an `identical` edge is
  /// left out and reported, as `recordInference` leaves it out. A family root gets a record
  /// without edges: it was examined and no parent was found. A later record for the same
  /// child replaces an older one, from `infer` or `infer --all`. Members whose child commit is
  /// not in `report.members` are skipped with the reason (none are, for a report of `inferForest`).
  public func recordForest(_ report: ForestReport, author: String, time: Int64, key: SSHPrivateKey?) throws -> ForestRecording {
    let f = report.forest
    func text(_ x: Double?) -> JSONValue { x.map { .string($0.isFinite ? String(format: "%.6g", $0) : "nan") } ?? .null }
    var byChild: [Int: [ForestEdge]] = [:]
    for e in f.edges { byChild[e.child, default: []].append(e) }
    var out = ForestRecording(records: [], skipped: [])
    for (i, node) in f.nodes.enumerated() {
      guard report.members.indices.contains(i) else {
        out.skipped.append((node.label, "not a stored commit: only stored models can be recorded"))
        continue
      }
      let child = report.members[i].commit
      let priors = report.priors ? "declared parents and commit times as priors" : "weights only"
      let edges: [JSONValue] = (byChild[i] ?? []).compactMap { e in
        guard report.members.indices.contains(e.parent) else {
          out.skipped.append((node.label, "parent \(f.nodes[e.parent].label) is not a stored commit"))
          return nil
        }
        // As in `recordInference`: an identical copy is not a parent edge.
        guard e.relation != .identical else {
          out.skipped.append((node.label, "identical to \(f.nodes[e.parent].label): not a parent edge, as in infer --record"))
          return nil
        }
        let basis =
          e.relation == .mergeOf
          ? "infer --all: merge fit (\(priors))"
          : String(format: "infer --all: scored root of the family, direction confidence %.2f (%@)", e.directionConfidence, priors)
        var fields: [(String, JSONValue)] = [
          ("parent", .string(report.members[e.parent].commit.hex)), ("relation", .string(e.relation.rawValue)), ("log_p", text(e.logP)),
          ("direction_basis", .string(basis)), ("evidence", .array(e.evidence.map { .string($0) })),
          ("placement_confidence", text(e.placementConfidence)), ("direction_confidence", text(e.directionConfidence)),
        ]
        if let w = e.mergeWeight { fields.append(("merge_weight", text(w))) }
        return .object(fields)
      }
      let id = try appendRecord(
        to: Self.inferredRef, role: "inferred-log", message: "infer --all: \(edges.count) inferred parent(s) of \(child.short)",
        params: .object([("inferred", .object([("child", .string(child.hex)), ("edges", .array(edges))]))]), author: author, time: time,
        key: key, operation: "infer --all --record")
      out.records.append((child, id, edges.count))
    }
    return out
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
