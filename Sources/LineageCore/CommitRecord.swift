/// How a model was derived from a parent; maps onto Hugging Face's `base_model_relation`.
public enum ParentRelation: String, CaseIterable, Sendable {
  case finetune, lora, merge, quantize, prune, distill, convert, pretrain, other

  /// Hugging Face's word for this relation, where it has one.
  public var huggingFace: String? {
    switch self {
    case .finetune: "finetune"
    case .lora: "adapter"
    case .merge: "merge"
    case .quantize: "quantized"
    default: nil
    }
  }
}

/// A declared parent of a commit: its id, what part it played (`role`) and how the child was
/// derived from it (`relation`). Version 1 records have neither.
public struct ParentRef: Equatable, Sendable {
  public var id: ObjectID
  public var role: String?
  public var relation: ParentRelation?

  public init(id: ObjectID, role: String? = nil, relation: ParentRelation? = nil) {
    self.id = id
    self.role = role
    self.relation = relation
  }

  /// A role is a lowercase word of at most 32 characters: `base`, `merge`, `teacher`, ….
  public static func isValidRole(_ role: String) -> Bool {
    let b = Array(role.utf8)
    guard let first = b.first, b.count <= 32, (0x61...0x7A).contains(first) else { return false }
    return b.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
  }
}

/// An input dataset: where it is, what it was used for, and its digest (Docs/DataDigest.md).
public struct DataRef: Equatable, Sendable {
  public var uri: String
  public var role: String
  /// `sha256:` and 64 lowercase hex digits.
  public var digest: String
  /// Counts, when lineage hashed the data itself.
  public var files: Int?
  public var bytes: UInt64?

  public init(uri: String, role: String, digest: String, files: Int? = nil, bytes: UInt64? = nil) {
    self.uri = uri
    self.role = role
    self.digest = digest
    self.files = files
    self.bytes = bytes
  }

  /// Whether `text` is `sha256:` followed by 64 lowercase hex digits.
  public static func isValidDigest(_ text: String) -> Bool {
    guard text.hasPrefix("sha256:") else { return false }
    let hex = text.utf8.dropFirst(7)
    return hex.count == 64 && hex.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
  }
}

/// The environment a commit was made in: the digest of the full capture, the chunk object that
/// holds it, and a small summary for display.
public struct EnvironmentRef: Equatable, Sendable {
  public var digest: String
  public var object: ObjectID
  public var summary: JSONValue

  public init(digest: String, object: ObjectID, summary: JSONValue) {
    self.digest = digest
    self.object = object
    self.summary = summary
  }
}

/// The commit record (Docs/CommitRecord.md), kept as canonical JSON.
///
/// Unknown members are preserved verbatim in `extra`, so a newer writer's fields survive a
/// round trip through this version and neither the id nor the signed payload changes.
public struct CommitRecord: Equatable, Sendable {
  public var version: Int
  public var tree: ObjectID
  public var parents: [ParentRef]
  public var author: String
  /// Seconds since the Unix epoch, UTC; written as RFC 3339.
  public var time: Int64
  public var message: String
  public var data: [DataRef]
  public var environment: EnvironmentRef?
  /// The code anchor object (`commit`, `branch`, `remote`, `dirty`, `diff`, `untracked`).
  public var code: JSONValue?
  /// The command line that made the model, when given.
  public var command: String?
  /// Hyperparameters (an object), when given.
  public var params: JSONValue?
  /// Metrics (an object), when given.
  public var metrics: JSONValue?
  /// The armored SSHSIG over `payload()`, when signed.
  public var signature: String?
  /// Members this version does not interpret, by key.
  public var extra: [(String, JSONValue)]

  public init(
    tree: ObjectID, parents: [ParentRef], author: String, time: Int64, message: String,
    extra: [(String, JSONValue)] = []
  ) {
    self.version = 2
    self.tree = tree
    self.parents = parents
    self.author = author
    self.time = time
    self.message = message
    self.data = []
    self.extra = extra
  }

  public static func == (a: CommitRecord, b: CommitRecord) -> Bool {
    (try? a.encoded()) == (try? b.encoded())
  }

  static let known: Set<String> = [
    "type", "version", "tree", "parents", "author", "time", "message", "data", "environment", "code",
    "transformation", "metrics", "signature",
  ]

