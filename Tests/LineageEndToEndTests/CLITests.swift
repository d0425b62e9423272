import Foundation
import LineageTestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Runs `lineage` in `dir` and fails the test on a non-zero exit.
@discardableResult
func lineage(_ args: [String], in dir: String, expect status: Int32 = 0, sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandResult {
  let r = try LineageBinary.run(args, in: dir)
  #expect(r.status == status, "lineage \(args.joined(separator: " ")) exited \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
  return r
}

@Suite(.serialized) struct CLIWorkflowTests {
  @Test func aFamilyCommitsChecksOutAndReports() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let d = dir.path
    try lineage(["init"], in: d)
    try lineage(["fixture", "generate", "base.safetensors", "--size", "2MiB", "--seed", "1"], in: d)
    try lineage(["fixture", "derive", "base.safetensors", "ft.safetensors", "--fraction", "1", "--scale", "0.02", "--seed", "2"], in: d)
    try lineage(["fixture", "derive", "ft.safetensors", "gc.safetensors", "--fraction", "0.05", "--seed", "3"], in: d)
    dir.write("config.json", Array(#"{"model_type":"llama"}"#.utf8))
    let base = try lineage(["commit", "base.safetensors", "config.json", "-m", "base", "--tag", "base", "--json"], in: d)
    let baseJSON = try #require(parseJSON(base.stdout) as? [String: Any])
    #expect((baseJSON["files"] as? [[String: Any]])?.count == 2)
    try lineage(["commit", "ft.safetensors", "-m", "fine-tune", "--parent", "base", "--tag", "ft"], in: d)
    let gc = try lineage(["commit", "gc.safetensors", "-m", "grandchild", "--parent", "ft"], in: d)
    #expect(gc.stdout.hasPrefix("[main "))
    let log = try lineage(["log", "--oneline"], in: d)
    #expect(log.stdout.split(separator: "\n").count == 3, "grandchild → ft → base through declared parents")
    let logFt = try lineage(["log", "--oneline", "ft"], in: d)
    #expect(logFt.stdout.contains("(tag: ft) fine-tune") && logFt.stdout.contains("(tag: base) base"))
    let ls = try #require(parseJSON(try lineage(["ls", "base", "--json"], in: d).stdout) as? [String: Any])
    let files = try #require(ls["files"] as? [[String: Any]])
    let st = try #require(files.first { $0["path"] as? String == "base.safetensors" })
    #expect((st["tensors"] as? [Any])?.isEmpty == false)
    // sha256 as sha256sum prints it.
    let sum = try shell("sha256sum base.safetensors", in: d).split(separator: " ").first.map(String.init)
    #expect(st["sha256"] as? String == sum)
    for rev in ["base", "ft", "HEAD"] {
      try lineage(["checkout", rev, "-o", "out-\(rev)"], in: d)
    }
    #expect(readBytes("\(d)/out-base/base.safetensors") == readBytes("\(d)/base.safetensors"))
    #expect(readBytes("\(d)/out-base/config.json") == readBytes("\(d)/config.json"))
    #expect(readBytes("\(d)/out-ft/ft.safetensors") == readBytes("\(d)/ft.safetensors"))
    #expect(readBytes("\(d)/out-HEAD/gc.safetensors") == readBytes("\(d)/gc.safetensors"))
    let du = try #require(parseJSON(try lineage(["du", "--json"], in: d).stdout) as? [String: Any])
    let stored = try #require(du["stored_bytes"] as? Int)
    let logical = try #require(du["logical_bytes"] as? Int)
    #expect(Double(stored) < 0.5 * Double(logical))
    let fsck = try #require(parseJSON(try lineage(["fsck", "--full", "--json"], in: d).stdout) as? [String: Any])
    #expect(fsck["clean"] as? Bool == true)
    let raw = try lineage(["cat-object", "HEAD", "--json"], in: d)
    #expect((parseJSON(raw.stdout) as? [String: Any])?["type"] as? String == "commit")
    try lineage(["gc"], in: d)
    try lineage(["fsck", "--full"], in: d)
  }

  @Test func catObjectRawReproducesTheId() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    try lineage(["init"], in: dir.path)
    dir.write("a.txt", Array("hello".utf8))
    let c = try #require(parseJSON(try lineage(["commit", "a.txt", "-m", "a", "--json"], in: dir.path).stdout) as? [String: Any])
    let id = try #require(c["commit"] as? String)
    let raw = try LineageBinary.run(["cat-object", "--raw", id], in: dir.path)
    let header = Array("commit \(raw.stdout.utf8.count)".utf8) + [0]
    let digest = try shell("sha256sum", in: dir.path, stdin: header + Array(raw.stdout.utf8)).prefix(64)
    #expect(String(digest) == id)
    #expect(raw.stdout.contains(#""author":"Test Author <test@example.com>""#))
    #expect(raw.stdout.contains(#""time":"2026-01-02T03:04:05Z""#))
  }

  /// Progress goes to stderr only when it is a terminal: under `script` (a real pseudo-terminal)
  /// the bar is drawn, through pipes it is not.
  @Test func progressBarsOnlyOnATerminal() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let d = dir.path
    try lineage(["init"], in: d)
    try lineage(["fixture", "generate", "m.safetensors", "--size", "4MiB"], in: d)
    let piped = try lineage(["commit", "m.safetensors", "-m", "piped"], in: d)
    #expect(!piped.stderr.contains("Committing") && !piped.stdout.contains("Committing"))
    let command = "\(LineageBinary.path) commit m.safetensors -m tty --no-stat-cache"
    let tty = try shell("LINEAGE_AUTHOR=t LINEAGE_COMMIT_TIME=0 script -qec '\(command)' /dev/null", in: d)
    #expect(tty.contains("Committing") && tty.contains("100%"), "no progress bar on a terminal: \(tty)")
  }

  @Test func upgradeRaisesAnOlderStoreOnce() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let d = dir.path
    try lineage(["init"], in: d)
    dir.write(".lineage/format", Array("lineage-store\nversion 2\n".utf8))
    let first = try #require(parseJSON(try lineage(["upgrade", "--json"], in: d).stdout) as? [String: Any])
    #expect(first["from"] as? Int == 2 && first["to"] as? Int == 3 && first["changed"] as? Bool == true)
    let again = try lineage(["upgrade"], in: d)
    #expect(again.stdout.contains("already the newest"))
    #expect(try lineage(["version"], in: d).stdout.contains("store format 3"))
    let version = try #require(parseJSON(try lineage(["version", "--json"], in: d).stdout) as? [String: Any])
    #expect(version["store_format"] as? Int == 3)
    let help = try lineage(["upgrade", "--help"], in: d)
    #expect(help.stdout.contains("codec 5") && help.stdout.contains("not rewritten"))
  }

  @Test func helpTeaches() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let top = try lineage(["--help"], in: dir.path)
    #expect(top.stdout.contains("Not built yet"))
    let commit = try lineage(["commit", "--help"], in: dir.path)
    #expect(commit.stdout.contains("--parent") && commit.stdout.contains("declared"))
  }
}

