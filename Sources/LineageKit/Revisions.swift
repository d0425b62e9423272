import LineageCore
import LineageStore

extension Repository {
  /// The branch HEAD names, e.g. `main`.
  public func currentBranch() throws -> String {
    let ref = try wrap { try store.refs.headRef() }
    return String(ref.dropFirst("refs/heads/".count))
  }

  /// Resolve a revision to a commit id.
  ///
  /// Forms: `HEAD`, a tag, a branch (tags first, as git does), `refs/…`, a full id or a unique
  /// prefix of at least 4 hex digits, each optionally followed by `~N` or `^` (first parent).
  public func resolve(_ spec: String) throws -> ObjectID {
    var base = Substring(spec)
    var steps = 0
    while let last = base.last, last == "^" || base.contains("~") {
      if last == "^" {
        guard steps < Int.max else { throw KitError.unknownRevision(spec) }
        steps += 1
        base = base.dropLast()
      } else if let tilde = base.lastIndex(of: "~") {
        let digits = base[base.index(after: tilde)...]
        if digits.isEmpty {
          guard steps < Int.max else { throw KitError.unknownRevision(spec) }
          steps += 1
        } else {
          guard let n = Int(digits), n >= 0 else { throw KitError.unknownRevision(spec) }
          let (sum, overflow) = steps.addingReportingOverflow(n)
          guard !overflow else { throw KitError.unknownRevision(spec) }
          steps = sum
        }
        base = base[..<tilde]
      }
    }
    var id = try resolveBase(String(base), spec: spec)
    for _ in 0..<steps {
      guard let parent = try commit(id).parents.first else { throw KitError.noSuchAncestor(spec) }
      id = parent.id
    }
    return id
  }

  private func resolveBase(_ name: String, spec: String) throws -> ObjectID {
    guard !name.isEmpty else { throw KitError.unknownRevision(spec) }
    let refs = store.refs
    if name == "HEAD" {
      let ref = try wrap { try refs.headRef() }
      guard let id = try wrap({ try refs.read(ref) }) else { throw KitError.emptyBranch(String(ref.dropFirst(11))) }
      return id
    }
    for candidate in name.hasPrefix("refs/") ? [name] : ["refs/tags/\(name)", "refs/heads/\(name)"]
    where (try? RefStore.validateRef(candidate)) != nil {
      if let id = try wrap({ try refs.read(candidate) }) { return id }
    }
    let prefix = name.lowercased()
    guard prefix.count >= 4, prefix.count <= 64, prefix.allSatisfy(\.isHexDigit) else {
      throw KitError.unknownRevision(spec)
    }
    if let full = ObjectID(hex: prefix), objects.location(of: full)?.type == .commit { return full }
    let matches = objects.allObjects().filter { $0.1.type == .commit && $0.0.hex.hasPrefix(prefix) }.map(\.0)
    if matches.count == 1 { return matches[0] }
    if matches.isEmpty { throw KitError.unknownRevision(spec) }
    throw KitError.ambiguousRevision(spec, candidates: matches.map(\.short).sorted())
  }

  /// Refs pointing at each commit, for display.
  public func refNames() throws -> [ObjectID: [String]] {
    var out: [ObjectID: [String]] = [:]
    for (ref, id) in try wrap({ try store.refs.list() }) {
      let short = ref.hasPrefix("refs/heads/") ? String(ref.dropFirst(11)) : "tag: " + ref.dropFirst(10)
      out[id, default: []].append(short)
    }
    return out
  }
}
