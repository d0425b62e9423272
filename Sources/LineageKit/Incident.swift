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
  /// The input's text for records that keep it inline (before inputs became files); "" otherwise.
  public var input: String
  /// SHA-256 of the input's bytes ("" when the incident has no input).
  public var inputSHA256: String
  /// Files stored in the record's tree: role (`input`, `expected`, `observed`, `probe`) → path, id.
  public var files: [IncidentFile]
  public var oracle: Oracle
  public var numerics: NumericsProfile
  /// SHA-256 of the logits observed when the incident was recorded (or of the runner's output).
  public var observed: String
  /// Each stage's output digest, in order.
  public var activations: [(name: String, sha256: String)]
  /// Whether the oracle held when recorded (an incident that did not reproduce is still kept).
  public var reproduced: Bool
  /// The external command the incident was recorded with, for information: never run from here.
  public var runner: String?
  public var message: String
  public var author: String
  public var time: Int64
  public var signature: SignatureStatus

  /// The stored file of a role.
  public func file(_ role: String) -> IncidentFile? { files.first { $0.role == role } }
}

/// A file an incident record stores in its tree.
public struct IncidentFile: Sendable, Equatable {
  public var role: String
  public var path: String
  public var id: ObjectID
}

/// A file's name (for its format) and bytes.
public struct NamedBytes: Sendable {
  public var name: String
  public var bytes: [UInt8]
  public init(name: String, bytes: [UInt8]) {
    self.name = name
    self.bytes = bytes
  }
}

/// What `incident record` stores (Docs/Blame.md).
public struct IncidentSpec: Sendable {
  public var revision: String
  public var input: NamedBytes?
  public var oracle: Oracle
  /// The expected output for `max_abs_diff(expected)`.
  public var expected: NamedBytes?
  /// The output seen where the failure happened.
  public var observed: NamedBytes?
  /// Labelled rows for `metric_on_probe_set`.
  public var probeSet: NamedBytes?
  /// Decide with an external command instead of the native runtime.
  public var runner: ExternalRunner?
  public var message: String
  public var threads: Int

  public init(
    revision: String, input: NamedBytes?, oracle: Oracle, expected: NamedBytes? = nil, observed: NamedBytes? = nil, probeSet: NamedBytes? = nil,
    runner: ExternalRunner? = nil, message: String, threads: Int = 1
  ) {
    self.revision = revision
    self.input = input
    self.oracle = oracle
    self.expected = expected
    self.observed = observed
    self.probeSet = probeSet
    self.runner = runner
    self.message = message
    self.threads = threads
  }
}

/// How a replay compares with the recorded incident.
public struct Replay: Sendable {
  public enum Verdict: String, Sendable {
    /// Bit-equal logits (or runner output).
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
  /// The largest absolute difference between the replayed logits and the `--observed` file.
  public var observedMaxAbsDiff: Float?
}

/// What the native runtime needs to decide an incident's oracle on one architecture.
struct FailureCheck {
  var oracle: Oracle
  var batch: Batch?
  var expected: [Float]?
  var probe: (batch: Batch, targets: [Int32])?

  /// Whether the failure holds for these weights, and the forward result on the input.
  func run(_ model: Model, _ p: Parameters, record: Bool = false) throws(RuntimeError) -> (holds: Bool, result: ForwardResult?) {
    let r = try batch.map { b throws(RuntimeError) in try model.forward(p, b, record: record) }
    if let probe {
      return (try oracle.holds(probe: try model.evaluate(p, probe.batch, targets: probe.targets)), r)
    }
    guard let r, let batch else { throw .input("oracle \(oracle) needs an input") }
    return (try oracle.holds(r, rows: batch.rows, expected: expected), r)
  }

  /// Whether the failure holds and how strongly (`Oracle.severity`), in one forward pass.
  func measure(_ model: Model, _ p: Parameters) throws(RuntimeError) -> (holds: Bool, severity: Float) {
    if let probe {
      let e = try model.evaluate(p, probe.batch, targets: probe.targets)
      return (try oracle.holds(probe: e), try oracle.severity(probe: e))
    }
    guard let batch else { throw .input("oracle \(oracle) needs an input") }
    let r = try model.forward(p, batch)
    return (try oracle.holds(r, rows: batch.rows, expected: expected), try oracle.severity(r, rows: batch.rows, expected: expected))
  }
}

extension Repository {
  /// The chain of incident records.
  public static let incidentsRef = "refs/incidents"
  /// Largest file an incident stores.
  public static let incidentFileLimit = 64 << 20

