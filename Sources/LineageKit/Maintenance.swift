import Foundation
import LineageCore
import LineageNative
import LineageStore

/// One problem `fsck` found.
public struct FsckProblem: Sendable, Equatable {
  public enum Kind: String, Sendable {
    case missingObject = "missing"
    case corruptObject = "corrupt"
    case badRef = "bad-ref"
    case fileDigestMismatch = "file-digest"
    case opLog = "oplog"
  }
  public var kind: Kind
  /// The object or ref concerned.
  public var subject: String
  public var message: String
}

/// What `fsck` checked and found.
public struct FsckReport: Sendable {
  public var objectsChecked: Int
  public var chunksRehashed: Int
  public var filesRehashed: Int
  public var problems: [FsckProblem]
  /// Temporary files from interrupted writers (harmless; `gc` removes them).
  public var leftoverTemporaryFiles: [String]
  /// The op log's last line was cut short by a crash (harmless; the next write drops it).
  public var tornOpLogTail: Bool
  public var isClean: Bool { problems.isEmpty }
}

/// What `gc` removed.
public struct GCReport: Sendable {
  public var objectsBefore: Int
  public var objectsKept: Int
  public var bytesBefore: UInt64
  public var bytesAfter: UInt64
  public var packsBefore: Int
  public var packsAfter: Int
  public var temporaryFilesRemoved: Int
}

/// Stored sizes of the reachable history.
public struct DiskUsage: Sendable {
  /// Per commit, oldest first: its files' bytes, and what its new chunks add to the store.
  public struct CommitUsage: Sendable {
    public var commit: ObjectID
    public var message: String
    public var logicalBytes: UInt64
    public var newRawBytes: UInt64
    public var newStoredBytes: UInt64
  }
  public var commits: [CommitUsage]
  /// Sum of file sizes over every reachable commit: what a copy per commit would take.
  public var logicalBytes: UInt64
  /// Content bytes of distinct objects (chunks and metadata), before compression.
  public var uniqueRawBytes: UInt64
  /// Bytes of pack files on disk (all objects, with headers and indexes).
  public var storedBytes: UInt64
  public var objectCount: Int
  public var packCount: Int
  public var dedupRatio: Double { uniqueRawBytes == 0 ? 1 : Double(logicalBytes) / Double(uniqueRawBytes) }
  public var compressionRatio: Double { storedBytes == 0 ? 1 : Double(uniqueRawBytes) / Double(storedBytes) }
  public var totalRatio: Double { storedBytes == 0 ? 1 : Double(logicalBytes) / Double(storedBytes) }
}

extension Repository {
  /// Commits named by refs and, unless `refsOnly`, by the op log.
  func roots(refsOnly: Bool) throws -> [ObjectID] {
    var ids = try wrap { try store.refs.list() }.map(\.id)
    // The quarantine log is outside branches and tags, and kept like them.
    if let q = try wrap({ try store.refs.read(Repository.quarantineRef) }) { ids.append(q) }
    if let i = try wrap({ try store.refs.read(Repository.inferredRef) }) { ids.append(i) }
    if let i = try wrap({ try store.refs.read(Repository.incidentsRef) }) { ids.append(i) }
    if let i = try wrap({ try store.refs.read(Repository.blameRef) }) { ids.append(i) }
    if let s = try wrap({ try store.refs.read(Repository.sketchesRef) }) { ids.append(s) }
    if !refsOnly {
      for e in try wrap({ try store.refs.opLog() }).entries {
        for u in e.updates {
          if let o = u.old { ids.append(o) }
          if let n = u.new { ids.append(n) }
        }
      }
    }
    return ids
  }