  /// The record as a JSON value; without the signature when `signed` is false.
  public func json(signed: Bool = true) -> JSONValue {
    var members: [(String, JSONValue)] = [
      ("type", .string("lineage.commit")),
      ("version", .number(String(version))),
      ("tree", .string(tree.hex)),
      (
        "parents",
        .array(
          parents.map { p in
            var m: [(String, JSONValue)] = [("id", .string(p.id.hex))]
            if let r = p.role { m.append(("role", .string(r))) }
            if let r = p.relation { m.append(("relation", .string(r.rawValue))) }
            return .object(m)
          })
      ),
      ("author", .string(author)),
      ("time", .string(RFC3339.format(time))),
      ("message", .string(message)),
    ]
    if !data.isEmpty {
      members.append(
        (
          "data",
          .array(
            data.map { d in
              var m: [(String, JSONValue)] = [
                ("uri", .string(d.uri)), ("role", .string(d.role)), ("digest", .string(d.digest)),
              ]
              if let f = d.files { m.append(("files", .number(String(f)))) }
              if let b = d.bytes { m.append(("bytes", .number(String(b)))) }
              return .object(m)
            })
        ))
    }
    if let e = environment {
      members.append(
        ("environment", .object([("digest", .string(e.digest)), ("object", .string(e.object.hex)), ("summary", e.summary)])))
    }
    if let code { members.append(("code", code)) }
    if command != nil || params != nil {
      var t: [(String, JSONValue)] = []
      if let command { t.append(("command", .string(command))) }
      if let params { t.append(("params", params)) }
      members.append(("transformation", .object(t)))
    }
    if let metrics { members.append(("metrics", metrics)) }
    if signed, let signature { members.append(("signature", .string(signature))) }
    members += extra
    return .object(members)
  }

  /// Canonical content bytes (what the commit id hashes).
  public func encoded() throws(CanonicalJSON.EncodingError) -> [UInt8] {
    try CanonicalJSON.encode(json(signed: true))
  }

  /// The signed bytes: the canonical encoding without the `signature` member.
  public func payload() throws(CanonicalJSON.EncodingError) -> [UInt8] {
    try CanonicalJSON.encode(json(signed: false))
  }

  /// Decode content bytes; they must be exactly canonical, so every record has one encoding.
  public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> CommitRecord {
    let value: JSONValue
    do { value = try StrictJSONParser.parse(bytes) } catch {
      throw .invalidValue(field: "commit", reason: "not JSON: \(error)")
    }
    guard let members = value.objectValue else { throw .invalidValue(field: "commit", reason: "not an object") }
    guard value["type"]?.stringValue == "lineage.commit" else {
      throw .invalidValue(field: "commit.type", reason: "expected \"lineage.commit\"")
    }
    guard let version = value["version"]?.int64Value else {
      throw .invalidValue(field: "commit.version", reason: "missing")
    }
    guard version == 1 || version == 2 else {
      throw .unsupportedVersion(field: "commit.version", version: Int(clamping: version))
    }
    guard let treeHex = value["tree"]?.stringValue, let tree = ObjectID(hex: treeHex) else {
      throw .invalidValue(field: "commit.tree", reason: "not an object id")
    }
    guard let parentValues = value["parents"]?.arrayValue else {
      throw .invalidValue(field: "commit.parents", reason: "missing")
    }
    var parents: [ParentRef] = []
    for p in parentValues {
      guard let hex = p["id"]?.stringValue, let id = ObjectID(hex: hex) else {
        throw .invalidValue(field: "commit.parents", reason: "parent without an id")
      }
      var ref = ParentRef(id: id)
      if let role = p["role"] {
        guard let r = role.stringValue, ParentRef.isValidRole(r) else {
          throw .invalidValue(field: "commit.parents.role", reason: "not a lowercase word")
        }
        ref.role = r
      }
      if let relation = p["relation"] {
        guard let r = relation.stringValue.flatMap(ParentRelation.init(rawValue:)) else {
          throw .invalidValue(field: "commit.parents.relation", reason: "unknown relation")
        }
        ref.relation = r
      }
      parents.append(ref)
    }
    guard let author = value["author"]?.stringValue else { throw .invalidValue(field: "commit.author", reason: "missing") }
    guard let timeText = value["time"]?.stringValue, let time = RFC3339.parse(timeText) else {
      throw .invalidValue(field: "commit.time", reason: "not RFC 3339 UTC")
    }
    guard let message = value["message"]?.stringValue else {
      throw .invalidValue(field: "commit.message", reason: "missing")
    }
    let versionOneKeys: Set<String> = ["type", "version", "tree", "parents", "author", "time", "message"]
    let interpreted = version == 1 ? versionOneKeys : known
    var record = CommitRecord(
      tree: tree, parents: parents, author: author, time: time, message: message,
      extra: members.filter { !interpreted.contains($0.0) })
    record.version = Int(version)
    if version == 2 { try decodeProvenance(value, into: &record) }
    guard (try? record.encoded()) == bytes else {
      throw .invalidValue(field: "commit", reason: "not in canonical form")
    }
    return record
  }

