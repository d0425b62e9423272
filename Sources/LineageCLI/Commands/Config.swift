import ArgumentParser
import Foundation
import LineageKit

struct Config: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Read or set a setting",
    discussion: """
      Settings live in the repository's .lineage/config or, with --global, in the user's file \
      ($XDG_CONFIG_HOME/lineage/config, else ~/.config/lineage/config); the repository's win. \
      Keys:
        user.signingKey        private key that signs commits (OpenSSH or PKCS#8 PEM, unencrypted)
        user.author            author of new commits, 'Name <email>'
        trust.allowedSigners   OpenSSH allowed_signers file (default .lineage/allowed_signers)
        commit.sign            false to stop signing by default (true/false)

      Examples:
        lineage config user.signingKey ~/.ssh/id_ed25519
        lineage config trust.allowedSigners .lineage/allowed_signers
        lineage config --list
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "The key.") var key: String?

  @Argument(help: "The new value; without it the current value is printed.") var value: String?

  @Flag(help: "Use the user's file instead of the repository's.") var global = false

  @Flag(help: "Remove the key.") var unset = false

  @Flag(help: "Print every set key (merged, repository over user).") var list = false

  func validate() throws {
    if !list && key == nil { throw ValidationError("name a key, or pass --list") }
    if unset && value != nil { throw ValidationError("--unset takes no value") }
  }

  func run() throws {
    if list {
      let repo = try? repository.open()
      let settings = try repo.map(UserEnvironment.settings)
        ?? Settings(repository: nil, user: try UserEnvironment.userConfigPath.map { try ConfigFile(path: $0) }, home: UserEnvironment.home)
      for k in ConfigKey.allCases { if let v = settings.value(k) { Render.line("\(k.rawValue)=\(v)") } }
      return
    }
    guard let key, let configKey = ConfigKey(rawValue: key) else {
      throw KitError.invalidConfig("unknown key '\(key ?? "")'; known: " + ConfigKey.allCases.map(\.rawValue).joined(separator: ", "))
    }
    let path: String
    let tmp: String
    if global {
      guard let p = UserEnvironment.userConfigPath else { throw KitError.invalidConfig("HOME is not set, so there is no user config file") }
      path = p
      tmp = (p as NSString).deletingLastPathComponent
    } else {
      let repo = try repository.open()
      path = repo.configPath
      tmp = repo.root + "/.lineage/tmp"
    }
    var file = try ConfigFile(path: path)
    if unset || value != nil {
      try file.set(configKey, unset ? nil : value, tmpDirectory: tmp)
      return
    }
    guard let v = file.value(configKey) else { throw CommandFailure(message: "\(key) is not set in \(path)", code: 1) }
    Render.line(v)
  }
}
