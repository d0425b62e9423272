import LineageCore
import LineageStore
import LineageTensor

/// Why a repository operation failed. Each case names the path, revision or object at fault.
public enum KitError: Error, Equatable, Sendable {
  /// No `.lineage` directory here or in any parent directory.
  case notARepository(path: String)
  /// `init` found an existing repository.
  case alreadyInitialized(path: String)
  /// An input path does not exist.
  case pathNotFound(String)
  /// An input is neither a regular file nor a directory (a symlink, socket, device…).
  case unsupportedFileType(path: String, kind: String)
  /// Two inputs would occupy the same path in the snapshot.
  case pathConflict(String)
  /// A path cannot be stored (a `..`, a backslash, non-UTF-8…).
  case invalidPath(String)
  /// Nothing to commit.
  case nothingToCommit
  /// A `.safetensors` file is malformed.
  case safetensors(path: String, SafetensorsError)
  /// A file changed size or time while it was being read.
  case fileChangedWhileReading(path: String)
  /// A revision names nothing.
  case unknownRevision(String)
  /// A hex prefix matches more than one commit.
  case ambiguousRevision(String, candidates: [String])
  /// `REV~N` walks past a root commit.
  case noSuchAncestor(String)
  /// A branch has no commits yet.
  case emptyBranch(String)
  /// A tag or branch name is not allowed.
  case invalidName(String)
  /// The tag exists already.
  case tagExists(String)
  /// The branch exists already.
  case branchExists(String)
  /// The branch is the one HEAD names, so it cannot be deleted.
  case currentBranch(String)
  /// `checkout` would overwrite a file that differs; carries the path.
  case outputExists(path: String)
  /// `checkout --tensor` names no tensor (or more than one) in the revision.
  case tensorNotFound(name: String, revision: String)
  case ambiguousTensor(name: String, files: [String])
  /// A file could not be read or written; carries the operation and the system's message.
  case io(operation: String, path: String, message: String)
  /// The object store reported a failure.
  case store(StoreError)
  /// The store is damaged in a way that makes the operation unsafe; carries what is wrong.
  case damagedStore(String)
  /// A stored object is malformed.
  case corruptObject(ObjectID, reason: String)
}

func wrap<T>(_ body: () throws -> T) throws -> T {
  do { return try body() } catch let e as KitError { throw e } catch let e as StoreError { throw KitError.store(e) }
}
