import Foundation
import LineageCore
import LineageForensics
import LineageFormats
import LineageRuntime
import LineageTensor

/// A model the native runtime can run: its architecture and weights, and where they came from.
public struct RunnableModel: Sendable {
  /// The revision's short id (and directory), or the path.
  public var label: String
  public var architecture: Architecture
  public var parameters: Parameters

  public init(label: String, architecture: Architecture, parameters: Parameters) {
    self.label = label
    self.architecture = architecture
    self.parameters = parameters
  }

  /// The file that names the architecture, beside the weights.
  public static let architectureFile = "architecture.json"

  /// Build from an architecture file's bytes and the model's tensors (any format, any float dtype).
  static func make(label: String, architectureBytes: [UInt8], tensors: ModelTensors) throws -> RunnableModel {
    try runtimeErrors(label) {
      let architecture = try Architecture.parse(architectureBytes)
      var named: [String: (shape: [Int], values: [Float])] = [:]
      for item in tensors.items {
        let shape = item.entry.shape.map { Int(clamping: $0) }
        named[item.entry.name] = (shape, try item.source.floats(of: item.entry))
      }
      return RunnableModel(label: label, architecture: architecture, parameters: try Parameters(architecture: architecture, tensors: named))
    }
  }

  /// Write `model.safetensors` (float32) and `architecture.json` into `directory` (created if
  /// missing), each through a temporary file and a rename.
  public func write(to directory: String, metadata: [(String, String)] = []) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let specs = parameters.layout.specs
    let header = SafetensorsWriter.header(
      specs.map { .init(name: $0.name, dtype: .f32, shape: $0.shape.map { UInt64($0) }) },
      metadata: [("format", "pt"), ("lineage.architecture", architecture.kind.rawValue)] + metadata)
    let out = try Fixtures.Output(path: "\(directory)/model.safetensors")
    try out.write(header)
    // Parameters are laid out in the header's order, little-endian float32 on every platform
    // lineage builds for.
    try parameters.values.withUnsafeBytes { try out.write(Array($0)) }
    try out.finish()
    let arch = try Fixtures.Output(path: "\(directory)/\(Self.architectureFile)")
    try arch.write(Array(architecture.json().utf8))
    try arch.finish()
  }
}

extension Repository {
  /// The runnable model in `directory` of a revision: its `architecture.json` and weights.
  public func runnableModel(revision: String, directory: String = "") throws -> RunnableModel {
    let id = try resolve(revision)
    let prefix = directory.isEmpty || directory == "." ? "" : directory.hasSuffix("/") ? directory : directory + "/"
    let label = prefix.isEmpty ? "\(revision) (\(id.short))" : "\(revision):\(directory) (\(id.short))"
    guard let entry = try tree(try commit(id).tree).entries.first(where: { $0.path == prefix + RunnableModel.architectureFile }) else {
      throw KitError.runtime(what: label, reason: "no \(prefix)\(RunnableModel.architectureFile) beside the weights (the runtime runs only the architectures of Docs/Runtime.md)")
    }
    return try RunnableModel.make(label: label, architectureBytes: try fileBytes(entry.file), tensors: try modelTensors(revision: revision, directory: directory))
  }

  /// The runnable model in a directory on disk.
  public static func runnableModel(atPath path: String) throws -> RunnableModel {
    let file = "\(path)/\(RunnableModel.architectureFile)"
    guard FileManager.default.fileExists(atPath: file) else {
      throw KitError.runtime(what: path, reason: "no \(RunnableModel.architectureFile) in the directory (the runtime runs only the architectures of Docs/Runtime.md)")
    }
    let bytes = try InputHandle(path: file).readPrefix(upTo: 1 << 20)
    return try RunnableModel.make(label: path, architectureBytes: bytes, tensors: try modelTensors(atPath: path))
  }
}

/// Inputs for `lineage run`: a JSON object `{"tokens": [[…], …]}` or `{"features": [[…], …]}`
/// with optional `"targets"` of the same shape (tokens) or one class per row (features), or the
/// JSON lines a seeded task writes (`{"tokens":[…],"targets":[…]}` / `{"x":[…],"y":k}`).
public enum RuntimeInput {
  /// Parse an input file: safetensors or npz (an integer tensor `input_ids` or `tokens` of shape
  /// [rows, length] or [length], or a float tensor `features` or `x` of shape [rows, width]; an
  /// optional integer `targets`), or JSON as below.
  public static func parse(_ file: NamedBytes, for architecture: Architecture, what: String) throws -> (Batch, [Int32]?) {
    guard let t = try tensors(file) else { return try parse(file.bytes, for: architecture, what: what) }
    func fail(_ why: String) -> KitError { .runtime(what: "\(what) \(file.name)", reason: why) }
    func named(_ names: [String]) -> TensorEntry? { names.lazy.compactMap { t.source.tensor(named: $0) }.first }
    func ints(_ e: TensorEntry) throws -> [Int32] {
      guard !e.dtype.isFloat else { throw fail("tensor \(e.name) is \(e.dtype.rawValue); token ids must be integers") }
      return try t.source.floats(of: e).map {
        guard let i = Int32(exactly: $0) else { throw fail("tensor \(e.name) holds \($0), not a token id") }
        return i
      }
    }
    let targets = try named(["targets"]).map(ints)
    switch architecture.kind {
    case .transformer:
      guard let e = named(["input_ids", "tokens"]) else { throw fail("a transformer needs an integer tensor input_ids (or tokens)") }
      guard e.shape.count == 1 || e.shape.count == 2, let length = e.shape.last, length > 0 else {
        throw fail("\(e.name) must have shape [rows, length] or [length], has \(e.shape)")
      }
      let values = try ints(e)
      return (.tokens(values, rows: values.count / Int(length), length: Int(length)), targets)
    case .mlp:
      guard let e = named(["features", "x"]) else { throw fail("an mlp needs a float tensor features (or x)") }
      guard e.shape.count == 2, e.dtype.isFloat else { throw fail("\(e.name) must be a float tensor of shape [rows, width], is \(e.dtype.rawValue) \(e.shape)") }
      return (.features(try t.source.floats(of: e), rows: Int(e.shape[0])), targets)
    }
  }

