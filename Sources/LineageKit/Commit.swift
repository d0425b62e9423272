import Foundation
import LineageCore
import LineageNative
import LineageStore
import LineageGit
import LineageProvenance
import LineageSigning
import LineageFormats
import LineageTensor

/// What to commit and how to describe it.
public struct CommitOptions: Sendable {
  /// Files or directories; a file is stored under its name, a directory's contents under their
  /// paths relative to it.
  public var paths: [String]
  public var message: String
  /// The declared parents, in order.
  public var parents: [ParentSpec] = []
  /// Relation for parents that do not name one (default: finetune, or merge for several).
  public var relation: ParentRelation?
  /// Input datasets, hashed before anything is written.
  public var data: [DataSpec] = []
  /// The environment capture to store (the caller runs the probe).
  public var environment: EnvironmentCapture?
  /// A probe to run on its own thread while the files are stored, used when `environment` is
  /// nil. A probe runs subprocesses (Python) for about a second; run first, it delayed every
  /// commit by that much.
  public var environmentProbe: (@Sendable () -> EnvironmentCapture)?
  /// Directory whose git repository is the code anchor; nil records none.
  public var codeDirectory: String?
  public var command: String?
  public var params: JSONValue?
  public var metrics: JSONValue?
  /// Signs the record when set.
  public var signingKey: SSHPrivateKey?
  public var tags: [String] = []
  /// Branch to advance; nil for HEAD's branch.
  public var branch: String?
  public var author: String
  /// Seconds since the epoch.
  public var time: Int64
  /// Reuse file objects for files whose stat is unchanged.
  public var useStatCache = true
  /// Store the model's sketch after the commit (Docs/ObjectFormat.md §7).
  public var sketch = true
  /// Largest commit (bytes of its files) sketched at commit time. Sketching reads the model back
  /// from the store on one core (about 4 s per GiB here), which would more than double a large
  /// commit; larger models are sketched by `lineage sketch` or on the fly by `infer`.
  public var sketchLimit: UInt64 = 256 << 20

  public init(paths: [String], message: String, author: String, time: Int64) {
    self.paths = paths
    self.message = message
    self.author = author
    self.time = time
  }
}

/// One committed file.
public struct CommittedFile: Sendable, Equatable {
  public var path: String
  public var file: ObjectID
  public var format: String
  public var size: UInt64
  public var sha256: String
  public var tensors: Int
  /// The stat cache matched, so the file was not read.
  public var reused: Bool
}

/// The outcome of a commit.
public struct CommitSummary: Sendable {
  public var commit: ObjectID
  public var tree: ObjectID
  public var branch: String
  public var tags: [String]
  public var parents: [ObjectID]
  public var files: [CommittedFile]
  /// Bytes of the committed files.
  public var logicalBytes: UInt64
  /// Content bytes of objects that were new to the store, and what they take on disk.
  public var newRawBytes: UInt64
  public var newStoredBytes: UInt64
  /// Chunks stored as a delta against the parent.
  public var deltaChunks: Int
  /// The stored record.
  public var record: CommitRecord
  /// The sketch stored after the commit; nil when not asked for.
  public var sketch: SketchOutcome? = nil
}

struct InputFile {
  var absolute: String
  var treePath: String
  var executable: Bool
}

/// A chunk to store: where its bytes are in the file, its element width, its delta base and the
/// delta codec to try against it, and which tensor (or -1: a bytes segment) it belongs to.
struct ChunkJob {
  var fileOffset: UInt64
  var length: Int
  var width: Int
  var base: ObjectID?
  var baseDepth: UInt8
  var deltaCodec: Codec = .xorDelta
  /// Significand bits of the dtype's elements, for codec 5.
  var mantissa: Int = 0
  var owner: Int
}

struct ChunkOutcome {
  var id: ObjectID
  var length: Int
  var encoded: EncodedObject?
}

