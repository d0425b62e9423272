import Foundation
import LineageCore
import LineageForensics
import LineageNative
import LineageStore

/// What storing a commit's sketch did (reported by `commit`; a failure never fails the commit).
public enum SketchOutcome: Sendable {
  /// Stored in the sketch-index record; the model's tensors and the seconds it took.
  case stored(record: ObjectID, tensors: Int, seconds: Double)
  /// Not stored, and why (`lineage sketch` can add it later).
  case failed(reason: String)
  /// Not computed: the commit holds more than `CommitOptions.sketchLimit` bytes, where sketching
  /// would cost more than the commit itself (`lineage sketch` adds it).
  case deferred(bytes: UInt64)
}

/// What `lineage sketch` added.
public struct SketchBackfill: Sendable {
  /// Commits looked at, and distinct model trees among them.
  public var commits: Int
  public var trees: Int
  /// Trees that already had a sketch.
  public var present: Int
  /// Trees sketched now; those holding no readable model get an empty sketch.
  public var added: Int
  public var emptyModels: Int
  /// The sketch-index record appended, if anything was added.
  public var record: ObjectID?
  public var seconds: Double
}

extension Repository {
  /// The chain of sketch-index records (Docs/ObjectFormat.md §7.1).
  public static let sketchesRef = "refs/sketches"
  /// Bytes per chunk of a stored sketch.
  static let sketchChunkLength = 1 << 20

  /// The newest sketch-index record, if any.
  public func sketchesHead() throws -> ObjectID? { try wrap { try store.refs.read(Self.sketchesRef) } }

  /// Every stored sketch: model tree → the file object holding its sketch (newest record wins).
  public func sketchIndex() throws -> [ObjectID: ObjectID] {
    var out: [ObjectID: ObjectID] = [:]
    var next = try sketchesHead()
    var seen = Set<ObjectID>()
    while let id = next, seen.insert(id).inserted {
      let r = try commit(id)
      for e in try tree(r.tree).entries {
        guard let key = ObjectID(hex: e.path) else { throw KitError.corruptObject(r.tree, reason: "sketch index entry \(e.path) is not a tree id") }
        if out[key] == nil { out[key] = e.file }
      }
      next = r.parents.first?.id
    }
    return out
  }

  /// Read and decode the sketch stored in file object `id`.
  public func storedSketch(_ id: ObjectID) throws -> ModelSketch {
    let bytes = try storedSketchBytes(id)
    do { return try ModelSketch(decoding: bytes) } catch { throw KitError.corruptObject(id, reason: error.description) }
  }

