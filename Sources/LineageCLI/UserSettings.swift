import Foundation
import LineageKit
import LineageNative

/// What the CLI reads from the process environment, in one place, so libraries never do.
enum UserEnvironment {
  static var variables: [String: String] { ProcessInfo.processInfo.environment }

  static var home: String? { variables["HOME"].flatMap { $0.isEmpty ? nil : $0 } }

  /// `$XDG_CONFIG_HOME/lineage/config`, else `~/.config/lineage/config`.
  static var userConfigPath: String? {
    if let xdg = variables["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return "\(xdg)/lineage/config" }
    return home.map { "\($0)/.config/lineage/config" }
  }

  /// The directories of `PATH`.
  static var searchPath: [String] {
    (variables["PATH"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
  }

  static func settings(_ repo: Repository) throws -> Settings {
    try repo.settings(userConfig: userConfigPath, home: home)
  }

  /// A record's author: `LINEAGE_AUTHOR`, else `user.author`, else git's user.name/user.email,
  /// else `fallback`.
  static func author(_ settings: Settings, fallback: String = "unknown") -> String {
    variables["LINEAGE_AUTHOR"] ?? settings.value(.author) ?? GitIdentity.fromGlobalConfig() ?? fallback
  }

  /// The key that signs a record: `override`, else `user.signingKey` unless `commit.sign` is
  /// false; none with `--no-sign`.
  static func signingKeyPath(_ settings: Settings, root: String, override: String?, noSign: Bool) -> String? {
    guard !noSign else { return nil }
    return override ?? (settings.value(.sign) == "false" ? nil : settings.path(.signingKey, root: root))
  }
}

/// `REV:DIR` split at its first colon; `REV` alone names the top level ("").
func splitRevision(_ spec: String) -> (revision: String, directory: String) {
  spec.firstIndex(of: ":").map { (String(spec[..<$0]), String(spec[spec.index(after: $0)...])) } ?? (spec, "")
}
