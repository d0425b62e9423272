import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What a probe subprocess did.
public struct ProbeOutput: Sendable {
  /// Exit status, when the process exited normally.
  public var status: Int32?
  public var stdout: [UInt8]
  public var stderr: [UInt8]

  public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs probe subprocesses with an explicit environment and a deadline.
///
/// Both pipes are read in one loop with poll(2), so a child that fills one pipe never blocks on
/// it, and a grandchild that keeps a pipe open after the child exits cannot hold the caller past
/// the deadline. On timeout the child's whole process group is killed (Foundation starts each
/// child as the leader of its own group), so a shell script's children die with it.
public enum ProbeProcess {
  /// Most bytes kept from one stream; a probe printing more is treated as failed.
  static let outputLimit = 16 << 20

  /// Run to completion or to the deadline; the failure is a short reason fit for a record.
  public static func run(
    _ executable: String, _ arguments: [String], environment: [String: String], timeout: Double, directory: String = "/"
  ) -> Result<ProbeOutput, ProbeFailure>
  {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    do {
      try process.run()
    } catch {
      return .failure(ProbeFailure("could not start \(executable)"))
    }
    let pid = process.processIdentifier
    let streams = [out.fileHandleForReading.fileDescriptor, err.fileHandleForReading.fileDescriptor]
    for fd in streams { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    var collected: [[UInt8]] = [[], []]
    var open = [true, true]
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = start + UInt64(max(0, timeout) * 1e9)
    var exitedAt: UInt64?
    var timedOut = false
    var tooMuch = false
    var chunk = [UInt8](repeating: 0, count: 65_536)

    while open.contains(true) {
      let now = DispatchTime.now().uptimeNanoseconds
      if now >= deadline {
        timedOut = true
        break
      }
      // A child that has exited but left a grandchild holding a pipe gets a short grace, not the
      // whole timeout.
      if exitedAt == nil, !process.isRunning { exitedAt = now }
      if let exitedAt, now - exitedAt > 500_000_000 { break }
      var fds = (0..<2).filter { open[$0] }.map { pollfd(fd: streams[$0], events: Int16(POLLIN), revents: 0) }
      let waitMS = Int32(min(100, (deadline - now) / 1_000_000 + 1))
      let ready = poll(&fds, nfds_t(fds.count), waitMS)
      if ready < 0, errno != EINTR { break }
      for p in fds where p.revents != 0 {
        guard let k = streams.firstIndex(of: p.fd) else { continue }
        let n = chunk.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
        if n > 0 {
          if collected[k].count + n > outputLimit { tooMuch = true } else { collected[k] += chunk[0..<n] }
        } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
          open[k] = false
        }
      }
      if tooMuch { break }
    }

    if process.isRunning {
      kill(getpgid(pid) == pid ? -pid : pid, SIGKILL)
    }
    process.waitUntilExit()
    if timedOut { return .failure(ProbeFailure("timed out after \(formatSeconds(timeout)) s")) }
    if tooMuch { return .failure(ProbeFailure("printed more than \(outputLimit >> 20) MiB")) }
    let status = process.terminationReason == .exit ? process.terminationStatus : nil
    return .success(ProbeOutput(status: status, stdout: collected[0], stderr: collected[1]))
  }

  /// Seconds without a needless fraction ("10", "0.5").
  static func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e15 ? String(Int64(seconds)) : String(seconds)
  }

  /// The first executable file named `name` in the directories of `searchPath`.
  static func find(_ name: String, in searchPath: [String]) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    for directory in searchPath where !directory.isEmpty {
      let candidate = directory.hasSuffix("/") ? directory + name : directory + "/" + name
      var info = stat()
      if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
        return candidate
      }
    }
    return nil
  }
}

/// Why a probe produced nothing; a short, deterministic reason recorded in the capture.
public struct ProbeFailure: Error, Sendable {
  public var reason: String
  init(_ reason: String) { self.reason = reason }
}
