import Foundation
import LineageCore
import LineageForensics
import LineageRuntime
import LineageSigning

/// How `blame` searches history.
public enum BlameSearch: String, Sendable {
  /// Scan when the path is short enough that replaying all of it is cheap (at most
  /// `BlameSearch.scanLimit` commits), bisect otherwise.
  case auto
  /// Replay every commit on the path (the blame curve); every good→bad transition is reported.
  case scan
  /// Binary search on the path for the first bad commit (assumes bad stays bad).
  case bisect

  /// The longest path `auto` scans: with the native runtime a replay costs one forward pass, so
  /// a path of 32 commits is scanned in full (every transition found, no assumption that bad stays
  /// bad); an external runner may load a large model per call, so it scans at most 8.
  public static func scanLimit(native: Bool) -> Int { native ? 32 : 8 }
}

/// What `blame` tests in its tensor step.
public enum BlameUnits: String, Sendable {
  /// Every differing tensor on its own.
  case tensors
  /// Differing tensors grouped by layer (block index; tensors outside blocks stay alone).
  case layers
}

/// What `blame` found (Docs/Blame.md).
public struct BlameReport: Sendable {
  public enum Outcome: String, Sendable {
    case blamed
    /// The incident does not reproduce at its own commit.
    case notReproducible = "not-reproducible"
    /// The first bad commit is a root (or --good is bad): the failure is there from the start.
    case badSinceRoot = "bad-since-root"
    /// The replay budget ran out before an answer.
    case budgetExhausted = "budget-exhausted"
  }
  public struct TensorEffect: Sendable {
    /// A tensor name, or with `--units layers` a unit ("layer 3", or a tensor outside the blocks).
    public var name: String
    /// Putting the good parent's values into the first bad model stops the failure.
    public var revertFixes: Bool
    /// Putting the first bad model's values into the good parent starts the failure.
    public var transplantBreaks: Bool
    /// The failure's severity with this unit reverted (`Oracle.severity`; native runtime only):
    /// the lower, the more of the failure the unit's change carries.
    public var revertedSeverity: Float?
    /// The severity of the good parent with this unit transplanted (native runtime only): the
    /// higher, the more of the failure the unit's change brings on its own.
    public var transplantedSeverity: Float?
  }
  public var outcome: Outcome
  /// Who decided each test: "native" or the external command.
  public var runner: String
  public var units: BlameUnits
  /// How history was searched (`auto` resolved to scan or bisect).
  public var search: BlameSearch
  /// The commits searched: ancestors of the incident's commit (merges followed), not ancestors of
  /// --good, newest first.
  public var path: [ObjectID]
  /// Each replayed commit and whether the failure holds there (nil: untestable).
  public var tested: [(commit: ObjectID, bad: Bool?)]
  public var firstBad: ObjectID?
  /// The good parent the tensors are compared with (the first bad commit's first parent).
  public var lastGood: ObjectID?
  /// Every parent of the first bad commit (two or more for a merge); all good.
  public var goodParents: [ObjectID]
  /// Untestable commits that could still be the first bad one (nil-verdict candidates left).
  public var unresolved: [ObjectID]
  /// Scan only: every bad commit whose parents are all good, newest first, with its parents.
  public var transitions: [(good: ObjectID, bad: ObjectID)]
  public var tensors: [TensorEffect]
  /// A 1-minimal set of units whose reversion to the good parent stops the failure (ddmin).
  public var minimalSet: [String]
  /// The tensor names the minimal set covers (the same as `minimalSet` for tensor units).
  public var minimalTensors: [String]
  /// Data the first bad commit lists that none of its good parents does.
  public var dataAdded: [DataRef]
  /// The added data ranked by TracIn-style scores, with leave-one-source-out retraining when the
  /// commit records a recipe (native runtime only; nil when not run).
  public var attribution: DataAttribution?
  /// Why attribution did not run, when it was asked for and could not.
  public var attributionUnavailable: String?
  /// Commits that inherit from the first bad commit.
  public var impact: [ObjectID]
  /// Replays run (each one a forward pass or a runner call on a content-addressed or hybrid state).
  public var replays: Int
}

extension Repository {
  /// The chain of blame records.
  public static let blameRef = "refs/blame"

