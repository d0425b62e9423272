import Foundation
import LineageCore
import LineageNative
import LineageRuntime
import LineageSigning

/// A recorded incident: a model, an input and the failure condition it showed (Docs/Blame.md).
public struct Incident: Sendable {
  public var record: ObjectID
  public var commit: ObjectID
  /// The tree id of the commit: the weights' digest.
  public var weights: ObjectID
  /// The input file's text (JSON or JSON lines) and its SHA-256.
  public var input: String
  public var inputSHA256: String
  public var oracle: Oracle
  public var numerics: NumericsProfile
  /// SHA-256 of the logits observed when the incident was recorded.
  public var observed: String
  /// Each stage's output digest, in order.
  public var activations: [(name: String, sha256: String)]
  /// Whether the oracle held when recorded (an incident that did not reproduce is still kept).
  public var reproduced: Bool
  public var message: String
  public var author: String
  public var time: Int64
  public var signature: SignatureStatus
}

/// How a replay compares with the recorded incident.
public struct Replay: Sendable {
  public enum Verdict: String, Sendable {
    /// Bit-equal logits.
    case exact
    /// Other bits, the same oracle outcome.
    case equivalent
    /// Another oracle outcome.
    case diverged
  }
  public var incident: Incident
  public var commit: ObjectID
  public var verdict: Verdict
  /// Whether the oracle holds on the replay (the incident reproduces).
  public var reproduces: Bool
  public var observed: String
  /// The first stage whose digest differs from the recorded one (nil when all agree).
  public var firstDivergence: String?
  /// Numerics fields that differ from the recording ("threads: 1 → 2").
  public var environmentChanges: [String]
}

extension Repository {
  /// The chain of incident records.
  public static let incidentsRef = "refs/incidents"

  /// Run the model of `revision` on `input` (JSON, as `lineage run` reads it), and record the
  /// incident: the commit, the weights' digest, the input, the oracle, the numerics, the observed
  /// logits' digest and every stage's digest, signed when `key` is given.
  public func recordIncident(
    revision: String, input: [UInt8], oracle: Oracle, message: String, threads: Int, author: String, time: Int64, key: SSHPrivateKey?
  ) throws -> (record: ObjectID, reproduced: Bool) {
    let id = try resolve(revision)
    guard let text = String(bytes: input, encoding: .utf8) else { throw KitError.runtime(what: "incident input", reason: "not UTF-8 text") }
    guard input.count <= 4 << 20 else { throw KitError.runtime(what: "incident input", reason: "larger than 4 MiB") }
    let m = try runnableModel(revision: revision)
    let (batch, _) = try RuntimeInput.parse(input, for: m.architecture, what: "incident input")
    let (out, profile, holds) = try runtime(m.label) { () throws -> (ForwardResult, NumericsProfile, Bool) in
      let model = try Model(m.architecture, threads: threads)
      let r = try model.forward(m.parameters, batch, record: true)
      return (r, model.profile, try oracle.holds(r, rows: batch.rows))
    }
    let params: JSONValue = .object([
      (
        "incident",
        .object([
          ("commit", .string(id.hex)), ("weights", .string(try commit(id).tree.hex)), ("input", .string(text)),
          ("input_sha256", .string(input.withUnsafeBytes { SHA256Hasher.hash($0) }.hex)), ("oracle", .string(oracle.description)),
          (
            "numerics",
            .object([
              ("runtime", .string(profile.runtime)), ("blas", .string(profile.blas)), ("core", .string(profile.core)),
              ("threads", .number(String(profile.threads))),
            ])
          ),
          ("observed", .string(out.digest.hex)), ("reproduced", .bool(holds)),
          ("activations", .array(out.activations.map { .object([("name", .string($0.name)), ("sha256", .string($0.digest.hex))]) })),
        ])
      )
    ])
    let record = try appendRecord(
      to: Self.incidentsRef, role: "incident-log", message: message, params: params, author: author, time: time, key: key,
      operation: "incident record")
    return (record, holds)
  }

  /// The newest incident record, if any.
  public func incidentsHead() throws -> ObjectID? { try wrap { try store.refs.read(Self.incidentsRef) } }

  /// Every incident, newest first.
  public func incidents(signers: AllowedSigners? = nil) throws -> [Incident] {
    var out: [Incident] = []
    var next = try wrap { try store.refs.read(Self.incidentsRef) }
    while let id = next {
      let r = try commit(id)
      next = r.parents.first?.id
      out.append(try incident(id, r, signers: signers))
    }
    return out
  }

