import ArgumentParser
import LineageKit

struct List: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ls", abstract: "List a revision's files and tensors",
    discussion: "Shows each file's format, size and SHA-256 (what sha256sum prints), and each tensor's dtype, shape and size.")

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revision to list.") var revision: String = "HEAD"

  @Flag(name: .long, help: "Files only, no tensors.") var filesOnly = false

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let (id, files) = try repository.open().list(revision)
    if json {
      Render.json([
        "commit": id.hex,
        "files": files.map { f in
          [
            "path": f.path, "file": f.file.hex, "format": f.format, "size": f.size, "sha256": f.sha256,
            "mode": String(f.mode, radix: 8),
            "tensors": f.tensors.map { ["name": $0.name, "id": $0.id.hex, "dtype": $0.dtype.rawValue, "shape": $0.shape, "bytes": $0.bytes] as [String: Any] },
          ] as [String: Any]
        },
      ])
      return
    }
    var rows: [[String]] = []
    for f in files {
      rows.append([f.path, f.format, Render.bytes(f.size), "sha256:" + String(f.sha256.prefix(16))])
      if !filesOnly {
        for t in f.tensors { rows.append(["  " + t.name, t.dtype.rawValue, Render.bytes(t.bytes), Render.shape(t.shape)]) }
      }
    }
    Render.table(rows)
  }
}
