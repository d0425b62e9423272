import Foundation
import LineageCore
import LineageKit
import LineageTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A fresh directory under the system temporary directory, removed when released.
public final class TemporaryDirectory: @unchecked Sendable {
  public let path: String

  public init(_ label: String = "lineage-test") {
    let base = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    path = URL(fileURLWithPath: base).resolvingSymlinksInPath().path
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  /// `path/name`, with parent directories created.
  public func file(_ name: String) -> String {
    let p = "\(path)/\(name)"
    try? FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    return p
  }

  /// Write bytes to `path/name` and return the path.
  @discardableResult
  public func write(_ name: String, _ bytes: [UInt8]) -> String {
    let p = file(name)
    FileManager.default.createFile(atPath: p, contents: Data(bytes))
    return p
  }
}

/// Read a whole file.
public func readBytes(_ path: String) -> [UInt8] {
  (try? Data(contentsOf: URL(fileURLWithPath: path))).map { [UInt8]($0) } ?? []
}

/// Deterministic pseudo-random bytes from a seed (SplitMix64).
public func seededBytes(_ count: Int, seed: UInt64) -> [UInt8] {
  var state = seed
  var out = [UInt8]()
  out.reserveCapacity(count + 8)
  while out.count < count { withUnsafeBytes(of: SplitMix64.next(&state)) { out += $0 } }
  return Array(out.prefix(count))
}

/// Builds safetensors byte strings, valid or deliberately broken, for parser tests.
public enum SafetensorsBytes {
  /// A file from a raw header text and data bytes; `lengthOverride` lies about the header size.
  public static func make(header: String, data: [UInt8], lengthOverride: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out = [UInt8]()
    withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { out += $0 }
    return out + h + data
  }

  /// A valid file of F32 tensors with seeded values.
  public static func valid(_ tensors: [(String, [UInt64])], seed: UInt64 = 1) -> [UInt8] {
    let entries = tensors.map { SafetensorsWriter.Entry(name: $0.0, dtype: .f32, shape: $0.1) }
    let n = tensors.reduce(0) { $0 + Int($1.1.reduce(1, *)) * 4 }
    return SafetensorsWriter.header(entries) + seededBytes(n, seed: seed)
  }
}

/// The result of running the `lineage` binary.
public struct CommandResult: Sendable {
  public var status: Int32
  public var stdout: String
  public var stderr: String
}

/// Runs the built `lineage` executable hermetically: its own HOME, a fixed clock and author.
public enum LineageBinary {
  /// The executable next to the test bundle (SwiftPM builds it because the test target depends on it).
  public static var path: String {
    let env = ProcessInfo.processInfo.environment
    if let p = env["LINEAGE_BIN"] { return p }
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = dir.appendingPathComponent("lineage").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      dir.deleteLastPathComponent()
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/lineage").path
  }

  /// Run with `arguments` in `directory`; HOME is `directory/.home`.
  @discardableResult
  public static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:], stdin: [UInt8]? = nil)
    throws -> CommandResult
  {
    var env = [
      "HOME": "\(directory)/.home", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
      "LINEAGE_AUTHOR": "Test Author <test@example.com>", "LINEAGE_COMMIT_TIME": "2026-01-02T03:04:05Z",
    ]
    try? FileManager.default.createDirectory(atPath: "\(directory)/.home", withIntermediateDirectories: true)
    for (k, v) in environment { env[k] = v }
    return try runProcess(path, arguments, in: directory, environment: env, stdin: stdin)
  }

  /// Start without waiting (for concurrency and kill tests).
  public static func start(_ arguments: [String], in directory: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = [
      "HOME": "\(directory)/.home", "LINEAGE_AUTHOR": "Test Author <test@example.com>",
      "LINEAGE_COMMIT_TIME": "2026-01-02T03:04:05Z",
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
  }
}

/// Run any executable to completion, feeding `stdin` and collecting both output streams.
///
/// Both pipes are drained concurrently, so a child that fills one never blocks on it.
/// `environment` nil inherits the test's environment.
@discardableResult
public func runProcess(
  _ executable: String, _ arguments: [String], in directory: String, environment: [String: String]? = nil,
  stdin: [UInt8]? = nil
) throws -> CommandResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  process.currentDirectoryURL = URL(fileURLWithPath: directory)
  if let environment { process.environment = environment }
  let out = Pipe()
  let err = Pipe()
  let input = Pipe()
  process.standardOutput = out
  process.standardError = err
  process.standardInput = input
  try process.run()
  if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
  try? input.fileHandleForWriting.close()
  let group = DispatchGroup()
  let box = PipeBox()
  group.enter()
  DispatchQueue.global().async {
    box.err = err.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  let o = out.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  return CommandResult(
    status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: box.err, as: UTF8.self))
}

private final class PipeBox: @unchecked Sendable { var err = Data() }

/// Parse a JSON document printed by `--json`.
public func parseJSON(_ text: String) -> Any? {
  try? JSONSerialization.jsonObject(with: Data(text.utf8))
}

/// A repository with a fixed author and clock, for library-level tests.
public func commitOptions(_ paths: [String], _ message: String, parents: [String] = [], tags: [String] = [], time: Int64 = 1_767_322_800)
  -> CommitOptions
{
  var o = CommitOptions(paths: paths, message: message, author: "Test <t@example.com>", time: time)
  o.parents = parents.map { (try? ParentSpec.parse($0)) ?? ParentSpec(revision: $0) }
  o.tags = tags
  return o
}
