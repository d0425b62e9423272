import Foundation
import LineageCore
import LineageNative
import LineageSigning

/// in-toto / DSSE attestations of a commit (Docs/Attestation.md).
public enum AttestationFormat: String, Sendable, CaseIterable {
  /// in-toto Statement v1 with a SLSA provenance v1 predicate, in a DSSE envelope.
  case slsa
  /// An OpenSSF model-signing bundle (Sigstore bundle v0.3, predicate model_signing v1.0).
  case modelSigning = "model-signing"
}

/// What `verify --attestation` found.
public struct AttestationCheck: Sendable {
  public var commit: ObjectID?
  public var subjects: Int
  public var principal: String?
  public var fingerprint: String
}

public enum Attestation {
  public static let payloadType = "application/vnd.in-toto+json"
  public static let slsaBuildType = "https://lineage.dev/buildtypes/commit/v2"
  public static let builderID = "https://lineage.dev/lineage"

  /// DSSE v1 pre-authentication encoding.
  public static func pae(_ payload: [UInt8], type: String = payloadType) -> [UInt8] {
    Array("DSSEv1 \(type.utf8.count) \(type) \(payload.count) ".utf8) + payload
  }

  /// Sort key of model_signing's resources: path components compared as UTF-8 bytes.
  static func componentOrder(_ a: String, _ b: String) -> Bool {
    let (x, y) = (a.split(separator: "/").map { Array($0.utf8) }, b.split(separator: "/").map { Array($0.utf8) })
    for (p, q) in zip(x, y) where p != q { return p.lexicographicallyPrecedes(q) }
    return x.count < y.count
  }
}

extension Repository {
  /// The in-toto Statement for a revision, as canonical JSON bytes.
  public func attestationStatement(_ revision: String, format: AttestationFormat, name: String? = nil, ignorePaths: [String] = []) throws
    -> (commit: ObjectID, payload: [UInt8])
  {
    let (id, files) = try list(revision)
    let r = try commit(id)
    let statement: JSONValue
    switch format {
    case .slsa:
      var deps: [JSONValue] = r.parents.map { p in
        var ann: [(String, JSONValue)] = []
        if let rel = p.relation { ann.append(("relation", .string(rel.rawValue))) }
        if let role = p.role { ann.append(("role", .string(role))) }
        return .object([
          ("uri", .string("lineage:commit:\(p.id.hex)")), ("digest", .object([("sha256", .string(p.id.hex))])),
          ("name", .string("parent")), ("annotations", .object(ann)),
        ])
      }
      for d in r.data {
        var ann: [(String, JSONValue)] = [("role", .string(d.role))]
        if let f = d.files { ann.append(("files", .number(String(f)))) }
        if let b = d.bytes { ann.append(("bytes", .number(String(b)))) }
        deps.append(.object([
          ("uri", .string(d.uri)), ("digest", .object([("sha256", .string(String(d.digest.dropFirst(7))))])),
          ("name", .string("data")), ("annotations", .object(ann)),
        ]))
      }
      if let code = r.code, let sha = code["commit"]?.stringValue {
        let uri = code["remote"]?.stringValue.map { "git+\($0)" } ?? "git:local"
        deps.append(.object([
          ("uri", .string(uri)), ("digest", .object([("gitCommit", .string(sha))])), ("name", .string("code")),
          ("annotations", code),
        ]))
      }
      var external: [(String, JSONValue)] = [("message", .string(r.message))]
      if let c = r.command { external.append(("command", .string(c))) }
      if let p = r.params { external.append(("params", p)) }
      var internalParams: [(String, JSONValue)] = [("author", .string(r.author))]
      if let e = r.environment {
        internalParams.append(("environment", .object([("digest", .string(e.digest)), ("summary", e.summary)])))
      }
      var metadata: [(String, JSONValue)] = [
        ("invocationId", .string(id.hex)), ("startedOn", .string(RFC3339.format(r.time))),
        ("finishedOn", .string(RFC3339.format(r.time))),
      ]
      if let m = r.metrics { metadata.append(("metrics", m)) }
      statement = .object([
        ("_type", .string("https://in-toto.io/Statement/v1")),
        (
          "subject",
          .array(files.map { .object([("name", .string($0.path)), ("digest", .object([("sha256", .string($0.sha256))]))]) })
        ),
        ("predicateType", .string("https://slsa.dev/provenance/v1")),
        (
          "predicate",
          .object([
            (
              "buildDefinition",
              .object([
                ("buildType", .string(Attestation.slsaBuildType)), ("externalParameters", .object(external)),
                ("internalParameters", .object(internalParams)), ("resolvedDependencies", .array(deps)),
              ])
            ),
            (
              "runDetails",
              .object([("builder", .object([("id", .string(Attestation.builderID))])), ("metadata", .object(metadata))])
            ),
          ])
        ),
      ])
    case .modelSigning:
      let sorted = files.sorted { Attestation.componentOrder($0.path, $1.path) }
      let root = SHA256Hasher()
      for f in sorted { root.update(HexEncoding.decode(f.sha256) ?? []) }
      let ignore = [".git", ".gitattributes", ".github", ".gitignore"] + ignorePaths
      statement = .object([
        ("_type", .string("https://in-toto.io/Statement/v1")),
        (
          "subject",
          .array([.object([("name", .string(name ?? id.short)), ("digest", .object([("sha256", .string(root.finalize().hex))]))])])
        ),
        ("predicateType", .string("https://model_signing/signature/v1.0")),
        (
          "predicate",
          .object([
            (
              "serialization",
              .object([
                ("method", .string("files")), ("hash_type", .string("sha256")), ("allow_symlinks", .bool(false)),
                ("ignore_paths", .array(ignore.map(JSONValue.string))),
              ])
            ),
            (
              "resources",
              .array(
                sorted.map {
                  .object([("name", .string($0.path)), ("algorithm", .string("sha256")), ("digest", .string($0.sha256))])
                })
            ),
          ])
        ),
      ])
    }
    do { return (id, try CanonicalJSON.encode(statement)) } catch { throw KitError.invalidRecord("\(error)") }
  }

