import Foundation
import LineageCore
import LineageFormats
import LineageForensics
import LineageNative
import LineageProvenance

/// An external command that judges a checkpoint, with the `git bisect run` convention
/// (Docs/Blame.md, "External runners").
public struct ExternalRunner: Sendable {
  /// Run through `/bin/sh -c`.
  public var command: String
  /// The environment the command starts from (the caller's); lineage adds `LINEAGE_*`.
  public var environment: [String: String]
  /// The working directory.
  public var directory: String
  /// Seconds before the command (and its process group) is killed.
  public var timeout: Double

  public init(command: String, environment: [String: String], directory: String, timeout: Double = 600) {
    self.command = command
    self.environment = environment
    self.directory = directory
    self.timeout = timeout
  }
}

/// A runner's answer about one state.
public struct RunnerVerdict: Sendable {
  /// true: the failure occurs (exit 1–124); false: it does not (exit 0); nil: untestable (125).
  public var bad: Bool?
  /// SHA-256 of the file the command wrote to `LINEAGE_OUTPUT`, if it wrote one.
  public var output: String?
}

/// A state of the model to test: a commit, or a commit with some tensors taken from another.
struct ModelState {
  var commit: ObjectID
  /// Tensors whose values come from `donor` instead of `commit`.
  var swapped: [String] = []
  var donor: ObjectID?
}

extension Repository {
  /// Run the command on `state` for a recorded incident.
  func runExternal(_ runner: ExternalRunner, state: ModelState, incident: Incident) throws -> RunnerVerdict {
    try runExternal(runner, state: state, incidentJSON: try incidentJSON(incident), input: try incidentInput(incident))
  }

  /// Materialise `state` in a fresh directory, run the command on it, and remove the directory.
  func runExternal(_ runner: ExternalRunner, state: ModelState, incidentJSON: String, input: NamedBytes?) throws -> RunnerVerdict {
    let scratch = "\(root)/.lineage/tmp"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    let work = "\(scratch)/run-\(UUID().uuidString.lowercased())"
    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: work) }
    let checkpoint = "\(work)/checkpoint"
    _ = try checkout(state.commit.hex, to: checkpoint, force: false)
    if let donor = state.donor, !state.swapped.isEmpty { try swapTensors(state.swapped, from: donor, into: state.commit, checkout: checkpoint) }
    var env = runner.environment
    env["LINEAGE_CHECKPOINT"] = checkpoint
    env["LINEAGE_COMMIT"] = state.commit.hex
    env["LINEAGE_REVERTED"] = state.swapped.joined(separator: ",")
    env["LINEAGE_OUTPUT"] = "\(work)/output"
    let incidentFile = "\(work)/incident.json"
    try Self.writeFile(Array(incidentJSON.utf8), to: incidentFile)
    env["LINEAGE_INCIDENT"] = incidentFile
    if let input {
      let path = "\(work)/input\(Self.incidentExtension(input.name))"
      try Self.writeFile(input.bytes, to: path)
      env["LINEAGE_INPUT"] = path
    } else {
      env["LINEAGE_INPUT"] = ""
    }
    let result = ProbeProcess.run("/bin/sh", ["-c", runner.command], environment: env, timeout: runner.timeout, directory: runner.directory)
    let out: ProbeOutput
    switch result {
    case .failure(let f): throw KitError.runner(command: runner.command, reason: f.reason, stderr: "")
    case .success(let o): out = o
    }
    let tail = String(decoding: out.stderr.suffix(2000), as: UTF8.self)
    guard let status = out.status else { throw KitError.runner(command: runner.command, reason: "killed by a signal", stderr: tail) }
    let bad: Bool?
    switch status {
    case 0: bad = false
    case 1...124: bad = true
    case 125: bad = nil
    default: throw KitError.runner(command: runner.command, reason: "exit status \(status) (0 good, 1–124 bad, 125 untestable)", stderr: tail)
    }
    var digest: String?
    if FileManager.default.fileExists(atPath: "\(work)/output") {
      let handle = try InputHandle(path: "\(work)/output")
      let hasher = SHA256Hasher()
      var at: UInt64 = 0
      while at < handle.stat.size {
        let n = Int(min(handle.stat.size - at, 1 << 20))
        hasher.update(try handle.read(count: n, at: at))
        at += UInt64(n)
      }
      digest = hasher.finalize().hex
    }
    return RunnerVerdict(bad: bad, output: digest)
  }

  /// Overwrite, in a checkout of `commit`, the bytes of each named tensor with `donor`'s values of
  /// the same name, dtype and shape. Every file keeps its layout.
  func swapTensors(_ names: [String], from donor: ObjectID, into target: ObjectID, checkout directory: String) throws {
    let donorModel = try modelTensors(revision: donor.hex)
    let wanted = Set(names)
    var donorItems: [String: ModelTensors.Item] = [:]
    for item in donorModel.items where wanted.contains(item.entry.name) { donorItems[item.entry.name] = item }
    var done = Set<String>()
    for e in try tree(try commit(target).tree).entries {
      guard let source = try tensorSource(file: e.file, path: e.path) else { continue }
      let regions = source.regions.filter { wanted.contains($0.name) }
      guard !regions.isEmpty else { continue }
      let path = "\(directory)/\(e.path)"
      let fd = open(path, O_WRONLY)
      guard fd >= 0 else { throw KitError.io(operation: "open", path: path, message: String(cString: strerror(errno))) }
      defer { close(fd) }
      for r in regions {
        guard let d = donorItems[r.name], d.entry.dtype == r.dtype, d.entry.shape == r.shape, d.entry.byteLength == r.byteLength else {
          throw KitError.runtime(what: "hybrid state", reason: "tensor \(r.name) has another dtype or shape in \(donor.short), or is absent there")
        }
        let bytes = try d.source.bytes(of: d.entry)
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(r.offset)) }
        guard written == bytes.count else { throw KitError.io(operation: "write", path: path, message: String(cString: strerror(errno))) }
        done.insert(r.name)
      }
      guard fsync(fd) == 0 else { throw KitError.io(operation: "fsync", path: path, message: String(cString: strerror(errno))) }
    }
    if let missing = names.first(where: { !done.contains($0) }) {
      throw KitError.runtime(what: "hybrid state", reason: "tensor \(missing) is not in \(target.short)")
    }
  }
}

extension Repository {
  /// Write a file through a temporary file and a rename, fsynced.
  static func writeFile(_ bytes: [UInt8], to path: String) throws {
    let out = try Fixtures.Output(path: path)
    try out.write(bytes)
    try out.finish()
  }
}
