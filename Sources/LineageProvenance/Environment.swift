import Foundation
import LineageCore
import LineageNative

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What the machine a checkpoint was made on looked like (Docs/Environment.md).
public struct EnvironmentCapture: Sendable {
  /// The full capture: a JSON object holding only strings, booleans, integers below 2^53,
  /// arrays and objects with unique keys, so it always has a canonical encoding.
  public var value: JSONValue
  /// A small object for display: `os`, `kernel`, `cpu`, `gpu`, `blas`, `python` (strings or null).
  public var summary: JSONValue

  public init(value: JSONValue, summary: JSONValue) {
    self.value = value
    self.summary = summary
  }

  /// `"sha256:"` + SHA-256 of the canonical JSON encoding of `value`.
  public var digest: String {
    // Every number in a capture is a small integer and every object has unique keys
    // (see `EnvironmentProbe`), so encoding cannot fail for a value this module built.
    guard let bytes = try? CanonicalJSON.encode(value) else {
      preconditionFailure("an environment capture is always canonically encodable")
    }
    return "sha256:" + SHA256Hasher.hash(bytes).hex
  }
}

/// Captures the environment from explicit inputs: nothing is read from this process's
/// environment variables.
///
/// Subprocesses (`nvidia-smi`, Python) run with exactly `PATH` = `searchPath` joined by ":" plus
/// `variables`, in "/", with no standard input, and are killed after `timeout` seconds.
public struct EnvironmentProbe: Sendable {
  public var searchPath: [String]
  public var variables: [String: String]
  public var pythonExecutable: String?
  public var timeout: Double
  /// Prefix for the files read (`/etc/os-release`, `/proc/…`, container markers); "" is the real
  /// root. Tests point it at a fake tree.
  public var fileRoot: String

  /// - Parameters:
  ///   - searchPath: directories searched for `nvidia-smi` and `python3`, in order.
  ///   - variables: environment variables to record, chosen by the caller, e.g.
  ///     `CUDA_VISIBLE_DEVICES` or `LINEAGE_CONTAINER_IMAGE`; also passed to subprocesses.
  ///   - pythonExecutable: the interpreter to describe (a path, or a name looked up on
  ///     `searchPath`); nil means `python3` on `searchPath`.
  ///   - timeout: seconds each subprocess may run.
  public init(
    searchPath: [String], variables: [String: String], pythonExecutable: String?, timeout: Double,
    fileRoot: String = ""
  ) {
    self.searchPath = searchPath
    self.variables = variables
    self.pythonExecutable = pythonExecutable
    self.timeout = timeout
    self.fileRoot = fileRoot
  }

