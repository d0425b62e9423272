import ArgumentParser
import Foundation
import LineageCore
import LineageKit
import LineageSigning

struct Attest: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a signed in-toto attestation of a commit",
    discussion: """
      --format slsa (default): an in-toto Statement v1 whose subjects are the revision's files \
      with their SHA-256 (exactly what sha256sum prints after `lineage checkout`), with a SLSA \
      provenance v1 predicate (resolvedDependencies: parents, data and the code anchor; \
      parameters: command, params; environment digest; metrics), in a DSSE envelope signed with \
      user.signingKey. Check it with `lineage verify --attestation FILE`.

      --format model-signing: an OpenSSF model-signing bundle (Sigstore bundle v0.3, DSSE, \
      predicate https://model_signing/signature/v1.0) that PyPI's model_signing accepts:
        lineage checkout REV -o model/
        lineage attest REV --format model-signing -o model.sig
        ssh-keygen -e -m PKCS8 -f KEY.pub > pub.pem
        model_signing verify key model --signature model.sig --public_key pub.pem
      It needs an ECDSA P-256 key (lineage keygen -t ecdsa).
      """)

  @OptionGroup var repository: RepositoryOptions

  @Argument(help: "Revision to attest.") var revision: String = "HEAD"

  @Option(name: .shortAndLong, help: "Write here instead of standard output.") var output: String?

  @Option(help: "slsa or model-signing.") var format: String = "slsa"

  @Option(help: ArgumentHelp("Sign with this private key instead of user.signingKey.", valueName: "path")) var signingKey: String?

  @Option(help: "Subject name for model-signing (default: the commit's short id).") var name: String?

  @Option(help: ArgumentHelp("A path model_signing should ignore (e.g. the bundle's own name inside the model folder); repeatable.", valueName: "path"))
  var ignorePath: [String] = []

  func run() throws {
    guard let f = AttestationFormat(rawValue: format) else {
      throw ValidationError("unknown format '\(format)'; use slsa or model-signing")
    }
    let repo = try repository.open()
    let settings = try UserEnvironment.settings(repo)
    guard let keyPath = signingKey.map(repository.path) ?? settings.path(.signingKey, root: repo.root) else { throw KitError.noSigningKey }
    let key = try SigningKeys.load(path: keyPath)
    let (_, document) = try repo.attest(revision, format: f, key: key, name: name, ignorePaths: ignorePath)
    if let output {
      do { try Data(document).write(to: URL(fileURLWithPath: repository.path(output)), options: .atomic) } catch {
        throw KitError.io(operation: "write", path: output, message: "\(error)")
      }
    } else {
      FileHandle.standardOutput.write(Data(document))
    }
  }
}

/// `verify --attestation`.
enum AttestCommandSupport {
  static func verify(repo: Repository, path: String, signers: AllowedSigners?, json: Bool) throws {
    let bytes: [UInt8]
    do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
      throw KitError.io(operation: "read", path: path, message: "\(error)")
    }
    let check = try repo.verifyAttestation(bytes, signers: signers)
    if json {
      Render.json(["ok": true, "commit": check.commit?.hex ?? NSNull(), "subjects": check.subjects,
                   "signer": check.principal ?? NSNull(), "key": check.fingerprint] as [String: Any])
      return
    }
    Render.line("attestation verified: \(check.subjects) subject(s)" + (check.commit.map { " of commit \($0.short)" } ?? "")
      + ", signed by \(check.principal ?? "a trusted key") [\(check.fingerprint)]")
  }
}
