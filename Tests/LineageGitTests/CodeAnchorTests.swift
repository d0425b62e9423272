import Foundation
import LineageCore
import LineageGit
import LineageTestSupport
import Testing

/// A real repository made with the git CLI in a temporary directory whose HOME is its own.
final class GitFixture {
  let directory = TemporaryDirectory("lineage-git")
  var root: String { directory.path + "/repo" }

  init(initialize: Bool = true) throws {
    try FileManager.default.createDirectory(atPath: directory.path + "/home", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    if initialize { try git("init", "-q", "-b", "main") }
  }

  /// Run git in the repository (or `in`) and return stdout; a failure fails the test.
  @discardableResult
  func git(_ arguments: String..., in directory: String? = nil) throws -> String {
    let result = try runProcess(
      "/usr/bin/git",
      ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"] + arguments,
      in: directory ?? root, environment: environment)
    try #require(result.status == 0, "git \(arguments.joined(separator: " ")): \(result.stderr)")
    return result.stdout
  }

  /// Run a bash command line in the repository and return its stdout.
  func bash(_ script: String) throws -> String {
    let result = try runProcess("/bin/bash", ["-c", script], in: root, environment: environment)
    try #require(result.status == 0, "\(script): \(result.stderr)")
    return result.stdout
  }

  var environment: [String: String] {
    ["HOME": directory.path + "/home", "PATH": "/usr/bin:/bin", "LC_ALL": "C"]
  }

  func write(_ name: String, _ text: String) {
    directory.write("repo/" + name, Array(text.utf8))
  }

  /// A repository with one commit of two files.
  static func committed() throws -> GitFixture {
    let f = try GitFixture()
    f.write("train.py", "import torch\nprint('train')\n")
    f.write("config/model.yaml", "layers: 12\nwidth: 768\n")
    try f.git("add", ".")
    try f.git("commit", "-q", "-m", "first")
    return f
  }

  func head() throws -> String {
    try git("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// The documented check: `git diff --full-index --no-renames … HEAD | sha256sum`.
  func cliDiffDigest() throws -> String {
    let line = try bash("git diff --full-index --no-renames --no-color --no-ext-diff --no-textconv HEAD | sha256sum")
    return "sha256:" + String(line.prefix(64))
  }

  func anchor(_ directory: String? = nil) throws -> CodeAnchor {
    try #require(try CodeAnchorReader.read(directory: directory ?? root))
  }
}

@Suite struct CodeAnchorTests {
  @Test func cleanRepository() throws {
    let f = try GitFixture.committed()
    let a = try f.anchor()
    #expect(a.commit == (try f.head()))
    #expect(a.commit.count == 40)
    #expect(a.branch == "main")
    #expect(a.dirty == false)
    #expect(a.diffDigest == nil)
    #expect(a.untracked == 0)
    #expect(a.remote == nil)
  }

  @Test func unstagedModificationIsDirtyAndDigestMatchesGitDiff() throws {
    let f = try GitFixture.committed()
    f.write("train.py", "import torch\nprint('train, but longer')\n")
    let a = try f.anchor()
    #expect(a.dirty)
    #expect(a.diffDigest == (try f.cliDiffDigest()))
    // In a small repository abbreviated ids are 7 digits; the full-index patch differs from plain
    // `git diff HEAD` only in the index line.
    let plain = try f.git("diff", "HEAD")
    let full = try f.git("diff", "--full-index", "HEAD")
    #expect(plain != full)
    #expect(plain.split(separator: "\n").count == full.split(separator: "\n").count)
  }

  @Test func stagedChangesAreDirtyAndDigestMatchesGitDiff() throws {
    let f = try GitFixture.committed()
    f.write("config/model.yaml", "layers: 24\nwidth: 768")  // no newline at end
    f.write("new.txt", "added\n")
    f.directory.write("repo/weights.bin", [0, 1, 2, 0, 255, 7])
    try f.git("add", "config/model.yaml", "new.txt", "weights.bin")
    try f.git("rm", "-q", "train.py")
    let staged = try f.anchor()
    #expect(staged.dirty)
    #expect(staged.untracked == 0)
    #expect(staged.diffDigest == (try f.cliDiffDigest()))

    // Staged and then changed again in the working tree: the patch is HEAD → working tree.
    f.write("new.txt", "added\nand edited after staging\n")
    let both = try f.anchor()
    #expect(both.diffDigest == (try f.cliDiffDigest()))
    #expect(both.diffDigest != staged.diffDigest)
  }

  @Test func modeChangeAndRenameMatchGitDiffWithoutRenames() throws {
    let f = try GitFixture.committed()
    try f.git("mv", "train.py", "run.py")
    _ = try f.bash("chmod +x config/model.yaml")
    let a = try f.anchor()
    #expect(a.dirty)
    #expect(a.diffDigest == (try f.cliDiffDigest()))
  }

  @Test func stagedChangeRevertedInWorkingTreeIsDirtyWithEmptyPatch() throws {
    let f = try GitFixture.committed()
    f.write("train.py", "changed\n")
    try f.git("add", "train.py")
    f.write("train.py", "import torch\nprint('train')\n")
    let a = try f.anchor()
    #expect(a.dirty)
    #expect(a.diffDigest == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(a.diffDigest == (try f.cliDiffDigest()))
  }

  @Test func untrackedFilesAreCountedNotDirty() throws {
    let f = try GitFixture.committed()
    f.write(".gitignore", "*.log\n")
    try f.git("add", ".gitignore")
    try f.git("commit", "-q", "-m", "ignore logs")
    f.write("scratch.txt", "x")
    f.write("outputs/run1/metrics.json", "{}")
    f.write("outputs/run1/notes.md", "n")
    f.write("train.log", "ignored")
    let a = try f.anchor()
    #expect(a.dirty == false)
    #expect(a.diffDigest == nil)
    #expect(a.untracked == 3)
    let listed = try f.git("ls-files", "--others", "--exclude-standard").split(separator: "\n")
    #expect(a.untracked == listed.count)
  }

  @Test func detachedHeadHasNoBranch() throws {
    let f = try GitFixture.committed()
    let first = try f.head()
    f.write("train.py", "second\n")
    try f.git("commit", "-q", "-am", "second")
    try f.git("checkout", "-q", "--detach", first)
    let a = try f.anchor()
    #expect(a.branch == nil)
    #expect(a.commit == first)
    #expect(a.dirty == false)
  }

  @Test func branchNameWithSlash() throws {
    let f = try GitFixture.committed()
    try f.git("checkout", "-q", "-b", "feature/bigger-lr")
    #expect(try f.anchor().branch == "feature/bigger-lr")
  }

  @Test func remoteCredentialsAreStripped() throws {
    let f = try GitFixture.committed()
    try f.git("remote", "add", "origin", "https://alice:s3cret@example.com/org/model.git")
    let a = try f.anchor()
    #expect(a.remote == "https://example.com/org/model.git")
    #expect(a.json["remote"] == .string("https://example.com/org/model.git"))
  }

  @Test func withoutOriginTheAlphabeticallyFirstRemoteIsUsed() throws {
    let f = try GitFixture.committed()
    try f.git("remote", "add", "zeta", "https://example.com/zeta.git")
    try f.git("remote", "add", "alpha", "ssh://git@example.org/alpha.git")
    #expect(try f.anchor().remote == "ssh://git@example.org/alpha.git")
    try f.git("remote", "add", "origin", "git@example.net:org/origin.git")
    #expect(try f.anchor().remote == "git@example.net:org/origin.git")
  }

  @Test func discoveryFromASubdirectory() throws {
    let f = try GitFixture.committed()
    try FileManager.default.createDirectory(atPath: f.root + "/config/deeper/still", withIntermediateDirectories: true)
    let a = try f.anchor(f.root + "/config/deeper/still")
    #expect(a.commit == (try f.head()))
  }

  @Test func notARepositoryIsNil() throws {
    let f = try GitFixture(initialize: false)
    #expect(try CodeAnchorReader.read(directory: f.root) == nil)
  }

  @Test func repositoryWithoutCommitsIsAnError() throws {
    let f = try GitFixture()
    f.write("a.txt", "a")
    #expect(throws: GitError.noCommits(path: f.root)) { try CodeAnchorReader.read(directory: f.root) }
  }

  @Test func bareRepositoryIsAnError() throws {
    let f = try GitFixture(initialize: false)
    try f.git("init", "-q", "--bare", "-b", "main")
    #expect(throws: GitError.bareRepository(path: f.root)) { try CodeAnchorReader.read(directory: f.root) }
  }

  @Test func missingDirectoryIsAnError() throws {
    let f = try GitFixture(initialize: false)
    let missing = f.root + "/nope"
    #expect(throws: GitError.directoryNotFound(path: missing)) { try CodeAnchorReader.read(directory: missing) }
  }

  @Test func jsonHasEveryKey() throws {
    let a = CodeAnchor(remote: nil, commit: String(repeating: "a", count: 40), branch: nil, dirty: false, diffDigest: nil, untracked: 2)
    let text = String(decoding: try CanonicalJSON.encode(a.json), as: UTF8.self)
    #expect(
      text == #"{"branch":null,"commit":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","diff_digest":null,"dirty":false,"remote":null,"untracked":2}"#)
  }

  @Test(arguments: [
    ("https://user:pw@example.com/a.git", "https://example.com/a.git"),
    ("https://ghp_token@github.example/a.git", "https://github.example/a.git"),
    ("HTTP://u:p@h:8080/x?y=@z", "HTTP://h:8080/x?y=@z"),
    ("https://example.com/a.git", "https://example.com/a.git"),
    ("ssh://git:pw@example.com/a.git", "ssh://git@example.com/a.git"),
    ("ssh://git@example.com/a.git", "ssh://git@example.com/a.git"),
    ("git@example.com:org/a.git", "git@example.com:org/a.git"),
    ("/srv/git/a.git", "/srv/git/a.git"),
  ])
  func credentialRedaction(input: String, expected: String) {
    #expect(CodeAnchorReader.redactCredentials(input) == expected)
  }
}
