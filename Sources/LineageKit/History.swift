import Foundation
import LineageCore
import LineageSigning
import LineageStore

/// Which commits `log` shows.
public struct LogFilter: Sendable {
  public var limit: Int = .max
  /// Case-insensitive substring of the author.
  public var author: String?
  /// Only commits at or after this time (seconds since the epoch).
  public var since: Int64?
  /// Only commits with a parent of this relation.
  public var relation: ParentRelation?
  /// Follow only first parents (the default follows every parent, as git does).
  public var firstParent = false

  public init() {}

  func accepts(_ r: CommitRecord) -> Bool {
    if let author, !r.author.localizedCaseInsensitiveContains(author) { return false }
    if let since, r.time < since { return false }
    if let relation, !r.parents.contains(where: { $0.relation == relation }) { return false }
    return true
  }
}

/// The result of `verify`.
public struct VerifyReport: Sendable {
  public struct Commit: Sendable {
    public var id: ObjectID
    public var record: CommitRecord
    public var signature: SignatureCheck
  }
  /// Every commit reached, newest first.
  public var commits: [Commit]
  /// Missing or damaged objects (commits, trees, files, tensors, chunks, environment captures).
  public var problems: [FsckProblem]
  public var objectsChecked: Int
  /// Whether unsigned commits pass.
  public var allowUnsigned: Bool

  public func passes(_ c: Commit) -> Bool {
    switch c.signature.status {
    case .good: true
    case .unsigned: allowUnsigned
    default: false
    }
  }

  public var isOK: Bool { problems.isEmpty && commits.allSatisfy(passes) }
}

extension Repository {
  /// Commits reachable from `roots` through every parent, newest first: children always before
  /// their parents, otherwise by time (newest first), then id. Missing commits are skipped.
  ///
  /// With `skipDamaged`, commits that do not decode are left out instead of thrown (verify has
  /// reported them already).
  public func ancestry(from roots: [ObjectID], firstParent: Bool = false, skipDamaged: Bool = false) throws -> [CommitInfo] {
    var records: [ObjectID: CommitRecord] = [:]
    var stack = roots
    while let id = stack.popLast() {
      guard records[id] == nil, objects.location(of: id)?.type == .commit else { continue }
      let r: CommitRecord
      do { r = try commit(id) } catch where skipDamaged { continue }
      records[id] = r
      stack += firstParent ? Array(r.parents.prefix(1).map(\.id)) : r.parents.map(\.id)
    }
    // Kahn's algorithm over child → parent edges, choosing the newest ready commit each time.
    var pendingChildren: [ObjectID: Int] = [:]
    for (_, r) in records {
      for p in (firstParent ? Array(r.parents.prefix(1)) : r.parents) where records[p.id] != nil {
        pendingChildren[p.id, default: 0] += 1
      }
    }
    var ready = records.keys.filter { pendingChildren[$0, default: 0] == 0 }
    var out: [CommitInfo] = []
    func newer(_ a: ObjectID, _ b: ObjectID) -> Bool {
      let (ta, tb) = (records[a]?.time ?? 0, records[b]?.time ?? 0)
      return ta != tb ? ta > tb : a.hex < b.hex
    }
    while !ready.isEmpty {
      let k = ready.indices.min { newer(ready[$0], ready[$1]) } ?? 0
      let id = ready.remove(at: k)
      guard let r = records[id] else { continue }
      out.append(CommitInfo(id: id, record: r))
      for p in (firstParent ? Array(r.parents.prefix(1)) : r.parents) where records[p.id] != nil {
        pendingChildren[p.id, default: 0] -= 1
        if pendingChildren[p.id] == 0 { ready.append(p.id) }
      }
    }
    return out
  }

  /// History for `log`.
  public func log(from revision: String, filter: LogFilter) throws -> [CommitInfo] {
    let all = try ancestry(from: [resolve(revision)], firstParent: filter.firstParent)
    return Array(all.lazy.filter { filter.accepts($0.record) }.prefix(filter.limit))
  }

  /// Commit ids named by every branch and tag (for `graph` and `verify --all`).
  public func allRefTargets() throws -> [ObjectID] {
    Array(Set(try wrap { try store.refs.list() }.map(\.id))).sorted { $0.hex < $1.hex }
  }

  /// Check signatures against `signers` and re-hash every object reachable from the roots.
  public func verify(roots: [ObjectID], signers: AllowedSigners?, allowUnsigned: Bool, progress: ProgressSink = SilentProgress())
    throws -> VerifyReport
  {
    let lock = try wrap { try store.lock(exclusive: false) }
    defer { withExtendedLifetime(lock) {} }
    try wrap { try objects.reload() }
    var problems: [FsckProblem] = []
    let (reach, _, _) = reachable(from: roots, problems: &problems)
    let present = reach.compactMap { id in objects.location(of: id).map { (id, $0) } }
    problems += rehash(present, label: "Verifying objects", progress: progress)
    var commits: [VerifyReport.Commit] = []
    for c in try ancestry(from: roots, skipDamaged: true) {
      var check = Self.checkSignature(c.record, signers: signers)
      if case .bad = check.status {} else if let text = c.record.signature,
        let parsed = try? SSHSignature(armored: text), parsed.armored != text
      {
        check.status = .bad(reason: "the signature's armor is not in canonical form")
      }
      commits.append(VerifyReport.Commit(id: c.id, record: c.record, signature: check))
    }
    var unique: [String: FsckProblem] = [:]
    for p in problems where unique[p.kind.rawValue + p.subject] == nil { unique[p.kind.rawValue + p.subject] = p }
    return VerifyReport(
      commits: commits, problems: unique.values.sorted { ($0.kind.rawValue, $0.subject) < ($1.kind.rawValue, $1.subject) },
      objectsChecked: present.count, allowUnsigned: allowUnsigned)
  }

  /// The stored environment capture of a commit, as JSON.
  public func environmentCapture(_ record: CommitRecord) throws -> JSONValue? {
    guard let env = record.environment else { return nil }
    let bytes = try wrap { try objects.read(env.object, as: .chunk) }
    do { return try StrictJSONParser.parse(bytes) } catch {
      throw KitError.corruptObject(env.object, reason: "environment capture is not JSON")
    }
  }

  /// The exact bytes a commit's signature covers, and the armored signature.
  public func signedPayload(_ revision: String) throws -> (payload: [UInt8], signature: String?) {
    let r = try commit(try resolve(revision))
    do { return (try r.payload(), r.signature) } catch { throw KitError.invalidRecord("\(error)") }
  }
}
