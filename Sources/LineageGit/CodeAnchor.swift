import CLibGit2
import LineageCore
import LineageNative

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The code a checkpoint was produced from: a git commit plus the state of its working tree.
///
/// `dirty` is true when any tracked file differs between HEAD, the index and the working tree
/// (staged or unstaged, including deletions and staged additions). Untracked files do not make a
/// tree dirty — scratch outputs and logs would otherwise mark every training run — they are
/// counted in `untracked` instead (files not ignored by `.gitignore`, `.git/info/exclude` or
/// `core.excludesFile`, counted one by one inside untracked directories, i.e. the line count of
/// `git ls-files --others --exclude-standard`).
///
/// `diffDigest` is present exactly when `dirty` is true: `"sha256:"` + the SHA-256 of the patch
/// from HEAD to the working tree (through the index), byte for byte the output of
///
///     git diff --full-index --no-renames --no-color --no-ext-diff --no-textconv HEAD | sha256sum
///
/// under git's default diff configuration (no `diff.noprefix`, `diff.mnemonicPrefix`,
/// `diff.context`). Full object ids and no rename detection make the digest independent of the
/// repository's size (git lengthens abbreviated ids as a repository grows) and of `diff.renames`.
/// When only the index differs and the working tree matches HEAD the patch is empty and the
/// digest is that of zero bytes.
public struct CodeAnchor: Sendable, Equatable {
  /// URL of the remote "origin", else of the alphabetically first remote; credentials removed.
  public var remote: String?
  /// Full hex id of the commit HEAD points to.
  public var commit: String
  /// Short branch name HEAD is on ("main", "feature/x"); nil when HEAD is detached.
  public var branch: String?
  /// Whether tracked files have staged or unstaged changes.
  public var dirty: Bool
  /// `sha256:<hex>` of the patch HEAD → working tree; nil when clean.
  public var diffDigest: String?
  /// Number of untracked, not ignored files.
  public var untracked: Int

  public init(remote: String?, commit: String, branch: String?, dirty: Bool, diffDigest: String?, untracked: Int) {
    self.remote = remote
    self.commit = commit
    self.branch = branch
    self.dirty = dirty
    self.diffDigest = diffDigest
    self.untracked = untracked
  }

  /// The anchor as a JSON object; absent values are written as `null` so every key is always there.
  public var json: JSONValue {
    .object([
      ("remote", remote.map(JSONValue.string) ?? .null),
      ("commit", .string(commit)),
      ("branch", branch.map(JSONValue.string) ?? .null),
      ("dirty", .bool(dirty)),
      ("diff_digest", diffDigest.map(JSONValue.string) ?? .null),
      ("untracked", .number(String(untracked))),
    ])
  }
}

