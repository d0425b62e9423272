import Foundation
import LineageCore
import LineageFormats
import LineageNative
import LineageStore
import LineageTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The outcome of a checkout.
public struct CheckoutSummary: Sendable {
  public var commit: ObjectID
  public var written: [String]
  /// Files already present with identical content, left alone.
  public var unchanged: [String]
  public var bytes: UInt64
}

extension Repository {
  /// Write a revision's files under `directory`, bit-exact.
  ///
  /// Every chunk is re-hashed before it is written, and each file is written to a temporary name
  /// and renamed only when whole, so a damaged store never produces a wrong file. Existing files
  /// that differ are refused unless `force`.
  public func checkout(_ revision: String, to directory: String, force: Bool, progress: ProgressSink = SilentProgress())
    throws -> CheckoutSummary
  {
    let lock = try wrap { try store.lock(exclusive: false) }
    defer { withExtendedLifetime(lock) {} }
    try wrap { try objects.reload() }
    let id = try resolve(revision)
    let entries = try tree(try commit(id).tree).entries
    var plans: [(TreeEntry, FileObject)] = []
    var unchanged: [String] = []
    for e in entries {
      let f = try file(e.file)
      let target = "\(directory)/\(e.path)"
      switch entryKind(target) {
      case .missing: plans.append((e, f))
      case .file:
        if try sameContent(target, f) {
          unchanged.append(e.path)
        } else if force {
          plans.append((e, f))
        } else {
          throw KitError.outputExists(path: target)
        }
      case .directory, .other: throw KitError.outputExists(path: target)
      }
    }
    let total = plans.reduce(UInt64(0)) { $0 + $1.1.size }
    progress.begin("Checking out", total: total, unit: .bytes)
    var temps: [(String, String)] = []
    do {
      for (e, f) in plans {
        let target = "\(directory)/\(e.path)"
        let parent = (target as NSString).deletingLastPathComponent
        do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
          throw KitError.io(operation: "mkdir", path: parent, message: error.localizedDescription)
        }
        let temp = "\(parent)/.lineage-\(UUID().uuidString).tmp"
        temps.append((temp, target))
        try writeFile(f, to: temp, mode: e.mode, progress: progress)
      }
      // Renames happen only after every file is whole.
      for (temp, target) in temps where rename(temp, target) != 0 {
        throw KitError.io(operation: "rename", path: target, message: String(cString: strerror(errno)))
      }
    } catch {
      for (temp, _) in temps { unlink(temp) }
      progress.end()
      throw error
    }
    progress.end()
    return CheckoutSummary(commit: id, written: plans.map(\.0.path), unchanged: unchanged, bytes: total)
  }

  private func sameContent(_ path: String, _ f: FileObject) throws -> Bool {
    let h = try InputHandle(path: path)
    guard h.stat.size == f.size else { return false }
    let hasher = SHA256Hasher()
    var buffer = [UInt8](repeating: 0, count: 8 << 20)
    var offset: UInt64 = 0
    while offset < f.size {
      let n = Int(min(UInt64(buffer.count), f.size - offset))
      try buffer.withUnsafeMutableBytes { try h.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: offset) }
      buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
      offset += UInt64(n)
    }
    return hasher.finalize().bytes == f.sha256
  }

  /// The chunks of a file in order, with tensor segments expanded.
  func chunkList(_ f: FileObject) throws -> [ChunkRef] {
    var out: [ChunkRef] = []
    var total: UInt64 = 0
    for s in f.segments {
      switch s {
      case .bytes(let chunks): out += chunks
      case .tensor(_, let tid): out += try tensor(tid).chunks
      }
    }
    for c in out { total += UInt64(c.length) }
    guard total == f.size else {
      throw KitError.corruptObject(ObjectID.of(.file, content: f.encoded()), reason: "segments hold \(total) bytes, file size is \(f.size)")
    }
    return out
  }

  /// Decode and verify chunks a window at a time on all cores, handing each window to `sink` in
  /// order. The sink of window N runs inside window N+1's parallel step, so writing overlaps
  /// decoding; it is never called concurrently with itself.
  func streamChunks(_ chunks: [ChunkRef], progress: ProgressSink, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
    let window = 32 << 20
    let largest = chunks.map { Int($0.length) }.max() ?? 0
    let capacity = min(max(window, largest), max(1, chunks.reduce(0) { $0 + Int($1.length) }))
    var batches: [[(ChunkRef, Int)]] = []
    var batch: [(ChunkRef, Int)] = []
    var length = 0
    for c in chunks {
      if !batch.isEmpty, length + Int(c.length) > capacity {
        batches.append(batch)
        batch = []
        length = 0
      }
      batch.append((c, length))
      length += Int(c.length)
    }
    if !batch.isEmpty { batches.append(batch) }
    var buffers = [[UInt8](repeating: 0, count: capacity), [UInt8](repeating: 0, count: capacity)]
    var previousLength = 0
    let objects = self.objects
    try withoutActuallyEscaping(sink) { sink in
      let write = Unchecked(value: sink)
      for (w, jobs) in batches.enumerated() {
        let length = jobs.last.map { $0.1 + Int($0.0.length) } ?? 0
        let failures = UnsafeMutableBufferPointer<Error?>.allocate(capacity: jobs.count + 1)
        failures.initialize(repeating: nil)
        defer {
          failures.deinitialize()
          failures.deallocate()
        }
        let slots = Unchecked(value: failures)
        var current = buffers[w % 2]
        let previous = buffers[(w + 1) % 2]
        buffers = [[], []]
        let toWrite = previousLength
        current.withUnsafeMutableBytes { out in
          previous.withUnsafeBytes { prev in
            let out = Unchecked(value: out)
            let prev = Unchecked(value: prev)
            DispatchQueue.concurrentPerform(iterations: jobs.count + 1) { j in
              if j == 0 {
                guard toWrite > 0 else { return }
                do { try write.value(UnsafeRawBufferPointer(rebasing: prev.value[0..<toWrite])) } catch { slots.value[0] = error }
                return
              }
              let (ref, at) = jobs[j - 1]
              do {
                try objects.readChunk(ref.id, into: UnsafeMutableRawBufferPointer(rebasing: out.value[at..<(at + Int(ref.length))]))
              } catch {
                slots.value[j] = error
              }
            }
          }
        }
        buffers[w % 2] = current
        buffers[(w + 1) % 2] = previous
        if let failure = failures.compactMap({ $0 }).first {
          if let e = failure as? StoreError { throw KitError.store(e) }
          throw failure
        }
        previousLength = length
        progress.advance(UInt64(length))
      }
      if previousLength > 0, let last = batches.indices.last {
        try buffers[last % 2].withUnsafeBytes { try write.value(UnsafeRawBufferPointer(rebasing: $0[0..<previousLength])) }
      }
    }
  }

  private func writeFile(_ f: FileObject, to path: String, mode: UInt32, progress: ProgressSink) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode & 0o777))
    if fd < 0 { throw KitError.io(operation: "create", path: path, message: String(cString: strerror(errno))) }
    defer { close(fd) }
    try wrap {
      try streamChunks(try chunkList(f), progress: progress) { try POSIX.writeAll(fd, $0, path: path) }
    }
  }

  /// Write one tensor of a revision as a single-tensor safetensors file.
  ///
  /// The tensor is a stored tensor object, or else a tensor of a file's tensor view (a PyTorch
  /// view into a shared storage, an encoded array). Quantized GGUF blocks are written dequantized
  /// as F32, since safetensors has no block types.
  public func checkoutTensor(_ revision: String, name: String, file filePath: String? = nil, to path: String, force: Bool) throws
    -> TensorCheckout
  {
    let id = try resolve(revision)
    let entries = try tree(try commit(id).tree).entries.filter { filePath == nil || $0.path == filePath }
    var stored: [(String, ObjectID)] = []
    for e in entries {
      for case .tensor(let n, let tid) in try file(e.file).segments where n == name { stored.append((e.path, tid)) }
    }
    var viewed: [(String, any TensorSource, TensorEntry)] = []
    if stored.isEmpty {
      for e in entries {
        guard let source = try tensorSource(file: e.file, path: e.path), let t = source.tensor(named: name) else { continue }
        viewed.append((e.path, source, t))
      }
    }
    let places = stored.map(\.0) + viewed.map(\.0)
    guard let place = places.first else { throw KitError.tensorNotFound(name: name, revision: revision) }
    guard places.count == 1 else { throw KitError.ambiguousTensor(name: name, files: places) }
    if !force, case .missing = entryKind(path) {} else if !force { throw KitError.outputExists(path: path) }
    var result: TensorCheckout
    var body: (Int32, String) throws -> Void
    if let (_, tid) = stored.first {
      let t = try tensor(tid)
      result = TensorCheckout(id: tid, file: place, dtype: t.dtype, shape: t.shape, dequantized: false)
      if t.dtype.isQuantized {
        var bytes = [UInt8](repeating: 0, count: Int(t.byteLength))
        var at = 0
        try streamChunks(t.chunks, progress: SilentProgress()) { chunk in
          bytes.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[at..<(at + chunk.count)]).copyMemory(from: chunk) }
          at += chunk.count
        }
        let floats = try dequantize(bytes, t.dtype, path: place)
        result.dtype = .f32
        result.dequantized = true
        body = { fd, temp in try floats.withUnsafeBytes { try POSIX.writeAll(fd, $0, path: temp) } }
      } else {
        body = { fd, temp in try self.streamChunks(t.chunks, progress: SilentProgress()) { try POSIX.writeAll(fd, $0, path: temp) } }
      }
    } else {
      let (_, source, t) = viewed[0]
      var bytes: [UInt8]
      do { bytes = try source.bytes(of: t) } catch let p as any FormatProblem {
        throw KitError.modelFormat(path: place, format: source.format.rawValue, reason: p.description)
      }
      result = TensorCheckout(id: nil, file: place, dtype: t.dtype, shape: t.shape, dequantized: false)
      if t.dtype.isQuantized {
        let floats = try dequantize(bytes, t.dtype, path: place)
        bytes = floats.withUnsafeBytes { Array($0) }
        result.dtype = .f32
        result.dequantized = true
      }
      let data = bytes
      body = { fd, temp in try data.withUnsafeBytes { try POSIX.writeAll(fd, $0, path: temp) } }
    }
    let header = SafetensorsWriter.header([.init(name: name, dtype: result.dtype, shape: result.shape)])
    let dir = (path as NSString).deletingLastPathComponent
    let temp = "\(dir.isEmpty ? "." : dir)/.lineage-\(UUID().uuidString).tmp"
    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    if fd < 0 { throw KitError.io(operation: "create", path: temp, message: String(cString: strerror(errno))) }
    do {
      defer { close(fd) }
      try wrap {
        try header.withUnsafeBytes { try POSIX.writeAll(fd, $0, path: temp) }
        try body(fd, temp)
      }
    } catch {
      unlink(temp)
      throw error
    }
    if rename(temp, path) != 0 {
      unlink(temp)
      throw KitError.io(operation: "rename", path: path, message: String(cString: strerror(errno)))
    }
    return result
  }

  private func dequantize(_ bytes: [UInt8], _ dtype: DType, path: String) throws -> [Float] {
    do { return try bytes.withUnsafeBytes { try Dequantize.floats($0, dtype: dtype) } } catch let p as any FormatProblem {
      throw KitError.modelFormat(path: path, format: dtype.rawValue, reason: p.description)
    }
  }
}

/// What `checkoutTensor` wrote.
public struct TensorCheckout: Sendable {
  /// The stored tensor object, or nil for a tensor of a file's tensor view.
  public var id: ObjectID?
  public var file: String
  /// The dtype written (F32 for dequantized blocks).
  public var dtype: DType
  public var shape: [UInt64]
  public var dequantized: Bool
}
