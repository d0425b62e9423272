import Foundation
import LineageCore
import LineageKit
import LineageStore
import LineageTensor

/// A command-level failure that is not a library error (e.g. `fsck` found problems).
struct CommandFailure: Error {
  var message: String
  var code: Int32
}

/// The one place that turns errors into a message, a hint and an exit code (Docs/CLI.md).
enum ErrorReport {
  enum Code {
    static let failure: Int32 = 1
    static let notARepository: Int32 = 3
    static let badInput: Int32 = 4
    static let unknownRevision: Int32 = 5
    static let conflict: Int32 = 6
    static let integrity: Int32 = 7
    static let io: Int32 = 8
  }

  static func report(_ e: CommandFailure) -> Int32 {
    FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
    return e.code
  }

  static func report(_ e: KitError) -> Int32 {
    let (message, hint, code) = describe(e)
    var text = "error: \(message)\n"
    if let hint { text += "hint: \(hint)\n" }
    FileHandle.standardError.write(Data(text.utf8))
    return code
  }

  static func describe(_ e: KitError) -> (String, String?, Int32) {
    switch e {
    case .notARepository(let p):
      return ("not a lineage repository (or any parent up to /): \(p)", "run `lineage init` first", Code.notARepository)
    case .alreadyInitialized(let p): return ("a lineage repository already exists in \(p)", nil, Code.conflict)
    case .pathNotFound(let p): return ("no such file or directory: \(p)", nil, Code.badInput)
    case .unsupportedFileType(let p, let kind): return ("\(p) is a \(kind); only regular files and directories are stored", nil, Code.badInput)
    case .pathConflict(let p): return ("two inputs would both be stored as \(p)", "commit them from separate directories", Code.badInput)
    case .invalidPath(let p): return ("cannot store path \(p)", nil, Code.badInput)
    case .nothingToCommit: return ("nothing to commit: the inputs hold no files", nil, Code.badInput)
    case .safetensors(let path, let err): return ("\(path): not a valid safetensors file: \(err.description)", nil, Code.badInput)
    case .forensics(let reason): return (reason, nil, Code.badInput)
    case .nullModel(let path, let reason):
      return ("\(path): \(reason)", "build a null with `lineage null build MODEL... --out DIR` (Docs/Forensics.md describes null.json)", Code.badInput)
    case .runner(let command, let reason, let stderr):
      let tail = stderr.split(separator: "\n").suffix(5).map { "\n  | " + $0 }.joined()
      return (
        "the runner `\(command)` gave no verdict: \(reason)\(tail)",
        "a runner exits 0 (good), 1–124 (bad) or 125 (untestable); Docs/Blame.md describes its environment", Code.failure
      )
    case .runtime(let what, let reason): return ("\(what): \(reason)", "Docs/Runtime.md describes what the runtime runs", Code.badInput)
    case .policy(let path, let reason): return ("\(path): invalid policy: \(reason)", "Docs/Policy.md describes the file", Code.badInput)
    case .modelFormat(let path, let format, let reason):
      return ("\(path): not a valid \(format) file: \(reason)", "Docs/Formats.md lists what each format reader accepts", Code.badInput)
    case .fileChangedWhileReading(let p): return ("\(p) changed while it was being read; nothing was committed", "commit again once the writer has finished", Code.conflict)
    case .unknownRevision(let r): return ("unknown revision '\(r)'", "use a commit id (or 4+ hex digits of one), a tag, a branch, HEAD, REV~N", Code.unknownRevision)
    case .ambiguousRevision(let r, let c): return ("revision '\(r)' is ambiguous: \(c.joined(separator: ", "))", "give more hex digits", Code.unknownRevision)
    case .noSuchAncestor(let r): return ("'\(r)' walks past a root commit", nil, Code.unknownRevision)
    case .emptyBranch(let b): return ("branch '\(b)' has no commits yet", "run `lineage commit PATH -m MESSAGE`", Code.unknownRevision)
    case .invalidName(let n): return ("'\(n)' is not a valid branch or tag name", nil, Code.badInput)
    case .tagExists(let t): return ("tag '\(t)' already exists; nothing was changed", "tags never move: pick another name", Code.conflict)
    case .branchExists(let b): return ("branch '\(b)' already exists; nothing was changed", nil, Code.conflict)
    case .currentBranch(let b): return ("cannot delete branch '\(b)': HEAD is on it", "switch to another branch first", Code.conflict)
    case .outputExists(let p): return ("\(p) exists and differs from the checkout; nothing was written", "pass --force to overwrite, or -o another directory", Code.conflict)
    case .tensorNotFound(let n, let r): return ("no tensor named '\(n)' in \(r)", "list tensors with `lineage ls \(r)`", Code.badInput)
    case .ambiguousTensor(let n, let files): return ("tensor '\(n)' is in several files: \(files.joined(separator: ", "))", "pick one with --file PATH", Code.badInput)
    case .io(let op, let p, let m): return ("\(op) \(p): \(m)", nil, Code.io)
    case .damagedStore(let m): return (m, nil, Code.integrity)
    case .corruptObject(let id, let reason): return ("object \(id.short) is damaged: \(reason)", "run `lineage fsck --full`", Code.integrity)
    case .store(let s): return describe(s)
    case .invalidParentSpec(let t): return ("--parent \(t.debugDescription) is not REV[:RELATION[:ROLE]]", nil, Code.badInput)
    case .unknownRelation(let r):
      return ("unknown relation '\(r)'", "use one of " + ParentRelation.allCases.map(\.rawValue).joined(separator: ", "), Code.badInput)
    case .invalidRole(let r): return ("role '\(r)' is not a lowercase word (a-z, 0-9, - and _, at most 32)", nil, Code.badInput)
    case .invalidDataSpec(let t):
      return ("data \(t.debugDescription) is malformed", "--data [ROLE=]PATH, --data-digest [ROLE=]URI=sha256:<64 lowercase hex>", Code.badInput)
    case .invalidKeyValue(let o, let t): return ("\(o) \(t.debugDescription) is not KEY=VALUE", nil, Code.badInput)
    case .valuesFile(let p, let r): return ("\(p): \(r)", nil, Code.badInput)
    case .invalidConfig(let m): return (m, "see `lineage config --help`", Code.badInput)
    case .invalidRecord(let m): return ("cannot write the commit record: \(m)", nil, Code.badInput)
    case .data(let p, let r): return ("cannot hash data \(p): \(r); nothing was committed", nil, Code.badInput)
    case .git(let reason): return (reason, nil, Code.badInput)
    case .codeAnchor(let p, let r): return ("cannot read the code anchor in \(p): \(r)", "pass --code DIR, or --no-code", Code.badInput)
    case .signingKey(let p, let r): return ("signing key \(p): \(r); nothing was written", "make one with `lineage keygen`, or pass --no-sign", Code.badInput)
    case .signingFailed(let m): return ("signing failed: \(m)", nil, Code.failure)
    case .allowedSigners(let p, let r): return ("allowed_signers \(p): \(r)", "format: PRINCIPAL namespaces=\"lineage\" KEYTYPE BASE64 (ssh-keygen(1), ALLOWED SIGNERS)", Code.badInput)
    case .noSigningKey: return ("no signing key configured", "lineage keygen, or lineage config user.signingKey PATH, or --signing-key PATH", Code.badInput)
    case .badAttestation(let m): return ("attestation does not verify: \(m)", nil, Code.integrity)
    }
  }

