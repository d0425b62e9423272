import Foundation
import LineageCore
import LineageNative
import LineageFormats
import LineageForensics
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
    let (id, view, _) = try assembledModel(revision, directory: directory)
    return (id, view)
  }

  /// The model of a revision's directory with the reader of each file.
  func assembledModel(_ revision: String, directory: String) throws -> (ObjectID, ModelView, [String: any TensorSource]) {
    let id = try resolve(revision)
    let prefix = directory.isEmpty || directory == "." ? "" : directory.hasSuffix("/") ? directory : directory + "/"
    let entries = try tree(try commit(id).tree).entries.filter {
      $0.path.hasPrefix(prefix) && !$0.path.dropFirst(prefix.count).contains("/")
    }
    let byName = Dictionary(entries.map { (String($0.path.dropFirst(prefix.count)), $0) }, uniquingKeysWith: { a, _ in a })
    let (view, sources) = try Self.assemble(
      directory: prefix.isEmpty ? "." : directory, prefix: prefix, names: Array(byName.keys),
      format: { name in try byName[name].map { try self.file($0.file).format } },
      read: { name in try byName[name].map { try self.fileBytes($0.file) } },
      open: { name in try byName[name].flatMap { try self.tensorSource(file: $0.file, path: $0.path) } })
    return (id, view, sources)
  }

  /// The model in a directory on disk (or a single model file), read in place; no repository
  /// is needed.
  public static func modelTensors(atPath path: String) throws -> ModelTensors {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw KitError.pathNotFound(path) }
    func open(_ file: String) throws -> (any TensorSource)? {
      let handle = try InputHandle(path: file)
      let prefix = try handle.read(count: Int(min(handle.stat.size, 16)), at: 0)
      let format = ModelFormats.readableFormat(name: file, prefix: prefix)
      guard format != .opaque else { return nil }
      let directory = (file as NSString).deletingLastPathComponent
      let external: @Sendable (String) throws -> any ByteSource = { relative in
        HandleBytes(handle: try InputHandle(path: "\(directory)/\(relative)"))
      }
      return try Repository.openModel(HandleBytes(handle: handle), format: format, path: file, external: external)
    }
    guard isDirectory.boolValue else {
      guard let source = try open(path) else {
        throw KitError.modelFormat(path: path, format: "opaque", reason: "not a model file lineage reads (Docs/Formats.md)")
      }
      return ModelTensors(label: path, items: source.tensors.map { .init(file: path, entry: $0, source: source) })
    }
    let names = try FileManager.default.contentsOfDirectory(atPath: path).filter {
      if case .file = entryKind("\(path)/\($0)") { return true } else { return false }
    }
    let (view, sources) = try Self.assemble(
      directory: path, prefix: path + "/", names: names,
      format: { name in try open("\(path)/\(name)")?.format.rawValue ?? "opaque" },
      read: { name in try InputHandle(path: "\(path)/\(name)").readPrefix(upTo: 64 << 20) },
      open: { name in try open("\(path)/\(name)") })
    return ModelTensors(label: path, items: view.tensors.compactMap { t in sources[t.file].map { .init(file: t.file, entry: t.entry, source: $0) } })
  }

  /// The model of a revision's directory, for forensics.
  public func modelTensors(revision: String, directory: String = "") throws -> ModelTensors {
    let (id, view, sources) = try assembledModel(revision, directory: directory)
    let label = directory.isEmpty ? String(id.hex.prefix(12)) : "\(id.hex.prefix(12)):\(directory)"
    return ModelTensors(label: label, items: view.tensors.compactMap { t in sources[t.file].map { .init(file: t.file, entry: t.entry, source: $0) } })
  }

  /// One model from a directory's files (names relative to it): a shard index's shards, or the
  /// files of the most preferred format; config.json's summary.
  static func assemble(
    directory: String, prefix: String, names: [String], format: (String) throws -> String?, read: (String) throws -> [UInt8]?,
    open: (String) throws -> (any TensorSource)?
  ) throws -> (ModelView, [String: any TensorSource]) {
    var config: [(key: String, value: String)] = []
    if names.contains("config.json"), let bytes = try read("config.json"), let json = try? StrictJSONParser.parse(bytes) {
      for key in ["model_type", "architectures", "torch_dtype"] {
        guard let v = json[key] else { continue }
        let text = v.stringValue ?? v.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? ""
        if !text.isEmpty { config.append((key, text)) }
      }
    }
    let indexes = names.filter(ShardIndex.isIndexName).sorted { a, b in
      (a.hasSuffix(".safetensors.index.json") ? 0 : 1, a) < (b.hasSuffix(".safetensors.index.json") ? 0 : 1, b)
    }
    var chosen: [String] = []
    var index: (path: String, ShardIndex)?
    if let name = indexes.first, let bytes = try read(name) {
      let path = prefix + name
      let parsed = try Self.wrapFormat(path: path) { try ShardIndex.parse(bytes, path: path) }
      index = (path, parsed)
      for (_, shard) in parsed.weightMap where !chosen.contains(shard) {
        guard names.contains(shard) else {
          throw KitError.modelFormat(
            path: path, format: "shard index", reason: ModelDirectoryError.missingShard(index: path, shard: shard).description)
        }
        chosen.append(shard)
      }
    } else {
      let preference: [String] = ["safetensors", "gguf", "pytorch", "onnx", "npz", "npy"]
      var formats: [String: [String]] = [:]
      for name in names where !ShardIndex.isIndexName(name) {
        if let f = try format(name) { formats[f, default: []].append(name) }
      }
      if let best = preference.first(where: { formats[$0] != nil }) { chosen = (formats[best] ?? []).sorted() }
    }
    var sources: [(name: String, source: any TensorSource)] = []
    for name in chosen {
      guard let source = try open(name) else { continue }
      sources.append((name, source))
    }
    let tensors = try Self.wrapFormat(path: directory) { try ModelAssembly.merge(files: sources, index: index) }
    let view = ModelView(
      directory: directory, index: index?.path, files: chosen.map { prefix + $0 }, config: config,
      tensors: tensors.map { ModelTensor(file: prefix + $0.file, entry: $0.entry) })
    let byPath = Dictionary(sources.map { (prefix + $0.name, $0.source) }, uniquingKeysWith: { a, _ in a })
    return (view, byPath)
  }

  /// A whole stored file's bytes (small files: configs, indexes).
  func fileBytes(_ id: ObjectID) throws -> [UInt8] {
    let f = try file(id)
    guard f.size <= 64 << 20 else { throw KitError.invalidRecord("file \(id.hex) is too large to read whole") }
    return try StoredFileBytes(objects: objects, size: f.size, chunks: try chunkList(f)).read(count: Int(f.size), at: 0, what: "file")
  }

  static func wrapFormat<T>(path: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let p as ModelDirectoryError {
      throw KitError.modelFormat(path: path, format: "model directory", reason: p.description)
    }
  }
}
