import Foundation
import LineageCore
import LineageGit
import LineageNative
import LineageProvenance
import LineageSigning
import LineageStore

/// The SSHSIG namespace of commit signatures, so a lineage signature cannot be replayed as a
/// git or file signature and the other way round.
public let signatureNamespace = "lineage"

/// What a signature check found.
public enum SignatureStatus: Sendable, Equatable {
  /// Signed by a key `allowed_signers` trusts for `principal` at the commit's time.
  case good(principal: String)
  /// No signature.
  case unsigned
  /// A valid signature by a key that allowed_signers does not trust (or not at that time);
  /// carries why.
  case untrusted(reason: String)
  /// The signature does not verify or cannot be read; carries why.
  case bad(reason: String)

  public var word: String {
    switch self {
    case .good: "good"
    case .unsigned: "unsigned"
    case .untrusted: "untrusted"
    case .bad: "bad"
    }
  }
}

/// A commit's signature: who signed it (key fingerprint) and whether that is trusted.
public struct SignatureCheck: Sendable, Equatable {
  public var status: SignatureStatus
  /// `SHA256:…` of the signing key, when the signature could be read.
  public var fingerprint: String?
  public var keyType: String?
}

extension Repository {
  func dataRef(_ spec: DataSpec) throws -> DataRef {
    switch spec {
    case .digest(let role, let uri, let digest):
      return DataRef(uri: uri, role: role, digest: digest)
    case .path(let role, let path):
      let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
      do {
        let d = try DataHasher.digest(path: absolute)
        return DataRef(uri: "file://" + absolute, role: role, digest: d.digest, files: d.files, bytes: d.bytes)
      } catch {
        throw KitError.data(path: path, reason: "\(error)")
      }
    }
  }

  func codeAnchor(_ directory: String) throws -> JSONValue? {
    do { return try CodeAnchorReader.read(directory: directory)?.json } catch {
      throw KitError.codeAnchor(path: directory, reason: "\(error)")
    }
  }

  func sign(_ record: CommitRecord, with key: SSHPrivateKey) throws -> String {
    let payload: [UInt8]
    do { payload = try record.payload() } catch { throw KitError.invalidRecord("\(error)") }
    do { return try SSHSignature.sign(message: payload, namespace: signatureNamespace, key: key).armored } catch {
      throw KitError.signingFailed("\(error)")
    }
  }

  /// The settings of this repository and the user's file at `userConfig`.
  public func settings(userConfig: String?, home: String?) throws -> Settings {
    Settings(
      repository: try ConfigFile(path: configPath), user: try userConfig.map { try ConfigFile(path: $0) }, home: home)
  }

  /// The allowed_signers file the settings name (default `.lineage/allowed_signers`); nil when
  /// the default does not exist.
  public func allowedSigners(_ settings: Settings) throws -> (path: String, signers: AllowedSigners)? {
    let configured = settings.path(.allowedSigners, root: root)
    let path = configured ?? defaultAllowedSignersPath
    guard FileManager.default.fileExists(atPath: path) else {
      if configured != nil { throw KitError.allowedSigners(path: path, reason: "does not exist") }
      return nil
    }
    return (path, try Self.loadAllowedSigners(path))
  }

  public static func loadAllowedSigners(_ path: String) throws -> AllowedSigners {
    let bytes: [UInt8]
    do { bytes = try POSIX.readWholeFile(path) } catch { throw KitError.allowedSigners(path: path, reason: "cannot be read") }
    guard let text = String(validating: bytes, as: UTF8.self) else {
      throw KitError.allowedSigners(path: path, reason: "not UTF-8")
    }
    do { return try AllowedSigners(text: text) } catch { throw KitError.allowedSigners(path: path, reason: "\(error)") }
  }

