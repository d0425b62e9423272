import ArgumentParser
import Foundation
import LineageKit

/// Parses, runs, and maps every error to one message and exit code.
public enum LineageMain {
  public static func run() -> Never {
    do {
      var command = try Lineage.parseAsRoot()
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

/// The root command.
struct Lineage: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lineage",
    abstract: "Git for model checkpoints: store, verify and trace where a model came from",
    discussion: """
      lineage keeps checkpoints in a content-addressed .lineage store: tensors are chunked on
      element boundaries, deduplicated, compressed by byte plane, delta-encoded against a
      declared parent, and checked out bit-exact.

      A first session:
        lineage init
        lineage commit base.safetensors config.json -m "pretrain" --tag base
        lineage commit ft.safetensors -m "fine-tune on support chats" --parent base
        lineage ls HEAD
        lineage checkout base -o /tmp/base
        lineage du
        lineage fsck --full

      Not built yet (tracked as open issues): signed provenance records, verify, graph, show,
      diff, attest; PyTorch/GGUF/ONNX/NumPy readers; the pre-push hook and policy; weight
      forensics (compare, infer); blame.
      """,
    version: "0.1.0",
    subcommands: [
      Init.self, Commit.self, Checkout.self, List.self, Log.self, CatObject.self, Fsck.self, GC.self,
      DU.self, FixtureCommand.self, Version.self,
    ]
  )
}

/// Options every repository command takes.
struct RepositoryOptions: ParsableArguments {
  @Option(name: .customShort("C"), help: "Run as if lineage was started in this directory.")
  var directory: String?

  func open() throws -> Repository {
    try Repository.discover(from: directory ?? FileManager.default.currentDirectoryPath)
  }

  func path(_ p: String) -> String {
    guard let directory, !p.hasPrefix("/") else { return p }
    return "\(directory)/\(p)"
  }
}
