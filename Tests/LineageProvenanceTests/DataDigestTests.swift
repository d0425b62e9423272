import Foundation
import LineageNative
import LineageProvenance
import LineageTestSupport
import Testing

func bash(_ script: String, in directory: String) throws -> String {
  let result = try runProcess("/bin/bash", ["-c", script], in: directory, environment: ["PATH": "/usr/bin:/bin", "LC_ALL": "C"])
  try #require(result.status == 0, "\(script): \(result.stderr)")
  return result.stdout
}

func sha256Hex(_ bytes: [UInt8]) -> String { SHA256Hasher.hash(bytes).hex }

/// A directory with nested folders, spaces, a hidden file, an empty file and a non-ASCII name.
func sampleTree() -> TemporaryDirectory {
  let t = TemporaryDirectory("lineage-data")
  t.write("train/part 1.jsonl", Array("{\"x\": 1}\n".utf8))
  t.write("train/part 2.jsonl", seededBytes(3 << 20 + 17, seed: 7))  // spans several 1 MiB reads
  t.write("train/sub dir/deep.txt", Array("deep\n".utf8))
  t.write("README.md", Array("# data\n".utf8))
  t.write(".hidden", Array("h".utf8))
  t.write("empty.bin", [])
  t.write("données/é.txt", Array("accent".utf8))
  t.write("a-b", Array("dash sorts before slash".utf8))
  t.write("a/b", Array("slash".utf8))
  return t
}

let handCheck =
  #"find -L . \( -name .git -o -name .lineage \) -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs -r -d '\n' sha256sum | sha256sum"#

@Suite struct DataDigestTests {
  @Test func directoryDigestMatchesTheDocumentedOneLiner() throws {
    let t = sampleTree()
    let d = try DataHasher.digest(path: t.path)
    let expected = try bash(handCheck, in: t.path)
    #expect(d.digest == "sha256:" + expected.prefix(64))
    #expect(d.files == 9)
    let sizes: [UInt64] = [9, 3 << 20 + 17, 5, 7, 1, 0, 6, 23, 5]
    #expect(d.bytes == sizes.reduce(0, +))
  }

  @Test func digestIsTheSha256sumListing() throws {
    let t = TemporaryDirectory("lineage-data")
    t.write("b.txt", Array("b".utf8))
    t.write("a.txt", Array("a".utf8))
    let listing = "\(sha256Hex(Array("a".utf8)))  a.txt\n\(sha256Hex(Array("b".utf8)))  b.txt\n"
    let d = try DataHasher.digest(path: t.path)
    #expect(d.digest == "sha256:" + sha256Hex(Array(listing.utf8)))
    #expect(d == DataDigest(digest: d.digest, files: 2, bytes: 2))
  }

  @Test func gitAndLineageFoldersAreSkippedAtAnyDepth() throws {
    let t = sampleTree()
    let before = try DataHasher.digest(path: t.path)
    t.write(".git/HEAD", Array("ref: refs/heads/main\n".utf8))
    t.write(".lineage/store/x", Array("x".utf8))
    t.write("train/.git", Array("gitdir: ../.git/modules/train\n".utf8))
    let after = try DataHasher.digest(path: t.path)
    #expect(after == before)
    #expect(after.digest == "sha256:" + (try bash(handCheck, in: t.path)).prefix(64))
  }

  @Test func symlinkToAFileIsHashedUnderItsOwnName() throws {
    let t = sampleTree()
    let blobs = TemporaryDirectory("lineage-blobs")
    let blob = blobs.write("blob", Array("linked content".utf8))
    try FileManager.default.createSymbolicLink(atPath: t.path + "/train/linked.txt", withDestinationPath: blob)
    let d = try DataHasher.digest(path: t.path)
    #expect(d.files == 10)
    #expect(d.digest == "sha256:" + (try bash(handCheck, in: t.path)).prefix(64))
  }