  /// The incident a (prefix of a) record id names.
  public func incident(_ spec: String, signers: AllowedSigners? = nil) throws -> Incident {
    let all = try incidents(signers: signers)
    let matches = all.filter { $0.record.hex.hasPrefix(spec.lowercased()) }
    guard spec.count >= 4, let first = matches.first else { throw KitError.unknownRevision(spec) }
    guard matches.count == 1 else { throw KitError.ambiguousRevision(spec, candidates: matches.map(\.record.short)) }
    return first
  }

  func incident(_ id: ObjectID, _ r: CommitRecord, signers: AllowedSigners?) throws -> Incident {
    func bad(_ why: String) -> KitError { .corruptObject(id, reason: "incident record: \(why)") }
    guard let v = r.params?["incident"] else { throw bad("no params.incident") }
    guard let commit = v["commit"]?.stringValue.flatMap(ObjectID.init(hex:)), let weights = v["weights"]?.stringValue.flatMap(ObjectID.init(hex:)),
      let input = v["input"]?.stringValue, let inputSHA = v["input_sha256"]?.stringValue, let oracleText = v["oracle"]?.stringValue,
      let observed = v["observed"]?.stringValue, let n = v["numerics"]
    else { throw bad("a required field is missing") }
    let oracle: Oracle
    do { oracle = try Oracle.parse(oracleText) } catch { throw bad("oracle '\(oracleText)'") }
    let numerics = NumericsProfile(
      runtime: n["runtime"]?.stringValue ?? "", blas: n["blas"]?.stringValue ?? "", core: n["core"]?.stringValue ?? "",
      threads: Int(n["threads"]?.int64Value ?? 0))
    let activations = (v["activations"]?.arrayValue ?? []).compactMap { a -> (name: String, sha256: String)? in
      guard let name = a["name"]?.stringValue, let d = a["sha256"]?.stringValue else { return nil }
      return (name, d)
    }
    var reproduced = false
    if case .bool(let b) = v["reproduced"] { reproduced = b }
    return Incident(
      record: id, commit: commit, weights: weights, input: input, inputSHA256: inputSHA, oracle: oracle, numerics: numerics,
      observed: observed, activations: activations, reproduced: reproduced, message: r.message, author: r.author, time: r.time,
      signature: Self.checkSignature(r, signers: signers).status)
  }

  /// Replay an incident on the native runtime, at its commit or at `revision`.
  public func replay(_ incident: Incident, revision: String? = nil, threads: Int = 1) throws -> Replay {
    let id = try revision.map { try resolve($0) } ?? incident.commit
    let m = try runnableModel(revision: revision ?? id.hex)
    let (batch, _) = try RuntimeInput.parse(Array(incident.input.utf8), for: m.architecture, what: "incident input")
    let (out, profile, holds) = try runtime(m.label) { () throws -> (ForwardResult, NumericsProfile, Bool) in
      let model = try Model(m.architecture, threads: threads)
      let r = try model.forward(m.parameters, batch, record: true)
      return (r, model.profile, try incident.oracle.holds(r, rows: batch.rows))
    }
    let recorded = Dictionary(incident.activations.map { ($0.name, $0.sha256) }, uniquingKeysWith: { a, _ in a })
    let first = out.activations.first { recorded[$0.name] != $0.digest.hex }?.name
    var changes: [String] = []
    let was = incident.numerics
    if was.core != profile.core { changes.append("OpenBLAS kernel: \(was.core) → \(profile.core)") }
    if was.threads != profile.threads { changes.append("threads: \(was.threads) → \(profile.threads)") }
    if was.blas != profile.blas { changes.append("OpenBLAS build: \(was.blas) → \(profile.blas)") }
    if was.runtime != profile.runtime { changes.append("runtime: \(was.runtime) → \(profile.runtime)") }
    let verdict: Replay.Verdict = out.digest.hex == incident.observed ? .exact : holds == incident.reproduced ? .equivalent : .diverged
    return Replay(
      incident: incident, commit: id, verdict: verdict, reproduces: holds, observed: out.digest.hex, firstDivergence: first,
      environmentChanges: changes)
  }

  func runtime<T>(_ what: String, _ body: () throws -> T) throws -> T { try runtimeErrors(what, body) }
}