  /// Replay an incident against history and attribute it (Docs/Blame.md).
  public func blame(
    _ incident: Incident, good: String? = nil, search: BlameSearch = .auto, budget: Int = 64, threads: Int = 1,
    runner: ExternalRunner? = nil, units: BlameUnits = .tensors, attribution: DataAttributionOptions? = nil
  ) throws -> BlameReport {
    let goodID = try good.map { try resolve($0) }
    var replays = 0
    /// The severity of the last native replay (nil after an external runner's verdict).
    var lastSeverity: Float?
    var cache: [ObjectID: RunnableModel?] = [:]
    var native: (model: Model, check: FailureCheck, architecture: Architecture)?
    if runner == nil {
      if incident.oracle == .external {
        throw KitError.runtime(
          what: "blame", reason: "this incident was recorded with an external runner (`\(incident.runner ?? "?")`); pass --run CMD")
      }
      let architecture = try runnableModel(revision: incident.commit.hex).architecture
      let check = try failureCheck(incident, architecture: architecture)
      native = (try runtime("blame") { try Model(architecture, threads: threads) }, check, architecture)
    }
    func load(_ id: ObjectID) -> RunnableModel? {
      if let m = cache[id] { return m }
      let m = (try? runnableModel(revision: id.hex)).flatMap { $0.architecture == native?.architecture ? $0 : nil }
      cache[id] = m
      return m
    }
    /// Whether the failure holds in `state`; nil when it cannot be tested.
    func judge(_ state: ModelState) throws -> Bool? {
      lastSeverity = nil
      if let runner {
        replays += 1
        return try runExternal(runner, state: state, incident: incident).bad
      }
      guard let native, var p = load(state.commit)?.parameters else { return nil }
      if let donor = state.donor {
        guard let d = load(donor)?.parameters else { return nil }
        for n in state.swapped { p.setTensor(n, d.tensor(n) ?? []) }
      }
      replays += 1
      let (holds, severity) = try runtime("blame") { try native.check.measure(native.model, p) }
      lastSeverity = severity
      return holds
    }
    var report = BlameReport(
      outcome: .blamed, runner: runner?.command ?? "native", units: units, search: search, path: [], tested: [], firstBad: nil, lastGood: nil,
      goodParents: [], unresolved: [], transitions: [], tensors: [], minimalSet: [], minimalTensors: [], dataAdded: [], attribution: nil,
      attributionUnavailable: nil, impact: [], replays: 0)

    // The history: every ancestor of the incident's commit that is not an ancestor of --good.
    var parents: [ObjectID: [ObjectID]] = [:]
    func ancestors(_ start: ObjectID) throws -> [ObjectID] {
      var order: [ObjectID] = []
      var seen: Set<ObjectID> = [start]
      var stack = [start]
      while let id = stack.popLast() {
        order.append(id)
        let ps = try parents[id] ?? commit(id).parents.map(\.id)
        parents[id] = ps
        for p in ps where !seen.contains(p) {
          seen.insert(p)
          stack.append(p)
        }
      }
      return order
    }
    let excluded = Set(try goodID.map { try ancestors($0) } ?? [])
    let all = try ancestors(incident.commit).filter { !excluded.contains($0) }
    report.path = try newestFirst(all, parents: parents)
    let position = Dictionary(uniqueKeysWithValues: report.path.enumerated().map { ($1, $0) })
    var ancestry: [ObjectID: Set<ObjectID>] = [:]
    func within(_ id: ObjectID) -> Set<ObjectID> {
      if let a = ancestry[id] { return a }
      var out: Set<ObjectID> = [id]
      var stack = [id]
      while let x = stack.popLast() {
        for p in parents[x] ?? [] where position[p] != nil && !out.contains(p) {
          out.insert(p)
          stack.append(p)
        }
      }
      ancestry[id] = out
      return out
    }
    var states: [ObjectID: Bool?] = [:]
    func test(_ id: ObjectID) throws -> Bool? {
      if let s = states[id] { return s }
      let s = try judge(ModelState(commit: id))
      states[id] = s
      report.tested.append((id, s))
      return s
    }
    func finish(_ outcome: BlameReport.Outcome) -> BlameReport {
      report.outcome = outcome
      report.replays = replays
      return report
    }
    guard try test(incident.commit) == true else { return finish(.notReproducible) }

    var firstBad: ObjectID?
    if search == .auto { report.search = report.path.count <= BlameSearch.scanLimit(native: runner == nil) ? .scan : .bisect }
    if report.search == .scan {
      for id in report.path where states[id] == nil {
        guard replays < budget else { return finish(.budgetExhausted) }
        _ = try test(id)
      }
      // A parent's effective states: its own, or (untestable) its nearest testable ancestors'.
      func effective(_ id: ObjectID) -> [Bool] {
        if position[id] == nil { return [false] }  // an ancestor of --good
        if let s = states[id] ?? nil { return [s] }
        return (parents[id] ?? []).flatMap(effective)
      }
      for id in report.path where states[id] == true {
        let ps = parents[id] ?? []
        guard !ps.isEmpty, ps.allSatisfy({ effective($0).allSatisfy { !$0 } }) else { continue }
        report.transitions.append((ps[0], id))
        if firstBad == nil { firstBad = id }
      }
      if firstBad == nil {
        // Bad all the way: the oldest bad commit is a root.
        firstBad = report.path.last { states[$0] == true }
        report.firstBad = firstBad
        return finish(.badSinceRoot)
      }
    } else {
      // git bisect over the DAG: `bad` is the newest known bad commit; candidates are its
      // ancestors that are not ancestors of a known good commit.
      var bad = incident.commit
      var goods: Set<ObjectID> = []
      var skipped: Set<ObjectID> = []
      func candidates() -> Set<ObjectID> {
        var c = within(bad)
        for g in goods { c.subtract(within(g)) }
        return c
      }
      while true {
        let c = candidates()
        let open = c.subtracting([bad]).subtracting(skipped)
        if open.isEmpty { break }
        guard replays < budget else { return finish(.budgetExhausted) }
        // The commit that best halves the candidates (ties: the newest).
        let pick = open.max { a, b in
          let sa = min(within(a).intersection(c).count, c.count - within(a).intersection(c).count)
          let sb = min(within(b).intersection(c).count, c.count - within(b).intersection(c).count)
          return sa != sb ? sa < sb : (position[a] ?? 0) > (position[b] ?? 0)
        }!
        switch try test(pick) {
        case true?: bad = pick
        case false?: goods.insert(pick)
        case nil: skipped.insert(pick)
        }
      }
      firstBad = bad
      report.unresolved = report.path.filter { candidates().contains($0) && $0 != bad }
      if (parents[bad] ?? []).isEmpty {
        report.firstBad = bad
        return finish(.badSinceRoot)
      }
    }
    guard let firstBad else { return finish(.badSinceRoot) }
    let ps = parents[firstBad] ?? []
    report.firstBad = firstBad
    report.goodParents = ps
    report.lastGood = ps.first
    guard let lastGood = ps.first else { return finish(.badSinceRoot) }

    // Tensors: which differences carry the failure, between the first bad commit and its good
    // (first) parent.
    let b = try tensorsByName(commit: firstBad)
    let g = try tensorsByName(commit: lastGood)
    let differing = b.keys.filter { g[$0] != nil && g[$0] != b[$0] }.sorted()
    var unitTensors: [(unit: String, tensors: [String])] = differing.map { ($0, [$0]) }
    if units == .layers {
      let grouping = Grouping.detect(Array(b.keys))
      var byUnit: [String: [String]] = [:]
      for n in differing {
        let grp = grouping.group(n)
        byUnit[grp.layer.map { "layer \($0)" } ?? n, default: []].append(n)
      }
      unitTensors = byUnit.map { ($0.key, $0.value) }.sorted { a, b in a.unit.localizedStandardCompare(b.unit) == .orderedAscending }
    }
    let tensorsOf = Dictionary(uniqueKeysWithValues: unitTensors)
    func revert(_ unitNames: [String]) throws -> Bool? {
      try judge(ModelState(commit: firstBad, swapped: unitNames.flatMap { tensorsOf[$0] ?? [] }, donor: lastGood))
    }
    for (unit, names) in unitTensors where replays < budget {
      guard let r = try revert([unit]) else { continue }
      let severity = lastSeverity
      guard let t = try judge(ModelState(commit: lastGood, swapped: names, donor: firstBad)) else { continue }
      report.tensors.append(.init(name: unit, revertFixes: !r, transplantBreaks: t, revertedSeverity: severity, transplantedSeverity: lastSeverity))
    }
    let allUnits = unitTensors.map(\.unit)
    // A unit's effect: how far reverting it lowers the failure's severity plus how far
    // transplanting it raises the parent's (lower key: more of the failure is the unit's).
    let measured = report.tensors.compactMap { t -> (String, Float)? in
      guard let r = t.revertedSeverity, let g = t.transplantedSeverity else { return nil }
      return (t.name, r - g)
    }
    if measured.count == allUnits.count, !allUnits.isEmpty {
      // Effect-ordered search (native runtime): units in order of how much of the failure each
      // carries, by both experiments; the shortest prefix whose reversion stops it (binary search on the
      // prefix length keeps "prefix k fixes, prefix k-1 does not", which needs no monotonicity),
      // then pruned to a 1-minimal set, least effective units tried first.
      let order = measured.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }.map(\.0)
      if replays < budget, try revert(order) == false {
        var fails = 0  // prefix length known not to fix (the empty prefix: the bad commit)
        var fixes = order.count
        while fixes - fails > 1, replays < budget {
          let mid = (fails + fixes) / 2
          if try revert(Array(order.prefix(mid))) == false { fixes = mid } else { fails = mid }
        }
        var set = Array(order.prefix(fixes))
        var pruned = true
        while pruned, set.count > 1, replays < budget {
          pruned = false
          for u in set.reversed() where set.count > 1 && replays < budget {
            let rest = set.filter { $0 != u }
            if try revert(rest) == false {
              set = rest
              pruned = true
            }
          }
        }
        report.minimalSet = set
        report.minimalTensors = set.flatMap { tensorsOf[$0] ?? [] }.sorted()
      }
    } else {
      // ddmin (Zeller), for verdicts without a severity (external runners): shrink the set whose
      // reversion fixes the failure to a 1-minimal one. It starts from the units whose transplant
      // alone breaks the parent when reverting those fixes B: among several 1-minimal sets (a
      // change downstream of the culprit can also block it), this prefers the one both
      // experiments point at.
      var set = allUnits
      let breaking = report.tensors.filter(\.transplantBreaks).map(\.name)
      if !breaking.isEmpty, breaking.count < set.count, replays < budget, try revert(breaking) == false { set = breaking }
      var n = 2
      if replays < budget, try revert(set) == false {
        while set.count > 1, replays < budget {
          let size = (set.count + n - 1) / n
          let chunks = stride(from: 0, to: set.count, by: size).map { Array(set[$0..<min($0 + size, set.count)]) }
          var reduced = false
          for c in chunks where replays < budget {
            if try revert(c) == false {
              set = c
              n = 2
              reduced = true
              break
            }
          }
          if !reduced {
            for c in chunks where chunks.count > 2 && replays < budget {
              let complement = set.filter { !c.contains($0) }
              if try revert(complement) == false {
                set = complement
                n = max(n - 1, 2)
                reduced = true
                break
              }
            }
          }
          if !reduced {
            if n >= set.count { break }
            n = min(2 * n, set.count)
          }
        }
        report.minimalSet = set
        report.minimalTensors = set.flatMap { tensorsOf[$0] ?? [] }.sorted()
      }
    }
    var parentData = Set<String>()
    for p in ps { parentData.formUnion(try commit(p).data.map(\.digest)) }
    report.dataAdded = try commit(firstBad).data.filter { !parentData.contains($0.digest) }
    if var options = attribution, !report.dataAdded.isEmpty {
      if runner != nil {
        report.attributionUnavailable = "data attribution needs the native runtime (per-example gradients)"
      } else {
        options.threads = threads
        do { report.attribution = try attributeData(incident: incident, firstBad: firstBad, lastGood: lastGood, options: options) } catch {
          report.attributionUnavailable = "\(error)"
        }
      }
    }
    report.impact = try descendants(of: firstBad.hex).descendants.map(\.id)
    return finish(.blamed)
  }

  /// The report as a record's `params.blame` (Docs/Blame.md, "Blame records").
  public static func blameParams(_ r: BlameReport, incident: Incident) -> JSONValue {
    func ids(_ list: [ObjectID]) -> JSONValue { .array(list.map { .string($0.hex) }) }
    var fields: [(String, JSONValue)] = [
      ("incident", .string(incident.record.hex)), ("outcome", .string(r.outcome.rawValue)), ("runner", .string(r.runner)),
      ("search", .string(r.search.rawValue)), ("units", .string(r.units.rawValue)), ("replays", .number(String(r.replays))),
      ("searched", .number(String(r.path.count))),
      (
        "tested",
        .array(
          r.tested.map {
            .object([("commit", .string($0.commit.hex)), ("state", .string($0.bad.map { $0 ? "bad" : "good" } ?? "untestable"))])
          })
      ),
    ]
    if let b = r.firstBad { fields.append(("first_bad", .string(b.hex))) }
    fields += [
      ("good_parents", ids(r.goodParents)), ("unresolved", ids(r.unresolved)),
      ("transitions", .array(r.transitions.map { .object([("good", .string($0.good.hex)), ("bad", .string($0.bad.hex))]) })),
      (
        "units_tested",
        .array(
          r.tensors.map {
            .object(
              [("name", .string($0.name)), ("revert_fixes", .bool($0.revertFixes)), ("transplant_breaks", .bool($0.transplantBreaks))]
                + ($0.revertedSeverity.map { [("reverted_severity", JSONValue.string(String(format: "%.6g", Double($0))))] } ?? [])
                + ($0.transplantedSeverity.map { [("transplanted_severity", JSONValue.string(String(format: "%.6g", Double($0))))] } ?? []))
          })
      ),
      ("minimal_set", .array(r.minimalSet.map(JSONValue.string))), ("minimal_tensors", .array(r.minimalTensors.map(JSONValue.string))),
      ("data_added", .array(r.dataAdded.map { .object([("uri", .string($0.uri)), ("role", .string($0.role)), ("digest", .string($0.digest))]) })),
      ("impact", ids(r.impact)),
    ]
    if let a = r.attribution {
      // Scores are reals: decimal strings, as canonical records hold integers only.
      var data: [(String, JSONValue)] = [
        ("failure_loss", .string(a.failureLoss)),
        (
          "sources",
          .array(
            a.sources.map { s in
              var f: [(String, JSONValue)] = [("uri", .string(s.source.uri)), ("digest", .string(s.source.digest))]
              if let u = s.unavailable { f.append(("unavailable", .string(u))) }
              if let rank = s.rank {
                f += [
                  ("rank", .number(String(rank))), ("examples", .number(String(s.scored))), ("mean", .string(String(format: "%.6g", s.mean))),
                  ("sum", .string(String(format: "%.6g", s.sum))), ("positive_fraction", .string(String(format: "%.4f", s.positiveFraction))),
                ]
              }
              return .object(f)
            })
        ),
      ]
      if let c = a.confirmation {
        data.append(
          (
            "leave_one_out",
            .object([
              ("control_bit_exact", .bool(c.controlBitExact)), ("retrains", .number(String(c.retrains))),
              (
                "removals",
                .array(
                  c.removals.map {
                    .object([
                      ("digest", .string($0.source.digest)),
                      ("failure", .string($0.failureHolds.map { $0 ? "holds" : "stops" } ?? "untested")),
                    ])
                  })
              ),
            ])
          ))
      } else if let why = a.confirmationUnavailable {
        data.append(("leave_one_out_unavailable", .string(why)))
      }
      fields.append(("data_attribution", .object(data)))
    } else if let why = r.attributionUnavailable {
      fields.append(("data_attribution_unavailable", .string(why)))
    }
    return .object([("blame", .object(fields))])
  }

  /// Store a blame report as a signed record on `refs/blame` (Docs/Blame.md); `lineage show`
  /// prints it.
  public func recordBlame(
    _ r: BlameReport, incident: Incident, author: String, time: Int64, key: SSHPrivateKey?
  ) throws -> ObjectID {
    let summary = r.firstBad.map { "blame \(incident.record.short): \(r.outcome.rawValue), first bad \($0.short)" }
      ?? "blame \(incident.record.short): \(r.outcome.rawValue)"
    return try appendRecord(
      to: Self.blameRef, role: "blame-log", message: summary, params: Self.blameParams(r, incident: incident), author: author,
      time: time, key: key, operation: "blame")
  }

  /// The newest blame record, if any.
  public func blameHead() throws -> ObjectID? { try wrap { try store.refs.read(Self.blameRef) } }

  /// `ids` ordered children before parents (ties: the order given).
  private func newestFirst(_ ids: [ObjectID], parents: [ObjectID: [ObjectID]]) throws -> [ObjectID] {
    let set = Set(ids)
    var children: [ObjectID: Int] = [:]
    for id in ids { for p in parents[id] ?? [] where set.contains(p) { children[p, default: 0] += 1 } }
    var ready = ids.filter { children[$0, default: 0] == 0 }
    var out: [ObjectID] = []
    while !ready.isEmpty {
      let id = ready.removeFirst()
      out.append(id)
      for p in parents[id] ?? [] where set.contains(p) {
        children[p, default: 0] -= 1
        if children[p] == 0 { ready.append(p) }
      }
    }
    return out
  }
}

