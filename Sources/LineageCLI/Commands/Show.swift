import ArgumentParser
import Foundation
import LineageCore
import LineageKit

struct Show: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show a commit's whole provenance record",
    discussion: """
      The record (parents with relation and role, author, time, message), its data sets with \
      digests, the environment (summary; --environment prints the full capture), the code anchor, \
      command, hyperparameters and metrics, the signature status against allowed_signers, and a \
      summary of the files and tensors. --json prints all of it, with the full environment.
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revision.") var revision: String = "HEAD"

  @Flag(help: "Print the full environment capture.") var environment = false

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let repo = try repository.open()
    let info = try repo.commitInfo(revision)
    let r = info.record
    let signers = try repo.allowedSigners(try UserEnvironment.settings(repo))?.signers
    let check = Repository.checkSignature(r, signers: signers)
    let (_, files) = try repo.list(info.id.hex)
    let env = try repo.environmentCapture(r)
    let tensors = files.flatMap(\.tensors)
    var dtypes: [String: UInt64] = [:]
    for t in tensors { dtypes[t.dtype.rawValue, default: 0] += t.bytes }
    if json {
      var v = RecordJSON.commit(info.id, r, refs: try repo.refNames()[info.id] ?? [], signature: check)
      if let env { v["environment_capture"] = RecordJSON.foundation(env) }
      v["files"] = files.map { ["path": $0.path, "size": $0.size, "sha256": $0.sha256, "format": $0.format, "tensors": $0.tensors.count] as [String: Any] }
      v["tensor_summary"] = ["tensors": tensors.count, "bytes": tensors.reduce(UInt64(0)) { $0 + $1.bytes }, "bytes_by_dtype": dtypes] as [String: Any]
      Render.json(v)
      return
    }
    Render.line("commit  \(info.id.hex)")
    for p in r.parents {
      Render.line("parent  \(p.id.hex) \(p.relation?.rawValue ?? "")\(p.role.map { " (\($0))" } ?? "")")
    }
    Render.line("author  \(r.author)")
    Render.line("date    \(RFC3339.format(r.time))")
    Render.line("signed  \(SignatureText.describe(check))\(check.fingerprint.map { " [\($0)]" } ?? "")")
    Render.line()
    for line in r.message.split(separator: "\n", omittingEmptySubsequences: false) { Render.line("    \(line)") }
    Render.line()
    if !r.data.isEmpty {
      Render.line("data")
      for d in r.data {
        let counts = d.files.map { ", \($0) file(s), \(Render.bytes(d.bytes ?? 0))" } ?? ""
        Render.line("  \(d.role)  \(d.uri)  \(d.digest)\(counts)")
      }
    }
    if let code = r.code {
      let dirty = code["dirty"] == .bool(true) ? " (dirty, diff \(code["diff_digest"]?.stringValue ?? "?"))" : ""
      Render.line("code    \(code["commit"]?.stringValue ?? "?")\(code["branch"]?.stringValue.map { " on \($0)" } ?? "")\(code["remote"]?.stringValue.map { " from \($0)" } ?? "")\(dirty)")
    }
    if let c = r.command { Render.line("command \(c)") }
    if let b = r.params?["blame"] {
      renderBlame(b)
    } else if let p = r.params {
      Render.line("params  \(compact(p))")
    }
    if let m = r.metrics { Render.line("metrics \(compact(m))") }
    if let e = r.environment {
      Render.line("environment \(e.digest)")
      for (k, v) in e.summary.objectValue ?? [] { Render.line("  \(k): \(compact(v))") }
      if environment, let env { Render.line(String(decoding: (try? CanonicalJSON.encode(env)) ?? [], as: UTF8.self)) }
    }
    Render.line()
    Render.line("\(files.count) file(s), \(Render.bytes(files.reduce(0) { $0 + $1.size })); \(tensors.count) tensor(s): "
      + dtypes.sorted { $0.key < $1.key }.map { "\($0.key) \(Render.bytes($0.value))" }.joined(separator: ", "))
  }

  /// A blame record (Docs/Blame.md): its verdict, culprit, minimal set, data and impact.
  func renderBlame(_ b: JSONValue) {
    func text(_ k: String) -> String { b[k]?.stringValue ?? "?" }
    func list(_ k: String) -> [String] { (b[k]?.arrayValue ?? []).compactMap(\.stringValue) }
    Render.line("blame   incident \(text("incident")): \(text("outcome")) (\(text("search")), runner \(text("runner")), \(b["replays"]?.int64Value ?? 0) replay(s))")
    if let f = b["first_bad"]?.stringValue { Render.line("  first bad     \(f)") }
    for p in list("good_parents") { Render.line("  good parent   \(p)") }
    if !list("minimal_set").isEmpty { Render.line("  minimal set   \(list("minimal_set").joined(separator: ", ")) (\(text("units")))") }
    for d in b["data_added"]?.arrayValue ?? [] {
      Render.line("  data added    \(d["role"]?.stringValue ?? "?") \(d["uri"]?.stringValue ?? "?") \(d["digest"]?.stringValue ?? "?")")
    }
    Render.line("  impact        \(list("impact").count) descendant(s)")
  }

  func compact(_ v: JSONValue) -> String {
    if let s = v.stringValue { return s }
    if v == .null { return "none" }
    return String(decoding: (try? CanonicalJSON.encode(v)) ?? [], as: UTF8.self)
  }
}
