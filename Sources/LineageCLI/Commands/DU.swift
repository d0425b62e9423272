import ArgumentParser
import LineageKit

struct DU: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "du", abstract: "Show logical and stored sizes",
    discussion: """
      logical: the bytes of every file of every reachable commit (a copy per commit); unique: the \
      distinct chunks' bytes; stored: pack and index files on disk. Per commit, 'adds' is what its \
      new chunks take in the store.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let u = try repository.open().diskUsage()
    if json {
      Render.json([
        "logical_bytes": u.logicalBytes, "unique_raw_bytes": u.uniqueRawBytes, "stored_bytes": u.storedBytes,
        "dedup_ratio": u.dedupRatio, "compression_ratio": u.compressionRatio, "total_ratio": u.totalRatio,
        "objects": u.objectCount, "packs": u.packCount,
        "commits": u.commits.map {
          ["commit": $0.commit.hex, "message": $0.message, "logical_bytes": $0.logicalBytes,
           "new_raw_bytes": $0.newRawBytes, "new_stored_bytes": $0.newStoredBytes] as [String: Any]
        },
      ])
      return
    }
    var rows = [["commit", "size", "adds", "adds/size", "message"]]
    for c in u.commits {
      let share = c.logicalBytes == 0 ? 0 : Double(c.newStoredBytes) / Double(c.logicalBytes)
      rows.append([c.commit.short, Render.bytes(c.logicalBytes), Render.bytes(c.newStoredBytes), String(format: "%.1f%%", share * 100), c.message])
    }
    Render.table(rows)
    Render.line()
    Render.line("logical \(Render.bytes(u.logicalBytes)), unique \(Render.bytes(u.uniqueRawBytes)), stored \(Render.bytes(u.storedBytes)) in \(u.packCount) pack(s)")
    Render.line("dedup \(Render.ratio(u.dedupRatio)), compression \(Render.ratio(u.compressionRatio)), overall \(Render.ratio(u.totalRatio))")
  }
}