extension Repository {
  /// Snapshot files as a new commit and advance the branch.
  public func commit(_ options: CommitOptions, progress: ProgressSink = SilentProgress()) throws -> CommitSummary {
    let branch = try options.branch ?? currentBranch()
    guard RefStore.isValidName(branch) else { throw KitError.invalidName(branch) }
    for tag in options.tags {
      guard RefStore.isValidName(tag) else { throw KitError.invalidName(tag) }
    }
    let inputs = try enumerateInputs(options.paths)
    guard !inputs.isEmpty else { throw KitError.nothingToCommit }
    // Everything that can fail on bad input is checked before the first object is written.
    let dataRefs = try options.data.map(dataRef)
    let code = try options.codeDirectory.flatMap { try codeAnchor($0) }
    let parentRoles = ParentSpec.resolveDefaults(options.parents, relation: options.relation)
    // Lock, then re-read the packs: a gc that ran while we waited may have removed objects the
    // index loaded at start-up still lists, and deduplicating against them would lose data.
    let lock = try wrap { try store.lock(exclusive: false) }
    defer { withExtendedLifetime(lock) {} }
    try wrap { try objects.reload() }
    for tag in options.tags where try wrap({ try store.refs.read("refs/tags/\(tag)") }) != nil {
      throw KitError.tagExists(tag)
    }
    let probe = options.environment == nil ? options.environmentProbe.map(BackgroundResult.init) : nil
    let parents = try options.parents.map { try resolve($0.revision) }
    let parentTensors = try parents.first.map { try tensorsByName(commit: $0) } ?? [:]
    let writer = objects.writer()
    let cache = store.statCache()
    let total = inputs.reduce(UInt64(0)) { sum, input in
      var st = stat()
      return sum + (lstat(input.absolute, &st) == 0 ? UInt64(st.st_size) : 0)
    }
    let externalRegions = try externalDataRegions(inputs)
    progress.begin("Committing", total: total, unit: .bytes)
    var files: [CommittedFile] = []
    var entries: [TreeEntry] = []
    var deltaChunks = 0
    for input in inputs {
      let handle = try InputHandle(path: input.absolute)
      if options.useStatCache, let cached = cache.lookup(input.absolute, stat: handle.stat),
        objects.contains(cached), let object = try? file(cached)
      {
        files.append(summary(input.treePath, cached, object, reused: true))
        entries.append(TreeEntry(path: input.treePath, mode: input.executable ? TreeEntry.executable : TreeEntry.regular, file: cached))
        progress.advance(handle.stat.size)
        continue
      }
      let readStarted = nowNanoseconds()
      let ingest = FileIngest(repository: self, handle: handle, writer: writer, parentTensors: parentTensors, progress: progress)
      let (format, regions) = try storageLayout(input, handle: handle, external: externalRegions)
      let (id, object) = try ingest.run(format: format, regions: regions)
      deltaChunks += ingest.deltaChunks
      try handle.checkUnchanged()
      cache.record(input.absolute, stat: handle.stat, readStarted: readStarted, file: id)
      files.append(summary(input.treePath, id, object, reused: false))
      entries.append(TreeEntry(path: input.treePath, mode: input.executable ? TreeEntry.executable : TreeEntry.regular, file: id))
    }
    progress.end()

    let tree: TreeObject
    do { tree = try TreeObject(entries: entries) } catch { throw KitError.invalidPath("\(error)") }
    let treeID = try wrap { try writer.addMetadata(.tree, content: tree.encoded()) }
    var record = CommitRecord(
      tree: treeID,
      parents: zip(parents, parentRoles).map { ParentRef(id: $0, role: $1.1, relation: $1.0) },
      author: options.author, time: options.time, message: options.message)
    record.data = dataRefs
    if let env = options.environment ?? probe?.wait() {
      let bytes: [UInt8]
      do { bytes = try CanonicalJSON.encode(env.value) } catch { throw KitError.invalidRecord("environment: \(error)") }
      guard bytes.count <= maximumChunkLength else {
        throw KitError.invalidRecord("the environment capture is \(bytes.count) bytes, over the \(maximumChunkLength)-byte limit; commit with --no-environment")
      }
      let object = try wrap { try writer.addMetadata(.chunk, content: bytes) }
      record.environment = EnvironmentRef(digest: env.digest, object: object, summary: env.summary)
    }
    record.code = code
    record.command = options.command
    record.params = options.params
    record.metrics = options.metrics
    if let key = options.signingKey { record.signature = try sign(record, with: key) }
    let content: [UInt8]
    do { content = try record.encoded() } catch { throw KitError.invalidRecord("\(error)") }
    let commitID = try wrap { try writer.addMetadata(.commit, content: content) }
    // Objects are durable before any ref names them (Docs/ObjectFormat.md §4).
    try wrap { try writer.finish() }
    var updates = [RefUpdate(ref: "refs/heads/\(branch)", expected: .any, new: commitID)]
    updates += options.tags.map { RefUpdate(ref: "refs/tags/\($0)", expected: .absent, new: commitID) }
    // The sketch (Docs/ObjectFormat.md §7) is read back from the durable objects; its index
    // record moves in the same ref transaction. A sketch that fails never fails the commit.
    let sketch = options.sketch && total <= options.sketchLimit ? prepareSketch(commit: commitID, tree: treeID, time: options.time) : nil
    let sketchOutcome: SketchOutcome?
    do {
      sketchOutcome = try commitTransaction(op: "commit", updates: updates, time: options.time, sketch: sketch)
    } catch StoreError.refConflict(let ref, _, _) where ref.hasPrefix("refs/tags/") {
      throw KitError.tagExists(String(ref.dropFirst(10)))
    } catch let e as StoreError {
      throw KitError.store(e)
    }
    try? cache.save()
    var summary = CommitSummary(
      commit: commitID, tree: treeID, branch: branch, tags: options.tags, parents: parents, files: files,
      logicalBytes: files.reduce(0) { $0 + $1.size }, newRawBytes: writer.rawBytesAdded,
      newStoredBytes: writer.storedBytesAdded, deltaChunks: deltaChunks, record: record)
    summary.sketch = options.sketch && total > options.sketchLimit ? .deferred(bytes: total) : sketchOutcome
    return summary
  }

