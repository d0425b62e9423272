import LineageCore

/// Why a store operation failed. Every case names the object, path or ref involved.
public enum StoreError: Error, Equatable, Sendable {
  /// No `.lineage` store at or above the path.
  case notAStore(path: String)
  /// The store's `format` file names a version this build cannot read.
  case unsupportedFormat(path: String, found: String)
  /// `init` found a store already there.
  case alreadyExists(path: String)
  /// A system call failed; carries the operation, the path and `strerror`.
  case io(operation: String, path: String, message: String)
  /// A pack file is damaged at an offset.
  case corruptPack(path: String, offset: UInt64, reason: String)
  /// A pack index is damaged.
  case corruptIndex(path: String, reason: String)
  /// No object with this id is in the store.
  case objectMissing(ObjectID)
  /// An object's stored bytes do not decode or do not hash to its id.
  case objectCorrupt(ObjectID, reason: String)
  /// The object exists but has another type.
  case wrongType(ObjectID, expected: ObjectType, actual: ObjectType)
  /// Another process holds the lock for longer than the timeout.
  case lockTimeout(path: String, seconds: Int)
  /// A ref changed between reading and updating it (compare-and-swap failed).
  case refConflict(ref: String, expected: String, actual: String)
  /// A ref name is not allowed.
  case invalidRefName(String)
  /// A ref file holds something other than an object id.
  case corruptRef(ref: String, content: String)
}
