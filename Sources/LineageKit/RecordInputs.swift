import CTOMLBridge
import Foundation
import LineageCore
import Yams

/// A declared parent as the user wrote it: `REV[:RELATION[:ROLE]]`.
public struct ParentSpec: Sendable, Equatable {
  public var revision: String
  public var relation: ParentRelation?
  public var role: String?

  /// Parse `REV[:RELATION[:ROLE]]` (ref names never contain `:`).
  public static func parse(_ text: String) throws(KitError) -> ParentSpec {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard (1...3).contains(parts.count), !parts[0].isEmpty else { throw .invalidParentSpec(text) }
    var spec = ParentSpec(revision: parts[0])
    if parts.count >= 2 {
      guard let r = ParentRelation(rawValue: parts[1]) else { throw .unknownRelation(parts[1]) }
      spec.relation = r
    }
    if parts.count == 3 {
      guard ParentRef.isValidRole(parts[2]) else { throw .invalidRole(parts[2]) }
      spec.role = parts[2]
    }
    return spec
  }

  public init(revision: String, relation: ParentRelation? = nil, role: String? = nil) {
    self.revision = revision
    self.relation = relation
    self.role = role
  }

  /// Fill in relations and roles by the defaults in Docs/CommitRecord.md.
  static func resolveDefaults(_ specs: [ParentSpec], relation: ParentRelation?) -> [(ParentRelation, String)] {
    let fallback = relation ?? (specs.count > 1 ? .merge : .finetune)
    return specs.enumerated().map { k, s in
      let rel = s.relation ?? fallback
      let role =
        s.role
        ?? {
          switch rel {
          case .merge: "merge"
          case .distill: "teacher"
          default: k == 0 ? "base" : "other"
          }
        }()
      return (rel, role)
    }
  }
}

/// A dataset as the user named it: a path to hash, or a digest computed elsewhere.
public enum DataSpec: Sendable, Equatable {
  case path(role: String, path: String)
  case digest(role: String, uri: String, digest: String)

  /// Parse `--data [ROLE=]PATH`.
  public static func parsePath(_ text: String) throws(KitError) -> DataSpec {
    let (role, rest) = splitRole(text)
    guard !rest.isEmpty else { throw .invalidDataSpec(text) }
    return .path(role: role, path: rest)
  }

  /// Parse `--data-digest [ROLE=]URI=sha256:HEX`.
  public static func parseDigest(_ text: String) throws(KitError) -> DataSpec {
    guard let split = text.range(of: "=sha256:", options: .backwards) else { throw .invalidDataSpec(text) }
    let digest = String(text[text.index(after: split.lowerBound)...])
    guard DataRef.isValidDigest(digest) else { throw .invalidDataSpec(text) }
    let (role, uri) = splitRole(String(text[..<split.lowerBound]))
    guard !uri.isEmpty else { throw .invalidDataSpec(text) }
    return .digest(role: role, uri: uri, digest: digest)
  }

  /// A leading `word=` is a role when the word is a valid role; otherwise the role is `train`.
  private static func splitRole(_ text: String) -> (String, String) {
    if let eq = text.firstIndex(of: "="), ParentRef.isValidRole(String(text[..<eq])) {
      return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }
    return ("train", text)
  }
}

/// Hyperparameters and metrics: `KEY=VALUE` pairs and JSON, YAML or TOML files, as JSON objects
/// that canonical JSON can hold (non-integral numbers become their text).
public enum RecordValues {
  /// A value given on the command line: `true`, `false`, a canonical integer, else text.
  public static func scalar(_ text: String) -> JSONValue {
    if text == "true" { return .bool(true) }
    if text == "false" { return .bool(false) }
    if let n = Int64(text), abs(n) <= (1 << 53) - 1, String(n) == text { return .number(text) }
    return .string(text)
  }

  /// Apply `KEY=VALUE` pairs on top of `base` (an object); a later key replaces an earlier one.
  public static func merge(_ base: JSONValue?, pairs: [String], option: String) throws(KitError) -> JSONValue? {
    var members = base?.objectValue ?? []
    for pair in pairs {
      guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else { throw .invalidKeyValue(option: option, pair) }
      let key = String(pair[..<eq])
      let value = scalar(String(pair[pair.index(after: eq)...]))
      if let k = members.firstIndex(where: { $0.0 == key }) { members[k].1 = value } else { members.append((key, value)) }
    }
    return members.isEmpty && base == nil ? nil : .object(members)
  }