  /// Every object reachable from `roots`, including delta bases, with missing or unreadable
  /// ones reported instead of thrown.
  func reachable(from roots: [ObjectID], problems: inout [FsckProblem]) -> (objects: Set<ObjectID>, commits: [ObjectID], files: Set<ObjectID>) {
    var seen = Set<ObjectID>()
    var commits: [ObjectID] = []
    var files = Set<ObjectID>()
    var stack = roots
    func note(_ id: ObjectID, _ kind: FsckProblem.Kind, _ message: String) {
      problems.append(FsckProblem(kind: kind, subject: id.hex, message: message))
    }
    func visitChunk(_ id: ObjectID) {
      var next: ObjectID? = id
      while let c = next, seen.insert(c).inserted {
        guard let loc = objects.location(of: c) else {
          note(c, .missingObject, "chunk is missing")
          return
        }
        next = loc.codec.isDelta ? (try? objects.stored(c))?.base : nil
      }
    }
    while let id = stack.popLast() {
      guard seen.insert(id).inserted else { continue }
      do {
        let r = try commit(id)
        commits.append(id)
        stack += r.parents.map(\.id)
        if let env = r.environment, seen.insert(env.object).inserted, objects.location(of: env.object) == nil {
          note(env.object, .missingObject, "environment capture is missing (reached from \(id.short))")
        }
        guard seen.insert(r.tree).inserted else { continue }
        for e in try tree(r.tree).entries where seen.insert(e.file).inserted {
          files.insert(e.file)
          let f = try file(e.file)
          var total: UInt64 = 0
          for s in f.segments {
            switch s {
            case .bytes(let chunks):
              for c in chunks { visitChunk(c.id); total += UInt64(c.length) }
            case .tensor(_, let tid):
              let t = try tensor(tid)
              seen.insert(tid)
              for c in t.chunks { visitChunk(c.id) }
              total += t.byteLength
            }
          }
          if total != f.size {
            note(e.file, .corruptObject, "file segments hold \(total) bytes but its size is \(f.size)")
          }
        }
      } catch KitError.store(.objectMissing(let missing)) {
        note(missing, .missingObject, "object is missing (reached from \(id.short))")
      } catch KitError.store(.objectCorrupt(let bad, let reason)) {
        note(bad, .corruptObject, reason)
      } catch KitError.corruptObject(let bad, let reason) {
        note(bad, .corruptObject, reason)
      } catch {
        note(id, .corruptObject, "\(error)")
      }
    }
    return (seen, commits, files)
  }

  /// Read and re-hash `objects` on every core; a problem for each that is damaged.
  func rehash(_ list: [(ObjectID, PackLocation)], label: String, progress: ProgressSink) -> [FsckProblem] {
    let total = list.reduce(UInt64(0)) { $0 + $1.1.rawLength }
    progress.begin(label, total: total, unit: .bytes)
    let bad = UnsafeMutableBufferPointer<FsckProblem?>.allocate(capacity: list.count)
    bad.initialize(repeating: nil)
    defer {
      bad.deinitialize()
      bad.deallocate()
    }
    let slots = Unchecked(value: bad)
    let store = self.objects
    let sink = Unchecked(value: progress)
    DispatchQueue.concurrentPerform(iterations: list.count) { k in
      let (id, loc) = list[k]
      do { _ = try store.read(id, as: loc.type, verify: true) } catch {
        slots.value[k] = FsckProblem(kind: .corruptObject, subject: id.hex, message: "\(error)")
      }
      sink.value.advance(loc.rawLength)
    }
    progress.end()
    return bad.compactMap { $0 }
  }

  /// Check the store: refs resolve, every reachable object is present and hashes to its id;
  /// with `full`, every stored chunk is re-hashed and every file's SHA-256 recomputed.
  public func fsck(full: Bool, progress: ProgressSink = SilentProgress()) throws -> FsckReport {
    var problems: [FsckProblem] = []
    let lock = try wrap { try store.lock(exclusive: false) }
    defer { withExtendedLifetime(lock) {} }
    try wrap { try objects.reload() }
    do {
      let head = try store.refs.headRef()
      _ = try store.refs.read(head)
    } catch {
      problems.append(FsckProblem(kind: .badRef, subject: "HEAD", message: "\(error)"))
    }
    var refs: [(ref: String, id: ObjectID)] = []
    do { refs = try store.refs.list() } catch {
      problems.append(FsckProblem(kind: .badRef, subject: "refs", message: "\(error)"))
    }
    for (ref, id) in refs where objects.location(of: id)?.type != .commit {
      problems.append(FsckProblem(kind: .badRef, subject: ref, message: "points to \(id.short), which is not a stored commit"))
    }
    var torn = false
    do { torn = try store.refs.opLog().tornTail } catch {
      problems.append(FsckProblem(kind: .opLog, subject: "oplog", message: "\(error)"))
    }
    let roots = try self.roots(refsOnly: false).filter { objects.location(of: $0)?.type == .commit }
    let (reach, _, files) = reachable(from: roots, problems: &problems)
    problems += sketchProblems()
    var chunksRehashed = 0
    var filesRehashed = 0
    if full {
      let all = objects.allObjects()
      problems += rehash(all, label: "Re-hashing objects", progress: progress)
      chunksRehashed = all.count
      for fid in files.sorted() {
        guard let f = try? file(fid), let chunks = try? chunkList(f) else { continue }
        let hasher = SHA256Hasher()
        do {
          try streamChunks(chunks, progress: SilentProgress()) { hasher.update($0) }
          if hasher.finalize().bytes != f.sha256 {
            problems.append(FsckProblem(kind: .fileDigestMismatch, subject: fid.hex, message: "reassembled bytes do not match the recorded SHA-256"))
          }
        } catch {
          // Chunk damage is already reported by the pass above.
        }
        filesRehashed += 1
      }
    }
    var unique: [String: FsckProblem] = [:]
    for p in problems where unique[p.kind.rawValue + p.subject] == nil { unique[p.kind.rawValue + p.subject] = p }
    return FsckReport(
      objectsChecked: reach.count, chunksRehashed: chunksRehashed, filesRehashed: filesRehashed,
      problems: unique.values.sorted { ($0.kind.rawValue, $0.subject) < ($1.kind.rawValue, $1.subject) },
      leftoverTemporaryFiles: store.temporaryFiles() + store.orphanPacks(), tornOpLogTail: torn)
  }

