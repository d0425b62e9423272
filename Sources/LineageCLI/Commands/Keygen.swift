import ArgumentParser
import Foundation
import LineageKit
import LineageNative
import LineageSigning

struct Keygen: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create a signing key pair",
    discussion: """
      Writes an unencrypted OpenSSH private key (mode 0600) and its .pub, the same files \
      `ssh-keygen -t ed25519 -N ''` makes, so existing SSH tooling reads them. With no --file the \
      key goes to ~/.config/lineage/signing_key and becomes user.signingKey in the user's config \
      (unless one is set already). --trust PRINCIPAL also adds the public key to this \
      repository's allowed_signers for namespace "lineage", so its signatures verify.

      Existing ~/.ssh/id_ed25519 or id_ecdsa keys work as they are: \
      lineage config --global user.signingKey ~/.ssh/id_ed25519
      """)

  @OptionGroup var repository: RepositoryOptions

  @Option(name: .shortAndLong, help: "Key type: ed25519 or ecdsa (P-256).") var type: String = "ed25519"

  @Option(name: .shortAndLong, help: "Where to write the private key (the public key gets .pub).") var file: String?

  @Option(help: "Comment stored with the key (default: your git identity).") var comment: String?

  @Option(help: ArgumentHelp("Add the key to .lineage/allowed_signers for this principal (an email).", valueName: "principal"))
  var trust: String?

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let keyType: SigningKeyType
    switch type {
    case "ed25519": keyType = .ed25519
    case "ecdsa", "ecdsa-p256", "p256": keyType = .ecdsaP256
    default: throw ValidationError("unknown key type '\(type)'; use ed25519 or ecdsa")
    }
    let path: String
    if let file { path = repository.path(file) } else {
      guard let config = UserEnvironment.userConfigPath else { throw ValidationError("HOME is not set; name the key file with --file") }
      path = (config as NSString).deletingLastPathComponent + "/signing_key"
    }
    let label = comment ?? GitIdentity.fromGlobalConfig() ?? "lineage"
    let key = try SigningKeys.generate(keyType, path: path, comment: label)
    var configured = false
    if file == nil, let userConfig = UserEnvironment.userConfigPath {
      var config = try ConfigFile(path: userConfig)
      if config.value(.signingKey) == nil {
        try config.set(.signingKey, path, tmpDirectory: (userConfig as NSString).deletingLastPathComponent)
        configured = true
      }
    }
    if let trust {
      let repo = try repository.open()
      try repo.trust(principal: trust, key: key.publicKey, comment: label)
    }
    if json {
      Render.json(["private_key": path, "public_key": path + ".pub", "fingerprint": key.publicKey.fingerprint,
                   "type": keyType.rawValue, "configured": configured, "trusted": trust ?? NSNull()] as [String: Any])
      return
    }
    Render.line("wrote \(path) and \(path).pub")
    Render.line("fingerprint \(key.publicKey.fingerprint)")
    if configured { Render.line("user.signingKey = \(path) (user config)") }
    if let trust { Render.line("trusted for \(trust) in .lineage/allowed_signers") }
  }
}
