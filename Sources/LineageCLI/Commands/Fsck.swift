import ArgumentParser
import LineageKit

struct Fsck: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check the store's integrity",
    discussion: """
      Checks that HEAD and every ref name a stored commit and that every object reachable from the \
      refs and the op log is present and hashes to its id. --full also decodes and re-hashes every \
      stored object and recomputes every file's SHA-256. Exits 7 when anything is wrong.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Flag(help: "Re-hash every object and every file.") var full = false

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let r = try repository.open().fsck(full: full, progress: TerminalProgress())
    if json {
      Render.json([
        "clean": r.isClean, "objects_checked": r.objectsChecked, "objects_rehashed": r.chunksRehashed,
        "files_rehashed": r.filesRehashed, "leftover_temporary_files": r.leftoverTemporaryFiles,
        "torn_oplog_tail": r.tornOpLogTail,
        "problems": r.problems.map { ["kind": $0.kind.rawValue, "subject": $0.subject, "message": $0.message] },
      ])
    } else {
      for p in r.problems { Render.line("\(p.kind.rawValue) \(p.subject): \(p.message)") }
      if !r.leftoverTemporaryFiles.isEmpty {
        Render.line("note: \(r.leftoverTemporaryFiles.count) temporary file(s) from an interrupted write; `lineage gc` removes them")
      }
      if r.tornOpLogTail { Render.line("note: the op log ends in a line cut short by a crash; the next write drops it") }
      Render.line(r.isClean
        ? "ok: \(r.objectsChecked) reachable object(s) checked" + (full ? ", \(r.chunksRehashed) re-hashed, \(r.filesRehashed) file digest(s) recomputed" : "")
        : "\(r.problems.count) problem(s) found")
    }
    if !r.isClean { throw CommandFailure(message: "the store has \(r.problems.count) problem(s)", code: ErrorReport.Code.integrity) }
  }
}
