import Foundation
import LineageCore
import LineageTestSupport
import Testing

@testable import LineageProvenance

/// The test venv's Python when `make test` set LINEAGE_TEST_PYTHON, else python3 on the test's
/// own PATH (tests may read the environment; the library may not).
func hostPython() throws -> String {
  let environment = ProcessInfo.processInfo.environment
  if let python = environment["LINEAGE_TEST_PYTHON"] { return python }
  let path = environment["PATH"] ?? "/usr/bin:/bin"
  let found = ProbeProcess.find("python3", in: path.split(separator: ":").map(String.init))
  return try #require(found, "python3 is needed for this test")
}

/// Write an executable shell script and return its directory.
func script(_ name: String, _ body: String, in directory: TemporaryDirectory) throws -> String {
  let path = directory.write("bin/" + name, Array(("#!/bin/sh\n" + body).utf8))
  #expect(chmod(path, 0o755) == 0)
  return directory.path + "/bin"
}

let systemPath = ["/usr/bin", "/bin"]

@Suite struct EnvironmentTests {
  @Test func captureOnThisMachineHasTheBasics() throws {
    let c = EnvironmentProbe(searchPath: systemPath, variables: [:], pythonExecutable: nil, timeout: 20).capture()
    let v = c.value
    #expect(v["os"]?["id"]?.stringValue?.isEmpty == false)
    #expect(v["kernel"]?["sysname"]?.stringValue == "Linux")
    #expect(v["kernel"]?["release"]?.stringValue?.isEmpty == false)
    #expect(v["architecture"]?.stringValue?.isEmpty == false)
    let cpus = try #require(v["cpu"]?["logical_cpus"]?.int64Value)
    #expect(cpus >= 1)
    let flagList = v["cpu"]?["flags"]?.arrayValue?.compactMap { $0.stringValue }
    let flags = try #require(flagList)
    #expect(!flags.isEmpty)
    #expect(flags == flags.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    #expect((v["memory"]?["total_bytes"]?.int64Value ?? 0) > 0)
    #expect(v["blas"]?["config"]?.stringValue?.contains("OpenBLAS") == true)
    #expect((v["blas"]?["threads"]?.int64Value ?? 0) >= 1)
    #expect(v["blas"]?["core"]?.stringValue?.isEmpty == false)
    #expect(v["container"]?["detected"] != nil)
    // Summary is small and made of strings or nulls.
    let keys = try #require(c.summary.objectValue).map { $0.0 }
    #expect(keys == ["os", "kernel", "cpu", "gpu", "blas", "python"])
    #expect(c.summary["kernel"] == v["kernel"]?["release"])
    #expect(c.digest.hasPrefix("sha256:") && c.digest.count == 71)
  }

  @Test func pythonGivenHasVersionAndPackages() throws {
    let python = try hostPython()
    let c = EnvironmentProbe(searchPath: systemPath, variables: [:], pythonExecutable: python, timeout: 60).capture()
    let p = try #require(c.value["python"])
    let version = try #require(p["version"]?.stringValue)
    #expect(version.first?.isNumber == true && version.contains("."))
    #expect(p["executable"]?.stringValue?.hasPrefix("/") == true)
    let packageList = p["packages"]?.arrayValue?.compactMap { $0.stringValue }
    let packages = try #require(packageList, "\(p)")
    #expect(!packages.isEmpty)
    #expect(packages.contains { $0.lowercased().hasPrefix("pip==") })  // --all lists pip itself
    #expect(packages == packages.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    #expect(c.summary["python"] == .string(version))
    // Every ordinary install pip freeze --all lists is there, with the same version (names
    // compared in their normalised form).
    func canonical(_ line: String) -> String {
      let parts = line.split(separator: "==", maxSplits: 1).map(String.init)
      return parts[0].lowercased().replacing(/[-_.]+/, with: "-") + "==" + (parts.count > 1 ? parts[1] : "")
    }
    if case .success(let out) = ProbeProcess.run(
      python, ["-m", "pip", "freeze", "--all"], environment: ["PATH": systemPath.joined(separator: ":")], timeout: 60),
      out.status == 0
    {
      let pip = Set(out.stdoutText.split(separator: "\n").map(String.init).filter { $0.contains("==") && !$0.hasPrefix("-e") }.map(canonical))
      #expect(!pip.isEmpty)
      #expect(pip.isSubset(of: Set(packages.map(canonical))), "missing: \(pip.subtracting(packages.map(canonical)).sorted())")
    }
  }