@Suite(.serialized) struct CLIErrorTests {
  @Test func errorsHaveMessagesAndExitCodes() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let d = dir.path
    let notRepo = try lineage(["ls"], in: d, expect: 3)
    #expect(notRepo.stderr.contains("not a lineage repository"))
    try lineage(["init"], in: d)
    try lineage(["init"], in: d, expect: 6)
    dir.write("bad.safetensors", [1, 2, 3])
    let bad = try lineage(["commit", "bad.safetensors", "-m", "bad"], in: d, expect: 4)
    #expect(bad.stderr.contains("bad.safetensors: not a valid safetensors file: file is 3 bytes"))
    #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(d)/.lineage/packs")) ?? []).isEmpty)
    let lying = SafetensorsBytes.make(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0])
    dir.write("lying.safetensors", lying)
    let past = try lineage(["commit", "lying.safetensors", "-m", "x"], in: d, expect: 4)
    #expect(past.stderr.contains("tensor 'w' ends at 16, past the 4-byte data section"))
    try lineage(["commit", "missing.bin", "-m", "x"], in: d, expect: 4)
    try lineage(["checkout", "nope"], in: d, expect: 5)
    try lineage(["commit", "bad.safetensors", "-m", " "], in: d, expect: 64)
    dir.write("ok.txt", [1])
    for bad in ["253402300800", "-9223372036854775808", "yesterday"] {
      let r = try LineageBinary.run(["commit", "ok.txt", "-m", "t"], in: d, environment: ["LINEAGE_COMMIT_TIME": bad])
      #expect(r.status == 64 && r.stderr.contains("LINEAGE_COMMIT_TIME"), "\(bad): \(r.status) \(r.stderr)")
    }
    try lineage(["commit", "ok.txt", "-m", "ok", "--tag", "v1"], in: d)
    let dup = try lineage(["commit", "ok.txt", "-m", "again", "--tag", "v1"], in: d, expect: 6)
    #expect(dup.stderr.contains("tag 'v1' already exists"))
    try lineage(["fsck"], in: d)
  }

  @Test func aDamagedStoreFailsFsckAndCheckout() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let d = dir.path
    try lineage(["init"], in: d)
    try lineage(["fixture", "generate", "m.safetensors", "--size", "1MiB", "--dtype", "F32"], in: d)
    try lineage(["commit", "m.safetensors", "-m", "m"], in: d)
    let packs = "\(d)/.lineage/packs"
    let pack = try #require(try FileManager.default.contentsOfDirectory(atPath: packs).first { $0.hasSuffix(".pack") })
    var bytes = readBytes("\(packs)/\(pack)")
    bytes[bytes.count / 3] ^= 0x20
    try Data(bytes).write(to: URL(fileURLWithPath: "\(packs)/\(pack)"))
    let fsck = try lineage(["fsck", "--full"], in: d, expect: 7)
    #expect(fsck.stdout.contains("corrupt"))
    let co = try lineage(["checkout", "HEAD", "-o", "out"], in: d, expect: 7)
    #expect(co.stderr.contains("damaged"))
    #expect(!FileManager.default.fileExists(atPath: "\(d)/out/m.safetensors"))
  }
}

