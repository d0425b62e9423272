import ArgumentParser
import Foundation
import LineageFormats
import LineageKit

struct List: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ls", abstract: "List a revision's files and tensors",
    discussion: """
      Shows each file's format, size and SHA-256 (what sha256sum prints), and each stored tensor's \
      dtype, shape and size: the tensor objects the store keeps (for a PyTorch file, one per \
      storage; a storage shared by several tensors is named after its zip entry).

      --tensors shows instead the tensor view, read back from the store through the file's format \
      reader: every tensor as its producer named it, with where its bytes are: `stored` (verbatim \
      in the file), `view` (a strided view into a storage), `external` (an ONNX data file) or \
      `encoded` with the reason (deflated, big-endian, Fortran order, ONNX typed field). \
      Docs/Formats.md describes each format.

      --model shows the model in a directory of the revision (--dir, default the top level) as one: \
      a Hugging Face layout's shards merged and checked against their index \
      (model.safetensors.index.json), or the directory's model files of the most preferred format \
      (safetensors, GGUF, PyTorch, ONNX, npz, npy), with config.json's model_type and architectures.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revision to list.") var revision: String = "HEAD"

  @Flag(name: .long, help: "Files only, no tensors.") var filesOnly = false

  @Flag(name: .long, help: "The tensor view of each model file (names as the producer wrote them).") var tensors = false

  @Flag(name: .long, help: "One model: a directory's shards merged (see --dir).") var model = false

  @Option(name: .long, help: "With --model: the directory in the revision (default: the top level).") var dir: String = ""

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    if model { return try runModelView() }
    if tensors { return try runTensorView() }
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

  private func runModelView() throws {
    let (id, m) = try repository.open().modelView(revision, directory: dir)
    if json {
      Render.json([
        "commit": id.hex, "directory": m.directory, "index": m.index ?? NSNull(), "files": m.files,
        "config": Dictionary(m.config.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }),
        "tensors": m.tensors.map {
          ["name": $0.entry.name, "file": $0.file, "dtype": $0.entry.dtype.rawValue, "shape": $0.entry.shape, "bytes": $0.entry.byteLength] as [String: Any]
        },
      ])
      return
    }
    let total = m.tensors.reduce(UInt64(0)) { $0 + $1.entry.byteLength }
    Render.line("model \(m.directory): \(m.tensors.count) tensors, \(Render.bytes(total)) in \(m.files.count) file(s)\(m.index.map { " (index \($0))" } ?? "")")
    for (k, v) in m.config { Render.line("  \(k): \(v)") }
    Render.table(m.tensors.map { ["  " + $0.entry.name, $0.entry.dtype.rawValue, Render.shape($0.entry.shape), $0.file] })
  }

  private func runTensorView() throws {
    let (id, files) = try repository.open().tensorView(revision)
    func storage(_ l: TensorLayout) -> String {
      switch l {
      case .contiguous: return "stored"
      case .strided: return "view"
      case .external(let path, _): return "external:" + path
      case .encoded(let why): return "encoded (\(why))"
      }
    }
    if json {
      Render.json([
        "commit": id.hex,
        "files": files.map { f in
          [
            "path": f.path, "format": f.format,
            "tensors": f.tensors.map {
              ["name": $0.name, "dtype": $0.dtype.rawValue, "shape": $0.shape, "bytes": $0.byteLength, "storage": storage($0.layout)] as [String: Any]
            },
          ] as [String: Any]
        },
      ])
      return
    }
    var rows: [[String]] = []
    for f in files {
      rows.append([f.path, f.format, "\(f.tensors.count) tensors", ""])
      for t in f.tensors { rows.append(["  " + t.name, t.dtype.rawValue, Render.shape(t.shape), storage(t.layout)]) }
    }
    Render.table(rows)
  }
}
