import Foundation
import LineageCore

/// What a ref must hold for an update to apply (compare-and-swap).
public enum RefExpectation: Equatable, Sendable {
  /// Whatever it holds.
  case any
  /// The ref must not exist.
  case absent
  /// The ref must hold this id.
  case value(ObjectID)
}

/// One change in a ref transaction.
public struct RefUpdate: Equatable, Sendable {
  public var ref: String
  public var expected: RefExpectation
  /// The new value, or nil to delete.
  public var new: ObjectID?
  public init(ref: String, expected: RefExpectation, new: ObjectID?) {
    self.ref = ref
    self.expected = expected
    self.new = new
  }
}

/// One line of the operation log.
public struct OpLogEntry: Equatable, Sendable {
  public var time: Int64
  public var op: String
  public var updates: [(ref: String, old: ObjectID?, new: ObjectID?)]

  public static func == (a: OpLogEntry, b: OpLogEntry) -> Bool {
    a.time == b.time && a.op == b.op && a.updates.map { "\($0.ref) \($0.old?.hex ?? "-") \($0.new?.hex ?? "-")" }
      == b.updates.map { "\($0.ref) \($0.old?.hex ?? "-") \($0.new?.hex ?? "-")" }
  }
}

/// Branches, tags and HEAD, changed only through compare-and-swap transactions that each append
/// one op-log line, so that no ref value is ever silently lost.
public final class RefStore: @unchecked Sendable {
  public let directory: String
  private var tmp: String { "\(directory)/tmp" }

  public init(directory: String) { self.directory = directory }

  /// Whether `name` is a valid branch or tag name (git's rules, simplified).
  public static func isValidName(_ name: String) -> Bool {
    guard !name.isEmpty, name.utf8.count <= 200, !name.hasPrefix("-"), !name.hasSuffix(".lock"),
      !name.contains(".."), !name.contains("//"), !name.hasPrefix("/"), !name.hasSuffix("/"), name != "HEAD"
    else { return false }
    let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-/+"))
    return name.unicodeScalars.allSatisfy { $0.isASCII && allowed.contains($0) }
      && name.split(separator: "/").allSatisfy { !$0.hasPrefix(".") }
  }

  public static func validateRef(_ ref: String) throws {
    if ref == "refs/quarantine" || ref == "refs/inferred" || ref == "refs/incidents" || ref == "refs/blame" || ref == "refs/sketches" { return }
    for prefix in ["refs/heads/", "refs/tags/"] where ref.hasPrefix(prefix) {
      if isValidName(String(ref.dropFirst(prefix.count))) { return }
    }
    throw StoreError.invalidRefName(ref)
  }

  /// The branch HEAD points at, e.g. `refs/heads/main`.
  public func headRef() throws -> String {
    let path = "\(directory)/HEAD"
    let text = String(decoding: try POSIX.readWholeFile(path), as: UTF8.self)
    guard text.hasPrefix("ref: "), text.hasSuffix("\n") else { throw StoreError.corruptRef(ref: "HEAD", content: text) }
    let ref = String(text.dropFirst(5).dropLast())
    try Self.validateRef(ref)
    return ref
  }

  /// Hold `refs.lock`: ref transactions wait while it is held (gc holds it while sweeping).
  public func lock(timeout: Double = 60) throws -> FileLock {
    try FileLock(path: "\(directory)/refs.lock", exclusive: true, timeout: timeout)
  }

  /// Point HEAD at a branch (which need not exist yet).
  public func setHead(_ ref: String) throws {
    try Self.validateRef(ref)
    let held = try lock()
    try AtomicFile.write(Array("ref: \(ref)\n".utf8), to: "\(directory)/HEAD", tmpDirectory: tmp)
    withExtendedLifetime(held) {}
  }

  /// A ref's value, or nil when it does not exist.
  public func read(_ ref: String) throws -> ObjectID? {
    try Self.validateRef(ref)
    let path = "\(directory)/\(ref)"
    guard POSIX.exists(path) else { return nil }
    let text = String(decoding: try POSIX.readWholeFile(path), as: UTF8.self)
    guard text.hasSuffix("\n"), let id = ObjectID(hex: String(text.dropLast())) else {
      throw StoreError.corruptRef(ref: ref, content: text)
    }
    return id
  }