  @Test func symlinkToADirectoryIsRefused() throws {
    let t = sampleTree()
    let other = TemporaryDirectory("lineage-other")
    other.write("x", [1])
    try FileManager.default.createSymbolicLink(atPath: t.path + "/train/more", withDestinationPath: other.path)
    #expect(throws: ProvenanceError.symlinkToDirectory(path: t.path + "/train/more")) {
      try DataHasher.digest(path: t.path)
    }
  }

  @Test func danglingSymlinkIsRefused() throws {
    let t = sampleTree()
    try FileManager.default.createSymbolicLink(atPath: t.path + "/gone", withDestinationPath: t.path + "/nowhere")
    #expect(throws: ProvenanceError.brokenSymlink(path: t.path + "/gone")) { try DataHasher.digest(path: t.path) }
  }

  @Test func singleFileIsNamedByItsBaseName() throws {
    let t = sampleTree()
    let file = t.path + "/train/part 1.jsonl"
    let d = try DataHasher.digest(path: file)
    #expect(d.files == 1)
    #expect(d.bytes == 9)
    let expected = try bash("f='\(file)'; " + #"cd "$(dirname "$f")" && sha256sum "$(basename "$f")" | sha256sum"#, in: t.path)
    #expect(d.digest == "sha256:" + expected.prefix(64))
  }

  @Test func missingPathIsNotFound() {
    #expect(throws: ProvenanceError.notFound(path: "/nonexistent/lineage/data")) {
      try DataHasher.digest(path: "/nonexistent/lineage/data")
    }
  }

  @Test func directoryWithoutFilesIsEmptyData() throws {
    let t = TemporaryDirectory("lineage-data")
    try FileManager.default.createDirectory(atPath: t.path + "/only/dirs", withIntermediateDirectories: true)
    t.write(".git/config", [1])
    #expect(throws: ProvenanceError.emptyData(path: t.path)) { try DataHasher.digest(path: t.path) }
  }

  @Test func specialFilesAreRefused() throws {
    let t = sampleTree()
    #expect(throws: ProvenanceError.specialFile(path: "/dev/null")) { try DataHasher.digest(path: "/dev/null") }
    #expect(mkfifo(t.path + "/train/pipe", 0o644) == 0)
    #expect(throws: ProvenanceError.specialFile(path: t.path + "/train/pipe")) { try DataHasher.digest(path: t.path) }
  }

  @Test func unreadableFileIsReported() {
    // Tests may run as root, which reads any file whatever its mode; /proc/self/mem is a regular
    // file whose read at offset 0 fails for everyone.
    #expect {
      try DataHasher.digest(path: "/proc/self/mem")
    } throws: { error in
      guard case .unreadable(let path, _) = error as? ProvenanceError else { return false }
      return path == "/proc/self/mem"
    }
  }

  @Test(arguments: ["new\nline.txt", "carriage\rreturn.txt", #"back\slash.txt"#])
  func namesSha256sumWouldEscapeAreRefused(name: String) throws {
    let t = sampleTree()
    t.write("train/" + name, [1])
    #expect(throws: ProvenanceError.unsupportedName(path: t.path + "/train/" + name)) { try DataHasher.digest(path: t.path) }
  }

  @Test func nonUTF8NamesAreHashedAsRawBytes() throws {
    let t = sampleTree()
    _ = try bash(#"printf 'latin1' > "$(printf 'caf\xe9.txt')""#, in: t.path)
    let d = try DataHasher.digest(path: t.path)
    #expect(d.files == 10)
    #expect(d.digest == "sha256:" + (try bash(handCheck, in: t.path)).prefix(64))
  }

  @Test func userDigestsAreValidated() throws {
    let good = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
    #expect(try DataHasher.parseDigest(good) == good)
    for bad in [
      "", "sha256:", "sha256:" + String(repeating: "A", count: 64), "sha1:" + String(repeating: "a", count: 40),
      "sha256:" + String(repeating: "a", count: 63), "sha256:" + String(repeating: "a", count: 65),
      "SHA256:" + String(repeating: "a", count: 64), " sha256:" + String(repeating: "a", count: 64),
      "sha256:" + String(repeating: "g", count: 64),
    ] {
      #expect(throws: ProvenanceError.invalidDigest(bad)) { try DataHasher.parseDigest(bad) }
    }
  }
}