  /// Sign the statement and wrap it: a DSSE envelope (slsa) or a Sigstore bundle (model-signing).
  public func attest(_ revision: String, format: AttestationFormat, key: SSHPrivateKey, name: String? = nil, ignorePaths: [String] = [])
    throws -> (commit: ObjectID, document: [UInt8])
  {
    if format == .modelSigning, key.publicKey.type != .ecdsaP256 {
      throw KitError.signingKey(path: "user.signingKey", reason: "the model-signing format needs an ECDSA P-256 key (lineage keygen -t ecdsa)")
    }
    let (id, payload) = try attestationStatement(revision, format: format, name: name, ignorePaths: ignorePaths)
    let sig: [UInt8]
    do { sig = try key.signRaw(Attestation.pae(payload)) } catch { throw KitError.signingFailed("\(error)") }
    let envelope: JSONValue = .object([
      ("payload", .string(Data(payload).base64EncodedString())), ("payloadType", .string(Attestation.payloadType)),
      (
        "signatures",
        .array([.object([("keyid", .string(format == .slsa ? key.publicKey.fingerprint : "")), ("sig", .string(Data(sig).base64EncodedString()))])])
      ),
    ])
    let document: JSONValue
    switch format {
    case .slsa: document = envelope
    case .modelSigning:
      let hint = SHA256Hasher.hash(Array(key.publicKey.pem().utf8)).hex
      document = .object([
        ("mediaType", .string("application/vnd.dev.sigstore.bundle.v0.3+json")),
        ("verificationMaterial", .object([("publicKey", .object([("hint", .string(hint))])), ("tlogEntries", .array([]))])),
        ("dsseEnvelope", envelope),
      ])
    }
    do { return (id, try CanonicalJSON.encode(document) + [0x0A]) } catch { throw KitError.invalidRecord("\(error)") }
  }

  /// Check an attestation written by `attest`: the envelope's signature by a trusted key, and
  /// that its statement is exactly what this repository derives for the commit it names.
  public func verifyAttestation(_ bytes: [UInt8], signers: AllowedSigners?) throws -> AttestationCheck {
    func bad(_ why: String) -> KitError { .badAttestation(why) }
    guard let doc = try? StrictJSONParser.parse(bytes) else { throw bad("not JSON") }
    let isBundle = doc["mediaType"] != nil
    guard let envelope = isBundle ? doc["dsseEnvelope"] : doc else { throw bad("no DSSE envelope") }
    guard envelope["payloadType"]?.stringValue == Attestation.payloadType else { throw bad("payloadType is not \(Attestation.payloadType)") }
    guard let p64 = envelope["payload"]?.stringValue, let payloadData = Data(base64Encoded: p64),
      payloadData.base64EncodedString() == p64
    else { throw bad("payload is not canonical base64") }
    guard let sigs = envelope["signatures"]?.arrayValue, sigs.count == 1, let s64 = sigs[0]["sig"]?.stringValue,
      let sigData = Data(base64Encoded: s64), sigData.base64EncodedString() == s64
    else { throw bad("expected one signature in canonical base64") }
    let payload = Array(payloadData)
    guard let signers else { throw bad("no allowed_signers file, so no key is trusted") }
    var found: (SSHPublicKey, String)?
    let now = Int64(Date().timeIntervalSince1970)
    for key in Set(signers.entries.map(\.key)) where key.verifyRaw(signature: Array(sigData), message: Attestation.pae(payload)) {
      if let principal = signers.principals(for: key, namespace: signatureNamespace, at: now).first {
        found = (key, principal)
        break
      }
    }
    guard let (key, principal) = found else { throw bad("the signature is not by any key allowed_signers trusts for namespace lineage") }
    guard let statement = try? StrictJSONParser.parse(payload) else { throw bad("the payload is not JSON") }
    let format: AttestationFormat = statement["predicateType"]?.stringValue == "https://slsa.dev/provenance/v1" ? .slsa : .modelSigning
    guard format == .modelSigning || !isBundle else { throw bad("a Sigstore bundle must carry a model_signing predicate") }
    var commit: ObjectID?
    if format == .slsa {
      guard let hex = statement["predicate"]?["runDetails"]?["metadata"]?["invocationId"]?.stringValue, let id = ObjectID(hex: hex) else {
        throw bad("the statement names no commit")
      }
      let (_, expected) = try attestationStatement(id.hex, format: .slsa)
      guard expected == payload else { throw bad("the statement differs from what commit \(id.short) attests") }
      commit = id
    }
    let subjects = statement["subject"]?.arrayValue?.count ?? 0
    return AttestationCheck(commit: commit, subjects: subjects, principal: principal.isEmpty ? nil : principal, fingerprint: key.fingerprint)
  }
}