  private static func decodeProvenance(_ value: JSONValue, into record: inout CommitRecord) throws(DecodeError) {
    if let data = value["data"] {
      guard let items = data.arrayValue, !items.isEmpty else {
        throw .invalidValue(field: "commit.data", reason: "not a non-empty array")
      }
      for d in items {
        guard let uri = d["uri"]?.stringValue, let role = d["role"]?.stringValue, ParentRef.isValidRole(role),
          let digest = d["digest"]?.stringValue, DataRef.isValidDigest(digest)
        else { throw .invalidValue(field: "commit.data", reason: "entry needs uri, role and a sha256: digest") }
        var ref = DataRef(uri: uri, role: role, digest: digest)
        if let f = d["files"] {
          guard let n = f.int64Value, n >= 0 else { throw .invalidValue(field: "commit.data.files", reason: "not a count") }
          ref.files = Int(n)
        }
        if let b = d["bytes"] {
          guard let n = b.int64Value, n >= 0 else { throw .invalidValue(field: "commit.data.bytes", reason: "not a count") }
          ref.bytes = UInt64(n)
        }
        record.data.append(ref)
      }
    }
    if let env = value["environment"] {
      guard let digest = env["digest"]?.stringValue, DataRef.isValidDigest(digest),
        let hex = env["object"]?.stringValue, let object = ObjectID(hex: hex), let summary = env["summary"],
        summary.objectValue != nil
      else { throw .invalidValue(field: "commit.environment", reason: "needs digest, object and summary") }
      record.environment = EnvironmentRef(digest: digest, object: object, summary: summary)
    }
    if let code = value["code"] {
      guard code.objectValue != nil, code["commit"]?.stringValue != nil else {
        throw .invalidValue(field: "commit.code", reason: "not an object with a commit")
      }
      record.code = code
    }
    if let t = value["transformation"] {
      guard t.objectValue != nil else { throw .invalidValue(field: "commit.transformation", reason: "not an object") }
      if let c = t["command"] {
        guard let s = c.stringValue else { throw .invalidValue(field: "commit.transformation.command", reason: "not a string") }
        record.command = s
      }
      if let p = t["params"] {
        guard p.objectValue != nil else { throw .invalidValue(field: "commit.transformation.params", reason: "not an object") }
        record.params = p
      }
    }
    if let m = value["metrics"] {
      guard m.objectValue != nil else { throw .invalidValue(field: "commit.metrics", reason: "not an object") }
      record.metrics = m
    }
    if let s = value["signature"] {
      guard let text = s.stringValue else { throw .invalidValue(field: "commit.signature", reason: "not a string") }
      record.signature = text
    }
  }
}

/// RFC 3339 timestamps in UTC with whole seconds (`2026-11-22T18:46:57Z`).
public enum RFC3339 {
  /// Format seconds since the epoch.
  public static func format(_ t: Int64) -> String {
    let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
    let secs = t - days * 86400
    let (y, m, d) = civil(fromDays: days)
    func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    let year = String(y)
    let paddedYear = String(repeating: "0", count: max(0, 4 - year.count)) + year
    return "\(paddedYear)-\(two(m))-\(two(d))T\(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60))Z"
  }

  /// Parse the exact form `format` writes; nil otherwise.
  public static func parse(_ s: String) -> Int64? {
    let b = Array(s.utf8)
    guard b.count == 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x5A
    else { return nil }
    func num(_ r: Range<Int>) -> Int64? {
      guard b[r].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
      return Int64(String(decoding: b[r], as: UTF8.self))
    }
    guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
      let mi = num(14..<16), let se = num(17..<19), (1...12).contains(mo), (1...31).contains(d), h < 24,
      mi < 60, se < 60
    else { return nil }
    let t = days(fromCivil: y, mo, d) * 86400 + h * 3600 + mi * 60 + se
    return format(t) == s ? t : nil
  }

  // Howard Hinnant's civil-calendar algorithms.
  static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
    let y = m <= 2 ? y0 - 1 : y0
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146097 + doe - 719468
  }

  static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
    let z = z0 + 719468
    let era = (z >= 0 ? z : z - 146096) / 146097
    let doe = z - era * 146097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp + (mp < 10 ? 3 : -9)
    return (m <= 2 ? y + 1 : y, m, d)
  }
}
