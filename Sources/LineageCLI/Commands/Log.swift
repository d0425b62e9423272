import ArgumentParser
import LineageCore
import LineageKit

struct Log: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show first-parent history",
    discussion: "A minimal log of the store's commit records. Signed records, --graph and filters come with the provenance work (not built yet).")

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revision to start from.") var revision: String = "HEAD"

  @Option(name: .short, help: "Show at most N commits.") var n: Int = 50

  @Flag(help: "One line per commit.") var oneline = false

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    let commits = try repo.history(from: revision, limit: n)
    let names = try repo.refNames()
    if json {
      Render.json(commits.map {
        ["commit": $0.id.hex, "tree": $0.record.tree.hex, "parents": $0.record.parents.map(\.id.hex),
         "author": $0.record.author, "time": RFC3339.format($0.record.time), "message": $0.record.message,
         "refs": names[$0.id] ?? []] as [String: Any]
      })
      return
    }
    for c in commits {
      let refs = names[c.id].map { " (" + $0.joined(separator: ", ") + ")" } ?? ""
      if oneline {
        Render.line("\(c.id.short)\(refs) \(c.record.message)")
        continue
      }
      Render.line("commit \(c.id.hex)\(refs)")
      if !c.record.parents.isEmpty { Render.line("parents \(c.record.parents.map(\.id.short).joined(separator: " "))") }
      Render.line("author \(c.record.author)")
      Render.line("date   \(RFC3339.format(c.record.time))")
      Render.line()
      Render.line("    \(c.record.message)")
      Render.line()
    }
  }
}