  /// Check a record's signature against the trusted signers (nil: nobody is trusted).
  public static func checkSignature(_ record: CommitRecord, signers: AllowedSigners?) -> SignatureCheck {
    guard let armored = record.signature else { return SignatureCheck(status: .unsigned) }
    let signature: SSHSignature
    do { signature = try SSHSignature(armored: armored) } catch {
      return SignatureCheck(status: .bad(reason: "unreadable signature: \(error)"))
    }
    let fingerprint = signature.publicKey.fingerprint
    let type = signature.publicKey.type.rawValue
    do {
      let payload = try record.payload()
      try signature.verify(message: payload, namespace: signatureNamespace)
    } catch {
      return SignatureCheck(status: .bad(reason: "\(error)"), fingerprint: fingerprint, keyType: type)
    }
    guard let signers else {
      return SignatureCheck(status: .untrusted(reason: "no allowed_signers file"), fingerprint: fingerprint, keyType: type)
    }
    let principals = signers.principals(for: signature.publicKey, namespace: signatureNamespace, at: record.time)
    guard let principal = principals.first else {
      return SignatureCheck(
        status: .untrusted(reason: "key \(fingerprint) is not trusted for namespace lineage at \(RFC3339.format(record.time))"),
        fingerprint: fingerprint, keyType: type)
    }
    return SignatureCheck(status: .good(principal: principal), fingerprint: fingerprint, keyType: type)
  }
}

/// Loading keys for signing.
public enum SigningKeys {
  /// Read an unencrypted OpenSSH or PKCS#8 PEM private key. A `.pub` path is taken to mean the
  /// private key beside it, as git's `user.signingKey` often names the public half.
  public static func load(path: String) throws -> SSHPrivateKey {
    var file = path
    if file.hasSuffix(".pub") { file.removeLast(4) }
    let bytes: [UInt8]
    do { bytes = try POSIX.readWholeFile(file) } catch {
      let exists = FileManager.default.fileExists(atPath: file)
      throw KitError.signingKey(path: file, reason: exists ? "cannot be read" : "does not exist")
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
      throw KitError.signingKey(path: file, reason: "not a text key file")
    }
    do { return try SSHPrivateKey(text: text) } catch {
      throw KitError.signingKey(path: file, reason: "\(error)")
    }
  }

  /// Write a new key pair (`PATH` and `PATH.pub`) without overwriting anything.
  public static func generate(_ type: SigningKeyType, path: String, comment: String) throws -> SSHPrivateKey {
    for p in [path, path + ".pub"] where FileManager.default.fileExists(atPath: p) {
      throw KitError.outputExists(path: p)
    }
    let key: SSHPrivateKey
    do { key = try SSHPrivateKey.generate(type, comment: comment) } catch { throw KitError.signingFailed("\(error)") }
    let dir = (path as NSString).deletingLastPathComponent
    do {
      if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
      // The private key is created with mode 0600 before any byte is written, as ssh-keygen does.
      guard FileManager.default.createFile(atPath: path, contents: Data(key.openSSHText().utf8), attributes: [.posixPermissions: 0o600])
      else { throw KitError.io(operation: "write", path: path, message: "cannot create the file") }
      try Data((key.publicKey.authorizedKey(comment: comment) + "\n").utf8).write(to: URL(fileURLWithPath: path + ".pub"))
    } catch let e as KitError { throw e } catch {
      throw KitError.io(operation: "write", path: path, message: "\(error)")
    }
    return key
  }
}

extension Repository {
  /// Append `principal namespaces="lineage" KEY` to the allowed_signers file the settings name
  /// (created when missing). The file is rewritten atomically.
  public func trust(principal: String, key: SSHPublicKey, comment: String, settings: Settings? = nil) throws {
    guard !principal.isEmpty, !principal.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\"" }) else {
      throw KitError.allowedSigners(path: defaultAllowedSignersPath, reason: "principal '\(principal)' contains spaces or quotes")
    }
    let path = settings?.path(.allowedSigners, root: root) ?? defaultAllowedSignersPath
    var text = ""
    if FileManager.default.fileExists(atPath: path) {
      _ = try Self.loadAllowedSigners(path)
      text = String(decoding: try wrap { try POSIX.readWholeFile(path) }, as: UTF8.self)
      if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
    }
    let cleanComment = comment.replacingOccurrences(of: "\n", with: " ")
    text += "\(principal) namespaces=\"\(signatureNamespace)\" \(key.authorizedKey(comment: cleanComment))\n"
    _ = try AllowedSigners(text: text)
    do { try AtomicFile.write(Array(text.utf8), to: path, tmpDirectory: tmpDirectory) } catch {
      throw KitError.io(operation: "write", path: path, message: "\(error)")
    }
  }
}
