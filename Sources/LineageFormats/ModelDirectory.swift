import LineageCore

/// Why a model directory's files do not form one model.
public enum ModelDirectoryError: FormatProblem, Equatable {
  /// The shard index is not the JSON Hugging Face writes (`{"weight_map": {tensor: file}}`).
  case invalidIndex(path: String, reason: String)
  /// The index names a shard file the directory does not have.
  case missingShard(index: String, shard: String)
  /// The index maps a tensor to a shard that does not hold it.
  case tensorNotInShard(tensor: String, shard: String)
  /// A shard holds a tensor the index does not list (or lists in another shard).
  case tensorNotInIndex(tensor: String, shard: String)
  /// Two files of the model hold a tensor of the same name.
  case duplicateTensor(tensor: String, first: String, second: String)

  public var description: String {
    switch self {
    case .invalidIndex(let p, let r): return "\(p): not a shard index: \(r)"
    case .missingShard(let i, let s): return "\(i) names shard '\(s)', which is not in the model directory"
    case .tensorNotInShard(let t, let s): return "the index puts tensor '\(t)' in '\(s)', which does not hold it"
    case .tensorNotInIndex(let t, let s): return "'\(s)' holds tensor '\(t)', which the index does not map to it"
    case .duplicateTensor(let t, let a, let b): return "tensor '\(t)' is in both '\(a)' and '\(b)'"
    }
  }
}

/// A Hugging Face shard index: `model.safetensors.index.json` or `pytorch_model.bin.index.json`.
public struct ShardIndex: Equatable, Sendable {
  /// Tensor name → shard file name, in the index's order.
  public var weightMap: [(tensor: String, shard: String)]
  /// `metadata.total_size`, when given.
  public var totalSize: UInt64?

  public static func == (a: ShardIndex, b: ShardIndex) -> Bool {
    a.totalSize == b.totalSize && a.weightMap.map { [$0.tensor, $0.shard] } == b.weightMap.map { [$0.tensor, $0.shard] }
  }

  /// Whether a file name is a shard index by Hugging Face's naming.
  public static func isIndexName(_ name: String) -> Bool {
    name.hasSuffix(".safetensors.index.json") || name.hasSuffix(".bin.index.json") || name.hasSuffix(".pt.index.json")
  }

  public static func parse(_ bytes: [UInt8], path: String) throws -> ShardIndex {
    let value: JSONValue
    do { value = try StrictJSONParser.parse(bytes) } catch {
      throw ModelDirectoryError.invalidIndex(path: path, reason: "not JSON (\(error))")
    }
    guard let members = value.objectValue else { throw ModelDirectoryError.invalidIndex(path: path, reason: "not a JSON object") }
    guard let map = members.first(where: { $0.0 == "weight_map" })?.1.objectValue else {
      throw ModelDirectoryError.invalidIndex(path: path, reason: "no weight_map object")
    }
    var weightMap: [(tensor: String, shard: String)] = []
    for (tensor, shard) in map {
      guard let file = shard.stringValue, !file.isEmpty, !file.contains("/"), file != "..", file != "." else {
        throw ModelDirectoryError.invalidIndex(path: path, reason: "tensor '\(tensor)' maps to an invalid shard name")
      }
      weightMap.append((tensor, file))
    }
    var total: UInt64?
    if let meta = members.first(where: { $0.0 == "metadata" })?.1.objectValue,
      let size = meta.first(where: { $0.0 == "total_size" })?.1.int64Value, size >= 0
    {
      total = UInt64(size)
    }
    return ShardIndex(weightMap: weightMap, totalSize: total)
  }
}

/// One tensor of an assembled model and the file that holds it.
public struct ModelTensor: Equatable, Sendable {
  public var file: String
  public var entry: TensorEntry
  public init(file: String, entry: TensorEntry) {
    self.file = file
    self.entry = entry
  }
}

/// Merging the tensor views of a model's files into one.
public enum ModelAssembly {
  /// The tensors of `files` (name → reader), checked against `index` when there is one: every
  /// mapped tensor is in its shard, every shard tensor is mapped to that shard, and no name is
  /// in two files. Without an index, names must simply be unique across the files.
  public static func merge(
    files: [(name: String, source: any TensorSource)], index: (path: String, ShardIndex)?
  ) throws -> [ModelTensor] {
    var holder: [String: String] = [:]
    var out: [ModelTensor] = []
    for (name, source) in files {
      for t in source.tensors {
        if let first = holder[t.name] { throw ModelDirectoryError.duplicateTensor(tensor: t.name, first: first, second: name) }
        holder[t.name] = name
        out.append(ModelTensor(file: name, entry: t))
      }
    }
    guard let (indexPath, index) = index else { return out }
    let names = Set(files.map(\.name))
    var mapped: [String: String] = [:]
    for (tensor, shard) in index.weightMap {
      guard names.contains(shard) else { throw ModelDirectoryError.missingShard(index: indexPath, shard: shard) }
      guard holder[tensor] == shard else { throw ModelDirectoryError.tensorNotInShard(tensor: tensor, shard: shard) }
      mapped[tensor] = shard
    }
    for t in out where mapped[t.entry.name] != t.file {
      throw ModelDirectoryError.tensorNotInIndex(tensor: t.entry.name, shard: t.file)
    }
    return out
  }
}