/// Reads a `CodeAnchor` from a working tree through libgit2.
///
/// libgit2 reads the repository's configuration and, as git does, the user's global and system
/// configuration (it locates those files itself); this module reads no environment variable.
public enum CodeAnchorReader {
  /// The anchor for the repository containing `directory`, or nil when it is in no repository.
  ///
  /// Discovery walks from `directory` up to the filesystem root and, like git, does not cross a
  /// filesystem boundary.
  public static func read(directory: String) throws(GitError) -> CodeAnchor? {
    guard access(directory, F_OK) == 0 else { throw .directoryNotFound(path: directory) }
    git_libgit2_init()
    defer { git_libgit2_shutdown() }

    var repoPointer: OpaquePointer?
    let openCode = git_repository_open_ext(&repoPointer, directory, 0, nil)
    if openCode == GIT_ENOTFOUND.rawValue { return nil }
    try check(openCode, "open repository", directory)
    guard let repo = repoPointer else {
      throw .libgit2(operation: "open repository", path: directory, code: -1, message: "no repository returned")
    }
    defer { git_repository_free(repo) }

    guard git_repository_is_bare(repo) == 0 else {
      throw .bareRepository(path: git_repository_path(repo).map { trimSlash(String(cString: $0)) } ?? directory)
    }
    let root = git_repository_workdir(repo).map { trimSlash(String(cString: $0)) } ?? directory
    if git_repository_head_unborn(repo) == 1 { throw .noCommits(path: root) }

    var headPointer: OpaquePointer?
    try check(git_repository_head(&headPointer, repo), "read HEAD", root)
    guard let head = headPointer else {
      throw .libgit2(operation: "read HEAD", path: root, code: -1, message: "no reference returned")
    }
    defer { git_reference_free(head) }
    let branch = git_repository_head_detached(repo) == 1 ? nil : git_reference_shorthand(head).map { String(cString: $0) }

    var commitObject: OpaquePointer?
    try check(git_reference_peel(&commitObject, head, GIT_OBJECT_COMMIT), "peel HEAD to a commit", root)
    defer { git_object_free(commitObject) }
    var treeObject: OpaquePointer?
    try check(git_object_peel(&treeObject, commitObject, GIT_OBJECT_TREE), "read HEAD's tree", root)
    defer { git_object_free(treeObject) }
    guard let commitID = git_object_id(commitObject) else {
      throw .libgit2(operation: "read HEAD's id", path: root, code: -1, message: "no id")
    }
    var hex = [CChar](repeating: 0, count: 41)
    git_oid_tostr(&hex, hex.count, commitID)
    let commit = String(decoding: hex.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)

    let status = try readStatus(repo, root)
    let digest = status.dirty ? try patchDigest(repo, tree: treeObject, root) : nil
    return CodeAnchor(
      remote: try remoteURL(repo, root), commit: commit, branch: branch, dirty: status.dirty, diffDigest: digest,
      untracked: status.untracked)
  }

  /// Remove credentials from a remote URL so they never enter a record.
  ///
  /// `http(s)://user:password@host/…` loses the whole user-info part (a user name there is
  /// usually a token); other `scheme://user:password@host` URLs keep the user name and lose the
  /// password (`ssh://git@host/…` is unchanged). scp-like `user@host:path` is returned as is.
  public static func redactCredentials(_ url: String) -> String {
    guard let schemeEnd = url.range(of: "://") else { return url }
    let scheme = url[..<schemeEnd.lowerBound].lowercased()
    let rest = url[schemeEnd.upperBound...]
    let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
    let authority = rest[..<authorityEnd]
    guard let at = authority.lastIndex(of: "@") else { return url }
    let userInfo = authority[..<at]
    let host = authority[authority.index(after: at)...]
    let prefix = url[..<schemeEnd.upperBound]
    if scheme == "http" || scheme == "https" {
      return String(prefix + host + rest[authorityEnd...])
    }
    let user = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    return String(prefix + user + "@" + host + rest[authorityEnd...])
  }

  // MARK: - Pieces

  /// Run `body` with the repository that contains `directory` open (libgit2 initialised for
  /// the call).
  static func withRepository<T>(_ directory: String, _ body: (OpaquePointer) throws(GitError) -> T) throws(GitError) -> T {
    git_libgit2_init()
    defer { git_libgit2_shutdown() }
    var repoPointer: OpaquePointer?
    try check(git_repository_open_ext(&repoPointer, directory, 0, nil), "open repository", directory)
    guard let repo = repoPointer else { throw .libgit2(operation: "open repository", path: directory, code: -1, message: "none") }
    defer { git_repository_free(repo) }
    return try body(repo)
  }

  static func check(_ code: Int32, _ operation: String, _ path: String) throws(GitError) {
    guard code < 0 else { return }
    let message = git_error_last().flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "unknown error"
    throw .libgit2(operation: operation, path: path, code: code, message: message)
  }

  private static func trimSlash(_ path: String) -> String {
    path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
  }

