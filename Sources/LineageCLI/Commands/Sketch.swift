import ArgumentParser
import Foundation
import LineageKit

struct SketchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sketch",
    abstract: "Store the sketches infer screens with, for commits made without them",
    discussion: """
      A sketch summarises a commit's model in a few hundred bytes per tensor: moments, norms, \
      zeros, a seeded random projection and row and column norm profiles (Docs/ObjectFormat.md, \
      section 7). `commit` stores one for every new commit; this command adds them for the \
      given revisions (default: every commit reachable from a branch or tag) that have none, \
      in one record on refs/sketches. Commits without a readable model get an empty sketch. \
      Commit ids never change.

      Examples:
        lineage sketch --all
        lineage sketch base ft-1
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revisions to sketch.") var revisions: [String] = []

  @Flag(help: "Every commit reachable from a branch or tag (the default without revisions).") var all = false

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    if all && !revisions.isEmpty { throw ValidationError("give revisions or --all, not both") }
  }

  func run() throws {
    let repo = try repository.open()
    let r = try repo.backfillSketches(revisions: revisions.isEmpty ? nil : revisions, time: try Clock.now(), progress: TerminalProgress())
    if json {
      Render.json([
        "commits": r.commits, "models": r.trees, "present": r.present, "added": r.added, "empty": r.emptyModels,
        "record": r.record.map { $0.hex as Any } ?? NSNull(), "seconds": r.seconds,
      ])
      return
    }
    Render.line(
      "\(r.commits) commit(s), \(r.trees) distinct tree(s): \(r.present) already sketched, \(r.added) sketched now"
        + (r.emptyModels > 0 ? " (\(r.emptyModels) without a readable model)" : "")
        + (r.record.map { " in \($0.short) on refs/sketches" } ?? ""))
  }
}