  private func summary(_ path: String, _ id: ObjectID, _ f: FileObject, reused: Bool) -> CommittedFile {
    let tensors = f.segments.filter { if case .tensor = $0 { return true } else { return false } }.count
    return CommittedFile(
      path: path, file: id, format: f.format, size: f.size, sha256: HexEncoding.encode(f.sha256), tensors: tensors,
      reused: reused)
  }

  /// The tensors of a commit's safetensors files, by name (for delta encoding).
  func tensorsByName(commit id: ObjectID) throws -> [String: TensorObject] {
    var out: [String: TensorObject] = [:]
    for entry in try tree(try commit(id).tree).entries {
      for case .tensor(let name, let tid) in try file(entry.file).segments where out[name] == nil {
        out[name] = try tensor(tid)
      }
    }
    return out
  }

  func enumerateInputs(_ paths: [String]) throws -> [InputFile] {
    var out: [InputFile] = []
    // Keyed by bytes: Swift's String equality treats NFC and NFD spellings as equal, and two
    // such files are two files.
    var seen: [[UInt8]: String] = [:]
    let storeDir = URL(fileURLWithPath: store.directory).standardizedFileURL.path
    func add(_ absolute: String, _ treePath: String, executable: Bool) throws {
      guard TreeObject.isValidPath(treePath) else { throw KitError.invalidPath(treePath) }
      let key = Array(treePath.utf8)
      if let other = seen[key], Array(other.utf8) != Array(absolute.utf8) { throw KitError.pathConflict(treePath) }
      if seen[key] == nil {
        seen[key] = absolute
        out.append(InputFile(absolute: absolute, treePath: treePath, executable: executable))
      }
    }
    for p in paths {
      let absolute = URL(fileURLWithPath: p).standardizedFileURL.path
      switch inputKind(absolute) {
      case .missing: throw KitError.pathNotFound(p)
      case .other(let kind): throw KitError.unsupportedFileType(path: p, kind: kind)
      case .file(let x): try add(absolute, (absolute as NSString).lastPathComponent, executable: x)
      case .directory:
        guard absolute != storeDir, !absolute.hasPrefix(storeDir + "/") else { throw KitError.invalidPath(p) }
        try walk(absolute, relative: "") { abs, rel, x in try add(abs, rel, executable: x) }
      }
    }
    return out
  }

  private func walk(_ dir: String, relative: String, _ visit: (String, String, Bool) throws -> Void) throws {
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted() } catch {
      throw KitError.io(operation: "list", path: dir, message: error.localizedDescription)
    }
    for name in names where name != ".lineage" && name != ".git" {
      let abs = "\(dir)/\(name)"
      let rel = relative.isEmpty ? name : "\(relative)/\(name)"
      switch inputKind(abs) {
      case .file(let x): try visit(abs, rel, x)
      case .directory: try walk(abs, relative: rel, visit)
      case .other(let kind): throw KitError.unsupportedFileType(path: abs, kind: kind)
      case .missing: throw KitError.pathNotFound(abs)
      }
    }
  }
}

