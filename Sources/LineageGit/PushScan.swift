import CLibGit2
import LineageCore
import LineageNative

/// One line of git's pre-push input: `<local ref> <local sha> <remote ref> <remote sha>`.
public struct PushUpdate: Equatable, Sendable {
  public var localRef: String
  public var localSHA: String
  public var remoteRef: String
  public var remoteSHA: String

  static let zero = String(repeating: "0", count: 40)

  /// Parse git's pre-push standard input; a malformed line is an error naming it.
  public static func parse(_ text: String) throws(GitError) -> [PushUpdate] {
    var out: [PushUpdate] = []
    for line in text.split(separator: "\n") where !line.isEmpty {
      let f = line.split(separator: " ").map(String.init)
      guard f.count == 4, f[1].count == 40 || f[1].count == 64, f[3].count == f[1].count,
        f[1].allSatisfy(\.isHexDigit), f[3].allSatisfy(\.isHexDigit)
      else { throw .invalidPushInput(line: String(line)) }
      out.append(PushUpdate(localRef: f[0], localSHA: f[1], remoteRef: f[2], remoteSHA: f[3]))
    }
    return out
  }

  /// A branch deletion or a tag: nothing for the gate to check.
  public var isExempt: Bool {
    localSHA.allSatisfy { $0 == "0" } || localRef.hasPrefix("refs/tags/") || remoteRef.hasPrefix("refs/tags/")
  }
}

/// A model file added or changed by a pushed git commit.
public struct PushedFile: Equatable, Sendable {
  /// The git commit that added or changed it (full hex).
  public var commit: String
  public var path: String
  /// SHA-256 of the file: of the blob, or the `oid sha256:` of a Git LFS pointer.
  public var sha256: [UInt8]
  public var isLFSPointer: Bool
}

/// The model files a push would publish, read with libgit2.
public enum PushScan {
  /// Walk the commits each update sends (not on the remote's tracking refs, not the remote's
  /// old value) and list the files they add or change whose path `isModel` accepts; deleted
  /// files are not listed. Each (commit, path) appears once, oldest commit first.
  public static func scan(directory: String, remote: String, updates: [PushUpdate], isModel: (String) -> Bool) throws(GitError)
    -> [PushedFile]
  {
    try CodeAnchorReader.withRepository(directory) { repo throws(GitError) in
      try scan(repo, directory: directory, remote: remote, updates: updates, isModel: isModel)
    }
  }