  static func describe(_ s: StoreError) -> (String, String?, Int32) {
    switch s {
    case .notAStore(let p): return ("not a lineage store: \(p)", "run `lineage init` first", Code.notARepository)
    case .unsupportedFormat(let p, let f): return ("\(p) declares an unsupported store format: \(f.debugDescription)", "this lineage reads store versions \(Store.readableFormats.values.sorted().map(String.init).joined(separator: ", "))", Code.integrity)
    case .alreadyExists(let p): return ("a store already exists at \(p)", nil, Code.conflict)
    case .io(let op, let p, let m): return ("\(op) \(p): \(m)", nil, Code.io)
    case .corruptPack(let p, let o, let r): return ("pack \(p) is damaged at offset \(o): \(r)", "run `lineage fsck --full`", Code.integrity)
    case .corruptIndex(let p, let r): return ("pack index \(p) is damaged: \(r)", "run `lineage fsck`", Code.integrity)
    case .objectMissing(let id): return ("object \(id.hex) is missing from the store", "run `lineage fsck`", Code.integrity)
    case .objectCorrupt(let id, let r): return ("object \(id.hex) is damaged: \(r); nothing was written", "run `lineage fsck --full`", Code.integrity)
    case .wrongType(let id, let e, let a): return ("object \(id.short) is a \(a.rawValue), not a \(e.rawValue)", "run `lineage fsck`", Code.integrity)
    case .lockTimeout(let p, let s): return ("another lineage process held \(p) for \(s) s", "wait for it (a gc or commit) to finish", Code.conflict)
    case .refConflict(let r, let e, let a): return ("\(r) changed concurrently (expected \(e), found \(a)); nothing was changed", "run the command again", Code.conflict)
    case .invalidRefName(let r): return ("'\(r)' is not a valid ref name", nil, Code.badInput)
    case .corruptRef(let r, let c): return ("\(r) is damaged: \(c.prefix(80).debugDescription)", "run `lineage fsck`", Code.integrity)
    }
  }

}
