import ArgumentParser
import Foundation
import LineageCore
import LineageKit

struct Log: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show history with signers and provenance",
    discussion: """
      Every ancestor reachable through any parent, newest first (children always before their \
      parents), as git log does; each commit with its declared parents and their relations, its \
      author, time, and the signature status against allowed_signers.

      Examples:
        lineage log --oneline --graph
        lineage log -n 5 --relation finetune --since 2026-01-01
        lineage log --author alice --json
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revision to start from.") var revision: String = "HEAD"

  @Option(name: .short, help: "Show at most N commits.") var n: Int?

  @Flag(help: "One line per commit.") var oneline = false

  @Flag(help: "Draw the ancestry graph beside the commits.") var graph = false

  @Flag(help: "Follow only first parents.") var firstParent = false

  @Option(help: "Only commits whose author contains this text (case-insensitive).") var author: String?

  @Option(help: ArgumentHelp("Only commits made at or after this time.", valueName: "YYYY-MM-DD|rfc3339")) var since: String?

  @Option(help: "Only commits with a parent of this relation.") var relation: String?

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    if let n, n < 0 { throw ValidationError("-n must not be negative") }
    if graph && json { throw ValidationError("--graph draws text; use `lineage graph --format json` for the graph as JSON") }
  }

  func run() throws {
    let repo = try repository.open()
    var filter = LogFilter()
    filter.limit = n ?? .max
    filter.author = author
    filter.firstParent = firstParent
    if let since { filter.since = try TimeArgument.parse(since, option: "--since") }
    if let relation {
      guard let r = ParentRelation(rawValue: relation) else { throw KitError.unknownRelation(relation) }
      filter.relation = r
    }
    let commits = try repo.log(from: revision, filter: filter)
    let names = try repo.refNames()
    let signers = try repo.allowedSigners(try UserEnvironment.settings(repo))?.signers
    let checks = commits.map { Repository.checkSignature($0.record, signers: signers) }
    if json {
      Render.json(zip(commits, checks).map { c, s in RecordJSON.commit(c.id, c.record, refs: names[c.id] ?? [], signature: s) })
      return
    }
    let inferred = Dictionary(grouping: try repo.inferredEdges(), by: \.child)
    let lanes = graph ? GraphLayout.lanes(commits.map { ($0.id, $0.record.parents.map(\.id)) }) : nil
    for (k, (c, s)) in zip(commits, checks).enumerated() {
      let refs = names[c.id].map { " (" + $0.joined(separator: ", ") + ")" } ?? ""
      let prefix = lanes?[k].node ?? ""
      let filler = lanes?[k].after ?? []
      if oneline {
        Render.line("\(prefix)\(c.id.short)\(refs) \(c.record.message.split(separator: "\n").first ?? "")")
        for f in filler { Render.line(f) }
        continue
      }
      let pad = lanes?[k].continuation ?? ""
      Render.line("\(prefix)commit \(c.id.hex)\(refs)")
      if !c.record.parents.isEmpty {
        let ps = c.record.parents.map { p in p.id.short + (p.relation.map { " (\($0.rawValue)\(p.role.map { ", \($0)" } ?? ""))" } ?? "") }
        Render.line("\(pad)parents \(ps.joined(separator: ", "))")
      }
      if let edges = inferred[c.id] {
        Render.line("\(pad)inferred \(edges.map { "\($0.parent.short) (\($0.relation))" }.joined(separator: ", ")) [lineage infer --record]")
      }
      Render.line("\(pad)author  \(c.record.author)")
      Render.line("\(pad)date    \(RFC3339.format(c.record.time))")
      Render.line("\(pad)signed  \(SignatureText.describe(s))")
      Render.line(pad)
      for line in c.record.message.split(separator: "\n", omittingEmptySubsequences: false) { Render.line("\(pad)    \(line)") }
      Render.line(pad)
      for f in filler { Render.line(f) }
    }
  }
}

/// `--since` values: a date (midnight UTC) or an RFC 3339 UTC time.
enum TimeArgument {
  static func parse(_ text: String, option: String) throws -> Int64 {
    if let t = RFC3339.parse(text) { return t }
    if let t = RFC3339.parse(text + "T00:00:00Z") { return t }
    throw ValidationError("\(option) '\(text)' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
  }
}