  private static func scan(_ repo: OpaquePointer, directory: String, remote: String, updates: [PushUpdate], isModel: (String) -> Bool)
    throws(GitError) -> [PushedFile]
  {
    var walkPointer: OpaquePointer?
    try CodeAnchorReader.check(git_revwalk_new(&walkPointer, repo), "start a revision walk", directory)
    guard let walk = walkPointer else { throw .libgit2(operation: "revwalk", path: directory, code: -1, message: "none") }
    defer { git_revwalk_free(walk) }
    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_REVERSE.rawValue)
    var pushed = 0
    for u in updates where !u.isExempt {
      var oid = git_oid()
      try CodeAnchorReader.check(git_oid_fromstr(&oid, u.localSHA), "read \(u.localSHA)", directory)
      try CodeAnchorReader.check(git_revwalk_push(walk, &oid), "walk from \(u.localRef)", directory)
      pushed += 1
      if !u.remoteSHA.allSatisfy({ $0 == "0" }) {
        var old = git_oid()
        // The remote's old commit may be unknown locally (a forced push over someone's work).
        if git_oid_fromstr(&old, u.remoteSHA) == 0 { _ = git_revwalk_hide(walk, &old) }
      }
    }
    guard pushed > 0 else { return [] }
    // Commits the remote already has, as far as this clone knows.
    _ = git_revwalk_hide_glob(walk, "refs/remotes/\(remote)/*")
    var out: [PushedFile] = []
    var next = git_oid()
    while git_revwalk_next(&next, walk) == 0 {
      out += try changedFiles(repo, commit: next, directory: directory, isModel: isModel)
    }
    return out
  }

  private static func changedFiles(_ repo: OpaquePointer, commit oid: git_oid, directory: String, isModel: (String) -> Bool) throws(GitError)
    -> [PushedFile]
  {
    var id = oid
    var commitPointer: OpaquePointer?
    try CodeAnchorReader.check(git_commit_lookup(&commitPointer, repo, &id), "read a pushed commit", directory)
    defer { git_commit_free(commitPointer) }
    var treePointer: OpaquePointer?
    try CodeAnchorReader.check(git_commit_tree(&treePointer, commitPointer), "read a pushed commit's tree", directory)
    defer { git_tree_free(treePointer) }
    var parentTree: OpaquePointer?
    if git_commit_parentcount(commitPointer) > 0 {
      var parent: OpaquePointer?
      try CodeAnchorReader.check(git_commit_parent(&parent, commitPointer, 0), "read a parent commit", directory)
      defer { git_commit_free(parent) }
      try CodeAnchorReader.check(git_commit_tree(&parentTree, parent), "read a parent tree", directory)
    }
    defer { git_tree_free(parentTree) }
    var diffPointer: OpaquePointer?
    try CodeAnchorReader.check(git_diff_tree_to_tree(&diffPointer, repo, parentTree, treePointer, nil), "diff a pushed commit", directory)
    defer { git_diff_free(diffPointer) }
    var hex = [CChar](repeating: 0, count: 41)
    git_oid_tostr(&hex, hex.count, &id)
    let commitHex = String(decoding: hex.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var out: [PushedFile] = []
    for k in 0..<git_diff_num_deltas(diffPointer) {
      guard let delta = git_diff_get_delta(diffPointer, k)?.pointee else { continue }
      let status = delta.status
      guard status == GIT_DELTA_ADDED || status == GIT_DELTA_MODIFIED || status == GIT_DELTA_RENAMED || status == GIT_DELTA_COPIED
          || status == GIT_DELTA_TYPECHANGE,
        let cPath = delta.new_file.path
      else { continue }
      let path = String(cString: cPath)
      guard isModel(path) || inModelDirectory(path, tree: treePointer, isModel: isModel) else { continue }
      var blobID = delta.new_file.id
      var blobPointer: OpaquePointer?
      try CodeAnchorReader.check(git_blob_lookup(&blobPointer, repo, &blobID), "read \(path)", directory)
      defer { git_blob_free(blobPointer) }
      let size = Int(git_blob_rawsize(blobPointer))
      let raw = git_blob_rawcontent(blobPointer)
      let bytes = raw.map { UnsafeRawBufferPointer(start: $0, count: size) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
      if let oid = lfsPointerDigest(bytes) {
        out.append(PushedFile(commit: commitHex, path: path, sha256: oid, isLFSPointer: true))
      } else {
        let h = SHA256Hasher()
        h.update(bytes)
        out.append(PushedFile(commit: commitHex, path: path, sha256: h.finalize().bytes, isLFSPointer: false))
      }
    }
    return out
  }

  /// Whether `path` lies in a directory (not the repository root) that also holds a model file
  /// in `tree`: a model's config, tokenizer and index files travel with it and are gated too.
  static func inModelDirectory(_ path: String, tree: OpaquePointer?, isModel: (String) -> Bool) -> Bool {
    guard let slash = path.lastIndex(of: "/") else { return false }
    let dir = String(path[..<slash])
    var entry: OpaquePointer?
    guard git_tree_entry_bypath(&entry, tree, dir) == 0 else { return false }
    defer { git_tree_entry_free(entry) }
    guard git_tree_entry_type(entry) == GIT_OBJECT_TREE, let owner = git_tree_owner(tree) else { return false }
    var subtree: OpaquePointer?
    guard git_tree_lookup(&subtree, owner, git_tree_entry_id(entry)) == 0 else { return false }
    defer { git_tree_free(subtree) }
    for k in 0..<git_tree_entrycount(subtree) {
      guard let e = git_tree_entry_byindex(subtree, k), git_tree_entry_type(e) == GIT_OBJECT_BLOB, let name = git_tree_entry_name(e) else {
        continue
      }
      if isModel(dir + "/" + String(cString: name)) { return true }
    }
    return false
  }

  /// The `oid sha256:` of a Git LFS pointer file (a small text file in the LFS spec's format).
  public static func lfsPointerDigest(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
    guard bytes.count < 1024, let text = String(validating: Array(bytes), as: UTF8.self),
      text.hasPrefix("version https://git-lfs.github.com/spec/v1\n")
    else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("oid sha256:") {
      let hex = line.dropFirst("oid sha256:".count)
      guard hex.count == 64 else { return nil }
      return HexEncoding.decode(String(hex))
    }
    return nil
  }
}
