import LineageCore
import LineageFormats
import LineageNative
import LineageStore
import LineageTensor

/// How one tensor differs between two revisions.
public struct TensorChange: Sendable {
  public enum Status: String, Sendable { case added, removed, changed, unchanged }
  /// The tensor's name (prefixed by `path::` when a revision has the name in several files).
  public var name: String
  public var status: Status
  public var dtype: DType
  public var shape: [UInt64]
  /// The old dtype and shape, when they changed.
  public var oldDType: DType?
  public var oldShape: [UInt64]?
  /// The tensor's size in bytes (new side, or old side when removed).
  public var bytes: UInt64
  /// Bytes of chunks whose content differs (all bytes when the layout changed).
  public var changedBytes: UInt64
  /// ‖new − old‖₂ / ‖old‖₂, when dtype and shape match (∞ when the old tensor is all zeros and
  /// the new one is not).
  public var relativeL2: Double?
}

/// A difference in one field of the two records.
public struct RecordChange: Sendable, Equatable {
  /// Dotted path, e.g. `params.lr`, `metrics.loss`, `environment.summary.python`.
  public var field: String
  public var old: String?
  public var new: String?

  public init(field: String, old: String?, new: String?) {
    self.field = field
    self.old = old
    self.new = new
  }
}

/// `diff REV1 REV2`.
public struct CommitDiff: Sendable {
  public var old: ObjectID
  public var new: ObjectID
  public var tensors: [TensorChange]
  /// Files that are not tensor containers, by path.
  public var files: [(path: String, status: TensorChange.Status)]
  public var record: [RecordChange]
}

extension Repository {
  /// Compare two revisions tensor by tensor and field by field.
  public func diff(_ a: String, _ b: String, numeric: Bool = true) throws -> CommitDiff {
    let (oldID, newID) = (try resolve(a), try resolve(b))
    let (oldRecord, newRecord) = (try commit(oldID), try commit(newID))
    let (oldTensors, oldFiles) = try tensorIndex(oldRecord)
    let (newTensors, newFiles) = try tensorIndex(newRecord)
    var changes: [TensorChange] = []
    for name in Set(oldTensors.keys).union(newTensors.keys).sorted() {
      switch (oldTensors[name], newTensors[name]) {
      case (nil, let t?):
        changes.append(TensorChange(name: name, status: .added, dtype: t.dtype, shape: t.shape, bytes: t.byteLength, changedBytes: t.byteLength))
      case (let t?, nil):
        changes.append(TensorChange(name: name, status: .removed, dtype: t.dtype, shape: t.shape, bytes: t.byteLength, changedBytes: t.byteLength))
      case (let o?, let n?):
        changes.append(try compare(name, o, n, numeric: numeric))
      default: break
      }
    }
    var files: [(String, TensorChange.Status)] = []
    for path in Set(oldFiles.keys).union(newFiles.keys).sorted() {
      switch (oldFiles[path], newFiles[path]) {
      case (nil, _?): files.append((path, .added))
      case (_?, nil): files.append((path, .removed))
      case (let o?, let n?): files.append((path, o == n ? .unchanged : .changed))
      default: break
      }
    }
    var record: [RecordChange] = []
    func flat(_ v: JSONValue?, _ prefix: String, into out: inout [String: String]) {
      guard let v else { return }
      switch v {
      case .object(let members): for (k, m) in members { flat(m, prefix.isEmpty ? k : "\(prefix).\(k)", into: &out) }
      case .array(let items): for (k, m) in items.enumerated() { flat(m, "\(prefix)[\(k)]", into: &out) }
      case .string(let s): out[prefix] = s
      case .number(let n): out[prefix] = n
      case .bool(let b): out[prefix] = b ? "true" : "false"
      case .null: out[prefix] = "null"
      }
    }
    func fields(_ r: CommitRecord) throws -> [String: String] {
      var out: [String: String] = [:]
      out["author"] = r.author
      out["message"] = r.message
      out["parents"] = r.parents.map { "\($0.id.short)(\($0.relation?.rawValue ?? "-"))" }.joined(separator: " ")
      for d in r.data { out["data.\(d.role).\(d.uri)"] = d.digest }
      flat(r.code, "code", into: &out)
      if let c = r.command { out["command"] = c }
      flat(r.params, "params", into: &out)
      flat(r.metrics, "metrics", into: &out)
      if let env = r.environment {
        out["environment.digest"] = env.digest
        flat(try environmentCapture(r), "environment", into: &out)
      }
      out["signed"] = r.signature == nil ? "no" : "yes"
      return out
    }
    let (of, nf) = (try fields(oldRecord), try fields(newRecord))
    for key in Set(of.keys).union(nf.keys).sorted() where of[key] != nf[key] {
      record.append(RecordChange(field: key, old: of[key], new: nf[key]))
    }
    return CommitDiff(old: oldID, new: newID, tensors: changes, files: files, record: record)
  }

