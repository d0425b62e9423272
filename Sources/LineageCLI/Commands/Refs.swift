import ArgumentParser
import Foundation
import LineageCore
import LineageKit

struct Tag: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, create or delete tags",
    discussion: "`lineage tag` lists tags; `lineage tag NAME [REV]` tags REV (default HEAD); tags never move, so an existing name is refused. `lineage tag -d NAME` deletes one; the op log keeps what it named.")

  @OptionGroup var repository: RepositoryOptions
  @Argument(help: "Tag to create.") var name: String?
  @Argument(help: "Revision to tag.") var revision: String = "HEAD"
  @Option(name: .customShort("d"), help: "Delete this tag.") var delete: String?
  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    if let delete {
      let id = try repo.deleteTag(delete, time: try Clock.now())
      json ? Render.json(["deleted": delete, "commit": id.hex]) : Render.line("Deleted tag \(delete) (was \(id.short))")
    } else if let name {
      let id = try repo.createTag(name, at: revision, time: try Clock.now())
      json ? Render.json(["tag": name, "commit": id.hex]) : Render.line("Tagged \(id.short) as \(name)")
    } else {
      let tags = try repo.tags()
      if json { Render.json(tags.map { ["name": $0.name, "commit": $0.commit.hex] }) } else {
        Render.table(tags.map { [$0.name, $0.commit.short] })
      }
    }
  }
}

struct Branch: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, create or delete branches",
    discussion: "`lineage branch` lists branches (* marks HEAD's); `lineage branch NAME [REV]` creates one at REV (default HEAD); `lineage branch -d NAME` deletes one other than HEAD's; the op log keeps what it named.")

  @OptionGroup var repository: RepositoryOptions
  @Argument(help: "Branch to create.") var name: String?
  @Argument(help: "Revision to start it at.") var revision: String = "HEAD"
  @Option(name: .customShort("d"), help: "Delete this branch.") var delete: String?
  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    if let delete {
      let id = try repo.deleteBranch(delete, time: try Clock.now())
      json ? Render.json(["deleted": delete, "commit": id.hex]) : Render.line("Deleted branch \(delete) (was \(id.short))")
    } else if let name {
      let id = try repo.createBranch(name, at: revision, time: try Clock.now())
      json ? Render.json(["branch": name, "commit": id.hex]) : Render.line("Created branch \(name) at \(id.short)")
    } else {
      let current = try repo.currentBranch()
      let branches = try repo.branches()
      if json {
        Render.json(["current": current, "branches": branches.map { ["name": $0.name, "commit": $0.commit.hex] }])
      } else {
        Render.table(branches.map { [$0.name == current ? "* \($0.name)" : "  \($0.name)", $0.commit.short] })
        if !branches.contains(where: { $0.name == current }) { Render.line("* \(current) (no commits yet)") }
      }
    }
  }
}

struct Switch: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Point HEAD at another branch",
    discussion: "Later commits advance that branch. Files on disk are not touched: use `lineage checkout` to write them.")

  @OptionGroup var repository: RepositoryOptions
  @Argument(help: "Branch to switch to.") var name: String
  @Option(name: .short, help: "Create the branch at this revision first.") var create: String?

  func run() throws {
    try repository.open().switchBranch(name, create: create, time: try Clock.now())
    Render.line("HEAD is now on branch \(name)")
  }
}

struct OpLog: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "oplog", abstract: "Show every ref change, newest first",
    discussion: "Each commit, tag, branch change and deletion is one entry with the old and new value of every ref it touched, so a moved or deleted ref can always be found again (and gc keeps every commit named here).")

  @OptionGroup var repository: RepositoryOptions
  @Option(name: .short, help: "Show at most N entries.") var n: Int = 50
  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let ops = try repository.open().operations(limit: n)
    if json {
      Render.json(ops.map { e in
        ["time": RFC3339.format(e.time), "op": e.op,
         "updates": e.updates.map { u -> [String: Any] in
           ["ref": u.ref, "old": u.old.map { $0.hex as Any } ?? NSNull(), "new": u.new.map { $0.hex as Any } ?? NSNull()]
         }] as [String: Any]
      })
      return
    }
    for e in ops {
      let changes = e.updates.map { "\($0.ref): \($0.old?.short ?? "∅") → \($0.new?.short ?? "∅")" }.joined(separator: ", ")
      Render.line("\(RFC3339.format(e.time))  \(e.op.padding(toLength: 9, withPad: " ", startingAt: 0))  \(changes)")
    }
  }
}