  /// Remove objects no root reaches and repack what remains into fresh packs.
  ///
  /// Holds the store lock exclusively, so no commit or checkout runs meanwhile. The new packs
  /// are durable before the old ones are deleted: a crash leaves duplicates, never a loss.
  public func gc(refsOnly: Bool, progress: ProgressSink = SilentProgress()) throws -> GCReport {
    let lock = try wrap { try store.lock(exclusive: true) }
    // Ref changes wait too, from reading the roots until the old packs are gone, so no ref can
    // come to name an object this gc is about to delete.
    let refsLock = try wrap { try store.refs.lock() }
    defer { withExtendedLifetime((lock, refsLock)) {} }
    try wrap { try objects.reload() }
    var problems: [FsckProblem] = []
    let roots = try self.roots(refsOnly: refsOnly).filter { objects.location(of: $0)?.type == .commit }
    let keep = reachable(from: roots, problems: &problems).objects
    if let p = problems.first {
      throw KitError.damagedStore("gc refuses to run while \(p.subject.prefix(12)) is \(p.kind.rawValue): \(p.message); run `lineage fsck`")
    }
    let before = objects.packFiles()
    let all = objects.allObjects()
    let temps = store.temporaryFiles() + store.orphanPacks()
    for t in temps { unlink(t) }
    let bytesBefore = before.reduce(UInt64(0)) { $0 + $1.bytes }
    if all.allSatisfy({ keep.contains($0.0) }), before.count <= 1 {
      return GCReport(
        objectsBefore: all.count, objectsKept: all.count, bytesBefore: bytesBefore, bytesAfter: bytesBefore,
        packsBefore: before.count, packsAfter: before.count, temporaryFilesRemoved: temps.count)
    }
    // Bases before their deltas, in pack order otherwise, so reads stay sequential.
    let kept = all.filter { keep.contains($0.0) }.sorted { ($0.1.depth, $0.1.pack, $0.1.offset) < ($1.1.depth, $1.1.pack, $1.1.offset) }
    progress.begin("Repacking", total: UInt64(kept.count), unit: .items)
    let writer = objects.writer(repacking: true)
    for (id, loc) in kept {
      let encoded = try wrap { try objects.stored(id) }
      try wrap { try writer.add(id, type: loc.type, rawLength: Int(loc.rawLength), encoded: encoded) }
      progress.advance(1)
    }
    progress.end()
    try wrap { try writer.finish() }
    let fresh = Set(writer.sealedPacks.map(\.pack))
    for (pack, index, _) in before where !fresh.contains(pack) {
      unlink(index)
      unlink(pack)
    }
    try wrap { try objects.reload() }
    let after = objects.packFiles()
    return GCReport(
      objectsBefore: all.count, objectsKept: kept.count, bytesBefore: bytesBefore,
      bytesAfter: after.reduce(UInt64(0)) { $0 + $1.bytes }, packsBefore: before.count, packsAfter: after.count,
      temporaryFilesRemoved: temps.count)
  }