/// A candidate fix written by `blame --emit-fix` (Docs/Blame.md).
public struct FixReport: Sendable {
  public var directory: String
  /// The tensors whose first-bad change was subtracted.
  public var tensors: [String]
  /// Incidents recorded on the same commit (this one included) and whether each still
  /// reproduces on the fixed model.
  public var incidents: [(record: ObjectID, before: Bool, after: Bool)]
  /// Accuracy on the probe set before and after the fix, when one is given.
  public var probeAccuracy: (before: Double, after: Double)?

  /// The share of incidents that reproduced before and do not after.
  public var flipRate: Double {
    let before = incidents.filter(\.before)
    return before.isEmpty ? 0 : Double(before.filter { !$0.after }.count) / Double(before.count)
  }
}

extension Repository {
  /// Write a candidate fixed checkpoint: the incident's model with the first bad commit's change
  /// subtracted on the minimal set (`fixed = incident − (bad − good)` per tensor, so later
  /// changes to those tensors are kept), then measure it on the incidents of the same commit and
  /// on a probe set. Native runtime only; the directory is written, not committed.
  public func emitFix(
    _ report: BlameReport, incident: Incident, to directory: String, probeSet: NamedBytes? = nil, threads: Int = 1
  ) throws -> FixReport {
    guard report.outcome == .blamed, let b = report.firstBad, let g = report.lastGood, !report.minimalTensors.isEmpty else {
      throw KitError.runtime(what: "--emit-fix", reason: "blame found no first bad commit with a minimal tensor set to revert")
    }
    guard !FileManager.default.fileExists(atPath: directory) else { throw KitError.outputExists(path: directory) }
    let current = try runnableModel(revision: incident.commit.hex)
    let bad = try runnableModel(revision: b.hex).parameters
    let good = try runnableModel(revision: g.hex).parameters
    var fixed = current.parameters
    for t in report.minimalTensors {
      guard let i = fixed.tensor(t), let bv = bad.tensor(t), let gv = good.tensor(t), i.count == bv.count, bv.count == gv.count else {
        throw KitError.runtime(what: "--emit-fix", reason: "tensor \(t) is missing or has another size in one of the three models")
      }
      fixed.setTensor(t, (0..<i.count).map { i[$0] - (bv[$0] - gv[$0]) })
    }
    let model = try runtime("--emit-fix") { try Model(current.architecture, threads: threads) }
    var out = FixReport(directory: directory, tensors: report.minimalTensors, incidents: [], probeAccuracy: nil)
    for sibling in try incidents() where sibling.commit == incident.commit && sibling.oracle != .external {
      guard let check = try? failureCheck(sibling, architecture: current.architecture) else { continue }
      let before = try runtime("--emit-fix") { try check.run(model, current.parameters).holds }
      let after = try runtime("--emit-fix") { try check.run(model, fixed).holds }
      out.incidents.append((sibling.record, before, after))
    }
    if let probeSet {
      let (batch, targets) = try RuntimeInput.parse(probeSet, for: current.architecture, what: "probe set")
      guard let targets else { throw KitError.runtime(what: "probe set", reason: "its rows have no targets") }
      let before = try runtime("--emit-fix") { try model.evaluate(current.parameters, batch, targets: targets).accuracy }
      let after = try runtime("--emit-fix") { try model.evaluate(fixed, batch, targets: targets).accuracy }
      out.probeAccuracy = (before, after)
    }
    try RunnableModel(label: "fix", architecture: current.architecture, parameters: fixed).write(
      to: directory, metadata: [("lineage.fix_of", incident.commit.hex), ("lineage.reverted_from", b.hex)])
    return out
  }
}
