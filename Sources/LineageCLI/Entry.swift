import ArgumentParser
import CSystem
import Foundation
import LineageKit

/// Parses, runs, and maps every error to one message and exit code.
public enum LineageMain {
  public static func run() -> Never {
    // Keep freed memory in the process instead of handing it back to the kernel after every
    // large free: the runtime's per-pass buffers are reused at once, and returning them cost a
    // page fault per 4 KiB on the next pass (7% of a forward pass in `bench runtime`).
    _ = lineage_keep_freed_memory()
    do {
      var command = try Lineage.parseAsRoot(try changingDirectory(Array(CommandLine.arguments.dropFirst())))
      try command.run()
      exit(0)
    } catch let e as KitError {
      exit(ErrorReport.report(e))
    } catch let e as CommandFailure {
      exit(ErrorReport.report(e))
    } catch {
      Lineage.exit(withError: error)
    }
  }
}

/// Apply leading `-C DIR` options as git does: each changes the working directory (relative to
/// the previous one) before the command runs, so every relative path is taken from there.
func changingDirectory(_ arguments: [String]) throws -> [String] {
  var args = arguments
  while args.count >= 2, args[0] == "-C" {
    guard FileManager.default.changeCurrentDirectoryPath(args[1]) else {
      throw CommandFailure(message: "cannot change to directory '\(args[1])'", code: ErrorReport.Code.badInput)
    }
    args.removeFirst(2)
  }
  return args
}

/// The root command.
struct Lineage: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lineage",
    abstract: "Git for model checkpoints: store, verify and trace where a model came from",
    discussion: """
      lineage keeps checkpoints in a content-addressed .lineage store: tensors are chunked on \
      element boundaries, deduplicated, compressed by byte plane, delta-encoded against a \
      declared parent, and checked out bit-exact.

      Every commit is a provenance record (parents with relations, data digests, environment, \
      code anchor, params, metrics) signed with an SSH key (OpenSSH SSHSIG), verifiable with \
      `lineage verify` or by hand with `ssh-keygen -Y verify`.

      A first session:
        lineage init
        lineage keygen --trust you@example.com
        lineage commit base.safetensors config.json -m "pretrain" --tag base
        lineage commit ft.safetensors -m "fine-tune on support chats" --parent base:finetune \\
            --data data/support-chats --param lr=3e-4 --metric eval_loss=1.92
        lineage log --graph
        lineage show HEAD
        lineage diff base HEAD
        lineage verify --all
        lineage attest HEAD -o ft.intoto.json
        lineage checkout base -o /tmp/base

      Where a model came from, from its weights: `lineage compare A B`, `lineage infer FILE`,
      and the forest over every stored model: `lineage infer --all`.
      When it misbehaves: `lineage incident record`, `lineage replay`, `lineage blame`.
      A real family to try them on: `lineage demo DIR` (the native runtime, Docs/Runtime.md).

      Not built yet: sketches computed inside a large commit's own pass (commits over 256 MiB \
      defer theirs to `lineage sketch`).
      """,
    version: "0.1.0",
    subcommands: [
      Init.self, Commit.self, Checkout.self, List.self, Log.self, Show.self, Diff.self, Compare.self, NullCommand.self, Score.self, Graph.self, Descendants.self, PolicyCommand.self, QuarantineCommand.self, HookCommand.self, HooksCommand.self, Verify.self,
      Attest.self, Tag.self, Branch.self, Switch.self, Config.self, Keygen.self, OpLog.self, CatObject.self,
      InferCommand.self, SketchCommand.self, IncidentCommand.self, ReplayCommand.self, BlameCommand.self, DemoCommand.self, RunCommand.self, BenchCommand.self, Fsck.self, GC.self, DU.self, Upgrade.self, FixtureCommand.self, Version.self,
    ]
  )
}

/// Options every repository command takes.
struct RepositoryOptions: ParsableArguments {
  @Option(
    name: .customShort("C"),
    help: ArgumentHelp("Run as if lineage was started in this directory (also accepted before the command, as in git).", valueName: "dir"))
  var directory: String?

  func open() throws -> Repository {
    try Repository.discover(from: directory ?? FileManager.default.currentDirectoryPath)
  }

  func path(_ p: String) -> String {
    guard let directory, !p.hasPrefix("/") else { return p }
    return "\(directory)/\(p)"
  }
}
