import Foundation
import LineageCore
import LineageGit
import LineageNative
import LineageSigning
import LineageStore

#if canImport(Glibc)
  import Glibc
#endif

/// The requirements a model must meet (Docs/Policy.md).
public struct PolicyRules: Equatable, Sendable {
  public var requireSignature = false
  public var requireData = false
  public var requireEnvironment = false
  public var requireCodeAnchor = false
  public var requireDeclaredParents = false
  /// Ancestors allowed without a good signature; -1: no limit.
  public var maxUnverifiedDepth = -1
  public init() {}
}

/// A provenance policy: base rules, per-path overrides, the model globs and trust.
public struct Policy: Sendable {
  public var file: String
  public var rules = PolicyRules()
  /// Absolute path of the allowed_signers file the policy names, if any.
  public var allowedSigners: String?
  public var models = ["*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.onnx", "*.npz"]
  public var overrides: [(path: String, members: [(String, JSONValue)])] = []

  /// Read a policy file (TOML), refusing unknown keys and wrong types by name.
  public static func load(_ path: String) throws -> Policy {
    let bytes: [UInt8]
    do { bytes = try POSIX.readWholeFile(path) } catch { throw KitError.policy(path: path, reason: "cannot be read") }
    let json: JSONValue
    do { json = try RecordValues.toml(bytes, path: path) } catch {
      if case .valuesFile(_, let reason) = error { throw KitError.policy(path: path, reason: reason) }
      throw error
    }
    var p = Policy(file: path)
    for (key, value) in json.objectValue ?? [] {
      switch key {
      case "policy":
        guard let members = value.objectValue else { throw KitError.policy(path: path, reason: "[policy] must be a table") }
        for (k, v) in members {
          switch k {
          case "allowed_signers":
            guard let s = v.stringValue, !s.isEmpty else { throw KitError.policy(path: path, reason: "allowed_signers must be a path") }
            p.allowedSigners = s.hasPrefix("/") ? s : (path as NSString).deletingLastPathComponent + "/" + s
          case "models":
            guard let list = v.arrayValue?.compactMap(\.stringValue), list.count == v.arrayValue?.count, !list.isEmpty else {
              throw KitError.policy(path: path, reason: "models must be a list of globs")
            }
            p.models = list
          default: try apply(k, v, to: &p.rules, path: path)
          }
        }
      case "override":
        guard let tables = value.arrayValue else { throw KitError.policy(path: path, reason: "[[override]] must be an array of tables") }
        for t in tables {
          guard let members = t.objectValue, let glob = t["path"]?.stringValue else {
            throw KitError.policy(path: path, reason: "every [[override]] needs path = \"GLOB\"")
          }
          var probe = PolicyRules()
          for (k, v) in members where k != "path" { try apply(k, v, to: &probe, path: path) }
          p.overrides.append((glob, members.filter { $0.0 != "path" }))
        }
      default: throw KitError.policy(path: path, reason: "unknown table or key '\(key)'")
      }
    }
    return p
  }

  static func apply(_ key: String, _ value: JSONValue, to rules: inout PolicyRules, path: String) throws {
    func flag() throws -> Bool {
      guard case .bool(let b) = value else { throw KitError.policy(path: path, reason: "\(key) must be true or false") }
      return b
    }
    switch key {
    case "require_signature": rules.requireSignature = try flag()
    case "require_data": rules.requireData = try flag()
    case "require_environment": rules.requireEnvironment = try flag()
    case "require_code_anchor": rules.requireCodeAnchor = try flag()
    case "require_declared_parents": rules.requireDeclaredParents = try flag()
    case "max_unverified_depth":
      guard let n = value.int64Value, n >= -1, n <= Int64(Int32.max) else {
        throw KitError.policy(path: path, reason: "max_unverified_depth must be an integer ≥ -1")
      }
      rules.maxUnverifiedDepth = Int(n)
    default: throw KitError.policy(path: path, reason: "unknown key '\(key)'")
    }
  }

  /// The rules for a model at `path` (overrides in order, later ones winning).
  public func rules(for path: String?) -> PolicyRules {
    var r = rules
    guard let path else { return r }
    for (glob, members) in overrides where Self.matches(glob, path) {
      for (k, v) in members { try? Self.apply(k, v, to: &r, path: file) }
    }
    return r
  }

  /// Whether a path is a model file by the policy's globs.
  public func isModel(_ path: String) -> Bool { models.contains { Self.matches($0, path) } }

