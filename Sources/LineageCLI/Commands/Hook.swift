import ArgumentParser
import Foundation
import LineageGit
import LineageKit

struct HookCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hook", abstract: "Run a git hook (git calls these; see `lineage hooks install`)",
    subcommands: [PrePush.self])
}

struct PrePush: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pre-push", abstract: "Refuse a push of model files without satisfying lineage commits",
    discussion: """
      Reads git's pre-push input on standard input (local ref, local sha, remote ref, remote sha \
      per line) and walks the pushed commits with libgit2. Every model file they add or change \
      (the policy's `models` globs; Git LFS pointers count by their oid), and every other file \
      they change in a model's directory (config, tokenizer), must be held by a \
      lineage commit that satisfies the policy (Docs/Policy.md); otherwise one line per file says \
      what is missing and how to fix it, and the push is refused (exit 1). Deletions and tags \
      never trip it. The lineage store is found from the current directory (or -C); the policy \
      is lineage.toml at the repository root, else .lineage/policy.toml.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "The remote's name (git passes it).") var remote: String = "origin"
  @Argument(help: "The remote's URL (git passes it).") var url: String = ""

  func run() throws {
    let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    let updates: [PushUpdate]
    do { updates = try PushUpdate.parse(input) } catch { throw KitError.git(error.description) }
    let repo = try repository.open()
    let cwd = repository.path(".")
    let files = [repository.path("lineage.toml"), "\(repo.root)/lineage.toml", "\(repo.root)/.lineage/policy.toml"]
    guard let file = files.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      throw ValidationError("no policy: write lineage.toml or .lineage/policy.toml (Docs/Policy.md)")
    }
    let p = try Policy.load(file)
    let signers = try p.allowedSigners.map { try Repository.loadAllowedSigners($0) }
      ?? repo.allowedSigners(try UserEnvironment.settings(repo))?.signers
    let findings = try repo.checkPush(gitDirectory: cwd, remote: remote, updates: updates, policy: p, signers: signers)
    let refused = findings.filter { !$0.outcome.passed }
    for f in refused {
      for c in f.outcome.candidates {
        for v in c.violations {
          let via = c.commit.map { " (lineage commit \($0.short))" } ?? ""
          FileHandle.standardError.write(
            Data("lineage: refusing \(f.file.path) from git commit \(f.file.commit.prefix(12))\(via): \(v.message); fix: \(v.fix)\n".utf8))
        }
      }
    }
    if !refused.isEmpty {
      FileHandle.standardError.write(Data("lineage: push refused: \(refused.count) model file(s) fail the policy in \(file)\n".utf8))
      throw ExitCode(1)
    }
    if !findings.isEmpty { Render.line("lineage: \(findings.count) model file(s) satisfy the policy") }
  }
}

struct HooksCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hooks", abstract: "Install lineage's git hooks", subcommands: [HooksInstall.self])
}

struct HooksInstall: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "install", abstract: "Install the pre-push provenance gate into a git repository",
    discussion: """
      Writes the pre-push hook into the repository's hooks directory (core.hooksPath when set, \
      else .git/hooks). A pre-push hook that is not lineage's is kept: it moves to \
      pre-push.chained and runs first with the same input; --force replaces it instead.
      """)

  @Option(name: .long, help: "The git repository (default: the current directory).") var repo: String?
  @Flag(name: .long, help: "Replace a foreign pre-push hook instead of chaining to it.") var force = false

  func run() throws {
    let directory = repo ?? FileManager.default.currentDirectoryPath
    let me = URL(fileURLWithPath: CommandLine.arguments[0].contains("/") ? CommandLine.arguments[0] : "/proc/self/exe").resolvingSymlinksInPath().path
    let outcome: HookInstall.Outcome
    do {
      outcome = try HookInstall.install(directory: directory, lineage: me, force: force, home: ProcessInfo.processInfo.environment["HOME"])
    } catch let e as GitError {
      throw KitError.git(e.description)
    }
    switch outcome {
    case .installed(let p): Render.line("Installed \(p)")
    case .chained(let p, let previous): Render.line("Installed \(p); the previous hook moved to \(previous) and runs first")
    case .replaced(let p): Render.line("Replaced the previous hook at \(p)")
    }
  }
}
