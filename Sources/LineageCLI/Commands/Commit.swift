import ArgumentParser
import Foundation
import LineageCore
import LineageKit
import LineageNative

struct Commit: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Record checkpoint files as a new commit",
    discussion: """
      Each PATH is a file (stored under its name) or a directory (its files stored under their \
      paths relative to it, e.g. a Hugging Face model folder with configs, tokenizer and sharded \
      .safetensors files with their index). .safetensors files are stored tensor by tensor; any \
      other file is stored by content-defined chunks. A symbolic link to a file is stored as that \
      file under the link's path (so a Hugging Face cache snapshot commits as the model it is); \
      links to directories are refused.

      Parents are declared, never implied: name each model this one was derived from with \
      --parent. Chunks of a tensor whose name, dtype and shape match the first parent's are stored \
      as compressed XOR deltas when that is smaller than storing them directly.

      The author comes from --author, else LINEAGE_AUTHOR, else git's user.name/user.email. \
      LINEAGE_COMMIT_TIME (seconds since the epoch or RFC 3339 UTC) fixes the time, for \
      reproducible tests.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Files or directories to commit.") var paths: [String]

  @Option(name: .shortAndLong, help: "What this checkpoint is.") var message: String

  @Option(name: .long, help: "A declared parent (revision); repeat for several, first is the primary.")
  var parent: [String] = []

  @Option(name: .long, help: "Tag the new commit; tags never move.") var tag: [String] = []

  @Option(name: .long, help: "Branch to advance (default: HEAD's branch).") var branch: String?

  @Option(name: .long, help: "Author as 'Name <email>'.") var author: String?

  @Flag(name: .long, help: "Re-read every file even when its size and times are unchanged.")
  var noStatCache = false

  @Flag(help: "Print the result as JSON.") var json = false

  func validate() throws {
    if message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
      throw ValidationError("the commit message (-m) must not be empty")
    }
    if paths.isEmpty { throw ValidationError("name at least one file or directory to commit") }
  }

  func run() throws {
    let repo = try repository.open()
    let env = ProcessInfo.processInfo.environment
    var options = CommitOptions(
      paths: paths.map(repository.path), message: message,
      author: author ?? env["LINEAGE_AUTHOR"] ?? GitIdentity.fromGlobalConfig() ?? "unknown",
      time: try Clock.now())
    options.parents = parent
    options.tags = tag
    options.branch = branch
    options.useStatCache = !noStatCache
    let s = try repo.commit(options, progress: TerminalProgress())
    if json {
      Render.json([
        "commit": s.commit.hex, "tree": s.tree.hex, "branch": s.branch, "tags": s.tags,
        "parents": s.parents.map(\.hex), "logical_bytes": s.logicalBytes, "new_raw_bytes": s.newRawBytes,
        "new_stored_bytes": s.newStoredBytes, "delta_chunks": s.deltaChunks,
        "files": s.files.map {
          ["path": $0.path, "file": $0.file.hex, "format": $0.format, "size": $0.size, "sha256": $0.sha256,
           "tensors": $0.tensors, "reused": $0.reused] as [String: Any]
        },
      ])
      return
    }
    let tags = s.tags.isEmpty ? "" : " (tag: \(s.tags.joined(separator: ", ")))"
    Render.line("[\(s.branch) \(s.commit.short)]\(tags) \(message)")
    let reused = s.files.filter(\.reused).count
    Render.line(
      "\(s.files.count) file(s), \(Render.bytes(s.logicalBytes)); stored \(Render.bytes(s.newStoredBytes)) new"
        + (s.deltaChunks > 0 ? ", \(s.deltaChunks) chunk(s) as deltas" : "")
        + (reused > 0 ? ", \(reused) file(s) unchanged" : ""))
  }
}
