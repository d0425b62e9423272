import Foundation
import LineageCore
import LineageNative
import LineageFormats
import LineageStore

/// A file in a revision, with its tensors.
public struct ListedFile: Sendable {
  public var path: String
  public var mode: UInt32
  public var file: ObjectID
  public var format: String
  public var size: UInt64
  public var sha256: String
  public var tensors: [ListedTensor]
}

/// A tensor of a listed file.
public struct ListedTensor: Sendable {
  public var name: String
  public var id: ObjectID
  public var dtype: DType
  public var shape: [UInt64]
  public var bytes: UInt64
}

/// A commit with its record, for `log`-like output.
public struct CommitInfo: Sendable {
  public var id: ObjectID
  public var record: CommitRecord
}

extension Repository {
  /// The files and tensors of a revision.
  public func list(_ revision: String) throws -> (ObjectID, [ListedFile]) {
    let id = try resolve(revision)
    var out: [ListedFile] = []
    for e in try tree(try commit(id).tree).entries {
      let f = try file(e.file)
      var tensors: [ListedTensor] = []
      for case .tensor(let name, let tid) in f.segments {
        let t = try tensor(tid)
        tensors.append(ListedTensor(name: name, id: tid, dtype: t.dtype, shape: t.shape, bytes: t.byteLength))
      }
      out.append(
        ListedFile(
          path: e.path, mode: e.mode, file: e.file, format: f.format, size: f.size, sha256: HexEncoding.encode(f.sha256),
          tensors: tensors))
    }
    return (id, out)
  }

  /// A commit's record.
  public func commitInfo(_ revision: String) throws -> CommitInfo {
    let id = try resolve(revision)
    return CommitInfo(id: id, record: try commit(id))
  }

  /// First-parent history from a revision, newest first, at most `limit` commits.
  public func history(from revision: String, limit: Int) throws -> [CommitInfo] {
    var out: [CommitInfo] = []
    var next: ObjectID? = try resolve(revision)
    while let id = next, out.count < limit {
      let r = try commit(id)
      out.append(CommitInfo(id: id, record: r))
      next = r.parents.first?.id
    }
    return out
  }
}

/// A file's tensors as its format's reader names them (the view forensics reads).
public struct FileTensorView: Sendable {
  public var path: String
  public var format: String
  public var tensors: [TensorEntry]
}

extension Repository {
  /// The tensor view of every readable model file of a revision, read from the store.
  public func tensorView(_ revision: String) throws -> (ObjectID, [FileTensorView]) {
    let id = try resolve(revision)
    var out: [FileTensorView] = []
    let entries = try tree(try commit(id).tree).entries
    let files = Dictionary(entries.map { ($0.path, $0.file) }, uniquingKeysWith: { a, _ in a })
    for e in entries {
      // Files beside this one (ONNX external data), by path relative to its directory.
      let directory = (e.path as NSString).deletingLastPathComponent
      let external: @Sendable (String) throws -> any ByteSource = { [self] relative in
        let path = directory.isEmpty ? relative : "\(directory)/\(relative)"
        guard let fid = files[path] else { throw KitError.pathNotFound(path) }
        let f = try file(fid)
        return StoredFileBytes(objects: objects, size: f.size, chunks: try chunkList(f))
      }
      guard let source = try tensorSource(file: e.file, path: e.path, external: external) else { continue }
      out.append(FileTensorView(path: e.path, format: source.format.rawValue, tensors: source.tensors))
    }
    return (id, out)
  }
}
