/// Why the state of a git working tree could not be read.
public enum GitError: Error, Equatable, Sendable {
  /// The directory to start discovery from does not exist; carries the path as given.
  case directoryNotFound(path: String)
  /// The repository at this working tree has no commit yet, so there is nothing to anchor to.
  case noCommits(path: String)
  /// The repository at this path is bare: it has no working tree to compare with HEAD.
  case bareRepository(path: String)
  /// A line of git's pre-push input is not `<local ref> <sha> <remote ref> <sha>`.
  case invalidPushInput(line: String)
  /// A chained hook is already there: installing would lose one of two foreign hooks.
  case hookConflict(path: String)
  /// A libgit2 call failed; carries what was attempted, the path, libgit2's code and message.
  case libgit2(operation: String, path: String, code: Int32, message: String)
}

extension GitError: CustomStringConvertible {
  /// One line for the user, naming the path at fault.
  public var description: String {
    switch self {
    case .directoryNotFound(let p): "\(p) does not exist"
    case .noCommits(let p): "the git repository at \(p) has no commits yet, so there is nothing to anchor to (commit, or pass --no-code)"
    case .bareRepository(let p): "\(p) is a bare git repository without a working tree"
    case .invalidPushInput(let line): "git's pre-push input line \(line.debugDescription) is not '<local ref> <sha> <remote ref> <sha>'"
    case .hookConflict(let p): "\(p) already exists: merge it with the current pre-push hook by hand, or pass --force"
    case .libgit2(let op, let p, let code, let m): "libgit2 \(op) failed in \(p) (\(code)): \(m)"
    }
  }
}
