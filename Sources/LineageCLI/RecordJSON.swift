import Foundation
import LineageCore
import LineageKit

/// Commit records as JSON objects for `--json` output.
enum RecordJSON {
  /// A `JSONValue` as a Foundation object for `Render.json`.
  static func foundation(_ v: JSONValue) -> Any {
    switch v {
    case .null: return NSNull()
    case .bool(let b): return b
    case .number(let n): return Int64(n).map { $0 as Any } ?? n
    case .string(let s): return s
    case .array(let a): return a.map(foundation)
    case .object(let m): return Dictionary(m.map { ($0.0, foundation($0.1)) }, uniquingKeysWith: { $1 })
    }
  }

  static func signature(_ s: SignatureCheck) -> [String: Any] {
    var v: [String: Any] = ["status": s.status.word]
    switch s.status {
    case .good(let p): v["signer"] = p
    case .untrusted(let r), .bad(let r): v["reason"] = r
    case .unsigned: break
    }
    if let f = s.fingerprint { v["key"] = f }
    if let t = s.keyType { v["key_type"] = t }
    return v
  }

  static func commit(_ id: ObjectID, _ r: CommitRecord, refs: [String], signature s: SignatureCheck) -> [String: Any] {
    var v = foundation(r.json(signed: false)) as? [String: Any] ?? [:]
    v["commit"] = id.hex
    v["refs"] = refs
    v["signature"] = signature(s)
    return v
  }
}
