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
  /// A policy file is malformed: the file and what is wrong (Docs/Policy.md).
  case policy(path: String, reason: String)
  /// Two models cannot be compared (no tensor in common, a tensor that cannot be read as floats).
  case forensics(String)
  /// A null file (`null.json`, Docs/Forensics.md) cannot be used: its path and why.
  case nullModel(path: String, reason: String)
  /// A model cannot be run by the native runtime (no or bad architecture.json, weights that do
  /// not fit it, bad input): what was being run and why (Docs/Runtime.md).
  case runtime(what: String, reason: String)
  /// An external runner (`--run CMD`) failed in a way that is no verdict: it could not start,
  /// timed out, died by a signal or exited 126 and above. Carries the tail of its stderr.
  case runner(command: String, reason: String, stderr: String)
  /// A model file (PyTorch, GGUF, ONNX, NumPy) is malformed or unsafe: the format and the problem.
  case modelFormat(path: String, format: String, reason: String)
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
  /// `--parent` is not `REV[:RELATION[:ROLE]]`.
  case invalidParentSpec(String)
  /// A relation is not one of finetune, lora, merge, quantize, prune, distill, convert, pretrain, other.
  case unknownRelation(String)
  /// A role is not a lowercase word of at most 32 characters.
  case invalidRole(String)
  /// `--data` / `--data-digest` is malformed (digest must be `sha256:` + 64 lowercase hex).
  case invalidDataSpec(String)
  /// A `KEY=VALUE` pair without a key or `=`; carries the option and the text.
  case invalidKeyValue(option: String, String)
  /// A params/metrics file cannot be used; carries the path and why.
  case valuesFile(path: String, reason: String)
  /// A configuration key is unknown, or the config file is malformed.
  case invalidConfig(String)
  /// The record cannot be encoded (a params value canonical JSON cannot hold, …).
  case invalidRecord(String)
  /// A `--data` path cannot be hashed; carries the path and why.
  case data(path: String, reason: String)
  /// The code directory's git repository cannot be read; carries the path and why.
  case codeAnchor(path: String, reason: String)
  /// A git repository could not be read for the pre-push gate or a hook install (libgit2's reason).
  case git(String)
  /// The signing key cannot be used; carries the path and why.
  case signingKey(path: String, reason: String)
  /// Signing failed inside OpenSSL; carries its message.
  case signingFailed(String)
  /// The allowed_signers file cannot be used; carries the path and why.
  case allowedSigners(path: String, reason: String)
  /// No signing key is configured for an operation that needs one.
  case noSigningKey
  /// An attestation is malformed or does not verify; carries why.
  case badAttestation(String)
}

func wrap<T>(_ body: () throws -> T) throws -> T {
  do { return try body() } catch let e as KitError { throw e } catch let e as StoreError { throw KitError.store(e) }
}
