import ArgumentParser
import Foundation
import LineageCore
import LineageKit
import LineageNative
import LineageProvenance

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
      --parent REV[:RELATION[:ROLE]], e.g. --parent base:finetune or --parent teacher:distill. \
      Chunks of a tensor whose name, dtype and shape match the first parent's are stored as \
      compressed deltas (ulp distances for float dtypes, XOR otherwise) when that is smaller \
      than storing them directly.

      The record also holds (Docs/CommitRecord.md): input data (--data hashes a file or \
      directory; --data-digest records one hashed elsewhere), the environment (OS, CPU, GPU, \
      BLAS, Python and its installed packages; captured unless --no-environment), the code anchor (git HEAD, \
      branch, remote, dirty flag and diff digest of --code DIR, default the current directory), \
      the command, hyperparameters (--params FILE as JSON/YAML/TOML, --param k=v) and metrics \
      (--metrics FILE, --metric k=v). The record is signed with user.signingKey when one is \
      configured (lineage config user.signingKey PATH); --no-sign skips it.

      The author comes from --author, else LINEAGE_AUTHOR, else git's user.name/user.email. \
      LINEAGE_COMMIT_TIME (seconds since the epoch or RFC 3339 UTC) fixes the time, for \
      reproducible tests.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Files or directories to commit.") var paths: [String]

  @Option(name: .shortAndLong, help: "What this checkpoint is.") var message: String

  @Option(
    name: .long,
    help: ArgumentHelp("A declared parent; repeat for several, first is the primary.", valueName: "rev[:relation[:role]]"))
  var parent: [String] = []

  @Option(help: "Relation for parents that name none: finetune, lora, merge, quantize, prune, distill, convert, pretrain, other.")
  var relation: String?

  @Option(help: ArgumentHelp("Hash a dataset file or directory (role default: train); repeatable.", valueName: "[role=]path"))
  var data: [String] = []

  @Option(help: ArgumentHelp("Record a dataset hashed elsewhere; repeatable.", valueName: "[role=]uri=sha256:hex"))
  var dataDigest: [String] = []

  @Flag(help: "Do not store the model's sketch for infer (`lineage sketch` adds it later).") var noSketch = false

  @Flag(help: "Do not capture the environment.") var noEnvironment = false

  @Option(help: ArgumentHelp("Record this environment variable's value; repeatable.", valueName: "name"))
  var envVar: [String] = []

  @Option(help: ArgumentHelp("Python whose version and installed packages to record (default: python3 on PATH).", valueName: "path"))
  var python: String?

  @Option(help: ArgumentHelp("Directory in the training code's git repository (default: current directory).", valueName: "dir"))
  var code: String?

  @Flag(help: "Do not record a code anchor.") var noCode = false

  @Option(help: "The command line that produced the checkpoint.") var command: String?

  @Option(help: ArgumentHelp("A hyperparameter; repeatable, applied over --params.", valueName: "key=value"))
  var param: [String] = []

  @Option(help: ArgumentHelp("Hyperparameters from a JSON, YAML or TOML file.", valueName: "file")) var params: String?

  @Option(help: ArgumentHelp("A metric; repeatable, applied over --metrics.", valueName: "key=value"))
  var metric: [String] = []

  @Option(help: ArgumentHelp("Metrics from a JSON, YAML or TOML file.", valueName: "file")) var metrics: String?

  @Flag(help: "Do not sign, even with user.signingKey configured.") var noSign = false

  @Option(help: ArgumentHelp("Sign with this private key instead of user.signingKey.", valueName: "path"))
  var signingKey: String?

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
    let env = UserEnvironment.variables
    let settings = try UserEnvironment.settings(repo)
    var options = CommitOptions(
      paths: paths.map(repository.path), message: message,
      author: author ?? UserEnvironment.author(settings),
      time: try Clock.now())
    options.parents = try parent.map(ParentSpec.parse)
    if let relation {
      guard let r = ParentRelation(rawValue: relation) else { throw KitError.unknownRelation(relation) }
      options.relation = r
    }
    options.data = try data.map { try DataSpec.parsePath(repository.path($0)) } + dataDigest.map(DataSpec.parseDigest)
    options.command = command
    options.params = try RecordValues.merge(params.map { try RecordValues.load(path: repository.path($0)) }, pairs: param, option: "--param")
    options.metrics = try RecordValues.merge(metrics.map { try RecordValues.load(path: repository.path($0)) }, pairs: metric, option: "--metric")
    if !noCode { options.codeDirectory = code.map(repository.path) ?? FileManager.default.currentDirectoryPath }
    if let path = UserEnvironment.signingKeyPath(settings, root: repo.root, override: signingKey.map(repository.path), noSign: noSign) {
      options.signingKey = try SigningKeys.load(path: path)
    }
    if !noEnvironment {
      var variables: [String: String] = [:]
      for name in envVar + ["LINEAGE_CONTAINER_IMAGE"] { variables[name] = env[name] }
      let probe = EnvironmentProbe(searchPath: UserEnvironment.searchPath, variables: variables, pythonExecutable: python, timeout: 20)
      options.environmentProbe = { probe.capture() }
    }
    options.tags = tag
    options.branch = branch
    options.useStatCache = !noStatCache
    options.sketch = !noSketch
    let s = try repo.commit(options, progress: TerminalProgress())
    var sketch: [String: Any]?
    switch s.sketch {
    case .stored(let record, let tensors, let seconds)?: sketch = ["record": record.hex, "tensors": tensors, "seconds": seconds]
    case .failed(let reason)?: sketch = ["error": reason]
    case .deferred(let bytes)?: sketch = ["deferred": true, "bytes": bytes]
    case nil: sketch = nil
    }
    if json {
      Render.json([
        "commit": s.commit.hex, "tree": s.tree.hex, "branch": s.branch, "tags": s.tags,
        "parents": s.parents.map(\.hex), "logical_bytes": s.logicalBytes, "new_raw_bytes": s.newRawBytes,
        "new_stored_bytes": s.newStoredBytes, "delta_chunks": s.deltaChunks, "signed": s.record.signature != nil,
        "sketch": sketch.map { $0 as Any } ?? NSNull(),
        "files": s.files.map {
          ["path": $0.path, "file": $0.file.hex, "format": $0.format, "size": $0.size, "sha256": $0.sha256,
           "tensors": $0.tensors, "reused": $0.reused] as [String: Any]
        },
      ])
      return
    }
    let tags = s.tags.isEmpty ? "" : " (tag: \(s.tags.joined(separator: ", ")))"
    Render.line("[\(s.branch) \(s.commit.short)]\(tags) \(message)" + (s.record.signature == nil ? "" : " (signed)"))
    let reused = s.files.filter(\.reused).count
    Render.line(
      "\(s.files.count) file(s), \(Render.bytes(s.logicalBytes)); stored \(Render.bytes(s.newStoredBytes)) new"
        + (s.deltaChunks > 0 ? ", \(s.deltaChunks) chunk(s) as deltas" : "")
        + (reused > 0 ? ", \(reused) file(s) unchanged" : ""))
    if case .deferred? = s.sketch {
      Render.line("sketch: not computed at commit for a model over \(Render.bytes(options.sketchLimit)); `lineage sketch \(s.commit.short)` adds it")
    }
    if case .failed(let reason)? = s.sketch {
      Render.line("warning: the model's sketch was not stored (\(reason)); `lineage sketch` adds it")
    }
  }
}
