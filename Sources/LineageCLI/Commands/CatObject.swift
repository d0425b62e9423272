import ArgumentParser
import Foundation
import LineageCore
import LineageKit
import LineageNative

struct CatObject: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cat-object", abstract: "Show a stored object",
    discussion: """
      Decodes a commit, tree, file, tensor or chunk (Docs/ObjectFormat.md). --raw prints the exact \
      content bytes its id hashes: `lineage cat-object --raw ID | (printf 'TYPE LEN\\0'; cat) | sha256sum` \
      reproduces the id. For a commit, --payload prints the bytes its signature covers and \
      --signature the armored SSHSIG, so `ssh-keygen -Y verify -n lineage` can check it by hand \
      (Docs/CommitRecord.md).
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Object id, a unique prefix of one, or a revision.") var object: String

  @Flag(help: "Write the raw content bytes to standard output.") var raw = false

  @Flag(help: "Write a commit's signed payload: exactly the bytes its signature covers.") var payload = false

  @Flag(help: "Write a commit's armored SSHSIG signature.") var signature = false

  func validate() throws {
    if [raw, payload, signature, json].filter({ $0 }).count > 1 {
      throw ValidationError("--raw, --payload, --signature and --json exclude each other")
    }
  }

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    let id = try (try? repo.resolveObject(object)) ?? repo.resolve(object)
    if payload || signature {
      let (bytes, sig) = try repo.signedPayload(id.hex)
      if payload {
        FileHandle.standardOutput.write(Data(bytes))
        return
      }
      guard let sig else { throw CommandFailure(message: "commit \(id.short) is not signed", code: ErrorReport.Code.badInput) }
      FileHandle.standardOutput.write(Data(sig.utf8))
      return
    }
    if raw {
      let (_, bytes) = try repo.rawObject(id)
      FileHandle.standardOutput.write(Data(bytes))
      return
    }
    let value = describe(try repo.describeObject(id), id: id)
    if json { Render.json(value) } else { Render.line(text(value)) }
  }

  func describe(_ d: ObjectDescription, id: ObjectID) -> [String: Any] {
    switch d {
    case .commit(let r):
      var v = RecordJSON.foundation(r.json()) as? [String: Any] ?? [:]
      v["id"] = id.hex
      v["type"] = "commit"
      return v
    case .tree(let t):
      return ["id": id.hex, "type": "tree", "entries": t.entries.map { ["path": $0.path, "mode": String($0.mode, radix: 8), "file": $0.file.hex] }]
    case .file(let f):
      return ["id": id.hex, "type": "file", "format": f.format, "size": f.size, "sha256": HexEncoding.encode(f.sha256),
              "segments": f.segments.map { s -> [String: Any] in
                switch s {
                case .bytes(let c): return ["kind": "bytes", "chunks": c.map { ["id": $0.id.hex, "length": $0.length] }]
                case .tensor(let n, let t): return ["kind": "tensor", "name": n, "tensor": t.hex]
                }
              }]
    case .tensor(let t):
      return ["id": id.hex, "type": "tensor", "dtype": t.dtype.rawValue, "shape": t.shape, "byte_length": t.byteLength,
              "chunks": t.chunks.map { ["id": $0.id.hex, "length": $0.length] }]
    case .chunk(let raw, let codec, let stored, let base, let depth):
      var v: [String: Any] = ["id": id.hex, "type": "chunk", "raw_length": raw, "codec": "\(codec)", "stored_length": stored, "depth": depth]
      if let base { v["base"] = base.hex }
      return v
    }
  }

  func text(_ v: [String: Any]) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: v, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }
}