  private static func remoteURL(_ repo: OpaquePointer, _ root: String) throws(GitError) -> String? {
    var names = git_strarray()
    try check(git_remote_list(&names, repo), "list remotes", root)
    defer { git_strarray_dispose(&names) }
    var all: [String] = []
    for k in 0..<names.count {
      if let name = names.strings?[k] { all.append(String(cString: name)) }
    }
    guard let chosen = all.contains("origin") ? "origin" : all.min(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    else { return nil }
    var remote: OpaquePointer?
    try check(git_remote_lookup(&remote, repo, chosen), "read remote \(chosen)", root)
    defer { git_remote_free(remote) }
    guard let remote, let url = git_remote_url(remote) else { return nil }
    return redactCredentials(String(cString: url))
  }

  private static func readStatus(_ repo: OpaquePointer, _ root: String) throws(GitError) -> (dirty: Bool, untracked: Int) {
    var options = git_status_options()
    try check(git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION)), "initialise status options", root)
    options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
    options.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
    var listPointer: OpaquePointer?
    try check(git_status_list_new(&listPointer, repo, &options), "read status", root)
    defer { git_status_list_free(listPointer) }
    var dirty = false
    var untracked = 0
    for k in 0..<git_status_list_entrycount(listPointer) {
      guard let entry = git_status_byindex(listPointer, k) else { continue }
      let flags = entry.pointee.status.rawValue
      if flags & GIT_STATUS_WT_NEW.rawValue != 0 { untracked += 1 }
      // Everything except "new in the working tree" and "ignored" is a change to a tracked file.
      if flags & ~(GIT_STATUS_WT_NEW.rawValue | GIT_STATUS_IGNORED.rawValue) != 0 { dirty = true }
    }
    return (dirty, untracked)
  }

  private static func patchDigest(_ repo: OpaquePointer, tree: OpaquePointer?, _ root: String) throws(GitError) -> String {
    var options = git_diff_options()
    try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "initialise diff options", root)
    // Full ids, as `git diff --full-index`: abbreviated ids grow with the repository.
    options.id_abbrev = 40
    var diff: OpaquePointer?
    try check(git_diff_tree_to_workdir_with_index(&diff, repo, tree, &options), "diff HEAD to the working tree", root)
    defer { git_diff_free(diff) }
    let hasher = SHA256Hasher()
    let payload = Unmanaged.passUnretained(hasher).toOpaque()
    for k in 0..<git_diff_num_deltas(diff) {
      var patchPointer: OpaquePointer?
      try check(git_patch_from_diff(&patchPointer, diff, k), "make the patch of delta \(k)", root)
      defer { git_patch_free(patchPointer) }
      guard let patch = patchPointer, let delta = git_patch_get_delta(patch) else { continue }
      // A file whose index entry changed but whose content and mode equal HEAD's (staged, then
      // reverted in the working tree) is a delta to libgit2, which would print a lone
      // "diff --git" line for it; git prints nothing, and neither does this.
      var old = delta.pointee.old_file
      var new = delta.pointee.new_file
      if delta.pointee.status == GIT_DELTA_MODIFIED, old.mode == new.mode, git_oid_equal(&old.id, &new.id) != 0 {
        continue
      }
      // The same bytes git_diff_to_buf would produce, streamed: content lines lack their origin
      // character, every other line (file and hunk headers, "\ No newline") carries its own text.
      let code = git_patch_print(
        patch,
        { _, _, line, payload in
          guard let line, let payload else { return 0 }
          let hasher = Unmanaged<SHA256Hasher>.fromOpaque(payload).takeUnretainedValue()
          let origin = UInt8(bitPattern: line.pointee.origin)
          if origin == UInt8(ascii: "+") || origin == UInt8(ascii: "-") || origin == UInt8(ascii: " ") {
            hasher.update([origin])
          }
          if let content = line.pointee.content {
            hasher.update(UnsafeRawBufferPointer(start: content, count: line.pointee.content_len))
          }
          return 0
        }, payload)
      try check(code, "print the patch", root)
    }
    return "sha256:" + hasher.finalize().hex
  }
}
