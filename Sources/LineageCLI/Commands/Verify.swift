import ArgumentParser
import Foundation
import LineageCore
import LineageKit

struct Verify: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check signatures against trust and re-hash every reachable object",
    discussion: """
      For each revision (default HEAD; --all: every branch and tag, and the quarantine log) and all \
      of its ancestors: the \
      commit's SSHSIG signature must verify over its payload and come from a key that \
      allowed_signers (trust.allowedSigners, default .lineage/allowed_signers) trusts for \
      namespace "lineage" at the commit's time; and every object reachable from it (commits, \
      trees, files, tensors, chunks, environment captures) must be present and hash to its id. \
      Unsigned commits fail unless --allow-unsigned. Exit 0 only when everything passes; the \
      output names each commit and each problem.

      --attestation FILE checks an attestation written by `lineage attest` instead.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revisions to verify (default HEAD).") var revisions: [String] = []

  @Flag(help: "Verify everything every branch, tag and the quarantine log reach.") var all = false

  @Flag(help: "Let unsigned commits pass (their objects are still checked).") var allowUnsigned = false

  @Option(help: ArgumentHelp("Use this allowed_signers file.", valueName: "path")) var allowedSigners: String?

  @Option(help: ArgumentHelp("Verify an attestation (DSSE envelope) instead.", valueName: "file")) var attestation: String?

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    let settings = try UserEnvironment.settings(repo)
    let signers = try allowedSigners.map { try Repository.loadAllowedSigners(repository.path($0)) }
      ?? repo.allowedSigners(settings)?.signers
    if let attestation {
      try AttestCommandSupport.verify(repo: repo, path: repository.path(attestation), signers: signers, json: json)
      return
    }
    // --all covers the quarantine log too: its records are signed like commits.
    let roots = all ? try repo.allRefTargets() + (repo.quarantineHead().map { [$0] } ?? []) + (repo.inferredHead().map { [$0] } ?? []) + (repo.incidentsHead().map { [$0] } ?? []) + (repo.blameHead().map { [$0] } ?? []) : try (revisions.isEmpty ? ["HEAD"] : revisions).map { try repo.resolve($0) }
    let report = try repo.verify(roots: roots, signers: signers, allowUnsigned: allowUnsigned, progress: TerminalProgress())
    if json {
      Render.json([
        "ok": report.isOK, "objects_checked": report.objectsChecked,
        "commits": report.commits.map { c -> [String: Any] in
          var v: [String: Any] = ["commit": c.id.hex, "signature": c.signature.status.word, "passes": report.passes(c)]
          if case .good(let p) = c.signature.status { v["signer"] = p }
          if case .untrusted(let r) = c.signature.status { v["reason"] = r }
          if case .bad(let r) = c.signature.status { v["reason"] = r }
          if let f = c.signature.fingerprint { v["key"] = f }
          return v
        },
        "problems": report.problems.map { ["kind": $0.kind.rawValue, "object": $0.subject, "message": $0.message] },
      ])
    } else {
      for c in report.commits {
        let mark = report.passes(c) ? "ok  " : "FAIL"
        Render.line("\(mark) \(c.id.short) \(SignatureText.describe(c.signature))  \(c.record.message.split(separator: "\n").first ?? "")")
      }
      for p in report.problems { Render.line("FAIL \(p.kind.rawValue) \(p.subject): \(p.message)") }
      Render.line("\(report.commits.count) commit(s), \(report.objectsChecked) object(s) re-hashed: " + (report.isOK ? "verified" : "verification FAILED"))
    }
    if !report.isOK { throw ExitCode(ErrorReport.Code.integrity) }
  }
}

/// How signature results are written in text output.
enum SignatureText {
  static func describe(_ s: SignatureCheck) -> String {
    switch s.status {
    case .good(let p): "good signature by \(p)"
    case .unsigned: "unsigned"
    case .untrusted(let r): "untrusted signature (\(r))"
    case .bad(let r): "BAD signature (\(r))"
    }
  }
}