  /// Run the model of `revision` on `input` (JSON, as `lineage run` reads it) and record the
  /// incident. Kept for callers that hold the input's bytes; `recordIncident(_:)` takes the rest.
  public func recordIncident(
    revision: String, input: [UInt8], oracle: Oracle, message: String, threads: Int, author: String, time: Int64, key: SSHPrivateKey?
  ) throws -> (record: ObjectID, reproduced: Bool) {
    try recordIncident(
      IncidentSpec(revision: revision, input: NamedBytes(name: "input.json", bytes: input), oracle: oracle, message: message, threads: threads),
      author: author, time: time, key: key)
  }

  /// Run the incident's model (natively, or through its runner) and record the incident: the
  /// commit, the weights' digest, the files (input, expected, observed, probe set) in the record's
  /// tree, the oracle, the numerics, the observed digest and every stage's digest; signed when
  /// `key` is given.
  public func recordIncident(_ spec: IncidentSpec, author: String, time: Int64, key: SSHPrivateKey?) throws -> (record: ObjectID, reproduced: Bool)
  {
    let id = try resolve(spec.revision)
    let roles: [(String, NamedBytes?)] = [("input", spec.input), ("expected", spec.expected), ("observed", spec.observed), ("probe", spec.probeSet)]
    var files: [(role: String, path: String, bytes: [UInt8])] = []
    for case (let role, let f?) in roles {
      guard f.bytes.count <= Self.incidentFileLimit else {
        throw KitError.runtime(what: "incident \(role) \(f.name)", reason: "larger than \(Self.incidentFileLimit >> 20) MiB")
      }
      files.append((role, role + Self.incidentExtension(f.name), f.bytes))
    }
    if spec.oracle.needsExpected && spec.expected == nil {
      throw KitError.runtime(what: "incident", reason: "oracle \(spec.oracle) needs --expected FILE")
    }
    if spec.oracle.needsProbeSet && spec.probeSet == nil {
      throw KitError.runtime(what: "incident", reason: "oracle \(spec.oracle) needs --probe-set FILE")
    }
    if spec.runner == nil, spec.oracle == .external {
      throw KitError.runtime(what: "incident", reason: "the external oracle needs --run CMD")
    }
    if spec.runner == nil, spec.input == nil, !spec.oracle.needsProbeSet {
      throw KitError.runtime(what: "incident", reason: "oracle \(spec.oracle) needs --input FILE")
    }
    var provisional = Incident(
      record: id, commit: id, weights: try commit(id).tree, input: "",
      inputSHA256: spec.input.map { $0.bytes.withUnsafeBytes { SHA256Hasher.hash($0) }.hex } ?? "", files: [], oracle: spec.oracle,
      numerics: NumericsProfile(runtime: "external", blas: "", core: "", threads: 0), observed: "", activations: [], reproduced: false,
      runner: spec.runner?.command, message: spec.message, author: author, time: time, signature: .unsigned)
    var stages: [(name: String, sha256: String)] = []
    if let runner = spec.runner {
      let v = try runExternal(runner, state: ModelState(commit: id), incidentJSON: try incidentJSON(provisional), input: spec.input)
      guard let bad = v.bad else {
        throw KitError.runtime(what: "incident", reason: "the runner says \(id.short) is untestable (exit 125), so nothing can be recorded")
      }
      provisional.reproduced = bad
      provisional.observed = v.output ?? ""
    } else {
      let m = try runnableModel(revision: spec.revision)
      let check = try failureCheck(
        oracle: spec.oracle, input: spec.input, expected: spec.expected, probe: spec.probeSet, architecture: m.architecture)
      let (out, profile, holds) = try runtime(m.label) { () throws -> (ForwardResult?, NumericsProfile, Bool) in
        let model = try Model(m.architecture, threads: spec.threads)
        let (holds, r) = try check.run(model, m.parameters, record: true)
        return (r, model.profile, holds)
      }
      provisional.numerics = profile
      provisional.reproduced = holds
      if let out {
        provisional.observed = out.digest.hex
        stages = out.activations.map { ($0.name, $0.digest.hex) }
      }
    }
    if let o = spec.observed, spec.runner == nil {
      // The observed output is the failure's evidence: its values' digest is the one to match.
      provisional.observed = try Self.logits(o, what: "--observed").withUnsafeBytes { SHA256Hasher.hash($0) }.hex
    }
    let n = provisional.numerics
    var fields: [(String, JSONValue)] = [
      ("commit", .string(id.hex)), ("weights", .string(provisional.weights.hex)), ("input_sha256", .string(provisional.inputSHA256)),
      ("oracle", .string(spec.oracle.description)),
      (
        "numerics",
        .object([
          ("runtime", .string(n.runtime)), ("blas", .string(n.blas)), ("core", .string(n.core)), ("threads", .number(String(n.threads))),
        ])
      ),
      ("observed", .string(provisional.observed)), ("reproduced", .bool(provisional.reproduced)),
      ("activations", .array(stages.map { .object([("name", .string($0.name)), ("sha256", .string($0.sha256))]) })),
      ("files", .object(files.map { ($0.role, .string($0.path)) })),
    ]
    if let r = spec.runner { fields.append(("runner", .string(r.command))) }
    let record = try appendRecord(
      to: Self.incidentsRef, role: "incident-log", message: spec.message, params: .object([("incident", .object(fields))]), author: author,
      time: time, key: key, operation: "incident record", files: files.map { ($0.path, $0.bytes) })
    return (record, provisional.reproduced)
  }

