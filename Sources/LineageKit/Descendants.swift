import LineageCore

/// One edge of inheritance: `child` declares `parent` with `relation`.
public struct InheritanceStep: Equatable, Sendable {
  public var parent: ObjectID
  public var child: ObjectID
  public var relation: ParentRelation?
  /// The infer relation of an edge recorded by `lineage infer --record`; nil for a declared parent.
  public var inferred: String? = nil
}

/// A commit that inherits from the start of a `descendants` query.
public struct Descendant: Sendable {
  public var id: ObjectID
  public var record: CommitRecord
  /// The last step of its nearest path from a root: its parent on that path and the relation.
  public var via: InheritanceStep
  /// Steps from the root.
  public var depth: Int
  /// The root it inherits from.
  public var root: ObjectID
}

/// Every commit that inherits from a commit, or from training data.
public struct DescendantsReport: Sendable {
  /// What was asked: a commit id or a `sha256:` data digest.
  public var query: String
  /// The commit asked about, or the commits whose records list the data digest.
  public var roots: [(id: ObjectID, record: CommitRecord, data: DataRef?)]
  /// Descendants of the roots through declared parents, nearest first (roots excluded).
  public var descendants: [Descendant]

  /// Each descendant's last step, by id.
  var via: [ObjectID: InheritanceStep] = [:]

  /// The nearest path from a root to `id`, in order (empty for a root).
  public func path(to id: ObjectID) -> [InheritanceStep] {
    var steps: [InheritanceStep] = []
    var at = id
    while let step = via[at] {
      steps.append(step)
      at = step.parent
    }
    return steps.reversed()
  }
}

extension Repository {
  /// Every commit reachable from a branch or tag that inherits from `spec`: a revision, or
  /// `sha256:HEX`, a data digest (the commits trained on that data, and everything descended
  /// from them). Inheritance follows declared parents, and with `followInferred` also the edges
  /// `lineage infer --record` stored (marked as inferred).
  public func descendants(of spec: String, followInferred: Bool = false) throws -> DescendantsReport {
    let all = try ancestry(from: try allRefTargets(), skipDamaged: true)
    var children: [ObjectID: [InheritanceStep]] = [:]
    for c in all {
      for p in c.record.parents {
        children[p.id, default: []].append(InheritanceStep(parent: p.id, child: c.id, relation: p.relation))
      }
    }
    if followInferred {
      for e in try inferredEdges() where !(children[e.parent] ?? []).contains(where: { $0.child == e.child }) {
        children[e.parent, default: []].append(InheritanceStep(parent: e.parent, child: e.child, relation: nil, inferred: e.relation))
      }
    }
    var roots: [(id: ObjectID, record: CommitRecord, data: DataRef?)] = []
    if spec.hasPrefix("sha256:") {
      let digest = spec.lowercased()
      guard DataRef.isValidDigest(digest) else { throw KitError.invalidRecord("\(spec) is not sha256: and 64 hex digits") }
      // Oldest first, so that a root's own descendants that also list the data stay roots.
      for c in all.reversed() {
        if let d = c.record.data.first(where: { $0.digest == digest }) { roots.append((c.id, c.record, d)) }
      }
    } else {
      let id = try resolve(spec)
      roots.append((id, try commit(id), nil))
    }
    // Breadth first from all roots at once: each descendant gets its nearest root and path.
    var seen = Set(roots.map(\.id))
    var queue: [(ObjectID, ObjectID, Int)] = roots.map { ($0.id, $0.id, 0) }
    var out: [Descendant] = []
    let records = Dictionary(all.map { ($0.id, $0.record) }, uniquingKeysWith: { a, _ in a })
    var head = 0
    while head < queue.count {
      let (id, root, depth) = queue[head]
      head += 1
      for step in children[id] ?? [] where !seen.contains(step.child) {
        seen.insert(step.child)
        guard let record = records[step.child] else { continue }
        out.append(Descendant(id: step.child, record: record, via: step, depth: depth + 1, root: root))
        queue.append((step.child, root, depth + 1))
      }
    }
    var report = DescendantsReport(query: spec, roots: roots, descendants: out)
    report.via = Dictionary(out.map { ($0.id, $0.via) }, uniquingKeysWith: { a, _ in a })
    return report
  }
}
