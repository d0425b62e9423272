import CLibGit2
import Foundation

/// Installing lineage's pre-push hook into a git repository.
public enum HookInstall {
  /// The line that marks a hook as lineage's own (safe to replace).
  public static let marker = "# lineage provenance gate"

  /// What `install` did.
  public enum Outcome: Equatable, Sendable {
    case installed(path: String)
    /// A foreign hook was kept: moved beside ours and run first.
    case chained(path: String, previous: String)
    /// A foreign hook was replaced (--force).
    case replaced(path: String)
  }

  /// The hook script: runs a chained foreign hook first (with the same input), then lineage.
  public static func script(lineage: String) -> String {
    """
    #!/bin/sh
    \(marker): refuses a push of model files that no lineage commit satisfying the policy
    # holds (lineage hooks install wrote this; Docs/Policy.md).
    LINEAGE="${LINEAGE:-\(lineage)}"
    input=$(cat)
    chained="$(dirname "$0")/pre-push.chained"
    if [ -x "$chained" ]; then
      printf '%s\\n' "$input" | "$chained" "$@" || exit $?
    fi
    printf '%s\\n' "$input" | "$LINEAGE" hook pre-push "$@"

    """
  }

  /// The hooks directory of the repository at `directory`: `core.hooksPath` when set (relative
  /// to the working tree), else `.git/hooks`.
  public static func hooksDirectory(_ directory: String, home: String?) throws(GitError) -> String {
    try CodeAnchorReader.withRepository(directory) { repo throws(GitError) in try hooksDirectory(repo, directory, home: home) }
  }

  private static func hooksDirectory(_ repo: OpaquePointer, _ directory: String, home: String?) throws(GitError) -> String {
    let gitDir = String(cString: git_repository_path(repo))
    let workdir = git_repository_workdir(repo).map { String(cString: $0) } ?? gitDir
    var config: OpaquePointer?
    try CodeAnchorReader.check(git_repository_config_snapshot(&config, repo), "read git config", directory)
    defer { git_config_free(config) }
    var value: UnsafePointer<CChar>?
    if git_config_get_string(&value, config, "core.hooksPath") == 0, let value {
      let path = String(cString: value)
      if path.hasPrefix("/") { return path }
      if path.hasPrefix("~/"), let home { return home + path.dropFirst(1) }
      return (workdir.hasSuffix("/") ? workdir : workdir + "/") + path
    }
    return (gitDir.hasSuffix("/") ? gitDir : gitDir + "/") + "hooks"
  }

  /// Write the pre-push hook. A foreign hook is chained (moved to `pre-push.chained` and run
  /// first) unless `force`, which replaces it; lineage's own hook is simply rewritten.
  public static func install(directory: String, lineage: String, force: Bool, home: String?) throws -> Outcome {
    let hooks = try hooksDirectory(directory, home: home)
    try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: true)
    let path = hooks + "/pre-push"
    var outcome = Outcome.installed(path: path)
    if let existing = FileManager.default.contents(atPath: path), !String(decoding: existing, as: UTF8.self).contains(marker) {
      if force {
        outcome = .replaced(path: path)
      } else {
        let chained = hooks + "/pre-push.chained"
        guard !FileManager.default.fileExists(atPath: chained) else {
          throw GitError.hookConflict(path: chained)
        }
        try FileManager.default.moveItem(atPath: path, toPath: chained)
        outcome = .chained(path: path, previous: chained)
      }
    }
    let temp = path + ".lineage-tmp"
    try Data(script(lineage: lineage).utf8).write(to: URL(fileURLWithPath: temp))
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: temp)
    guard rename(temp, path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    return outcome
  }
}
