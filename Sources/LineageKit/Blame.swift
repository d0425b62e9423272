import Foundation
import LineageCore
import LineageRuntime

/// How `blame` searches history.
public enum BlameSearch: String, Sendable {
  /// Replay every commit on the path (the blame curve); every good→bad transition is reported.
  case scan
  /// Binary search on the path for the first bad commit (assumes bad stays bad).
  case bisect
}

/// What `blame` found (Docs/Blame.md).
public struct BlameReport: Sendable {
  public enum Outcome: String, Sendable {
    case blamed
    /// The incident does not reproduce at its own commit.
    case notReproducible = "not-reproducible"
    /// Every testable commit on the path is bad, back to the root (or to --good, which is bad).
    case badSinceRoot = "bad-since-root"
    /// The replay budget ran out before an answer.
    case budgetExhausted = "budget-exhausted"
  }
  public struct TensorEffect: Sendable {
    public var name: String
    /// Putting the good parent's tensor into the first bad model stops the failure.
    public var revertFixes: Bool
    /// Putting the first bad model's tensor into the good parent starts the failure.
    public var transplantBreaks: Bool
  }
  public var outcome: Outcome
  /// The first-parent path from the incident's commit back to the root or --good, newest first.
  public var path: [ObjectID]
  /// Each replayed commit and whether the failure holds there (nil: untestable).
  public var tested: [(commit: ObjectID, bad: Bool?)]
  public var firstBad: ObjectID?
  public var lastGood: ObjectID?
  /// Scan only: every (good, bad) pair of neighbours on the path.
  public var transitions: [(good: ObjectID, bad: ObjectID)]
  public var tensors: [TensorEffect]
  /// A 1-minimal set of tensors whose reversion to the good parent stops the failure (ddmin).
  public var minimalSet: [String]
  /// Data the first bad commit lists that its good parent does not.
  public var dataAdded: [DataRef]
  /// Commits that inherit from the first bad commit.
  public var impact: [ObjectID]
  /// Replays run (each one a forward pass on a content-addressed or hybrid state).
  public var replays: Int
}

extension Repository {
  /// Replay an incident against history and attribute it (Docs/Blame.md).
  public func blame(
    _ incident: Incident, good: String? = nil, search: BlameSearch = .bisect, budget: Int = 64, threads: Int = 1
  ) throws -> BlameReport {
    let goodID = try good.map { try resolve($0) }
    var replays = 0
    var cache: [ObjectID: RunnableModel?] = [:]
    let architecture = try runnableModel(revision: incident.commit.hex).architecture
    let (batch, _) = try RuntimeInput.parse(Array(incident.input.utf8), for: architecture, what: "incident input")
    let model = try runtime("blame") { try Model(architecture, threads: threads) }
    func load(_ id: ObjectID) -> RunnableModel? {
      if let m = cache[id] { return m }
      let m = (try? runnableModel(revision: id.hex)).flatMap { $0.architecture == architecture ? $0 : nil }
      cache[id] = m
      return m
    }
    func bad(_ p: Parameters) throws -> Bool {
      replays += 1
      return try runtime("blame") { try incident.oracle.holds(try model.forward(p, batch), rows: batch.rows) }
    }
    var report = BlameReport(
      outcome: .blamed, path: [], tested: [], firstBad: nil, lastGood: nil, transitions: [], tensors: [], minimalSet: [], dataAdded: [],
      impact: [], replays: 0)
    // The first-parent path, newest first, ending at --good or the root.
    var at: ObjectID? = incident.commit
    while let id = at {
      report.path.append(id)
      if id == goodID { break }
      at = try commit(id).parents.first?.id
    }
    func test(_ k: Int) throws -> Bool? {
      if let t = report.tested.first(where: { $0.commit == report.path[k] }) { return t.bad }
      guard let m = load(report.path[k]) else {
        report.tested.append((report.path[k], nil))
        return nil
      }
      let b = try bad(m.parameters)
      report.tested.append((report.path[k], b))
      return b
    }
    guard try test(0) == true else {
      report.outcome = .notReproducible
      report.replays = replays
      return report
    }
    // Indices on the path of the first bad commit and the next older testable commit, good.
    var found: (bad: Int, good: Int)?
    switch search {
    case .scan:
      var states: [Bool?] = []
      for k in report.path.indices {
        guard replays < budget else {
          report.outcome = .budgetExhausted
          break
        }
        states.append(try test(k))
      }
      // Transitions between neighbouring testable commits (untestable ones are skipped).
      let known = states.indices.compactMap { k in states[k].map { (k, $0) } }
      for (newer, older) in zip(known, known.dropFirst()) where newer.1 && !older.1 {
        report.transitions.append((report.path[older.0], report.path[newer.0]))
        if found == nil { found = (newer.0, older.0) }
      }
    case .bisect:
      // Invariant: path[lo] is bad; path[good] (when set) is good; indices in (lo, hi) unknown.
      var lo = 0
      var hi = report.path.count
      var good: Int?
      while hi - lo > 1 {
        guard replays < budget else {
          report.outcome = .budgetExhausted
          break
        }
        // The testable commit nearest the middle of (lo, hi), looking older first.
        var probe = (lo + hi) / 2
        var state = try test(probe)
        while state == nil, probe + 1 < hi {
          probe += 1
          state = try test(probe)
        }
        switch state {
        case true?: lo = probe
        case false?:
          hi = probe
          good = probe
        case nil: hi = (lo + hi) / 2  // everything older than the middle is untestable
        }
      }
      if report.outcome != .budgetExhausted, let good { found = (lo, good) }
    }
    guard report.outcome != .budgetExhausted else {
      report.replays = replays
      return report
    }
    guard let (k, g) = found else {
      report.outcome = .badSinceRoot
      report.replays = replays
      return report
    }
    let firstBad = report.path[k]
    let lastGood = report.path[g]
    report.firstBad = firstBad
    report.lastGood = lastGood
    // Tensors: which differences carry the failure.
    if let b = load(firstBad)?.parameters, let g = load(lastGood)?.parameters {
      let differing = b.layout.specs.filter { b.tensor($0.name) != g.tensor($0.name) }.map(\.name)
      func revert(_ names: [String]) -> Parameters {
        var h = b
        for n in names { h.setTensor(n, g.tensor(n) ?? []) }
        return h
      }
      for n in differing where replays < budget {
        var t = g
        t.setTensor(n, b.tensor(n) ?? [])
        report.tensors.append(.init(name: n, revertFixes: try !bad(revert([n])), transplantBreaks: try bad(t)))
      }
      // ddmin (Zeller): shrink the set whose reversion fixes the failure to a 1-minimal one.
      var set = differing
      var n = 2
      if try !bad(revert(set)) {
        while set.count > 1, replays < budget {
          let size = (set.count + n - 1) / n
          let chunks = stride(from: 0, to: set.count, by: size).map { Array(set[$0..<min($0 + size, set.count)]) }
          var reduced = false
          for c in chunks where replays < budget {
            if try !bad(revert(c)) {
              set = c
              n = 2
              reduced = true
              break
            }
          }
          if !reduced {
            for c in chunks where chunks.count > 2 && replays < budget {
              let complement = set.filter { !c.contains($0) }
              if try !bad(revert(complement)) {
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
      }
    }
    let parentData = Set(try commit(lastGood).data.map(\.digest))
    report.dataAdded = try commit(firstBad).data.filter { !parentData.contains($0.digest) }
    report.impact = try descendants(of: firstBad.hex).descendants.map(\.id)
    report.replays = replays
    return report
  }
}
