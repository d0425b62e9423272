import LineageCore
import LineageStore

/// A branch or tag and the commit it names.
public struct NamedRef: Sendable, Equatable {
  public var name: String
  public var commit: ObjectID
  public init(name: String, commit: ObjectID) {
    self.name = name
    self.commit = commit
  }
}

extension Repository {
  /// Tags, sorted by name.
  public func tags() throws -> [NamedRef] { try refs(under: "refs/tags/") }

  /// Branches, sorted by name.
  public func branches() throws -> [NamedRef] { try refs(under: "refs/heads/") }

  private func refs(under prefix: String) throws -> [NamedRef] {
    try wrap { try store.refs.list() }.filter { $0.ref.hasPrefix(prefix) }.map {
      NamedRef(name: String($0.ref.dropFirst(prefix.count)), commit: $0.id)
    }
  }

  /// Create a tag at a revision; tags never move, so an existing name is refused.
  @discardableResult
  public func createTag(_ name: String, at revision: String, time: Int64) throws -> ObjectID {
    guard RefStore.isValidName(name) else { throw KitError.invalidName(name) }
    let id = try resolve(revision)
    try update(op: "tag", RefUpdate(ref: "refs/tags/\(name)", expected: .absent, new: id), time: time, exists: KitError.tagExists(name))
    return id
  }

  /// Delete a tag (the op log keeps what it named).
  public func deleteTag(_ name: String, time: Int64) throws -> ObjectID {
    guard let id = try wrap({ try store.refs.read("refs/tags/\(name)") }) else { throw KitError.unknownRevision(name) }
    try update(op: "tag -d", RefUpdate(ref: "refs/tags/\(name)", expected: .value(id), new: nil), time: time, exists: nil)
    return id
  }

  /// Create a branch at a revision.
  @discardableResult
  public func createBranch(_ name: String, at revision: String, time: Int64) throws -> ObjectID {
    guard RefStore.isValidName(name) else { throw KitError.invalidName(name) }
    let id = try resolve(revision)
    try update(
      op: "branch", RefUpdate(ref: "refs/heads/\(name)", expected: .absent, new: id), time: time,
      exists: KitError.branchExists(name))
    return id
  }

  /// Delete a branch other than the current one (the op log keeps what it named).
  public func deleteBranch(_ name: String, time: Int64) throws -> ObjectID {
    if try currentBranch() == name { throw KitError.currentBranch(name) }
    guard let id = try wrap({ try store.refs.read("refs/heads/\(name)") }) else { throw KitError.unknownRevision(name) }
    try update(op: "branch -d", RefUpdate(ref: "refs/heads/\(name)", expected: .value(id), new: nil), time: time, exists: nil)
    return id
  }

  /// Point HEAD at a branch: an existing one, or a new one created at `startingAt`.
  public func switchBranch(_ name: String, create startingAt: String?, time: Int64) throws {
    guard RefStore.isValidName(name) else { throw KitError.invalidName(name) }
    let exists = try wrap { try store.refs.read("refs/heads/\(name)") } != nil
    if let start = startingAt {
      if exists { throw KitError.branchExists(name) }
      try createBranch(name, at: start, time: time)
    } else if !exists {
      throw KitError.unknownRevision(name)
    }
    try wrap { try store.refs.setHead("refs/heads/\(name)") }
  }

  /// The operation log, newest first: every ref change with the old and new value.
  public func operations(limit: Int) throws -> [OpLogEntry] {
    Array(try wrap { try store.refs.opLog() }.entries.reversed().prefix(limit))
  }

  private func update(op: String, _ u: RefUpdate, time: Int64, exists: KitError?) throws {
    do {
      try store.refs.transaction(op: op, updates: [u], time: time)
    } catch StoreError.refConflict where exists != nil {
      throw exists ?? KitError.invalidName(u.ref)
    } catch let e as StoreError {
      throw KitError.store(e)
    }
  }
}
