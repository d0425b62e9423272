import Foundation
import LineageStore

/// The settings lineage reads, with what each one means.
public enum ConfigKey: String, CaseIterable, Sendable {
  /// Private key that signs commits and attestations (OpenSSH or PKCS#8 PEM, unencrypted).
  case signingKey = "user.signingKey"
  /// `Name <email>` for new commits (else git's user.name/user.email).
  case author = "user.author"
  /// OpenSSH allowed_signers file that decides whose signatures are trusted.
  case allowedSigners = "trust.allowedSigners"
  /// `false` makes unsigned commits the default even with a key configured.
  case sign = "commit.sign"

  public var summary: String {
    switch self {
    case .signingKey: "private key for signing (OpenSSH or PKCS#8 PEM, unencrypted)"
    case .author: "author of new commits, 'Name <email>'"
    case .allowedSigners: "OpenSSH allowed_signers file (default .lineage/allowed_signers)"
    case .sign: "sign commits when a key is configured (true/false, default true)"
    }
  }
}

/// A config file: `key = value` lines, `#` comments, one key per line.
///
/// Two exist: the repository's `.lineage/config` and the user's (the CLI passes its path,
/// `$XDG_CONFIG_HOME/lineage/config` or `~/.config/lineage/config`). The repository's wins.
public struct ConfigFile: Sendable {
  public let path: String
  public private(set) var entries: [(key: ConfigKey, value: String)]

  /// Load `path`; a missing file is empty.
  public init(path: String) throws {
    self.path = path
    entries = []
    guard FileManager.default.fileExists(atPath: path) else { return }
    let bytes: [UInt8]
    do { bytes = try POSIX.readWholeFile(path) } catch { throw KitError.io(operation: "read", path: path, message: "\(error)") }
    guard let text = String(validating: bytes, as: UTF8.self) else { throw KitError.invalidConfig("\(path) is not UTF-8") }
    for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("#") { continue }
      guard let eq = line.firstIndex(of: "=") else { throw KitError.invalidConfig("\(path):\(n + 1): expected 'key = value'") }
      let name = line[..<eq].trimmingCharacters(in: .whitespaces)
      guard let key = ConfigKey(rawValue: name) else { throw KitError.invalidConfig("\(path):\(n + 1): unknown key '\(name)'") }
      try Self.check(key, String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces))
      entries.removeAll { $0.key == key }
      entries.append((key, line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)))
    }
  }

  public func value(_ key: ConfigKey) -> String? { entries.last { $0.key == key }?.value }

  static func check(_ key: ConfigKey, _ value: String) throws {
    if value.contains("\n") { throw KitError.invalidConfig("a value cannot contain a newline") }
    if key == .sign, value != "true", value != "false" { throw KitError.invalidConfig("commit.sign is true or false, not '\(value)'") }
  }

  /// Set (or with nil, remove) a key and write the file atomically.
  public mutating func set(_ key: ConfigKey, _ value: String?, tmpDirectory: String) throws {
    if let value { try Self.check(key, value) }
    entries.removeAll { $0.key == key }
    if let value { entries.append((key, value)) }
    let text = entries.map { "\($0.key.rawValue) = \($0.value)\n" }.joined()
    let dir = (path as NSString).deletingLastPathComponent
    do {
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      try FileManager.default.createDirectory(atPath: tmpDirectory, withIntermediateDirectories: true)
      try AtomicFile.write(Array(text.utf8), to: path, tmpDirectory: tmpDirectory)
    } catch let e as KitError { throw e } catch { throw KitError.io(operation: "write", path: path, message: "\(error)") }
  }
}

/// The repository's and the user's settings together; the repository's win.
public struct Settings: Sendable {
  public var repository: ConfigFile?
  public var user: ConfigFile?
  /// For `~/` in paths from the user's file.
  public var home: String?

  public init(repository: ConfigFile?, user: ConfigFile?, home: String?) {
    self.repository = repository
    self.user = user
    self.home = home
  }

  public func value(_ key: ConfigKey) -> String? { repository?.value(key) ?? user?.value(key) }

  /// A path setting, with `~/` expanded and a relative path taken from the repository root
  /// (repository file) or the home directory (user file).
  public func path(_ key: ConfigKey, root: String?) -> String? {
    let fromRepo = repository?.value(key) != nil
    guard let raw = value(key) else { return nil }
    if raw.hasPrefix("~/"), let home { return home + raw.dropFirst(1) }
    if raw.hasPrefix("/") { return raw }
    if fromRepo, let root { return "\(root)/\(raw)" }
    if let home { return "\(home)/\(raw)" }
    return raw
  }
}

extension Repository {
  /// `.lineage/config`.
  public var configPath: String { "\(root)/.lineage/config" }
  /// Where allowed_signers is looked for when `trust.allowedSigners` is not set.
  public var defaultAllowedSignersPath: String { "\(root)/.lineage/allowed_signers" }
  var tmpDirectory: String { "\(root)/.lineage/tmp" }
}
