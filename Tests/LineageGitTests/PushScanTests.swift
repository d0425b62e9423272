import LineageNative
import Testing

@testable import LineageGit

@Suite struct PushScanTests {
  let a = String(repeating: "a", count: 40)
  let z = String(repeating: "0", count: 40)

  @Test func gitsPrePushInputParsesAndExemptsDeletionsAndTags() throws {
    let u = try PushUpdate.parse("refs/heads/main \(a) refs/heads/main \(z)\nrefs/tags/v1 \(a) refs/tags/v1 \(z)\n(delete) \(z) refs/heads/old \(a)\n")
    #expect(u.count == 3)
    #expect(u.map(\.isExempt) == [false, true, true])
    #expect(try PushUpdate.parse("").isEmpty)
  }

  @Test(arguments: ["refs/heads/main abc refs/heads/main def", "only three fields", "refs/heads/main \(String(repeating: "g", count: 40)) r \(String(repeating: "0", count: 40))"])
  func malformedInputIsNamed(_ line: String) {
    #expect(throws: GitError.invalidPushInput(line: line)) { try PushUpdate.parse(line + "\n") }
  }

  @Test func lfsPointersGiveTheirOid() {
    let hex = String(repeating: "12", count: 32)
    let pointer = Array("version https://git-lfs.github.com/spec/v1\noid sha256:\(hex)\nsize 10\n".utf8)
    #expect(pointer.withUnsafeBytes { PushScan.lfsPointerDigest($0) } == HexEncoding.decode(hex))
    let notPointer = Array("oid sha256:\(hex)\n".utf8)
    #expect(notPointer.withUnsafeBytes { PushScan.lfsPointerDigest($0) } == nil)
    let shortOid = Array("version https://git-lfs.github.com/spec/v1\noid sha256:1234\n".utf8)
    #expect(shortOid.withUnsafeBytes { PushScan.lfsPointerDigest($0) } == nil)
  }
}
