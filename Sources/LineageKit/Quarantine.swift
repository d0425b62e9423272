import Foundation
import LineageCore
import LineageSigning
import LineageStore

/// What a quarantine applies to (Docs/Policy.md).
public enum QuarantineTarget: Equatable, Hashable, Sendable, CustomStringConvertible {
  case commit(ObjectID)
  case dataDigest(String)
  case dataURI(String)

  /// The normalised text kept in the record.
  public var description: String {
    switch self {
    case .commit(let id): return id.hex
    case .dataDigest(let d): return d
    case .dataURI(let u): return u
    }
  }
}

/// One quarantine action from the log.
public struct QuarantineEntry: Sendable {
  public var record: ObjectID
  public var action: String
  public var target: QuarantineTarget
  public var reason: String
  public var author: String
  public var time: Int64
  public var signature: SignatureStatus
}

extension Repository {
  static let quarantineRef = "refs/quarantine"

  /// Read a target: `sha256:HEX` (data), a URI with `://` (data source), else a revision.
  public func quarantineTarget(_ text: String) throws -> QuarantineTarget {
    if text.lowercased().hasPrefix("sha256:") {
      let d = text.lowercased()
      guard DataRef.isValidDigest(d) else { throw KitError.invalidRecord("\(text) is not sha256: and 64 hex digits") }
      return .dataDigest(d)
    }
    if text.contains("://") { return .dataURI(text) }
    return .commit(try resolve(text))
  }

  /// Append a quarantine action to the log (signed when `key` is given) and move the ref.
  public func quarantine(
    _ action: String, _ target: QuarantineTarget, reason: String, author: String, time: Int64, key: SSHPrivateKey?
  ) throws -> ObjectID {
    precondition(action == "add" || action == "remove")
    return try appendRecord(
      to: Self.quarantineRef, role: "quarantine-log", message: reason,
      params: .object([("quarantine", .object([("action", .string(action)), ("target", .string(target.description))]))]), author: author,
      time: time, key: key, operation: "quarantine \(action)")
  }

  /// Append a record to a chain of records on `ref` (the quarantine log, recorded inferences):
  /// a commit record with an empty tree whose first parent (in `role`) is the previous head,
  /// signed when `key` is given; the ref moves by compare-and-swap in one op-log entry.
  func appendRecord(
    to ref: String, role: String, message: String, params: JSONValue, author: String, time: Int64, key: SSHPrivateKey?, operation: String,
    files: [(path: String, bytes: [UInt8])] = []
  ) throws -> ObjectID {
    let lock = try wrap { try store.lock(exclusive: false) }
    defer { withExtendedLifetime(lock) {} }
    try wrap { try objects.reload() }
    let previous = try wrap { try store.refs.read(ref) }
    let writer = objects.writer()
    var entries: [TreeEntry] = []
    if !files.isEmpty {
      // Each file is stored as a commit stores it (tensor-aware when it is a model file).
      let scratch = "\(root)/.lineage/tmp"
      try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
      for f in files {
        let tmp = "\(scratch)/record-\(UUID().uuidString.lowercased())-\(f.path)"
        try Self.writeFile(f.bytes, to: tmp)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let handle = try InputHandle(path: tmp)
        let ingest = FileIngest(repository: self, handle: handle, writer: writer, parentTensors: [:], progress: SilentProgress())
        let (format, regions) = try storageLayout(InputFile(absolute: tmp, treePath: f.path, executable: false), handle: handle, external: [:])
        entries.append(TreeEntry(path: f.path, mode: TreeEntry.regular, file: try ingest.run(format: format, regions: regions).0))
      }
    }
    let treeObject: TreeObject
    do { treeObject = try TreeObject(entries: entries) } catch { throw KitError.invalidPath("\(error)") }
    let tree = try wrap { try writer.addMetadata(.tree, content: treeObject.encoded()) }
    var record = CommitRecord(
      tree: tree, parents: previous.map { [ParentRef(id: $0, role: role, relation: .other)] } ?? [], author: author, time: time,
      message: message)
    record.params = params
    if let key { record.signature = try sign(record, with: key) }
    let content: [UInt8]
    do { content = try record.encoded() } catch { throw KitError.invalidRecord("\(error)") }
    let id = try wrap { try writer.addMetadata(.commit, content: content) }
    try wrap { try writer.finish() }
    let update = RefUpdate(ref: ref, expected: previous.map { .value($0) } ?? .absent, new: id)
    try wrap { try store.refs.transaction(op: operation, updates: [update], time: time) }
    return id
  }

  /// The newest quarantine record, if any.
  public func quarantineHead() throws -> ObjectID? { try wrap { try store.refs.read(Self.quarantineRef) } }

  /// Every quarantine action, oldest first.
  public func quarantineLog(signers: AllowedSigners?) throws -> [QuarantineEntry] {
    var out: [QuarantineEntry] = []
    var next = try wrap { try store.refs.read(Self.quarantineRef) }
    while let id = next {
      let r = try commit(id)
      guard let q = r.params?["quarantine"], let action = q["action"]?.stringValue, let text = q["target"]?.stringValue else {
        throw KitError.corruptObject(id, reason: "a quarantine record without params.quarantine")
      }
      let target: QuarantineTarget =
        text.hasPrefix("sha256:") ? .dataDigest(text) : text.contains("://") ? .dataURI(text)
        : try ObjectID(hex: text).map { .commit($0) } ?? { throw KitError.corruptObject(id, reason: "quarantine target \(text)") }()
      out.append(
        QuarantineEntry(
          record: id, action: action, target: target, reason: r.message, author: r.author, time: r.time,
          signature: Self.checkSignature(r, signers: signers).status))
      next = r.parents.first?.id
    }
    return out.reversed()
  }

  /// Targets quarantined now, with the entry that added them.
  public func activeQuarantines() throws -> [QuarantineTarget: QuarantineEntry] {
    var active: [QuarantineTarget: QuarantineEntry] = [:]
    for e in try quarantineLog(signers: nil) {
      if e.action == "add" { active[e.target] = e } else { active[e.target] = nil }
    }
    return active
  }

  /// Why `id` is refused by quarantine: it is or descends from a quarantined commit, or it or
  /// an ancestor was trained on quarantined data.
  func quarantineViolations(of id: ObjectID, active: [QuarantineTarget: QuarantineEntry]) throws -> [PolicyViolation] {
    guard !active.isEmpty else { return [] }
    var out: [PolicyViolation] = []
    try visitAncestry(of: id) { a, r in
      var hits: [(QuarantineEntry, String)] = []
      if let e = active[.commit(a)] { hits.append((e, a == id ? "is quarantined" : "descends from quarantined \(a.short)")) }
      for d in r.data {
        let whose = a == id ? "trained on" : "descends from \(a.short), trained on"
        if let e = active[.dataDigest(d.digest)] { hits.append((e, "\(whose) quarantined data \(d.digest.prefix(19))… (\(d.uri))")) }
        if let e = active[.dataURI(d.uri)] { hits.append((e, "\(whose) quarantined data source \(d.uri)")) }
      }
      for (e, what) in hits {
        out.append(
          PolicyViolation(
            rule: "quarantine", message: "\(what): \(e.reason) (quarantined by \(e.author))",
            fix: "rebuild from an unquarantined ancestor, or lift it: lineage quarantine remove \(e.target)"))
      }
    }
    return out
  }
}