  /// Read a JSON (`.json`), YAML (`.yaml`, `.yml`) or TOML (`.toml`) file whose top level is a
  /// mapping.
  public static func load(path: String) throws(KitError) -> JSONValue {
    let bytes: [UInt8]
    do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
      throw .valuesFile(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist")
    }
    let ext = (path as NSString).pathExtension.lowercased()
    let value: JSONValue
    switch ext {
    case "json": value = try json(bytes, path: path)
    case "yaml", "yml": value = try yaml(bytes, path: path)
    case "toml": value = try toml(bytes, path: path)
    default: throw .valuesFile(path: path, reason: "unknown extension (use .json, .yaml, .yml or .toml)")
    }
    guard value.objectValue != nil else { throw .valuesFile(path: path, reason: "the top level is not a mapping") }
    let normal = normalize(value)
    do { _ = try CanonicalJSON.encode(normal) } catch { throw .valuesFile(path: path, reason: "\(error)") }
    return normal
  }

  /// Non-integral or out-of-range numbers become strings holding their text.
  static func normalize(_ v: JSONValue) -> JSONValue {
    switch v {
    case .number(let text):
      if let n = Int64(text), abs(n) <= (1 << 53) - 1, String(n) == text { return v }
      return .string(text)
    case .array(let items): return .array(items.map(normalize))
    case .object(let members): return .object(members.map { ($0.0, normalize($0.1)) })
    default: return v
    }
  }

  static func json(_ bytes: [UInt8], path: String) throws(KitError) -> JSONValue {
    do { return try StrictJSONParser.parse(bytes) } catch { throw .valuesFile(path: path, reason: "\(error)") }
  }

  static func yaml(_ bytes: [UInt8], path: String) throws(KitError) -> JSONValue {
    guard let text = String(validating: bytes, as: UTF8.self) else { throw .valuesFile(path: path, reason: "not UTF-8") }
    let node: Node?
    do { node = try Yams.compose(yaml: text) } catch { throw .valuesFile(path: path, reason: "\(error)") }
    guard let node else { throw .valuesFile(path: path, reason: "empty document") }
    return try yamlValue(node, path: path)
  }

  private static func yamlValue(_ node: Node, path: String) throws(KitError) -> JSONValue {
    switch node {
    case .scalar(let s):
      // The resolver has tagged each plain scalar (bool, int, float, null, str); quoted ones are str.
      switch node.tag.rawValue {
      case Tag.Name.bool.rawValue: if let b = Bool.construct(from: s) { return .bool(b) }
      case Tag.Name.null.rawValue: return .null
      case Tag.Name.int.rawValue: if let n = Int.construct(from: s), abs(n) <= (1 << 53) - 1 { return .number(String(n)) }
      default: break
      }
      return .string(s.string)
    case .sequence(let seq):
      var items: [JSONValue] = []
      for n in seq { items.append(try yamlValue(n, path: path)) }
      return .array(items)
    case .mapping(let map):
      var members: [(String, JSONValue)] = []
      var seen = Set<String>()
      for (k, v) in map {
        guard case .scalar(let key) = k else { throw .valuesFile(path: path, reason: "a mapping key is not text") }
        guard seen.insert(key.string).inserted else { throw .valuesFile(path: path, reason: "duplicate key \(key.string)") }
        members.append((key.string, try yamlValue(v, path: path)))
      }
      return .object(members)
    case .alias:
      throw .valuesFile(path: path, reason: "YAML aliases are not supported")
    }
  }

  static func toml(_ bytes: [UInt8], path: String) throws(KitError) -> JSONValue {
    var out: UnsafeMutablePointer<CChar>?
    var outLength = 0
    var message: UnsafeMutablePointer<CChar>?
    var line: UInt32 = 0
    var column: UInt32 = 0
    let status = bytes.withUnsafeBufferPointer { b in
      b.withMemoryRebound(to: CChar.self) {
        lineage_toml_to_json($0.baseAddress, $0.count, &out, &outLength, &message, &line, &column)
      }
    }
    defer {
      free(out)
      free(message)
    }
    guard status == 0, let out else {
      let reason = message.map { String(cString: $0) } ?? "out of memory"
      throw .valuesFile(path: path, reason: "line \(line), column \(column): \(reason)")
    }
    let json = Array(UnsafeRawBufferPointer(start: out, count: outLength))
    return shortestFloats(try self.json(json, path: path))
  }

  /// toml++ writes floats with 17 significant digits (`0.00029999999999999997`); the shortest
  /// text that reads back as the same double (`0.0003`) is what the user wrote.
  static func shortestFloats(_ v: JSONValue) -> JSONValue {
    switch v {
    case .number(let text) where Int64(text) == nil:
      guard let d = Double(text), d.isFinite else { return v }
      return .number(d.description)
    case .array(let items): return .array(items.map(shortestFloats))
    case .object(let members): return .object(members.map { ($0.0, shortestFloats($0.1)) })
    default: return v
    }
  }
}