/// Reads one file and stores it: safetensors tensor-aware, anything else by content-defined chunks.
///
/// The file is planned into chunks first, then processed in windows of at most `windowBytes`:
/// each window's chunks are hashed, deduplicated and encoded on all cores, while in the same
/// parallel step one iteration feeds the whole-file SHA-256, one appends the previous window's
/// chunks to the pack and one reads the next window. Memory stays bounded by two windows and
/// their encoded chunks, whatever the file size.
final class FileIngest {
  static let windowBytes = 32 << 20

  let repository: Repository
  let handle: InputHandle
  let writer: ObjectWriter
  let parentTensors: [String: TensorObject]
  let progress: ProgressSink
  let hasher = SHA256Hasher()
  var deltaChunks = 0

  init(repository: Repository, handle: InputHandle, writer: ObjectWriter, parentTensors: [String: TensorObject], progress: ProgressSink) {
    self.repository = repository
    self.handle = handle
    self.writer = writer
    self.parentTensors = parentTensors
    self.progress = progress
  }

  /// Store the file as `format`: each region a tensor object, the bytes around them
  /// content-defined chunks (one bytes segment per gap, in file order).
  func run(format: ModelFormat, regions: [TensorRegion]) throws -> (ObjectID, FileObject) {
    let size = handle.stat.size
    var jobs: [ChunkJob] = []
    // Each segment: the range of jobs it owns, and the region index for a tensor segment.
    var plan: [(jobs: Range<Int>, region: Int?)] = []
    var cursor: UInt64 = 0
    func gap(to end: UInt64) throws {
      guard end > cursor else { return }
      let start = jobs.count
      jobs += try planContentDefined(from: cursor, to: end)
      plan.append((start..<jobs.count, nil))
    }
    for (i, r) in regions.enumerated() {
      try gap(to: r.offset)
      let start = jobs.count
      jobs += tensorJobs(r, owner: i)
      plan.append((start..<jobs.count, i))
      cursor = r.offset + r.byteLength
    }
    try gap(to: size)
    if regions.isEmpty && plan.isEmpty { plan.append((0..<0, nil)) }
    let refs = try pipeline(jobs)
    var segments: [FileSegment] = []
    for (range, region) in plan {
      let chunks = Array(refs[range])
      guard let region else {
        segments.append(.bytes(chunks))
        continue
      }
      let r = regions[region]
      let object = TensorObject(dtype: r.dtype, shape: r.shape, byteLength: r.byteLength, chunks: chunks)
      let id = try wrap { try writer.addMetadata(.tensor, content: object.encoded()) }
      segments.append(.tensor(name: r.name, id: id))
    }
    let object = FileObject(format: format.rawValue, size: size, sha256: hasher.finalize().bytes, segments: segments)
    let id = try wrap { try writer.addMetadata(.file, content: object.encoded()) }
    return (id, object)
  }

  /// Chunks of a tensor on element boundaries, chunk k paired with the parent tensor's chunk k.
  private func tensorJobs(_ t: TensorRegion, owner: Int) -> [ChunkJob] {
    var parentChunks: [ChunkRef] = []
    if let p = parentTensors[t.name], p.dtype == t.dtype, p.shape == t.shape { parentChunks = p.chunks }
    var jobs: [ChunkJob] = []
    var offset = t.offset
    // Ulp distances for floats (Docs/ObjectFormat.md §4): split into lengths and bits (codec 5)
    // in a version 3 store, byte-planed (codec 4) in a version 2 store; XOR for everything else
    // and in a version 1 store.
    let store = repository.store
    let deltaCodec: Codec =
      !t.dtype.isFloat ? .xorDelta : store.allowsUlpBits ? .ulpBits : store.allowsSubDelta ? .subDelta : .xorDelta
    for (k, length) in ChunkPlan.tensorChunks(byteLength: t.byteLength, width: t.dtype.width).enumerated() {
      var base: ObjectID?
      var depth: UInt8 = 0
      if k < parentChunks.count, parentChunks[k].length == UInt32(length),
        let loc = repository.objects.location(of: parentChunks[k].id), loc.depth < ChunkCodec.maximumDepth
      {
        base = parentChunks[k].id
        depth = loc.depth
      }
      jobs.append(
        ChunkJob(
          fileOffset: offset, length: length, width: t.dtype.width, base: base, baseDepth: depth, deltaCodec: deltaCodec,
          mantissa: t.dtype.mantissaBits ?? 0, owner: owner))
      offset += UInt64(length)
    }
    return jobs
  }