  /// Shell globs (fnmatch); a pattern without `/` matches the file name.
  public static func matches(_ glob: String, _ path: String) -> Bool {
    let subject = glob.contains("/") ? path : (path as NSString).lastPathComponent
    return fnmatch(glob, subject, 0) == 0
  }
}

/// One unmet requirement, with how to meet it.
public struct PolicyViolation: Equatable, Sendable {
  public var rule: String
  public var message: String
  public var fix: String
}

/// The outcome of checking one revision or file.
public struct PolicyOutcome: Sendable {
  public var subject: String
  /// The commit that satisfies the policy, or (when none does) the candidates and their reasons.
  public var passing: ObjectID?
  public var candidates: [(commit: ObjectID?, violations: [PolicyViolation])]
  public var passed: Bool { passing != nil }
}

extension Repository {
  /// What `id` lacks under `rules`.
  public func violations(of id: ObjectID, rules: PolicyRules, signers: AllowedSigners?) throws -> [PolicyViolation] {
    try violations(of: id, rules: rules, signers: signers, active: try activeQuarantines())
  }

  /// `violations`, with the active quarantines read once by the caller.
  func violations(of id: ObjectID, rules: PolicyRules, signers: AllowedSigners?, active: [QuarantineTarget: QuarantineEntry]) throws
    -> [PolicyViolation]
  {
    let r = try commit(id)
    // Quarantine applies whatever the rules say.
    var out = try quarantineViolations(of: id, active: active)
    if rules.requireSignature {
      let status = Self.checkSignature(r, signers: signers).status
      if case .good = status {} else {
        out.append(
          .init(
            rule: "require_signature", message: "signature is \(status.word)",
            fix: "sign commits with a trusted key: lineage keygen --trust YOU, or add your key to allowed_signers"))
      }
    }
    if rules.requireData, r.data.isEmpty {
      out.append(.init(rule: "require_data", message: "no training-data digest", fix: "lineage commit … --data PATH (or --data-digest URI=sha256:HEX)"))
    }
    if rules.requireEnvironment, r.environment == nil {
      out.append(.init(rule: "require_environment", message: "no environment capture", fix: "lineage commit without --no-environment"))
    }
    if rules.requireCodeAnchor, r.code == nil {
      out.append(.init(rule: "require_code_anchor", message: "no code anchor", fix: "lineage commit … --code DIR (a git working tree)"))
    }
    // A recorded infer verdict stands in for declared parents: the weights were examined.
    if rules.requireDeclaredParents, r.parents.isEmpty, try inferenceVerdicts()[id] == nil {
      out.append(
        .init(
          rule: "require_declared_parents", message: "no declared parent and no recorded infer verdict",
          fix: "lineage commit … --parent REV[:RELATION], or lineage infer \(id.short) --record"))
    }
    if rules.maxUnverifiedDepth >= 0 {
      var unverified: [ObjectID] = []
      try visitAncestry(of: id) { a, ar in
        guard a != id else { return }
        if case .good = Self.checkSignature(ar, signers: signers).status {} else { unverified.append(a) }
      }
      if unverified.count > rules.maxUnverifiedDepth {
        out.append(
          .init(
            rule: "max_unverified_depth",
            message: "\(unverified.count) ancestor(s) without a good signature (allowed \(rules.maxUnverifiedDepth)): "
              + unverified.prefix(3).map(\.short).joined(separator: ", ") + (unverified.count > 3 ? ", …" : ""),
            fix: "verify the ancestors with lineage verify, and trust their signers in allowed_signers"))
      }
    }
    return out
  }

  /// Visit `id` and its ancestors through declared parents, breadth first, each once; missing
  /// ancestors are skipped.
  func visitAncestry(of id: ObjectID, _ visit: (ObjectID, CommitRecord) throws -> Void) throws {
    var seen = Set<ObjectID>()
    var queue = [id]
    var head = 0
    while head < queue.count {
      let a = queue[head]
      head += 1
      guard seen.insert(a).inserted, objects.location(of: a)?.type == .commit else { continue }
      let r = try commit(a)
      try visit(a, r)
      queue += r.parents.map(\.id)
    }
  }

  /// Check a revision against the policy.
  public func checkPolicy(revision: String, policy: Policy, signers: AllowedSigners?) throws -> PolicyOutcome {
    let id = try resolve(revision)
    let v = try violations(of: id, rules: policy.rules(for: nil), signers: signers)
    return PolicyOutcome(subject: revision, passing: v.isEmpty ? id : nil, candidates: v.isEmpty ? [] : [(id, v)])
  }