  /// The name an incident file gets in the record's tree: its role and the original extension.
  static func incidentExtension(_ name: String) -> String {
    let lower = name.lowercased()
    for ext in [".safetensors", ".npz", ".npy", ".jsonl", ".json"] where lower.hasSuffix(ext) { return ext }
    return ".bin"
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
      let inputSHA = v["input_sha256"]?.stringValue, let oracleText = v["oracle"]?.stringValue,
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
    var files: [IncidentFile] = []
    if case .object(let members)? = v["files"] {
      let entries = try tree(r.tree).entries
      for (role, value) in members {
        guard let path = value.stringValue, let e = entries.first(where: { $0.path == path }) else { throw bad("file for \(role) is not in its tree") }
        files.append(IncidentFile(role: role, path: path, id: e.file))
      }
    }
    var reproduced = false
    if case .bool(let b) = v["reproduced"] { reproduced = b }
    return Incident(
      record: id, commit: commit, weights: weights, input: v["input"]?.stringValue ?? "", inputSHA256: inputSHA, files: files, oracle: oracle,
      numerics: numerics, observed: observed, activations: activations, reproduced: reproduced, runner: v["runner"]?.stringValue,
      message: r.message, author: r.author, time: r.time, signature: Self.checkSignature(r, signers: signers).status)
  }

  /// A stored incident file's name and bytes.
  public func incidentFile(_ incident: Incident, role: String) throws -> NamedBytes? {
    if let f = incident.file(role) { return NamedBytes(name: f.path, bytes: try fileBytes(f.id)) }
    if role == "input", !incident.input.isEmpty { return NamedBytes(name: "input.json", bytes: Array(incident.input.utf8)) }
    return nil
  }

  /// The incident's input, if it has one.
  func incidentInput(_ incident: Incident) throws -> NamedBytes? { try incidentFile(incident, role: "input") }

  /// The incident as `incident show --json` prints it (and as runners read it).
  public func incidentJSONValue(_ i: Incident) -> JSONValue {
    var fields: [(String, JSONValue)] = [
      ("incident", .string(i.record.hex)), ("commit", .string(i.commit.hex)), ("weights", .string(i.weights.hex)),
      ("oracle", .string(i.oracle.description)), ("reproduced", .bool(i.reproduced)), ("input_sha256", .string(i.inputSHA256)),
      ("observed", .string(i.observed)), ("message", .string(i.message)), ("author", .string(i.author)), ("time", .number(String(i.time))),
      ("signature", .string(i.signature.word)),
      (
        "numerics",
        .object([
          ("runtime", .string(i.numerics.runtime)), ("blas", .string(i.numerics.blas)), ("core", .string(i.numerics.core)),
          ("threads", .number(String(i.numerics.threads))),
        ])
      ),
      ("files", .object(i.files.map { ($0.role, .string($0.path)) })),
      ("activations", .array(i.activations.map { .object([("name", .string($0.name)), ("sha256", .string($0.sha256))]) })),
    ]
    if let r = i.runner { fields.append(("runner", .string(r))) }
    return .object(fields)
  }

  func incidentJSON(_ i: Incident) throws -> String {
    do { return String(decoding: try CanonicalJSON.encode(incidentJSONValue(i)), as: UTF8.self) } catch {
      throw KitError.invalidRecord("incident JSON: \(error)")
    }
  }

  /// The native check of an incident's oracle for one architecture.
  func failureCheck(_ incident: Incident, architecture: Architecture) throws -> FailureCheck {
    try failureCheck(
      oracle: incident.oracle, input: try incidentInput(incident), expected: try incidentFile(incident, role: "expected"),
      probe: try incidentFile(incident, role: "probe"), architecture: architecture)
  }

  func failureCheck(oracle: Oracle, input: NamedBytes?, expected: NamedBytes?, probe: NamedBytes?, architecture: Architecture) throws
    -> FailureCheck
  {
    guard oracle != .external else {
      throw KitError.runtime(what: "incident", reason: "the oracle is external: pass --run CMD (Docs/Blame.md, External runners)")
    }
    var check = FailureCheck(oracle: oracle)
    if let input { check.batch = try RuntimeInput.parse(input, for: architecture, what: "incident input").0 }
    if oracle.needsExpected, let expected { check.expected = try Self.logits(expected, what: "--expected") }
    if oracle.needsProbeSet, let probe {
      let (b, t) = try RuntimeInput.parse(probe, for: architecture, what: "probe set")
      guard let t else { throw KitError.runtime(what: "probe set", reason: "its rows have no targets") }
      check.probe = (b, t)
    }
    return check
  }

