import ArgumentParser
import Foundation
import LineageKit

struct Init: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create an empty lineage repository",
    discussion: "Creates DIR/.lineage (DIR defaults to the current directory) with HEAD on branch main.")

  @Argument(help: "Directory to hold the .lineage store (created if missing).")
  var directory: String = "."

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try Repository.initialize(at: directory)
    if json {
      Render.json(["root": repo.root, "store": repo.store.directory, "branch": "main"])
    } else {
      Render.line("Initialized empty lineage repository in \(repo.store.directory)")
    }
  }
}
