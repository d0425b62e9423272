import Foundation
import LineageKit

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
}