  /// Logits from a file: JSON `{"logits": [...]}` (nested arrays flattened) or a safetensors/npz
  /// file with a float tensor `logits` or only one tensor.
  static func logits(_ f: NamedBytes, what: String) throws -> [Float] {
    func fail(_ why: String) -> KitError { .runtime(what: "\(what) \(f.name)", reason: why) }
    if let t = try RuntimeInput.tensors(f) {
      guard let e = t.source.tensor(named: "logits") ?? (t.source.tensors.count == 1 ? t.source.tensors.first : nil) else {
        throw fail("expected a tensor named logits, or a single tensor")
      }
      guard e.dtype.isFloat else { throw fail("tensor \(e.name) is \(e.dtype.rawValue), not a float type") }
      return try t.source.floats(of: e)
    }
    let json: JSONValue
    do { json = try StrictJSONParser.parse(f.bytes) } catch { throw fail("not JSON, safetensors or npz: \(error)") }
    guard let l = json["logits"] else { throw fail("no \"logits\" member") }
    var out: [Float] = []
    func walk(_ v: JSONValue) throws {
      if let a = v.arrayValue {
        for x in a { try walk(x) }
      } else if case .number(let t) = v, let x = Float(t), x.isFinite {
        out.append(x)
      } else {
        throw fail("logits must be finite numbers")
      }
    }
    try walk(l)
    return out
  }

  /// Replay an incident on the native runtime, or through `runner`, at its commit or at `revision`.
  public func replay(_ incident: Incident, revision: String? = nil, threads: Int = 1, runner: ExternalRunner? = nil) throws -> Replay {
    let id = try revision.map { try resolve($0) } ?? incident.commit
    if let runner {
      let v = try runExternal(runner, state: ModelState(commit: id), incident: incident)
      guard let bad = v.bad else { throw KitError.runtime(what: "replay", reason: "the runner says \(id.short) is untestable (exit 125)") }
      let verdict: Replay.Verdict =
        v.output != nil && v.output == incident.observed ? .exact : bad == incident.reproduced ? .equivalent : .diverged
      return Replay(
        incident: incident, commit: id, verdict: verdict, reproduces: bad, observed: v.output ?? "", firstDivergence: nil, environmentChanges: [])
    }
    if incident.oracle == .external {
      throw KitError.runtime(
        what: "replay", reason: "this incident was recorded with an external runner (`\(incident.runner ?? "?")`); pass --run CMD to replay it")
    }
    let m = try runnableModel(revision: revision ?? id.hex)
    let check = try failureCheck(incident, architecture: m.architecture)
    let (out, profile, holds) = try runtime(m.label) { () throws -> (ForwardResult?, NumericsProfile, Bool) in
      let model = try Model(m.architecture, threads: threads)
      let (holds, r) = try check.run(model, m.parameters, record: true)
      return (r, model.profile, holds)
    }
    let recorded = Dictionary(incident.activations.map { ($0.name, $0.sha256) }, uniquingKeysWith: { a, _ in a })
    let first = out?.activations.first { recorded[$0.name] != $0.digest.hex }?.name
    var changes: [String] = []
    let was = incident.numerics
    if was.core != profile.core { changes.append("OpenBLAS kernel: \(was.core) → \(profile.core)") }
    if was.threads != profile.threads { changes.append("threads: \(was.threads) → \(profile.threads)") }
    if was.blas != profile.blas { changes.append("OpenBLAS build: \(was.blas) → \(profile.blas)") }
    if was.runtime != profile.runtime { changes.append("runtime: \(was.runtime) → \(profile.runtime)") }
    var observedDiff: Float?
    if let o = try incidentFile(incident, role: "observed"), let out {
      let values = try Self.logits(o, what: "observed")
      if values.count == out.logits.count { observedDiff = zip(values, out.logits).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) } }
    }
    let digest = out?.digest.hex ?? ""
    let verdict: Replay.Verdict = !digest.isEmpty && digest == incident.observed ? .exact : holds == incident.reproduced ? .equivalent : .diverged
    return Replay(
      incident: incident, commit: id, verdict: verdict, reproduces: holds, observed: digest, firstDivergence: first,
      environmentChanges: changes, observedMaxAbsDiff: observedDiff)
  }

  func runtime<T>(_ what: String, _ body: () throws -> T) throws -> T { try runtimeErrors(what, body) }
}
