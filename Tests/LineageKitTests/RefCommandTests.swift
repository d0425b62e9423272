import LineageCore
import LineageKit
import LineageStore
import LineageTestSupport
import Testing

@Suite struct RefCommandTests {
  @Test func tagsBranchesSwitchAndTheOpLogAgree() throws {
    let s = try Sandbox()
    let a = try s.repo.commit(commitOptions([s.dir.write("a", [1])], "a")).commit
    let b = try s.repo.commit(commitOptions([s.dir.write("b", [2])], "b")).commit
    #expect(try s.repo.createTag("v1", at: a.hex, time: 10) == a)
    #expect(throws: KitError.tagExists("v1")) { try s.repo.createTag("v1", at: "HEAD", time: 11) }
    #expect(throws: KitError.invalidName("no..dots")) { try s.repo.createTag("no..dots", at: "HEAD", time: 11) }
    try s.repo.createBranch("exp", at: "v1", time: 12)
    #expect(throws: KitError.branchExists("exp")) { try s.repo.createBranch("exp", at: "HEAD", time: 13) }
    #expect(try s.repo.branches() == [NamedRef(name: "exp", commit: a), NamedRef(name: "main", commit: b)])
    try s.repo.switchBranch("exp", create: nil, time: 14)
    #expect(try s.repo.currentBranch() == "exp")
    #expect(throws: KitError.currentBranch("exp")) { try s.repo.deleteBranch("exp", time: 15) }
    // A commit now advances exp, not main.
    let c = try s.repo.commit(commitOptions([s.dir.write("c", [3])], "c", parents: ["exp"])).commit
    #expect(try s.repo.resolve("exp") == c && s.repo.resolve("main") == b)
    try s.repo.switchBranch("fresh", create: "main", time: 16)
    #expect(try s.repo.resolve("HEAD") == b)
    #expect(throws: KitError.unknownRevision("nope")) { try s.repo.switchBranch("nope", create: nil, time: 17) }
    #expect(try s.repo.deleteTag("v1", time: 18) == a)
    #expect(try s.repo.deleteBranch("exp", time: 19) == c)
    // The op log remembers every value, newest first, so the deleted refs can be restored.
    let ops = try s.repo.operations(limit: 10)
    #expect(ops.map(\.op).prefix(3) == ["branch -d", "tag -d", "branch"])
    #expect(ops[0].updates[0].old == c && ops[1].updates[0].old == a)
    // gc keeps commits only the op log names.
    _ = try s.repo.gc(refsOnly: false)
    #expect(try Repository.discover(from: s.dir.path).store.objects.contains(c))
  }
}