@Suite(.serialized) struct CrashAndConcurrencyTests {
  @Test func killDashNineDuringCommitLeavesACleanStore() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let d = dir.path
    try lineage(["init"], in: d)
    try lineage(["fixture", "generate", "big.safetensors", "--size", "48MiB", "--dtype", "F32"], in: d)
    try lineage(["commit", "--help"], in: d)
    var killedMidway = 0
    for delay in [0.05, 0.15, 0.3, 0.6, 1.0] {
      try? FileManager.default.removeItem(atPath: "\(d)/.lineage")
      try lineage(["init"], in: d)
      let p = try LineageBinary.start(["commit", "big.safetensors", "-m", "big", "--tag", "big"], in: d)
      Thread.sleep(forTimeInterval: delay)
      if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        killedMidway += 1
      }
      p.waitUntilExit()
      let fsck = try LineageBinary.run(["fsck", "--full", "--json"], in: d)
      #expect(fsck.status == 0, "after kill at \(delay) s: \(fsck.stdout) \(fsck.stderr)")
      // Either the commit landed whole or the tag does not exist; a retry always works.
      let tagged = try LineageBinary.run(["ls", "big"], in: d).status == 0
      if !tagged { try lineage(["commit", "big.safetensors", "-m", "big", "--tag", "big"], in: d) }
      try lineage(["checkout", "big", "-o", "out", "--force"], in: d)
      #expect(readBytes("\(d)/out/big.safetensors") == readBytes("\(d)/big.safetensors"))
      try lineage(["gc"], in: d)
      try lineage(["fsck", "--full"], in: d)
    }
    #expect(killedMidway >= 2, "the kills should interrupt at least two commits")
  }

  @Test func concurrentCommitsBothLand() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let d = dir.path
    try lineage(["init"], in: d)
    try lineage(["fixture", "generate", "a.safetensors", "--size", "8MiB", "--seed", "1"], in: d)
    try lineage(["fixture", "generate", "b.safetensors", "--size", "8MiB", "--seed", "2"], in: d)
    let pa = try LineageBinary.start(["commit", "a.safetensors", "-m", "a", "--tag", "a"], in: d)
    let pb = try LineageBinary.start(["commit", "b.safetensors", "-m", "b", "--tag", "b"], in: d)
    pa.waitUntilExit()
    pb.waitUntilExit()
    #expect(pa.terminationStatus == 0 && pb.terminationStatus == 0)
    try lineage(["fsck", "--full"], in: d)
    for t in ["a", "b"] {
      try lineage(["checkout", t, "-o", "out-\(t)"], in: d)
      #expect(readBytes("\(d)/out-\(t)/\(t).safetensors") == readBytes("\(d)/\(t).safetensors"))
    }
    let oplog = String(decoding: readBytes("\(d)/.lineage/oplog"), as: UTF8.self)
    #expect(oplog.split(separator: "\n").count == 2)
  }
}

/// Commands that take no lock (ls, log, du) keep working while gc repacks and deletes packs.
/// (The window in which a listed pack vanishes before it is opened is too narrow to hit on
/// purpose; `PackObjectStore.reload` re-lists when it happens.)
@Suite(.serialized) struct GCWhileReadingTests {
  @Test func readersKeepWorkingWhileGCRepacks() throws {
    let dir = TemporaryDirectory("lineage-e2e")
    let d = dir.path
    try lineage(["init"], in: d)
    for k in 0..<6 {
      dir.write("f\(k).bin", seededBytes(400_000, seed: UInt64(k)))
      try lineage(["commit", "f\(k).bin", "-m", "c\(k)"], in: d)
      let gc = try LineageBinary.start(["gc"], in: d)
      var reads = 0
      while gc.isRunning || reads < 3 {
        for args in [["ls", "HEAD"], ["log", "--oneline"], ["du", "--json"]] {
          let r = try LineageBinary.run(args, in: d)
          #expect(r.status == 0, "\(args) during gc: \(r.stderr)")
        }
        reads += 1
      }
      gc.waitUntilExit()
      #expect(gc.terminationStatus == 0)
    }
    try lineage(["fsck", "--full"], in: d)
  }
}

/// Runs a shell command and returns its standard output.
func shell(_ command: String, in dir: String, stdin: [UInt8]? = nil) throws -> String {
  try runProcess("/bin/sh", ["-c", command], in: dir, stdin: stdin).stdout
}
