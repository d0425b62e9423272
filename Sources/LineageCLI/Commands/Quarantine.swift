import ArgumentParser
import Foundation
import LineageCore
import LineageKit
import LineageNative

struct QuarantineCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quarantine", abstract: "Quarantine a model or training data, and everything that inherits from it",
    discussion: """
      TARGET is a revision (a model), sha256:HEX (a training-data digest) or a URI with :// (a \
      data source). While quarantined, `policy check` and the pre-push gate refuse every model \
      that is it, descends from it, or was trained on that data (Docs/Policy.md); `lineage \
      descendants TARGET` lists them. Each action is a signed record (user.signingKey) kept on \
      refs/quarantine; `lineage verify refs/quarantine` checks the whole log.
      """,
    subcommands: [Add.self, Remove.self, ListEntries.self])

  struct Signing: ParsableArguments {
    @Option(name: .shortAndLong, help: "Why (required for add).") var reason: String?
    @Flag(help: "Do not sign, even with user.signingKey configured.") var noSign = false
    @Option(help: ArgumentHelp("Sign with this private key instead of user.signingKey.", valueName: "path")) var signingKey: String?
  }

  static func record(_ action: String, _ target: String, _ s: Signing, _ repository: RepositoryOptions, json: Bool) throws {
    let repo = try repository.open()
    let settings = try UserEnvironment.settings(repo)
    let key = try UserEnvironment.signingKeyPath(settings, root: repo.root, override: s.signingKey.map(repository.path), noSign: s.noSign)
      .map { try SigningKeys.load(path: $0) }
    let t = try repo.quarantineTarget(target)
    let author = UserEnvironment.author(settings)
    let id = try repo.quarantine(action, t, reason: s.reason ?? "lifted", author: author, time: try Clock.now(), key: key)
    if json {
      Render.json(["record": id.hex, "action": action, "target": t.description, "signed": key != nil])
    } else {
      Render.line("\(action == "add" ? "Quarantined" : "Lifted quarantine of") \(t) (record \(id.short)\(key == nil ? ", unsigned" : ", signed"))")
    }
  }

  struct Add: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Quarantine a target")
    @OptionGroup var repository: RepositoryOptions
    @Argument(help: "REV, sha256:HEX or a data URI.") var target: String
    @OptionGroup var signing: Signing
    @Flag(help: "Print the result as JSON.") var json = false
    func validate() throws {
      guard !(signing.reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason TEXT is required") }
    }
    func run() throws { try QuarantineCommand.record("add", target, signing, repository, json: json) }
  }

  struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lift a quarantine")
    @OptionGroup var repository: RepositoryOptions
    @Argument(help: "REV, sha256:HEX or a data URI.") var target: String
    @OptionGroup var signing: Signing
    @Flag(help: "Print the result as JSON.") var json = false
    func run() throws { try QuarantineCommand.record("remove", target, signing, repository, json: json) }
  }

  struct ListEntries: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List active quarantines (--all: the whole log)")
    @OptionGroup var repository: RepositoryOptions
    @Flag(help: "The whole log, lifted entries included.") var all = false
    @Flag(help: "Print the result as JSON.") var json = false
    func run() throws {
      let repo = try repository.open()
      let signers = try repo.allowedSigners(try UserEnvironment.settings(repo))?.signers
      let log = try repo.quarantineLog(signers: signers)
      let active = try repo.activeQuarantines()
      let shown = all ? log : log.filter { e in e.action == "add" && active[e.target]?.record == e.record }
      if json {
        Render.json(shown.map {
          ["record": $0.record.hex, "action": $0.action, "target": $0.target.description, "reason": $0.reason, "author": $0.author,
           "time": RFC3339.format($0.time), "signature": $0.signature.word] as [String: Any]
        })
        return
      }
      if shown.isEmpty { Render.line(all ? "no quarantine actions" : "nothing is quarantined") }
      for e in shown {
        Render.line("\(e.action == "add" ? "quarantined" : "lifted")  \(e.target)  \(RFC3339.format(e.time))  \(e.author) [\(e.signature.word)]: \(e.reason)")
      }
    }
  }
}