  @Test func emptySearchPathHasNoPythonAndNoGPU() throws {
    let c = EnvironmentProbe(searchPath: [], variables: [:], pythonExecutable: nil, timeout: 5).capture()
    #expect(c.value["python"] == .object([("absent", .string("python3 not found"))]))
    #expect(c.value["gpus"] == .object([("absent", .string("nvidia-smi not found"))]))
    #expect(c.summary["python"] == .null)
    #expect(c.summary["gpu"] == .null)
    #expect(c.value["kernel"]?["sysname"] == .string("Linux"))
  }

  @Test func fakeNvidiaSMIIsParsed() throws {
    let t = TemporaryDirectory("lineage-env")
    let bin = try script(
      "nvidia-smi",
      """
      [ "$1" = "--query-gpu=name,driver_version,memory.total" ] && [ "$2" = "--format=csv,noheader" ] || exit 3
      echo "NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB"
      echo "NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB"
      """, in: t)
    let c = EnvironmentProbe(searchPath: [bin] + systemPath, variables: [:], pythonExecutable: nil, timeout: 10).capture()
    let gpu = JSONValue.object([
      ("name", .string("NVIDIA H100 80GB HBM3")), ("driver_version", .string("550.54.15")), ("memory_total", .string("81559 MiB")),
    ])
    #expect(c.value["gpus"] == .array([gpu, gpu]))
    #expect(c.summary["gpu"] == .string("NVIDIA H100 80GB HBM3, NVIDIA H100 80GB HBM3"))
  }

  @Test func failingNvidiaSMIIsAbsentWithItsStatus() throws {
    let t = TemporaryDirectory("lineage-env")
    let bin = try script("nvidia-smi", "echo 'NVIDIA-SMI has failed' >&2\nexit 9\n", in: t)
    let c = EnvironmentProbe(searchPath: [bin] + systemPath, variables: [:], pythonExecutable: nil, timeout: 10).capture()
    #expect(c.value["gpus"] == .object([("absent", .string("nvidia-smi: exit status 9"))]))
  }

  @Test func hangingProbeIsKilledAtTheTimeout() throws {
    let t = TemporaryDirectory("lineage-env")
    // The script's own child (sleep) holds the pipes too: the whole process group must die.
    let bin = try script("nvidia-smi", "sleep 60 &\necho $! > \(t.path)/sleep.pid\nwait\n", in: t)
    let start = Date()
    let c = EnvironmentProbe(searchPath: [bin] + systemPath, variables: [:], pythonExecutable: nil, timeout: 1).capture()
    #expect(Date().timeIntervalSince(start) < 15)
    #expect(c.value["gpus"] == .object([("absent", .string("nvidia-smi: timed out after 1 s"))]))
    let pid = try #require(Int32(String(decoding: readFile(t.path + "/sleep.pid"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
    var gone = false
    for _ in 0..<50 {
      // Dead, or a zombie waiting for its new parent to reap it.
      let stat = String(decoding: readFile("/proc/\(pid)/stat"), as: UTF8.self)
      if stat.isEmpty || stat.contains(") Z ") {
        gone = true
        break
      }
      usleep(100_000)
    }
    #expect(gone, "the probe's child process \(pid) outlived the timeout")
  }

  @Test func chattyProbeDoesNotDeadlockOnFullPipes() throws {
    let t = TemporaryDirectory("lineage-env")
    // 1 MiB on each stream, far more than a pipe buffer, written stderr first.
    let bin = try script(
      "nvidia-smi",
      "head -c 1048576 /dev/zero >&2\ni=0; while [ $i -lt 3 ]; do echo \"GPU $i, 1.0, 1 MiB\"; i=$((i+1)); done\n", in: t)
    let c = EnvironmentProbe(searchPath: [bin] + systemPath, variables: [:], pythonExecutable: nil, timeout: 20).capture()
    #expect(c.value["gpus"]?.arrayValue?.count == 3)
  }

