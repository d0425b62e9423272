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

/// A model as one: the files of a directory merged into one tensor view (Hugging Face layout:
/// shards and their index, config.json).
public struct ModelView: Sendable {
  public var directory: String
  /// The shard index, when the directory has one.
  public var index: String?
  /// The files whose tensors make up the model, in order.
  public var files: [String]
  /// `model_type`, `architectures` and `torch_dtype` from config.json, when present.
  public var config: [(key: String, value: String)]
  public var tensors: [ModelTensor]
}

extension Repository {
  /// The model in `directory` of a revision ("" for the top level).
  ///
  /// With a shard index (`*.safetensors.index.json`, `*.bin.index.json`), the model is its shards,
  /// checked against the index. Without one, it is the directory's model files of the most
  /// preferred format present (safetensors, GGUF, PyTorch, ONNX, npz, npy): a repository that
  /// ships the same weights as both safetensors and PyTorch is read once.
  public func modelView(_ revision: String, directory: String = "") throws -> (ObjectID, ModelView) {
    let id = try resolve(revision)
    let prefix = directory.isEmpty || directory == "." ? "" : directory.hasSuffix("/") ? directory : directory + "/"
    let entries = try tree(try commit(id).tree).entries.filter {
      $0.path.hasPrefix(prefix) && !$0.path.dropFirst(prefix.count).contains("/")
    }
    let byName = Dictionary(entries.map { (String($0.path.dropFirst(prefix.count)), $0) }, uniquingKeysWith: { a, _ in a })
    var config: [(key: String, value: String)] = []
    if let c = byName["config.json"], let json = try? StrictJSONParser.parse(try fileBytes(c.file)) {
      for key in ["model_type", "architectures", "torch_dtype"] {
        guard let v = json[key] else { continue }
        let text = v.stringValue ?? v.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? ""
        if !text.isEmpty { config.append((key, text)) }
      }
    }
    let indexes = byName.keys.filter(ShardIndex.isIndexName).sorted { a, b in
      (a.hasSuffix(".safetensors.index.json") ? 0 : 1, a) < (b.hasSuffix(".safetensors.index.json") ? 0 : 1, b)
    }
    var chosen: [String] = []
    var index: (path: String, ShardIndex)?
    if let name = indexes.first, let entry = byName[name] {
      let parsed = try wrapFormat(path: entry.path) { try ShardIndex.parse(try fileBytes(entry.file), path: entry.path) }
      index = (entry.path, parsed)
      for (_, shard) in parsed.weightMap where !chosen.contains(shard) {
        guard byName[shard] != nil else {
          throw KitError.modelFormat(
            path: entry.path, format: "shard index",
            reason: ModelDirectoryError.missingShard(index: entry.path, shard: shard).description)
        }
        chosen.append(shard)
      }
    } else {
      let preference: [String] = ["safetensors", "gguf", "pytorch", "onnx", "npz", "npy"]
      var formats: [String: [String]] = [:]
      for (name, e) in byName { formats[try file(e.file).format, default: []].append(name) }
      if let best = preference.first(where: { formats[$0] != nil }) { chosen = (formats[best] ?? []).sorted() }
    }
    var sources: [(name: String, source: any TensorSource)] = []
    for name in chosen {
      guard let e = byName[name], let source = try tensorSource(file: e.file, path: e.path) else { continue }
      sources.append((name, source))
    }
    let tensors = try wrapFormat(path: prefix.isEmpty ? "." : directory) { try ModelAssembly.merge(files: sources, index: index) }
    return (
      id,
      ModelView(
        directory: prefix.isEmpty ? "." : directory, index: index?.path, files: chosen.map { prefix + $0 }, config: config,
        tensors: tensors.map { ModelTensor(file: prefix + $0.file, entry: $0.entry) })
    )
  }

  /// A whole stored file's bytes (small files: configs, indexes).
  func fileBytes(_ id: ObjectID) throws -> [UInt8] {
    let f = try file(id)
    guard f.size <= 64 << 20 else { throw KitError.invalidRecord("file \(id.hex) is too large to read whole") }
    return try StoredFileBytes(objects: objects, size: f.size, chunks: try chunkList(f)).read(count: Int(f.size), at: 0, what: "file")
  }

  func wrapFormat<T>(path: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let p as ModelDirectoryError {
      throw KitError.modelFormat(path: path, format: "model directory", reason: p.description)
    }
  }
}
