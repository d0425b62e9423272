import Foundation
import LineageCore
import LineageFormats
import LineageStore
import LineageTensor

/// A file being committed, as the format readers see it.
struct HandleBytes: ByteSource {
  let handle: InputHandle
  var size: UInt64 { handle.stat.size }
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
    try handle.read(into: buffer, at: offset)
  }
}

extension Repository {
  /// How an input is stored: its format and tensor regions (none for opaque files).
  ///
  /// A file whose name or magic says it is a model file must parse: a malformed or unsafe one
  /// is refused with the reader's reason rather than stored as opaque bytes.
  func storageLayout(_ input: InputFile, handle: InputHandle, external: [String: [TensorRegion]]) throws
    -> (ModelFormat, [TensorRegion])
  {
    if let regions = external[input.absolute] { return (.onnxData, regions) }
    let prefix = try handle.read(count: Int(min(handle.stat.size, 16)), at: 0)
    let format = ModelFormats.readableFormat(name: input.absolute, prefix: prefix)
    guard format != .opaque else { return (.opaque, []) }
    let source = try openModel(HandleBytes(handle: handle), format: format, path: input.absolute)
    return (format, source.regions)
  }

  /// Open a model file with its format's reader, mapping the reader's errors to `KitError`.
  /// `external` opens files beside it (ONNX external data) by relative path.
  func openModel(
    _ bytes: any ByteSource, format: ModelFormat, path: String,
    external: (@Sendable (String) throws -> any ByteSource)? = nil
  ) throws -> any TensorSource {
    try Self.openModel(bytes, format: format, path: path, external: external)
  }

  static func openModel(
    _ bytes: any ByteSource, format: ModelFormat, path: String,
    external: (@Sendable (String) throws -> any ByteSource)? = nil
  ) throws -> any TensorSource {
    do {
      return try ModelFormats.open(bytes, format: format, name: (path as NSString).lastPathComponent, external: external)
    } catch let e as SafetensorsError {
      throw KitError.safetensors(path: path, e)
    } catch let p as any FormatProblem {
      throw KitError.modelFormat(path: path, format: format.rawValue, reason: p.description)
    }
  }

  /// Regions of ONNX external-data files among the inputs, from the ONNX models that point into
  /// them, by absolute path. A data file two models describe differently is stored opaque.
  func externalDataRegions(_ inputs: [InputFile]) throws -> [String: [TensorRegion]] {
    let byPath = Dictionary(inputs.map { ($0.absolute, $0) }, uniquingKeysWith: { a, _ in a })
    var out: [String: [TensorRegion]] = [:]
    var conflicting = Set<String>()
    for input in inputs where ModelFormats.readableFormat(name: input.absolute, prefix: []) == .onnx {
      let handle = try InputHandle(path: input.absolute)
      let directory = (input.absolute as NSString).deletingLastPathComponent
      let source = try openModel(HandleBytes(handle: handle), format: .onnx, path: input.absolute)
      guard let onnx = source as? ONNXSource else { continue }
      for (relative, regions) in onnx.externalRegions() {
        let absolute = URL(fileURLWithPath: "\(directory)/\(relative)").standardizedFileURL.path
        guard byPath[absolute] != nil else { continue }
        if let seen = out[absolute], seen != regions { conflicting.insert(absolute) }
        out[absolute] = regions
      }
    }
    for path in conflicting { out[path] = nil }
    // Regions must hold in the data file as it is now (through a link, as inputs are read);
    // otherwise store it opaque.
    for (path, regions) in out {
      var st = stat()
      if stat(path, &st) != 0 || (try? RegionCheck.validate(regions, fileSize: UInt64(st.st_size))) == nil { out[path] = nil }
    }
    return out
  }
}

/// A stored file as random-access bytes: reads go to the chunks that hold them (verified on
/// read), with the most recent chunks kept, so a format reader parses a committed file without
/// checking it out.
final class StoredFileBytes: ByteSource, @unchecked Sendable {
  let objects: PackObjectStore
  let size: UInt64
  /// Chunk start offsets in the file, ascending, beside the chunks.
  private let starts: [UInt64]
  private let chunks: [ChunkRef]
  private let lock = NSLock()
  private var cache: [(ObjectID, [UInt8])] = []

  init(objects: PackObjectStore, size: UInt64, chunks: [ChunkRef]) {
    self.objects = objects
    self.size = size
    self.chunks = chunks
    var at: UInt64 = 0
    var starts: [UInt64] = []
    for c in chunks {
      starts.append(at)
      at += UInt64(c.length)
    }
    self.starts = starts
  }

  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
    var done = 0
    // The last chunk starting at or before `offset`.
    var lo = 0
    var hi = starts.count
    while hi - lo > 1 {
      let mid = (lo + hi) / 2
      if starts[mid] <= offset { lo = mid } else { hi = mid }
    }
    var k = lo
    while done < buffer.count, k < chunks.count {
      let bytes = try chunk(chunks[k])
      let within = Int(offset + UInt64(done) - starts[k])
      let n = min(bytes.count - within, buffer.count - done)
      bytes.withUnsafeBytes { src in
        UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + n)]).copyMemory(
          from: UnsafeRawBufferPointer(rebasing: src[within..<(within + n)]))
      }
      done += n
      k += 1
    }
  }

  private func chunk(_ ref: ChunkRef) throws -> [UInt8] {
    if let hit = lock.withLock({ cache.first { $0.0 == ref.id }?.1 }) { return hit }
    var bytes = [UInt8](repeating: 0, count: Int(ref.length))
    do {
      try bytes.withUnsafeMutableBytes { try objects.readChunk(ref.id, into: $0) }
    } catch let e as StoreError {
      throw KitError.store(e)
    }
    lock.withLock {
      cache.append((ref.id, bytes))
      if cache.count > 8 { cache.removeFirst() }
    }
    return bytes
  }
}

extension Repository {
  /// The tensor view of a stored file (nil for opaque files).
  public func tensorSource(
    file id: ObjectID, path: String, external: (@Sendable (String) throws -> any ByteSource)? = nil
  ) throws -> (any TensorSource)? {
    let f = try file(id)
    guard let format = ModelFormat(rawValue: f.format), ModelFormats.readable.contains(format) else { return nil }
    let bytes = StoredFileBytes(objects: objects, size: f.size, chunks: try chunkList(f))
    return try openModel(bytes, format: format, path: path, external: external)
  }
}