  @Test func variablesAppearAsGivenAndReachSubprocesses() throws {
    let t = TemporaryDirectory("lineage-env")
    let bin = try script("nvidia-smi", "echo \"$LINEAGE_CONTAINER_IMAGE, $PATH, x\"\n", in: t)
    let variables = ["LINEAGE_CONTAINER_IMAGE": "ghcr.io/org/train@sha256:abc", "CUDA_VISIBLE_DEVICES": "0,1"]
    let c = EnvironmentProbe(searchPath: [bin] + systemPath, variables: variables, pythonExecutable: nil, timeout: 10).capture()
    #expect(
      c.value["variables"]
        == .object([("CUDA_VISIBLE_DEVICES", .string("0,1")), ("LINEAGE_CONTAINER_IMAGE", .string("ghcr.io/org/train@sha256:abc"))]))
    let gpu = try #require(c.value["gpus"]?.arrayValue?.first)
    #expect(gpu["name"] == .string("ghcr.io/org/train@sha256:abc"))
    #expect(gpu["driver_version"] == .string(([bin] + systemPath).joined(separator: ":")))
  }

  @Test func digestIsStableAcrossCaptures() throws {
    let python = try hostPython()
    let probe = EnvironmentProbe(searchPath: systemPath, variables: ["A": "1"], pythonExecutable: python, timeout: 60)
    let first = probe.capture()
    let second = probe.capture()
    #expect(first.digest == second.digest)
    #expect(first.value == second.value)
    let other = EnvironmentProbe(searchPath: systemPath, variables: ["A": "2"], pythonExecutable: python, timeout: 60).capture()
    #expect(other.digest != first.digest)
    let canonical = try CanonicalJSON.encode(first.value)
    #expect(first.digest == "sha256:" + sha256Hex(canonical))
  }

  @Test func podmanContainerEnvRecordsTheImage() throws {
    let t = TemporaryDirectory("lineage-root")
    t.write(
      "run/.containerenv",
      Array(
        """
        engine="podman-4.3.1"
        name="eager_turing"
        id="0f1e2d3c"
        image="docker.io/library/python:3.11"
        imageid="sha256:5a4b3c"
        rootless=1

        """.utf8))
    t.write("proc/1/cgroup", Array("0::/\n".utf8))
    let c = EnvironmentProbe(searchPath: [], variables: [:], pythonExecutable: nil, timeout: 5, fileRoot: t.path).capture()
    #expect(
      c.value["container"]
        == .object([
          ("image", .string("docker.io/library/python:3.11")), ("image_id", .string("sha256:5a4b3c")),
          ("detected", .bool(true)), ("markers", .array([.string("containerenv")])),
        ]))
    // Files missing under the fake root are absent, not fatal.
    #expect(c.value["os"] == .object([("absent", .string("no /etc/os-release or /usr/lib/os-release"))]))
    #expect(c.value["cpu"] == .object([("absent", .string("no /proc/cpuinfo"))]))
  }

  @Test func dockerAndCgroupMarkers() throws {
    let t = TemporaryDirectory("lineage-root")
    t.write(".dockerenv", [])
    t.write("proc/1/cgroup", Array("12:memory:/docker/3f2a\n11:cpu:/kubepods/besteffort/pod1\n0::/\n".utf8))
    let c = EnvironmentProbe(searchPath: [], variables: [:], pythonExecutable: nil, timeout: 5, fileRoot: t.path).capture()
    #expect(
      c.value["container"]
        == .object([
          ("detected", .bool(true)),
          ("markers", .array([.string("dockerenv"), .string("cgroup:docker"), .string("cgroup:kubepods")])),
        ]))
  }

  @Test func osReleaseParsing() {
    let fields = EnvironmentProbe.parseOSRelease(
      """
      # comment
      NAME="Debian GNU/Linux"
      VERSION_ID='12'
      ID=debian
      PRETTY_NAME="Say \\"hi\\""
      """)
    #expect(fields == ["NAME": "Debian GNU/Linux", "VERSION_ID": "12", "ID": "debian", "PRETTY_NAME": "Say \"hi\""])
  }

  @Test func cpuinfoParsingX86AndARM() {
    let x86 = EnvironmentProbe.parseCPUInfo(
      "processor\t: 0\nmodel name\t: Example CPU @ 3.0GHz\ncpu MHz\t\t: 2999.9\nflags\t\t: sse2 avx2 fpu sse2\n\nprocessor\t: 1\nmodel name\t: Example CPU @ 3.0GHz\nflags\t\t: fpu\n")
    #expect(x86 == .init(model: "Example CPU @ 3.0GHz", logicalCPUs: 2, flags: ["avx2", "fpu", "sse2"]))
    let arm = EnvironmentProbe.parseCPUInfo("processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n")
    #expect(arm == .init(model: nil, logicalCPUs: 1, flags: ["asimd", "fp"]))
  }

  @Test func meminfoAndNvidiaParsing() {
    #expect(EnvironmentProbe.parseMemTotalKiB("MemTotal:       16318524 kB\nMemFree: 1 kB\n") == 16_318_524)
    #expect(EnvironmentProbe.parseMemTotalKiB("MemFree: 1 kB\n") == nil)
    #expect(EnvironmentProbe.parseNvidiaSMI("a, b\n") == nil)
    #expect(EnvironmentProbe.parseNvidiaSMI("")?.isEmpty == true)
  }
}

private func readFile(_ path: String) -> [UInt8] {
  (try? Data(contentsOf: URL(fileURLWithPath: path))).map { [UInt8]($0) } ?? []
}