  /// Gear chunk boundaries within `bytes`; without `atEnd` the unfinished tail is left over.
  private func contentDefinedJobs(_ bytes: UnsafeRawBufferPointer, fileOffset: UInt64, atEnd: Bool) -> (jobs: [ChunkJob], consumed: Int) {
    var jobs: [ChunkJob] = []
    var cursor = 0
    while cursor < bytes.count {
      let rest = UnsafeRawBufferPointer(rebasing: bytes[cursor...])
      guard let len = GearChunker.nextChunkLength(rest) ?? (atEnd ? rest.count : nil) else { break }
      jobs.append(ChunkJob(fileOffset: fileOffset + UInt64(cursor), length: len, width: 1, base: nil, baseDepth: 0, owner: -1))
      cursor += len
    }
    return (jobs, cursor)
  }

  /// Plan the chunks of bytes `start..<end` with one streaming pass of the gear hash.
  private func planContentDefined(from start: UInt64, to end: UInt64) throws -> [ChunkJob] {
    var jobs: [ChunkJob] = []
    var buffer = [UInt8](repeating: 0, count: Int(min(UInt64(Self.windowBytes), max(end - start, 1))))
    var offset = start
    while offset < end {
      let n = Int(min(UInt64(buffer.count), end - offset))
      try buffer.withUnsafeMutableBytes { try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: offset) }
      let atEnd = offset + UInt64(n) == end
      let (more, consumed) = buffer.withUnsafeBytes { contentDefinedJobs(UnsafeRawBufferPointer(rebasing: $0[0..<n]), fileOffset: offset, atEnd: atEnd) }
      jobs += more
      offset += UInt64(consumed)
    }
    return jobs
  }

  /// Process jobs (contiguous, in file order) in windows; returns one ref per job.
  private func pipeline(_ jobs: [ChunkJob]) throws -> [ChunkRef] {
    // Windows: runs of consecutive jobs up to windowBytes (a single larger chunk gets its own).
    var windows: [Range<Int>] = []
    var start = 0
    var bytes = 0
    for (k, job) in jobs.enumerated() {
      if k > start, bytes + job.length > Self.windowBytes {
        windows.append(start..<k)
        start = k
        bytes = 0
      }
      bytes += job.length
    }
    if start < jobs.count { windows.append(start..<jobs.count) }
    let capacity = windows.map { w in jobs[w].reduce(0) { $0 + $1.length } }.max() ?? 0
    var buffers = [[UInt8](repeating: 0, count: capacity), [UInt8](repeating: 0, count: capacity)]
    func span(_ w: Range<Int>) -> (UInt64, Int) {
      (jobs[w.lowerBound].fileOffset, jobs[w].reduce(0) { $0 + $1.length })
    }
    if let first = windows.first {
      let (at, n) = span(first)
      try buffers[0].withUnsafeMutableBytes { try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: at) }
    }
    var refs: [ChunkRef] = []
    refs.reserveCapacity(jobs.count)
    var previous: [ChunkOutcome] = []
    for (w, window) in windows.enumerated() {
      let (windowStart, length) = span(window)
      let next = w + 1 < windows.count ? span(windows[w + 1]) : nil
      let outcomes = UnsafeMutableBufferPointer<ChunkOutcome?>.allocate(capacity: window.count)
      outcomes.initialize(repeating: nil)
      defer {
      outcomes.deinitialize()
      outcomes.deallocate()
    }
      let failure = FailureBox()
      let toAppend = previous
      let current = buffers[w % 2]
      var upcoming = buffers[(w + 1) % 2]
      buffers = [[], []]
      let objects = repository.objects
      current.withUnsafeBytes { cur in
        upcoming.withUnsafeMutableBytes { nxt in
          let cur = Unchecked(value: cur)
          let nxt = Unchecked(value: nxt)
          let slots = Unchecked(value: outcomes)
          let me = Unchecked(value: self)
          let windowJobs = Array(jobs[window])
          DispatchQueue.concurrentPerform(iterations: windowJobs.count + 3) { k in
            switch k {
            case 0:
              me.value.hasher.update(UnsafeRawBufferPointer(rebasing: cur.value[0..<length]))
            case 1:
              do { try me.value.append(toAppend) } catch { failure.set(error) }
            case 2:
              guard let (at, n) = next else { return }
              do { try me.value.handle.read(into: UnsafeMutableRawBufferPointer(rebasing: nxt.value[0..<n]), at: at) } catch {
                failure.set(error)
              }
            default:
              let job = windowJobs[k - 3]
              let from = Int(job.fileOffset - windowStart)
              let bytes = UnsafeRawBufferPointer(rebasing: cur.value[from..<(from + job.length)])
              slots.value[k - 3] = FileIngest.encode(job, bytes: bytes, objects: objects)
            }
          }
        }
      }
      buffers[w % 2] = current
      buffers[(w + 1) % 2] = upcoming
      if let e = failure.error { throw e }
      previous = outcomes.compactMap { $0 }
      refs += previous.map { ChunkRef(id: $0.id, length: UInt32($0.length)) }
      progress.advance(UInt64(length))
    }
    try append(previous)
    return refs
  }

  /// Hash a chunk; unless the store has it, encode it (as a delta when that is smaller).
  static func encode(_ job: ChunkJob, bytes: UnsafeRawBufferPointer, objects: PackObjectStore) -> ChunkOutcome {
    let id = ObjectID.of(.chunk, content: bytes)
    if objects.contains(id) { return ChunkOutcome(id: id, length: job.length, encoded: nil) }
    // A delta under half the raw size is taken at once; otherwise the direct encoding is
    // computed too and the smaller wins.
    var delta: EncodedObject?
    let base = job.base.flatMap { id in (try? objects.read(id, as: .chunk, verify: false)).map { (id, $0) } }
    if case let (baseID, baseBytes)? = base {
      delta = baseBytes.withUnsafeBytes {
        ChunkCodec.encodeDelta(
          bytes, base: $0, baseID: baseID, baseDepth: job.baseDepth, width: job.width, limit: job.length, codec: job.deltaCodec,
          mantissa: job.mantissa)
      }
    }
    if let delta, delta.payload.count < job.length / 2 { return ChunkOutcome(id: id, length: job.length, encoded: delta) }
    var best = ChunkCodec.encode(bytes, width: job.width)
    if let delta, delta.payload.count < best.payload.count {
      best = delta
    } else if job.deltaCodec != .xorDelta, case let (baseID, baseBytes)? = base {
      // On the benchmark fixtures the ulp distances beat XOR on every changed float chunk, so XOR
      // is tried only here, where they lost to the direct encoding, and costs nothing otherwise.
      let xor = baseBytes.withUnsafeBytes {
        ChunkCodec.encodeDelta(
          bytes, base: $0, baseID: baseID, baseDepth: job.baseDepth, width: job.width, limit: best.payload.count)
      }
      if let xor { best = xor }
    }
    return ChunkOutcome(id: id, length: job.length, encoded: best)
  }

  /// Append encoded chunks to the pack, skipping those already written.
  private func append(_ outcomes: [ChunkOutcome]) throws {
    for outcome in outcomes {
      guard let encoded = outcome.encoded else { continue }
      let added = try wrap { try writer.add(outcome.id, type: .chunk, rawLength: outcome.length, encoded: encoded) }
      if added, encoded.codec.isDelta { deltaChunks += 1 }
    }
  }
}

/// A value computed on its own thread (not a dispatch worker: the work may block in waitpid
/// while `concurrentPerform` keeps every worker busy).
final class BackgroundResult<T: Sendable>: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var value: T?

  init(_ body: @escaping @Sendable () -> T) {
    let thread = Thread { [self] in
      value = body()
      done.signal()
    }
    thread.start()
  }

  /// Wait for the value (once).
  func wait() -> T {
    done.wait()
    done.signal()
    return value!
  }
}

/// The first error thrown by any iteration of a parallel step.
final class FailureBox: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var error: Error?
  func set(_ e: Error) { lock.withLock { if error == nil { error = e } } }
}
