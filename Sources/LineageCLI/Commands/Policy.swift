import ArgumentParser
import Foundation
import LineageKit
import LineageSigning

struct PolicyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "policy", abstract: "Check models against the provenance policy",
    discussion: "Docs/Policy.md describes the policy file. The git pre-push hook that enforces it is not built yet.",
    subcommands: [PolicyCheck.self])
}

struct PolicyCheck: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check", abstract: "Check revisions or model files against the policy",
    discussion: """
      Each TARGET is a model file (checked by its SHA-256 against every commit reachable from a \
      branch or tag: it passes when one of them satisfies the policy) or a revision (default \
      HEAD). The policy is --policy FILE, else lineage.toml in the current directory, else \
      .lineage/policy.toml. One line per unmet requirement says what is missing and how to fix \
      it. Exit 0 when every target passes, 7 when one does not, 4 for a bad policy file.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Model files or revisions (default: HEAD).") var targets: [String] = []

  @Option(name: .long, help: "The policy file (TOML).") var policy: String?

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    let candidates = [policy.map { repository.path($0) }, repository.path("lineage.toml"), "\(repo.root)/.lineage/policy.toml"].compactMap { $0 }
    guard let file = policy.map({ repository.path($0) }) ?? candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      throw ValidationError("no policy: pass --policy FILE, or write lineage.toml or .lineage/policy.toml (Docs/Policy.md)")
    }
    let p = try Policy.load(file)
    let signers = try p.allowedSigners.map { try Repository.loadAllowedSigners($0) }
      ?? repo.allowedSigners(try UserEnvironment.settings(repo))?.signers
    var outcomes: [PolicyOutcome] = []
    for target in targets.isEmpty ? ["HEAD"] : targets {
      let path = repository.path(target)
      if FileManager.default.fileExists(atPath: path) {
        outcomes.append(try repo.checkPolicy(file: path, displayPath: target, policy: p, signers: signers))
      } else {
        outcomes.append(try repo.checkPolicy(revision: target, policy: p, signers: signers))
      }
    }
    if json {
      Render.json([
        "policy": file, "passed": outcomes.allSatisfy(\.passed),
        "targets": outcomes.map { o in
          [
            "target": o.subject, "passed": o.passed, "commit": o.passing?.hex ?? NSNull(),
            "candidates": o.candidates.map { c in
              [
                "commit": c.commit?.hex ?? NSNull(),
                "violations": c.violations.map { ["rule": $0.rule, "message": $0.message, "fix": $0.fix] },
              ] as [String: Any]
            },
          ] as [String: Any]
        },
      ])
    } else {
      for o in outcomes {
        if let id = o.passing {
          Render.line("ok    \(o.subject) (commit \(id.short))")
          continue
        }
        for c in o.candidates {
          for v in c.violations {
            Render.line("FAIL  \(o.subject)\(c.commit.map { " (commit \($0.short))" } ?? ""): \(v.message) [\(v.rule)]; fix: \(v.fix)")
          }
        }
      }
    }
    if !outcomes.allSatisfy(\.passed) { throw ExitCode(7) }
  }
}
