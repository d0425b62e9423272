import ArgumentParser
import Foundation
import LineageKit

struct Checkout: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a revision's files, bit-exact",
    discussion: """
      Every chunk is re-hashed before it is written and each file appears only when whole, so a \
      damaged store never yields a wrong file. Files that already exist with identical content are \
      left alone; files that differ are refused unless --force.

      --tensor NAME writes that one tensor as a single-tensor .safetensors file (to -o, default \
      NAME.safetensors), which the safetensors and numpy libraries load directly: a stored tensor, or \
      any tensor of a file's tensor view (`ls --tensors`: PyTorch views, encoded arrays). Quantized \
      GGUF tensors are written dequantized to F32. When several files hold a tensor of that name, \
      --file PATH picks one.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revision: commit id or prefix, tag, branch, HEAD, REV~N.") var revision: String

  @Option(name: .shortAndLong, help: "Output directory (or file, with --tensor).") var output: String?

  @Option(name: .long, help: "Materialise one tensor only.") var tensor: String?

  @Option(name: .long, help: "With --tensor: the file (path in the revision) that holds it.") var file: String?

  @Flag(name: .long, help: "Overwrite existing files that differ.") var force = false

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    if let tensor {
      let path = repository.path(output ?? tensor.replacingOccurrences(of: "/", with: "_") + ".safetensors")
      let t = try repo.checkoutTensor(revision, name: tensor, file: file, to: path, force: force)
      if json {
        Render.json([
          "tensor": tensor, "id": t.id?.hex ?? NSNull(), "file": t.file, "dtype": t.dtype.rawValue, "shape": t.shape, "path": path,
          "dequantized": t.dequantized,
        ])
      } else {
        Render.line("Wrote \(tensor) \(t.dtype.rawValue)\(Render.shape(t.shape))\(t.dequantized ? " (dequantized)" : "") from \(t.file) to \(path)")
      }
      return
    }
    let out = repository.path(output ?? ".")
    let s = try repo.checkout(revision, to: out, force: force, progress: TerminalProgress())
    if json {
      Render.json(["commit": s.commit.hex, "directory": out, "written": s.written, "unchanged": s.unchanged, "bytes": s.bytes])
    } else {
      Render.line("Checked out \(s.commit.short) into \(out): \(s.written.count) file(s) written (\(Render.bytes(s.bytes)))"
        + (s.unchanged.isEmpty ? "" : ", \(s.unchanged.count) already identical"))
    }
  }
}