  /// The tensors of a safetensors or npz file (nil for anything else).
  static func tensors(_ file: NamedBytes) throws -> (format: ModelFormat, source: any TensorSource)? {
    let format = ModelFormats.readableFormat(name: file.name, prefix: Array(file.bytes.prefix(16)))
    guard format == .safetensors || format == .npz else { return nil }
    return (format, try Repository.openModel(MemoryBytes(file.bytes), format: format, path: file.name))
  }

  public static func parse(_ bytes: [UInt8], for architecture: Architecture, what: String) throws -> (Batch, [Int32]?) {
    func fail(_ why: String) -> KitError { .runtime(what: what, reason: why) }
    func object(_ b: ArraySlice<UInt8>) throws -> JSONValue {
      do { return try StrictJSONParser.parse(Array(b)) } catch { throw fail("not JSON: \(error)") }
    }
    func floats(_ v: JSONValue?) throws -> [Float] {
      guard let a = v?.arrayValue else { throw fail("expected an array of numbers") }
      return try a.map {
        guard case .number(let t) = $0, let f = Float(t) else { throw fail("expected a number, found \($0)") }
        return f
      }
    }
    func ints(_ v: JSONValue?) throws -> [Int32] {
      guard let a = v?.arrayValue else { throw fail("expected an array of integers") }
      return try a.map {
        guard let n = $0.int64Value, let i = Int32(exactly: n) else { throw fail("expected an integer, found \($0)") }
        return i
      }
    }
    var rows: [JSONValue] = []
    var rowTargets: [JSONValue]?
    let lines = bytes.split(separator: UInt8(ascii: "\n")).filter { !$0.allSatisfy { $0 == 32 || $0 == 13 || $0 == 9 } }
    if lines.count == 1, let root = try? object(lines[0]), root["tokens"]?.arrayValue?.first?.arrayValue != nil
      || root["features"] != nil
    {
      rows = root["tokens"]?.arrayValue ?? root["features"]?.arrayValue ?? []
      rowTargets = root["targets"]?.arrayValue
    } else if let whole = try? object(bytes[...]), whole["tokens"]?.arrayValue?.first?.arrayValue != nil || whole["features"] != nil {
      rows = whole["tokens"]?.arrayValue ?? whole["features"]?.arrayValue ?? []
      rowTargets = whole["targets"]?.arrayValue
    } else {
      var targets: [JSONValue] = []
      for line in lines {
        let o = try object(line)
        guard let x = o["tokens"] ?? o["x"] else { throw fail("a line has neither \"tokens\" nor \"x\"") }
        rows.append(x)
        if let y = o["targets"] ?? o["y"] { targets.append(y) }
      }
      rowTargets = targets.isEmpty ? nil : targets
      guard rowTargets == nil || targets.count == rows.count else { throw fail("some lines have targets and some do not") }
    }
    guard !rows.isEmpty else { throw fail("no input rows") }
    switch architecture.kind {
    case .mlp:
      let x = try rows.map { try floats($0) }
      let targets = try rowTargets.map { t in
        try t.map {
          guard let n = $0.int64Value, let i = Int32(exactly: n) else { throw fail("a class target must be an integer") }
          return i
        }
      }
      return (.features(x.flatMap { $0 }, rows: x.count), targets)
    case .transformer:
      let t = try rows.map { try ints($0) }
      let length = t[0].count
      guard t.allSatisfy({ $0.count == length }) else { throw fail("token rows have different lengths") }
      let targets = try rowTargets.map { try $0.flatMap { try ints($0) } }
      return (.tokens(t.flatMap { $0 }, rows: t.count, length: length), targets)
    }
  }
}

/// Run `body`, reporting a runtime error as `KitError.runtime` about `what`.
func runtimeErrors<T>(_ what: String, _ body: () throws -> T) throws -> T {
  do { return try body() } catch let e as RuntimeError { throw KitError.runtime(what: what, reason: e.description) }
}
