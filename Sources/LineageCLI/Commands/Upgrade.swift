import ArgumentParser
import LineageKit

struct Upgrade: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Raise the store's format version so that new commits use the newest codecs",
    discussion: """
      A store keeps the format version it was made with, so that the lineage builds of its time \
      can still read it: a version 2 store gets its float children as codec 4 deltas, and a \
      version 1 store as XOR deltas, not as codec 5 (ulp-bits, 4-11% smaller; \
      Docs/ObjectFormat.md section 4). upgrade raises the store to version 3. Objects already \
      stored are not rewritten; commits from then on may use codec 5; lineage builds from before \
      codec 5 refuse the store. Waits for running commits and checkouts.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let u = try repository.open().upgradeStore()
    if json {
      Render.json(["from": u.from, "to": u.to, "changed": u.from != u.to])
    } else if u.from == u.to {
      Render.line("store format \(u.to) is already the newest this lineage writes")
    } else {
      Render.line("store format \(u.from) → \(u.to): new commits may store float children as codec 5 (ulp-bits); lineage builds from before it no longer read this store")
    }
  }
}
