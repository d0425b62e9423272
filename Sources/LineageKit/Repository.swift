import Foundation
import LineageCore
import LineageStore
import LineageTensor

/// A lineage repository: a working directory with a `.lineage` store in it.
public final class Repository: @unchecked Sendable {
  /// The directory that holds `.lineage`.
  public let root: String
  public let store: Store

  var objects: PackObjectStore { store.objects }

  /// Create a repository in `directory` (created if missing).
  public static func initialize(at directory: String) throws -> Repository {
    let root = URL(fileURLWithPath: directory).standardizedFileURL.path
    if FileManager.default.fileExists(atPath: "\(root)/.lineage/format") { throw KitError.alreadyInitialized(path: root) }
    let store = try wrap { try Store.create(at: "\(root)/.lineage") }
    return Repository(root: root, store: store)
  }

  /// Find the repository containing `directory`, looking upwards like git.
  public static func discover(from directory: String) throws -> Repository {
    var url = URL(fileURLWithPath: directory).standardizedFileURL
    while true {
      if FileManager.default.fileExists(atPath: url.path + "/.lineage/format") {
        return Repository(root: url.path, store: try wrap { try Store(directory: url.path + "/.lineage") })
      }
      if url.path == "/" { throw KitError.notARepository(path: directory) }
      url.deleteLastPathComponent()
    }
  }

  init(root: String, store: Store) {
    self.root = root
    self.store = store
  }

  // MARK: reading objects

  func commit(_ id: ObjectID) throws -> CommitRecord {
    let bytes = try wrap { try objects.read(id, as: .commit) }
    do { return try CommitRecord.decode(bytes) } catch { throw KitError.corruptObject(id, reason: "\(error)") }
  }

  func tree(_ id: ObjectID) throws -> TreeObject {
    let bytes = try wrap { try objects.read(id, as: .tree) }
    do { return try TreeObject.decode(bytes) } catch { throw KitError.corruptObject(id, reason: "\(error)") }
  }

  func file(_ id: ObjectID) throws -> FileObject {
    let bytes = try wrap { try objects.read(id, as: .file) }
    do { return try FileObject.decode(bytes) } catch { throw KitError.corruptObject(id, reason: "\(error)") }
  }

  func tensor(_ id: ObjectID) throws -> TensorObject {
    let bytes = try wrap { try objects.read(id, as: .tensor) }
    do { return try TensorObject.decode(bytes) } catch { throw KitError.corruptObject(id, reason: "\(error)") }
  }

  /// Read any object's decoded form, for `cat-object`.
  public func describeObject(_ id: ObjectID) throws -> ObjectDescription {
    guard let loc = objects.location(of: id) else { throw KitError.store(.objectMissing(id)) }
    switch loc.type {
    case .commit: return .commit(try commit(id))
    case .tree: return .tree(try tree(id))
    case .file: return .file(try file(id))
    case .tensor: return .tensor(try tensor(id))
    case .chunk:
      let stored = try wrap { try objects.stored(id) }
      return .chunk(rawLength: loc.rawLength, codec: stored.codec, storedLength: UInt64(stored.payload.count), base: stored.base, depth: stored.depth)
    }
  }

  /// The raw content bytes of an object (what its id hashes), verified.
  public func rawObject(_ id: ObjectID) throws -> (ObjectType, [UInt8]) {
    guard let loc = objects.location(of: id) else { throw KitError.store(.objectMissing(id)) }
    return (loc.type, try wrap { try objects.read(id, as: loc.type) })
  }

  /// Resolve an object id or unique prefix of any type.
  public func resolveObject(_ text: String) throws -> ObjectID {
    if let id = ObjectID(hex: text.lowercased()) { return id }
    let prefix = text.lowercased()
    guard prefix.count >= 4, prefix.allSatisfy(\.isHexDigit) else { throw KitError.unknownRevision(text) }
    let matches = objects.allObjects().map(\.0).filter { $0.hex.hasPrefix(prefix) }
    if matches.count == 1 { return matches[0] }
    if matches.isEmpty { throw KitError.unknownRevision(text) }
    throw KitError.ambiguousRevision(text, candidates: matches.map(\.short).sorted())
  }
}

/// A decoded object, for display.
public enum ObjectDescription: Sendable {
  case commit(CommitRecord)
  case tree(TreeObject)
  case file(FileObject)
  case tensor(TensorObject)
  case chunk(rawLength: UInt64, codec: Codec, storedLength: UInt64, base: ObjectID?, depth: UInt8)
}
