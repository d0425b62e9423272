/// A declared parent of a commit. Later record versions add a role and a relation.
public struct ParentRef: Equatable, Sendable {
  public var id: ObjectID
  public init(id: ObjectID) { self.id = id }
}

/// The commit record (Docs/ObjectFormat.md §3, Docs/CommitRecord.md), kept as canonical JSON.
///
/// Unknown members are preserved verbatim in `extra`, so a newer writer's fields survive a
/// round trip through this version and the id never changes.
public struct CommitRecord: Equatable, Sendable {
  public var tree: ObjectID
  public var parents: [ParentRef]
  public var author: String
  /// Seconds since the Unix epoch, UTC; written as RFC 3339.
  public var time: Int64
  public var message: String
  /// Members this version does not interpret, by key.
  public var extra: [(String, JSONValue)]

  public init(
    tree: ObjectID, parents: [ParentRef], author: String, time: Int64, message: String,
    extra: [(String, JSONValue)] = []
  ) {
    self.tree = tree
    self.parents = parents
    self.author = author
    self.time = time
    self.message = message
    self.extra = extra
  }

  public static func == (a: CommitRecord, b: CommitRecord) -> Bool {
    (try? a.encoded()) == (try? b.encoded())
  }

  static let known: Set<String> = ["type", "version", "tree", "parents", "author", "time", "message"]

  /// The record as a JSON value.
  public var json: JSONValue {
    var members: [(String, JSONValue)] = [
      ("type", .string("lineage.commit")),
      ("version", .number("1")),
      ("tree", .string(tree.hex)),
      ("parents", .array(parents.map { .object([("id", .string($0.id.hex))]) })),
      ("author", .string(author)),
      ("time", .string(RFC3339.format(time))),
      ("message", .string(message)),
    ]
    members += extra
    return .object(members)
  }

  /// Canonical content bytes.
  public func encoded() throws(CanonicalJSON.EncodingError) -> [UInt8] {
    try CanonicalJSON.encode(json)
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
    guard version == 1 else { throw .unsupportedVersion(field: "commit.version", version: Int(version)) }
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
      parents.append(ParentRef(id: id))
    }
    guard let author = value["author"]?.stringValue else { throw .invalidValue(field: "commit.author", reason: "missing") }
    guard let timeText = value["time"]?.stringValue, let time = RFC3339.parse(timeText) else {
      throw .invalidValue(field: "commit.time", reason: "not RFC 3339 UTC")
    }
    guard let message = value["message"]?.stringValue else {
      throw .invalidValue(field: "commit.message", reason: "missing")
    }
    let record = CommitRecord(
      tree: tree, parents: parents, author: author, time: time, message: message,
      extra: members.filter { !known.contains($0.0) })
    guard (try? record.encoded()) == bytes else {
      throw .invalidValue(field: "commit", reason: "not in canonical form")
    }
    return record
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