  /// Capture everything; a probe that fails is recorded as `{"absent": reason}`.
  public func capture() -> EnvironmentCapture {
    let os = operatingSystem()
    let kernel = Self.kernel()
    let cpu = cpuInfo()
    let gpus = gpuList()
    let blas = BLASConfiguration.current()
    let python = pythonInfo()
    let value = JSONValue.object([
      ("os", os.json),
      ("kernel", kernel.json),
      ("architecture", kernel.value?["machine"] ?? .null),
      ("cpu", cpu.json),
      ("memory", memory().json),
      ("gpus", gpus.json),
      ("blas", .object([("config", .string(blas.config)), ("threads", int(blas.threads)), ("core", .string(blas.coreName))])),
      ("python", python.json),
      ("container", container()),
      ("variables", .object(variables.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
    ])
    let summary = JSONValue.object([
      ("os", os.value?["pretty_name"] ?? os.value?["name"] ?? .null),
      ("kernel", kernel.value?["release"] ?? .null),
      ("cpu", cpu.value.map { .string(Self.cpuSummary($0)) } ?? .null),
      ("gpu", gpus.value.map { .string(Self.gpuSummary($0)) } ?? .null),
      ("blas", .string(blas.coreName.isEmpty ? "OpenBLAS" : "OpenBLAS \(blas.coreName), \(blas.threads) threads")),
      ("python", python.value?["version"] ?? .null),
    ])
    return EnvironmentCapture(value: value, summary: summary)
  }

  // MARK: - Probes

  private var processEnvironment: [String: String] {
    var env = variables
    env["PATH"] = searchPath.joined(separator: ":")
    return env
  }

  func operatingSystem() -> Probe {
    for file in ["/etc/os-release", "/usr/lib/os-release"] {
      guard let text = readText(file) else { continue }
      let fields = Self.parseOSRelease(text)
      let keys = [("ID", "id"), ("NAME", "name"), ("VERSION_ID", "version_id"), ("VERSION", "version"), ("PRETTY_NAME", "pretty_name")]
      return .present(.object(keys.compactMap { key, name in fields[key].map { (name, .string($0)) } }))
    }
    return .absent("no /etc/os-release or /usr/lib/os-release")
  }

  /// Kernel name, release, version and machine from uname(2); the host name is left out.
  static func kernel() -> Probe {
    var names = utsname()
    guard uname(&names) == 0 else { return .absent("uname failed") }
    func field<T>(_ tuple: T) -> JSONValue {
      .string(withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
    }
    return .present(
      .object([
        ("sysname", field(names.sysname)), ("release", field(names.release)), ("version", field(names.version)),
        ("machine", field(names.machine)),
      ]))
  }

  func cpuInfo() -> Probe {
    guard let text = readText("/proc/cpuinfo") else { return .absent("no /proc/cpuinfo") }
    let info = Self.parseCPUInfo(text)
    var members: [(String, JSONValue)] = [("logical_cpus", int(info.logicalCPUs)), ("flags", .array(info.flags.map(JSONValue.string)))]
    if let model = info.model { members.append(("model", .string(model))) }
    return .present(.object(members))
  }

  func memory() -> Probe {
    guard let text = readText("/proc/meminfo") else { return .absent("no /proc/meminfo") }
    guard let kib = Self.parseMemTotalKiB(text) else { return .absent("no MemTotal in /proc/meminfo") }
    let (bytes, overflow) = kib.multipliedReportingOverflow(by: 1024)
    return overflow ? .absent("MemTotal out of range") : .present(.object([("total_bytes", int(bytes))]))
  }

  func gpuList() -> Probe {
    guard let smi = ProbeProcess.find("nvidia-smi", in: searchPath) else { return .absent("nvidia-smi not found") }
    let run = ProbeProcess.run(
      smi, ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"], environment: processEnvironment,
      timeout: timeout)
    switch run {
    case .failure(let failure): return .absent("nvidia-smi: \(failure.reason)")
    case .success(let output):
      guard output.status == 0 else { return .absent("nvidia-smi: exit status \(Self.describe(output.status))") }
      guard let gpus = Self.parseNvidiaSMI(output.stdoutText) else { return .absent("nvidia-smi: unexpected output") }
      return .present(.array(gpus.map { gpu in .object(gpu.map { ($0.0, .string($0.1)) }) }))
    }
  }

  /// One interpreter run: version, executable, then `Name==version` for every installed
  /// distribution (importlib.metadata, first on sys.path wins as pip does), or a line starting
  /// with `!` when the package list cannot be read. `pip freeze` gave the same lines but took
  /// 0.8 s of CPU, most of it importing pip, on every commit.
  ///
  /// Only the `Name:` and `Version:` headers of each METADATA (or PKG-INFO) file are read: parsing
  /// whole files with the email parser (`Distribution.metadata`) doubled the time, and the two
  /// fields never span lines.
  static let pythonScript = """
    import sys
    print(sys.version.split()[0]); print(sys.executable)
    try:
        import importlib.metadata as md, re
        seen = {}
        for d in md.distributions():
            text = d.read_text("METADATA") or d.read_text("PKG-INFO") or ""
            name = version = None
            for line in text.splitlines():
                if not line: break
                if name is None and line.startswith("Name:"): name = line[5:].strip()
                elif version is None and line.startswith("Version:"): version = line[8:].strip()
            if name and version: seen.setdefault(re.sub(r"[-_.]+", "-", name).lower(), name + "==" + version)
        print("\\n".join(seen.values()))
    except Exception as e:
        print("!" + type(e).__name__)
    """

  func pythonInfo() -> Probe {
    let name = pythonExecutable ?? "python3"
    guard let python = ProbeProcess.find(name, in: searchPath) else { return .absent("\(name) not found") }
    let about: ProbeOutput
    switch ProbeProcess.run(python, ["-c", Self.pythonScript], environment: processEnvironment, timeout: timeout) {
    case .failure(let failure): return .absent("\(name): \(failure.reason)")
    case .success(let output): about = output
    }
    let lines = about.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard about.status == 0, lines.count >= 2, !lines[0].isEmpty else {
      return .absent("\(name): exit status \(Self.describe(about.status))")
    }
    var members: [(String, JSONValue)] = [("version", .string(lines[0])), ("executable", .string(lines[1]))]
    let rest = lines.dropFirst(2).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    if let failure = rest.first(where: { $0.hasPrefix("!") }) {
      members.append(("packages", .object([("absent", .string("importlib.metadata: \(failure.dropFirst())"))])))
    } else {
      let packages = rest.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
      members.append(("packages", .array(packages.map(JSONValue.string))))
    }
    return .present(.object(members))
  }

  /// Container markers and, when the runtime wrote one down, the image.
  ///
  /// The container's own id and name are left out: they change on every run of the same image.
  func container() -> JSONValue {
    var markers: [String] = []
    var members: [(String, JSONValue)] = []
    if access(fileRoot + "/.dockerenv", F_OK) == 0 { markers.append("dockerenv") }
    if let text = readText("/run/.containerenv") {
      markers.append("containerenv")
      let fields = Self.parseOSRelease(text)
      if let image = fields["image"], !image.isEmpty { members.append(("image", .string(image))) }
      if let id = fields["imageid"], !id.isEmpty { members.append(("image_id", .string(id))) }
    } else if access(fileRoot + "/run/.containerenv", F_OK) == 0 {
      markers.append("containerenv")
    }
    if let text = readText("/proc/1/cgroup") {
      markers += Self.cgroupMarkers(text).map { "cgroup:" + $0 }
    }
    members.append(("detected", .bool(!markers.isEmpty)))
    members.append(("markers", .array(markers.map(JSONValue.string))))
    return .object(members)
  }

  // MARK: - Parsers (pure, tested with literals)

  /// `KEY=value` lines (os-release(5) and .containerenv); values may be quoted with " or '.
  static func parseOSRelease(_ text: String) -> [String: String] {
    var fields: [String: String] = [:]
    for raw in text.split(separator: "\n") {
      let line = raw.trimmingCharacters(in: .whitespaces)
      guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
      let key = String(line[..<eq])
      var value = Substring(line[line.index(after: eq)...])
      if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
        value = value.dropFirst().dropLast()
        if q == "\"" {
          var out = ""
          var escaped = false
          for c in value {
            if escaped || c != "\\" {
              out.append(c)
              escaped = false
            } else {
              escaped = true
            }
          }
          value = Substring(out)
        }
      }
      fields[key] = String(value)
    }
    return fields
  }

  struct CPUFacts: Equatable {
    var model: String?
    var logicalCPUs: Int
    var flags: [String]
  }

  /// Model, processor count and the first processor's flags from /proc/cpuinfo (x86 and ARM).
  static func parseCPUInfo(_ text: String) -> CPUFacts {
    var model: String?
    var count = 0
    var flags: [String]?
    for line in text.split(separator: "\n") {
      guard let colon = line.firstIndex(of: ":") else { continue }
      let key = line[..<colon].trimmingCharacters(in: .whitespaces)
      let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      switch key {
      case "processor": count += 1
      case "model name", "Model", "cpu model":
        if model == nil, !value.isEmpty { model = value }
      case "flags", "Features":
        if flags == nil { flags = value.split(separator: " ").map(String.init) }
      default: break
      }
    }
    let sorted = Set(flags ?? []).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    return CPUFacts(model: model, logicalCPUs: count, flags: sorted)
  }

  /// `MemTotal:  16318524 kB` → 16318524.
  static func parseMemTotalKiB(_ text: String) -> Int? {
    for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
      let parts = line.dropFirst("MemTotal:".count).split(separator: " ")
      guard parts.count == 2, parts[1] == "kB", let value = Int(parts[0]) else { return nil }
      return value
    }
    return nil
  }

  /// `name, driver_version, memory.total` CSV lines; nil when a line has another shape.
  static func parseNvidiaSMI(_ text: String) -> [[(String, String)]]? {
    var gpus: [[(String, String)]] = []
    for line in text.split(separator: "\n") {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty { continue }
      let fields = trimmed.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
      guard fields.count == 3 else { return nil }
      gpus.append([("name", fields[0]), ("driver_version", fields[1]), ("memory_total", fields[2])])
    }
    return gpus
  }

  /// Container runtimes named in /proc/1/cgroup paths (empty on cgroup v2 with a private namespace).
  static func cgroupMarkers(_ text: String) -> [String] {
    let known = ["docker", "kubepods", "containerd", "libpod", "lxc", "podman"]
    var found = Set<String>()
    for line in text.split(separator: "\n") {
      guard let path = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).last else { continue }
      for name in known where path.contains(name) { found.insert(name) }
    }
    return found.sorted()
  }