  /// All refs under `refs/heads/` and `refs/tags/`, sorted by name.
  public func list() throws -> [(ref: String, id: ObjectID)] {
    var out: [(String, ObjectID)] = []
    for kind in ["heads", "tags"] {
      let base = "\(directory)/refs/\(kind)"
      guard let walker = FileManager.default.enumerator(atPath: base) else { continue }
      var names: [String] = []
      while let rel = walker.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: "\(base)/\(rel)", isDirectory: &isDir), !isDir.boolValue {
          names.append(rel)
        }
      }
      for name in names.sorted() {
        let ref = "refs/\(kind)/\(name)"
        guard (try? Self.validateRef(ref)) != nil else { continue }
        if let id = try read(ref) { out.append((ref, id)) }
      }
    }
    return out
  }

  /// Apply all updates or none, under `refs.lock`, and append one op-log line.
  public func transaction(op: String, updates: [RefUpdate], time: Int64, lockTimeout: Double = 30)
    throws
  {
    for u in updates { try Self.validateRef(u.ref) }
    let lock = try FileLock(path: "\(directory)/refs.lock", exclusive: true, timeout: lockTimeout)
    var olds: [ObjectID?] = []
    for u in updates {
      let current = try read(u.ref)
      switch u.expected {
      case .any: break
      case .absent:
        if let current { throw StoreError.refConflict(ref: u.ref, expected: "absent", actual: current.hex) }
      case .value(let want):
        if current != want { throw StoreError.refConflict(ref: u.ref, expected: want.hex, actual: current?.hex ?? "absent") }
      }
      olds.append(current)
    }
    // A ref whose path clashes with another (refs/heads/x and refs/heads/x/y) fails here,
    // before the op log, and directories are made now, so the writes below can only fail on I/O.
    for u in updates where u.new != nil {
      let path = "\(directory)/\(u.ref)"
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw StoreError.refConflict(ref: u.ref, expected: "a name free of sub-refs", actual: "a directory of refs")
      }
      var parent = (u.ref as NSString).deletingLastPathComponent
      while parent.contains("/") {
        if FileManager.default.fileExists(atPath: "\(directory)/\(parent)", isDirectory: &isDirectory), !isDirectory.boolValue {
          throw StoreError.refConflict(ref: u.ref, expected: "no ref named \(parent)", actual: "\(parent) exists")
        }
        parent = (parent as NSString).deletingLastPathComponent
      }
      try POSIX.makeDirectories((path as NSString).deletingLastPathComponent)
    }
    // The op log line goes first: a crash after it but before the refs leaves a log entry that
    // names objects that exist (gc keeps them), never a ref without its history.
    try appendOpLog(
      OpLogEntry(time: time, op: op, updates: zip(updates, olds).map { ($0.0.ref, $0.1, $0.0.new) }))
    for u in updates {
      let path = "\(directory)/\(u.ref)"
      if let new = u.new {
        try AtomicFile.write(Array("\(new.hex)\n".utf8), to: path, tmpDirectory: tmp)
      } else {
        POSIX.unlinkFile(path)
      }
    }
    withExtendedLifetime(lock) {}
  }

  private func appendOpLog(_ e: OpLogEntry) throws {
    let json: JSONValue = .object([
      ("time", .number(String(e.time))),
      ("op", .string(e.op)),
      (
        "updates",
        .array(
          e.updates.map {
            .object([
              ("ref", .string($0.ref)), ("old", $0.old.map { .string($0.hex) } ?? .null),
              ("new", $0.new.map { .string($0.hex) } ?? .null),
            ])
          })
      ),
    ])
    // Op names and refs are plain strings, so canonical encoding cannot fail.
    let line = ((try? CanonicalJSON.encode(json)) ?? []) + [0x0A]
    let path = "\(directory)/oplog"
    let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    if fd < 0 { throw POSIX.error("open", path) }
    defer { close(fd) }
    try dropTornTail(fd, path: path)
    try line.withUnsafeBytes { b in try POSIX.writeAll(fd, b, path: path) }
    try POSIX.fsyncFD(fd, path: path)
  }

  /// Truncate a torn last line (left by a crash mid-append) so the next line starts clean.
  private func dropTornTail(_ fd: Int32, path: String) throws {
    let size = try POSIX.fileSize(fd, path: path)
    guard size > 0 else { return }
    var last: UInt8 = 0
    try withUnsafeMutableBytes(of: &last) { b in try POSIX.preadAll(fd, b, offset: size - 1, path: path) }
    guard last != 0x0A else { return }
    let bytes = try POSIX.readWholeFile(path)
    let keep = (bytes.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
    if ftruncate(fd, off_t(keep)) != 0 { throw POSIX.error("truncate", path) }
  }

  /// The op log, oldest first, and whether its last line was torn by a crash.
  public func opLog() throws -> (entries: [OpLogEntry], tornTail: Bool) {
    let path = "\(directory)/oplog"
    guard POSIX.exists(path) else { return ([], false) }
    let bytes = try POSIX.readWholeFile(path)
    var entries: [OpLogEntry] = []
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    // A last line without its newline is a write cut short by a crash: the transaction it
    // began never touched a ref, so it is skipped, and the next append removes it.
    let torn = bytes.last.map { $0 != 0x0A } ?? false
    if torn { lines.removeLast() }
    for (k, line) in lines.enumerated() where !line.isEmpty {
      guard let e = Self.parseOpLine(Array(line)) else {
        throw StoreError.corruptRef(ref: "oplog line \(k + 1)", content: String(decoding: line.prefix(80), as: UTF8.self))
      }
      entries.append(e)
    }
    return (entries, torn)
  }

  static func parseOpLine(_ line: [UInt8]) -> OpLogEntry? {
    guard let v = try? StrictJSONParser.parse(line), let time = v["time"]?.int64Value,
      let op = v["op"]?.stringValue, let ups = v["updates"]?.arrayValue
    else { return nil }
    var updates: [(String, ObjectID?, ObjectID?)] = []
    for u in ups {
      guard let ref = u["ref"]?.stringValue else { return nil }
      updates.append((ref, u["old"]?.stringValue.flatMap(ObjectID.init(hex:)), u["new"]?.stringValue.flatMap(ObjectID.init(hex:))))
    }
    return OpLogEntry(time: time, op: op, updates: updates)
  }
}
