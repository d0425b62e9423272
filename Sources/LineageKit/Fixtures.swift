import Foundation
import LineageCore
import LineageStore
import LineageTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What a fixture file holds.
public struct FixtureSummary: Sendable {
  public var path: String
  public var bytes: UInt64
  public var tensors: Int
  /// Tensors perturbed relative to the parent (derived fixtures only).
  public var changedTensors: Int
  public var changedBytes: UInt64
}

/// Writes seeded synthetic safetensors checkpoints: a base, and children derived from a parent by
/// small training-like steps on a chosen fraction of tensors. Same seed, same bytes.
public enum Fixtures {
  /// Write a base checkpoint of about `targetBytes`.
  public static func generate(to path: String, targetBytes: Int, dtype: DType, seed: UInt64) throws -> FixtureSummary {
    let specs = SyntheticCheckpoint.plan(targetBytes: targetBytes, dtype: dtype)
    let header = SafetensorsWriter.header(
      specs.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) }, metadata: [("format", "pt"), ("generator", "lineage fixture")])
    let out = try Output(path: path)
    try out.write(header)
    var total = UInt64(header.count)
    for s in specs {
      var bytes = [UInt8](repeating: 0, count: s.elementCount * dtype.width)
      bytes.withUnsafeMutableBytes { SyntheticCheckpoint.fill(s, seed: SyntheticCheckpoint.seed(seed, name: s.name), into: $0) }
      try out.write(bytes)
      total += UInt64(bytes.count)
    }
    try out.finish()
    return FixtureSummary(path: path, bytes: total, tensors: specs.count, changedTensors: 0, changedBytes: 0)
  }

  /// Write a child of the safetensors file at `parent`: tensors chosen by the seed, about
  /// `fraction` of the bytes, get `scale` × 0.02 × N(0,1) added to every element.
  public static func derive(from parent: String, to path: String, fraction: Double, scale: Float, seed: UInt64) throws -> FixtureSummary {
    let input = try InputHandle(path: parent)
    let size = input.stat.size
    let layout: SafetensorsLayout
    do {
      let n = try SafetensorsLayout.headerLength(prefix: try input.read(count: Int(min(size, 8)), at: 0), fileSize: size)
      layout = try SafetensorsLayout.parse(header: try input.read(count: Int(n), at: 8), fileSize: size)
    } catch let e as SafetensorsError {
      throw KitError.safetensors(path: parent, e)
    }
    let dataBytes = layout.tensors.reduce(UInt64(0)) { $0 + $1.byteLength }
    let order = layout.tensors.sorted { SyntheticCheckpoint.seed(seed, name: $0.name) < SyntheticCheckpoint.seed(seed, name: $1.name) }
    var chosen = Set<String>()
    var chosenBytes: UInt64 = 0
    for t in order where Double(chosenBytes) < fraction * Double(dataBytes) {
      guard t.dtype.isFloat else { continue }
      chosen.insert(t.name)
      chosenBytes += t.byteLength
    }
    let out = try Output(path: path)
    var changedTensors = 0
    var changedBytes: UInt64 = 0
    try out.write(try input.read(count: Int(layout.dataStart), at: 0))
    for t in layout.tensors {
      var bytes = try input.read(count: Int(t.byteLength), at: layout.dataStart + t.begin)
      if chosen.contains(t.name) {
        let before = bytes
        let spec = SyntheticCheckpoint.TensorSpec(name: t.name, shape: t.shape, dtype: t.dtype)
        bytes.withUnsafeMutableBytes {
          SyntheticCheckpoint.perturb(spec, seed: SyntheticCheckpoint.seed(seed ^ 0x5EED, name: t.name), scale: scale, in: $0)
        }
        // Small steps can round back to the same value (bf16 keeps 8 bits): count real changes.
        if bytes != before {
          changedTensors += 1
          changedBytes += t.byteLength
        }
      }
      try out.write(bytes)
    }
    try out.finish()
    return FixtureSummary(path: path, bytes: size, tensors: layout.tensors.count, changedTensors: changedTensors, changedBytes: changedBytes)
  }

  /// A file written to a temporary name, made durable, and renamed when complete.
  final class Output {
    let path: String
    let temp: String
    let fd: Int32

    init(path: String) throws {
      self.path = path
      temp = path + ".partial"
      fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
      if fd < 0 { throw KitError.io(operation: "create", path: temp, message: String(cString: strerror(errno))) }
    }

    deinit {
      close(fd)
      unlink(temp)
    }

    func write(_ bytes: [UInt8]) throws {
      try wrap { try bytes.withUnsafeBytes { try POSIX.writeAll(fd, $0, path: temp) } }
    }

    /// fsync, rename over the target, fsync the directory: a crash leaves the old file or the
    /// whole new one, never a part (the store's AtomicFile does the same inside `.lineage`).
    func finish() throws {
      try wrap { try POSIX.fsyncFD(fd, path: temp) }
      if rename(temp, path) != 0 {
        throw KitError.io(operation: "rename", path: path, message: String(cString: strerror(errno)))
      }
      let directory = (path as NSString).deletingLastPathComponent
      try wrap { try POSIX.fsyncDirectory(directory.isEmpty ? "." : directory) }
    }
  }
}