  /// Check a file on disk: some commit reachable from a branch or tag must hold a file with its
  /// SHA-256 and satisfy the policy (with the overrides for `displayPath`).
  public func checkPolicy(file path: String, displayPath: String, policy: Policy, signers: AllowedSigners?) throws -> PolicyOutcome {
    let digest = try fileDigest(path)
    return try checkPolicy(
      digest: digest, holders: try commitsHolding(sha256: digest), displayPath: displayPath, lfs: false, policy: policy, signers: signers,
      active: try activeQuarantines())
  }

  /// Commits reachable from a branch or tag whose tree holds a file with this SHA-256, newest first.
  public func commitsHolding(sha256 digest: [UInt8]) throws -> [ObjectID] {
    try fileDigestIndex()[digest] ?? []
  }

  func fileDigest(_ path: String) throws -> [UInt8] {
    let handle = try InputHandle(path: path)
    let hasher = SHA256Hasher()
    var offset: UInt64 = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while offset < handle.stat.size {
      let n = Int(min(UInt64(buffer.count), handle.stat.size - offset))
      try buffer.withUnsafeMutableBytes { try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: offset) }
      buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
      offset += UInt64(n)
    }
    return hasher.finalize().bytes
  }
}

/// A model file a git push would publish, and whether the policy lets it through.
public struct PushFinding: Sendable {
  public var file: PushedFile
  public var outcome: PolicyOutcome
}

extension Repository {
  /// The commits (reachable from a branch or tag) holding each file SHA-256, newest first.
  public func fileDigestIndex() throws -> [[UInt8]: [ObjectID]] {
    let cache = store.digestCache()
    var index: [[UInt8]: [ObjectID]] = [:]
    var digests: [ObjectID: [UInt8]] = [:]
    for c in try ancestry(from: try allRefTargets(), skipDamaged: true) {
      var held = cache.entries[c.id]
      if held == nil {
        var list: [[UInt8]] = []
        for e in try tree(c.record.tree).entries {
          let d = try digests[e.file] ?? file(e.file).sha256
          digests[e.file] = d
          list.append(d)
        }
        cache.record(c.id, list)
        held = list
      }
      for d in Set(held ?? []) { index[d, default: []].append(c.id) }
    }
    // A cache that cannot be written only costs a rebuild next time.
    try? cache.save()
    return index
  }

  /// Check the model files a push publishes (Docs/Policy.md): each must be held by a lineage
  /// commit that satisfies the policy for its path.
  public func checkPush(gitDirectory: String, remote: String, updates: [PushUpdate], policy: Policy, signers: AllowedSigners?) throws
    -> [PushFinding]
  {
    let files: [PushedFile]
    do { files = try PushScan.scan(directory: gitDirectory, remote: remote, updates: updates, isModel: policy.isModel) } catch {
      throw KitError.git(error.description)
    }
    guard !files.isEmpty else { return [] }
    let index = try fileDigestIndex()
    let active = try activeQuarantines()
    return try files.map { f in
      PushFinding(
        file: f,
        outcome: try checkPolicy(
          digest: f.sha256, holders: index[f.sha256] ?? [], displayPath: f.path, lfs: f.isLFSPointer, policy: policy, signers: signers,
          active: active))
    }
  }

  func checkPolicy(
    digest: [UInt8], holders: [ObjectID], displayPath: String, lfs: Bool, policy: Policy, signers: AllowedSigners?,
    active: [QuarantineTarget: QuarantineEntry]
  ) throws -> PolicyOutcome {
    let rules = policy.rules(for: displayPath)
    var candidates: [(commit: ObjectID?, violations: [PolicyViolation])] = []
    for id in holders {
      let v = try violations(of: id, rules: rules, signers: signers, active: active)
      if v.isEmpty { return PolicyOutcome(subject: displayPath, passing: id, candidates: []) }
      candidates.append((id, v))
    }
    if candidates.isEmpty {
      let what = lfs ? "the Git LFS object sha256:\(HexEncoding.encode(digest).prefix(16))…" : "this file (sha256 \(HexEncoding.encode(digest).prefix(16))…)"
      let missing = PolicyViolation(
        rule: "committed", message: "no lineage commit holds \(what)",
        fix: "lineage commit \(displayPath) -m MESSAGE --parent REV --data PATH")
      candidates.append((nil, [missing]))
    }
    return PolicyOutcome(subject: displayPath, passing: nil, candidates: candidates)
  }
}