  /// Tensors by name (made unique with `path::` when needed) and non-tensor files by path.
  private func tensorIndex(_ r: CommitRecord) throws -> ([String: TensorObject], [String: ObjectID]) {
    var byName: [String: [(String, TensorObject)]] = [:]
    var files: [String: ObjectID] = [:]
    for e in try tree(r.tree).entries {
      let f = try file(e.file)
      var any = false
      for case .tensor(let name, let tid) in f.segments {
        byName[name, default: []].append((e.path, try tensor(tid)))
        any = true
      }
      if !any { files[e.path] = e.file }
    }
    var out: [String: TensorObject] = [:]
    for (name, list) in byName {
      if list.count == 1 { out[name] = list[0].1 } else { for (path, t) in list { out["\(path)::\(name)"] = t } }
    }
    return (out, files)
  }

  private func compare(_ name: String, _ o: TensorObject, _ n: TensorObject, numeric: Bool) throws -> TensorChange {
    var change = TensorChange(
      name: name, status: .unchanged, dtype: n.dtype, shape: n.shape, bytes: n.byteLength, changedBytes: 0)
    if o == n {
      change.relativeL2 = 0
      return change
    }
    change.status = .changed
    guard o.dtype == n.dtype, o.shape == n.shape, o.chunks.map(\.length) == n.chunks.map(\.length) else {
      change.oldDType = o.dtype
      change.oldShape = o.shape
      change.changedBytes = n.byteLength
      return change
    }
    // Quantized types without a dequantization are compared by bytes only.
    let numeric = numeric && (!o.dtype.isQuantized || Dequantize.quantizedTypes.contains(o.dtype))
    var oldSquares = 0.0
    var diffSquares = 0.0
    var a: [Float] = []
    var b: [Float] = []
    for (co, cn) in zip(o.chunks, n.chunks) {
      let same = co.id == cn.id
      if !same { change.changedBytes += UInt64(cn.length) }
      guard numeric else { continue }
      let oldBytes = try wrap { try objects.read(co.id, as: .chunk) }
      try values(oldBytes, o.dtype, into: &a)
      a.withUnsafeBufferPointer { oldSquares += BLAS.dot($0, $0) }
      if same { continue }
      let newBytes = try wrap { try objects.read(cn.id, as: .chunk) }
      try values(newBytes, n.dtype, into: &b)
      // b ← b − a, then ‖b‖².
      a.withUnsafeBufferPointer { x in b.withUnsafeMutableBufferPointer { BLAS.axpy(-1, x, $0) } }
      b.withUnsafeBufferPointer { diffSquares += BLAS.dot($0, $0) }
    }
    if numeric {
      change.relativeL2 = oldSquares > 0 ? (diffSquares / oldSquares).squareRoot() : (diffSquares > 0 ? .infinity : 0)
    }
    return change
  }

  /// A chunk's values as floats: element by element, or dequantized block by block (chunks of a
  /// quantized tensor hold whole blocks).
  private func values(_ bytes: [UInt8], _ dtype: DType, into out: inout [Float]) throws {
    guard dtype.isQuantized else { return bytes.withUnsafeBytes { TensorValues.floats($0, dtype: dtype, into: &out) } }
    do { out = try bytes.withUnsafeBytes { try Dequantize.floats($0, dtype: dtype) } } catch let p as any FormatProblem {
      throw KitError.modelFormat(path: "chunk", format: dtype.rawValue, reason: p.description)
    }
  }
}