  /// The bytes of the sketch stored in file object `id`.
  func storedSketchBytes(_ id: ObjectID) throws -> [UInt8] {
    let f = try file(id)
    guard f.format == ModelSketch.format else { throw KitError.corruptObject(id, reason: "a sketch file of format \(f.format)") }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(min(f.size, 1 << 30)))
    for c in try chunkList(f) { bytes += try wrap { try objects.read(c.id, as: .chunk) } }
    return bytes
  }

  /// The sketch of the top-level model of commit `id`; an empty sketch when it holds none.
  func computeSketch(commit id: ObjectID, sketcher: Sketcher) throws -> ModelSketch {
    // Commits without a readable model at the top level are not infer candidates either.
    guard let m = try? modelTensors(revision: id.hex), !m.items.isEmpty else {
      return ModelSketch(k: sketcher.k, q: sketcher.q, tensors: [])
    }
    do { return try sketcher.sketch(m) } catch let e as ForensicsError { throw KitError.forensics(e.description) }
  }

  /// Add `sketches` (model tree → sketch bytes) and the index tree naming them to `writer`.
  func writeSketchTree(_ sketches: [(tree: ObjectID, bytes: [UInt8])], writer: ObjectWriter) throws -> ObjectID {
    var entries: [TreeEntry] = []
    for (tree, bytes) in sketches {
      var chunks: [ChunkRef] = []
      var start = 0
      repeat {
        let end = min(bytes.count, start + Self.sketchChunkLength)
        let piece = Array(bytes[start..<end])
        let id = try wrap { try writer.addMetadata(.chunk, content: piece) }
        chunks.append(ChunkRef(id: id, length: UInt32(piece.count)))
        start = end
      } while start < bytes.count
      let object = FileObject(
        format: ModelSketch.format, size: UInt64(bytes.count), sha256: SHA256Hasher.hash(bytes).bytes, segments: [.bytes(chunks)])
      let fileID = try wrap { try writer.addMetadata(.file, content: object.encoded()) }
      entries.append(TreeEntry(path: tree.hex, mode: TreeEntry.regular, file: fileID))
    }
    let treeObject: TreeObject
    do { treeObject = try TreeObject(entries: entries) } catch { throw KitError.invalidPath("\(error)") }
    return try wrap { try writer.addMetadata(.tree, content: treeObject.encoded()) }
  }

  /// A sketch-index record for index tree `tree` (holding `count` sketches) chained after the
  /// current `refs/sketches`, added to `writer` (a new pack when nil); and the compare-and-swap
  /// update that appends it.
  func sketchRecord(tree: ObjectID, count: Int, time: Int64, writer shared: ObjectWriter? = nil) throws -> (record: ObjectID, update: RefUpdate) {
    let previous = try sketchesHead()
    var record = CommitRecord(
      tree: tree, parents: previous.map { [ParentRef(id: $0, role: "sketch-index", relation: .other)] } ?? [], author: "lineage",
      time: time, message: "sketch: \(count) model(s)")
    record.params = .object([
      ("sketches", .object([("count", .number(String(count))), ("version", .number(String(ModelSketch.version)))]))
    ])
    let content: [UInt8]
    do { content = try record.encoded() } catch { throw KitError.invalidRecord("\(error)") }
    let writer = shared ?? objects.writer()
    let id = try wrap { try writer.addMetadata(.commit, content: content) }
    if shared == nil { try wrap { try writer.finish() } }
    return (id, RefUpdate(ref: Self.sketchesRef, expected: previous.map { .value($0) } ?? .absent, new: id))
  }

  /// Append one sketch-index record holding `sketches` (model tree → sketch bytes), retrying
  /// with a fresh record when another writer moved `refs/sketches` meanwhile.
  func appendSketches(_ sketches: [(tree: ObjectID, bytes: [UInt8])], time: Int64) throws -> ObjectID {
    let lock = try wrap { try store.lock(exclusive: false) }
    defer { withExtendedLifetime(lock) {} }
    let writer = objects.writer()
    let tree = try writeSketchTree(sketches, writer: writer)
    var first: (record: ObjectID, update: RefUpdate)? = try sketchRecord(tree: tree, count: sketches.count, time: time, writer: writer)
    try wrap { try writer.finish() }
    var attempt = 0
    while true {
      attempt += 1
      let (id, update) = try first ?? sketchRecord(tree: tree, count: sketches.count, time: time)
      first = nil
      do {
        try store.refs.transaction(op: "sketch", updates: [update], time: time)
        return id
      } catch StoreError.refConflict where attempt < 5 {
        // Another commit appended its sketch first: chain after it.
        continue
      } catch let e as StoreError {
        throw KitError.store(e)
      }
    }
  }

  /// A new commit's sketch and a first index record for it, stored but not yet named by
  /// `refs/sketches`.
  struct PreparedSketch {
    var tree: ObjectID
    var tensors: Int
    var started: UInt64
    var record: (record: ObjectID, update: RefUpdate)
  }

  /// Sketch commit `id` (its objects durable, its ref not yet moved) and store the sketch.
  func prepareSketch(commit id: ObjectID, tree: ObjectID, time: Int64) -> Result<PreparedSketch, KitError> {
    let started = DispatchTime.now().uptimeNanoseconds
    do {
      let sketch = try computeSketch(commit: id, sketcher: Sketcher())
      // One pack for the sketch, its index tree and the record.
      let writer = objects.writer()
      let index = try writeSketchTree([(tree, sketch.encoded())], writer: writer)
      let record = try sketchRecord(tree: index, count: 1, time: time, writer: writer)
      try wrap { try writer.finish() }
      return .success(PreparedSketch(tree: index, tensors: sketch.tensors.count, started: started, record: record))
    } catch let e as KitError {
      return .failure(e)
    } catch {
      return .failure(.forensics("\(error)"))
    }
  }

  /// Apply a commit's ref `updates` and, in the same transaction (one op-log line), append
  /// its prepared sketch to `refs/sketches`. When another commit appended a sketch meanwhile,
  /// the record is rebuilt on top of it and the transaction retried; after five tries the
  /// commit lands without its sketch. Store errors other than that conflict are thrown as is.
  func commitTransaction(op: String, updates: [RefUpdate], time: Int64, sketch: Result<PreparedSketch, KitError>?) throws -> SketchOutcome? {
    guard let sketch else {
      try store.refs.transaction(op: op, updates: updates, time: time)
      return nil
    }
    guard case .success(let prepared) = sketch else {
      try store.refs.transaction(op: op, updates: updates, time: time)
      if case .failure(let e) = sketch { return .failed(reason: "\(e)") }
      return nil
    }
    for attempt in 0..<5 {
      let record: (record: ObjectID, update: RefUpdate)
      do { record = attempt == 0 ? prepared.record : try sketchRecord(tree: prepared.tree, count: 1, time: time) } catch {
        try store.refs.transaction(op: op, updates: updates, time: time)
        return .failed(reason: "\(error)")
      }
      do {
        try store.refs.transaction(op: op, updates: updates + [record.update], time: time)
        return .stored(record: record.record, tensors: prepared.tensors, seconds: Double(DispatchTime.now().uptimeNanoseconds - prepared.started) / 1e9)
      } catch StoreError.refConflict(let ref, _, _) where ref == Self.sketchesRef {
        continue
      }
    }
    try store.refs.transaction(op: op, updates: updates, time: time)
    return .failed(reason: "refs/sketches kept moving under concurrent commits")
  }

  /// Sketch the models of `revisions` (nil: every commit reachable from a branch or tag) that
  /// have no stored sketch yet, in one new sketch-index record.
  public func backfillSketches(revisions: [String]?, time: Int64, progress: ProgressSink = SilentProgress()) throws -> SketchBackfill {
    let start = DispatchTime.now().uptimeNanoseconds
    let ids: [ObjectID]
    if let revisions {
      ids = try revisions.map { try resolve($0) }
    } else {
      ids = try ancestry(from: try allRefTargets()).map(\.id)
    }
    let index = try sketchIndex()
    var pending: [(commit: ObjectID, tree: ObjectID)] = []
    var trees = Set<ObjectID>()
    var present = 0
    for id in ids {
      let tree = try commit(id).tree
      guard trees.insert(tree).inserted else { continue }
      if index[tree] != nil { present += 1 } else { pending.append((id, tree)) }
    }
    progress.begin("Sketching", total: UInt64(pending.count), unit: .items)
    let sketcher = Sketcher()
    var out: [(tree: ObjectID, bytes: [UInt8])] = []
    var empty = 0
    for (id, tree) in pending {
      let s = try computeSketch(commit: id, sketcher: sketcher)
      if s.tensors.isEmpty { empty += 1 }
      out.append((tree, s.encoded()))
      progress.advance(1)
    }
    progress.end()
    let record = out.isEmpty ? nil : try appendSketches(out, time: time)
    return SketchBackfill(
      commits: ids.count, trees: trees.count, present: present, added: out.count, emptyModels: empty, record: record,
      seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
  }

  /// Problems with stored sketches: each one reachable from `refs/sketches` must decode
  /// (Docs/ObjectFormat.md §7.2). Missing or damaged objects are reported by fsck's other passes.
  func sketchProblems() -> [FsckProblem] {
    guard let index = try? sketchIndex() else { return [] }
    var out: [FsckProblem] = []
    for (tree, file) in index.sorted(by: { $0.key.hex < $1.key.hex }) {
      guard objects.location(of: file) != nil else { continue }
      do { _ = try storedSketch(file) } catch KitError.corruptObject(_, let reason) {
        out.append(FsckProblem(kind: .corruptObject, subject: file.hex, message: "sketch of tree \(tree.short): \(reason)"))
      } catch {
        // A missing chunk is reported by the reachability pass.
      }
    }
    return out
  }
}
