import ArgumentParser
import LineageKit

struct GC: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gc", abstract: "Remove unreachable objects and repack",
    discussion: """
      Keeps every object reachable from a ref or named in the op log (so moving or deleting a ref \
      never loses a commit) and rewrites them into fresh packs; removes leftovers of interrupted \
      writes. Waits for running commits and checkouts. --refs-only also drops commits that only \
      the op log remembers.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Flag(name: .long, help: "Keep only what current refs reach.") var refsOnly = false

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let r = try repository.open().gc(refsOnly: refsOnly, progress: TerminalProgress())
    if json {
      Render.json([
        "objects_before": r.objectsBefore, "objects_kept": r.objectsKept, "bytes_before": r.bytesBefore,
        "bytes_after": r.bytesAfter, "packs_before": r.packsBefore, "packs_after": r.packsAfter,
        "temporary_files_removed": r.temporaryFilesRemoved,
      ])
    } else {
      Render.line("removed \(r.objectsBefore - r.objectsKept) unreachable object(s); \(r.packsBefore) pack(s) → \(r.packsAfter); \(Render.bytes(r.bytesBefore)) → \(Render.bytes(r.bytesAfter))"
        + (r.temporaryFilesRemoved > 0 ? "; \(r.temporaryFilesRemoved) temporary file(s) removed" : ""))
    }
  }
}
