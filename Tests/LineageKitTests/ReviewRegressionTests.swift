import Foundation
import LineageCore
import LineageKit
import LineageStore
import LineageTensor
import LineageTestSupport
import Testing

/// Regressions for bugs found in review: each test failed before its fix.
@Suite struct ReviewRegressionTests {
  /// A commit must not deduplicate against objects a gc removed after the commit's process
  /// loaded the pack index (it waited for gc's lock, then named deleted chunks).
  @Test func aCommitAfterGCDoesNotTrustAStaleIndex() throws {
    let s = try Sandbox()
    let data = seededBytes(600_000, seed: 42)
    let path = s.dir.write("f.bin", data)
    var onBranch = commitOptions([path], "on tmp")
    onBranch.branch = "tmp"
    onBranch.useStatCache = false
    _ = try s.repo.commit(onBranch)
    // This process has the index now, with f.bin's chunks in it.
    let stale = try Repository.discover(from: s.dir.path)
    _ = try s.repo.deleteBranch("tmp", time: 1)
    _ = try s.repo.gc(refsOnly: true)
    var again = commitOptions([path], "again")
    again.useStatCache = false
    _ = try stale.commit(again)
    let report = try Repository.discover(from: s.dir.path).fsck(full: true)
    #expect(report.isClean, "\(report.problems)")
    _ = try stale.checkout("HEAD", to: s.dir.path + "/out", force: false)
    #expect(readBytes(s.dir.path + "/out/f.bin") == data)
  }

  /// Two names that differ only in Unicode normalisation are two files.
  @Test func nfcAndNfdNamesAreDistinctFiles() throws {
    let s = try Sandbox()
    let nfc = "caf\u{E9}.txt"
    let nfd = "cafe\u{301}.txt"
    s.dir.write("d/\(nfc)", [1])
    s.dir.write("d/\(nfd)", [2])
    let names = try FileManager.default.contentsOfDirectory(atPath: s.dir.path + "/d")
    try #require(names.count == 2, "this filesystem folds the names")
    let c = try s.repo.commit(commitOptions([s.dir.path + "/d"], "both"))
    #expect(c.files.count == 2)
    let tree = try TreeObject(entries: [
      TreeEntry(path: nfc, mode: TreeEntry.regular, file: c.commit), TreeEntry(path: nfd, mode: TreeEntry.regular, file: c.commit),
    ])
    #expect(tree.entries.count == 2)
    let json = try StrictJSONParser.parse(Array("{\"\(nfc)\":1,\"\(nfd)\":2}".utf8))
    #expect(json.objectValue?.count == 2)
  }

  @Test func revisionStepOverflowIsAnErrorNotACrash() throws {
    let s = try Sandbox()
    _ = try s.repo.commit(commitOptions([s.dir.write("a", [1])], "a"))
    let huge = "HEAD~9223372036854775807~9223372036854775807"
    #expect(throws: KitError.unknownRevision(huge)) { try s.repo.resolve(huge) }
  }

  @Test func orphanPacksAreReportedAndCollected() throws {
    let s = try Sandbox()
    _ = try s.repo.commit(commitOptions([s.dir.write("a", [1])], "a"))
    let orphan = s.dir.write(".lineage/packs/pack-deadbeef.pack", [1, 2, 3])
    #expect(try s.repo.fsck(full: false).leftoverTemporaryFiles.contains(orphan))
    _ = try s.repo.gc(refsOnly: false)
    #expect(!FileManager.default.fileExists(atPath: orphan))
  }

  @Test func aRefClashFailsBeforeTheOpLog() throws {
    let s = try Sandbox()
    _ = try s.repo.commit(commitOptions([s.dir.write("a", [1])], "a"))
    try s.repo.createBranch("x", at: "HEAD", time: 1)
    let before = try s.repo.operations(limit: 100).count
    #expect(throws: KitError.self) { try s.repo.createBranch("x/y", at: "HEAD", time: 2) }
    var clash = commitOptions([s.dir.write("b", [2])], "b")
    clash.branch = "x/y"
    #expect(throws: KitError.self) { try s.repo.commit(clash) }
    #expect(try s.repo.operations(limit: 100).count == before, "no op-log line for a change that did not happen")
  }
}