  /// Logical and stored sizes of everything reachable.
  public func diskUsage() throws -> DiskUsage {
    var problems: [FsckProblem] = []
    let roots = try self.roots(refsOnly: false).filter { objects.location(of: $0)?.type == .commit }
    let (_, commitIDs, _) = reachable(from: roots, problems: &problems)
    let packs = objects.packFiles()
    // Stored size of each object: the distance to the next entry in its pack.
    var storedSize: [ObjectID: UInt64] = [:]
    let byPack = Dictionary(grouping: objects.allObjects(), by: { $0.1.pack })
    for (pack, items) in byPack {
      let sorted = items.sorted { $0.1.offset < $1.1.offset }
      for (k, item) in sorted.enumerated() {
        let end = k + 1 < sorted.count ? sorted[k + 1].1.offset : packs[pack].bytes
        storedSize[item.0] = end - item.1.offset
      }
    }
    var infos: [(ObjectID, CommitRecord)] = []
    // Sketch-index records are derived data, not history: their bytes count in the stored
    // total only.
    var sketchRecords = Set<ObjectID>()
    var next = try sketchesHead()
    while let s = next, sketchRecords.insert(s).inserted { next = try? commit(s).parents.first?.id }
    for id in commitIDs where !sketchRecords.contains(id) { if let r = try? commit(id) { infos.append((id, r)) } }
    infos = parentsFirst(infos)
    var seen = Set<ObjectID>()
    var usage: [DiskUsage.CommitUsage] = []
    var logical: UInt64 = 0
    var uniqueRaw: UInt64 = 0
    // What a commit adds: every object first reached through it (the commit, its tree, files,
    // tensors and chunks), as content bytes and as pack entries: what `commit --json` reports.
    let rawLength: [ObjectID: UInt64] = Dictionary(objects.allObjects().map { ($0.0, $0.1.rawLength) }, uniquingKeysWith: { a, _ in a })
    for (id, r) in infos {
      var u = DiskUsage.CommitUsage(commit: id, message: r.message, logicalBytes: 0, newRawBytes: 0, newStoredBytes: 0)
      func add(_ o: ObjectID) {
        guard seen.insert(o).inserted else { return }
        u.newRawBytes += rawLength[o] ?? 0
        u.newStoredBytes += storedSize[o] ?? 0
      }
      add(id)
      add(r.tree)
      for e in (try? tree(r.tree).entries) ?? [] {
        guard let f = try? file(e.file) else { continue }
        u.logicalBytes += f.size
        add(e.file)
        for case .tensor(_, let tid) in f.segments { add(tid) }
        for c in (try? chunkList(f)) ?? [] { add(c.id) }
      }
      logical += u.logicalBytes
      uniqueRaw += u.newRawBytes
      usage.append(u)
    }
    return DiskUsage(
      commits: usage, logicalBytes: logical, uniqueRawBytes: uniqueRaw,
      storedBytes: objects.storedBytes(),
      objectCount: objects.allObjects().count, packCount: packs.count)
  }
}

/// Order commits so that every parent precedes its children; ties by time, then id.
func parentsFirst(_ commits: [(ObjectID, CommitRecord)]) -> [(ObjectID, CommitRecord)] {
  let byID = Dictionary(commits.map { ($0.0, $0) }, uniquingKeysWith: { a, _ in a })
  var placed = Set<ObjectID>()
  var out: [(ObjectID, CommitRecord)] = []
  func place(_ c: (ObjectID, CommitRecord)) {
    // Iterative depth-first: parents before the commit, in their declared order.
    var stack: [(ObjectID, CommitRecord, Bool)] = [(c.0, c.1, false)]
    while let (id, r, expanded) = stack.popLast() {
      if placed.contains(id) { continue }
      if expanded {
        placed.insert(id)
        out.append((id, r))
        continue
      }
      stack.append((id, r, true))
      for p in r.parents.reversed() where !placed.contains(p.id) {
        if let parent = byID[p.id] { stack.append((parent.0, parent.1, false)) }
      }
    }
  }
  for c in commits.sorted(by: { ($0.1.time, $0.0) < ($1.1.time, $1.0) }) { place(c) }
  return out
}

/// What `upgradeStore` did: the store's format version before and after.
public struct StoreUpgrade: Sendable, Equatable {
  public var from: Int
  public var to: Int

  public init(from: Int, to: Int) {
    self.from = from
    self.to = to
  }
}

extension Repository {
  /// Raise the store's format version to the newest this build writes (Docs/ObjectFormat.md §4),
  /// waiting for running writers. Stored objects are not rewritten; commits made after it (by a
  /// newly opened repository) may use the codecs the new version adds, and builds that do not
  /// read the new version refuse the store.
  public func upgradeStore() throws -> StoreUpgrade {
    let before = try wrap { try store.upgradeFormat() }
    return StoreUpgrade(from: before, to: max(before, Store.currentFormatVersion))
  }
}