  static func cpuSummary(_ cpu: JSONValue) -> String {
    let model = cpu["model"]?.stringValue ?? "unknown CPU"
    return cpu["logical_cpus"]?.int64Value.map { "\(model) × \($0)" } ?? model
  }

  static func gpuSummary(_ gpus: JSONValue) -> String {
    let names = (gpus.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    return names.isEmpty ? "none" : names.joined(separator: ", ")
  }

  static func describe(_ status: Int32?) -> String { status.map(String.init) ?? "killed by a signal" }

  // MARK: - Helpers

  private func readText(_ path: String) -> String? {
    // Small kernel and configuration files; /proc files report size 0, so read until EOF.
    guard let handle = FileHandle(forReadingAtPath: fileRoot + path) else { return nil }
    defer { try? handle.close() }
    guard let data = try? handle.readToEnd() else { return nil }
    return String(decoding: data, as: UTF8.self)
  }
}

/// A probe's result: a value, or the reason it is absent.
enum Probe {
  case present(JSONValue)
  case absent(String)

  var value: JSONValue? {
    if case .present(let v) = self { return v }
    return nil
  }

  var json: JSONValue {
    switch self {
    case .present(let v): return v
    case .absent(let reason): return .object([("absent", .string(reason))])
    }
  }

  func map(_ transform: (JSONValue) -> JSONValue) -> Probe {
    switch self {
    case .present(let v): return .present(transform(v))
    case .absent: return self
    }
  }
}

/// An integer JSON value, as a string when it is beyond canonical JSON's ±(2^53−1).
func int<T: BinaryInteger>(_ n: T) -> JSONValue {
  let limit: Int64 = (1 << 53) - 1
  if let v = Int64(exactly: n), abs(v) <= limit { return .number(String(v)) }
  return .string(String(n))
}
