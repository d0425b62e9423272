import Foundation
import LineageCore
import LineageForensics

/// A model of `infer --all` and where it is stored.
public struct ForestMember: Sendable {
  public var commit: ObjectID
  /// Branches and tags naming the commit (tags as "tag: NAME").
  public var refs: [String]
  /// The model's first file in the commit's tree.
  public var path: String
}

/// The forest `infer --all` recovered, with its members' commits.
public struct ForestReport: Sendable {
  public var members: [ForestMember]
  public var forest: ForestResult
  /// Whether declared parents and commit times were used as direction priors.
  public var priors: Bool
}

extension Repository {
  /// Recover the forest/DAG over stored models from their weights (Docs/Forensics.md,
  /// "infer --all"): the models of `revisions`, or by default of every commit a branch or tag
  /// names whose top-level files hold a readable model. With `priors`, the members' declared
  /// parents and commit times weigh on the direction; without, weights alone decide.
  public func inferForest(
    revisions: [String]? = nil, priors: Bool = true, options: ForestOptions = ForestOptions(), progress: ProgressSink = SilentProgress()
  ) throws -> ForestReport {
    let ids = try revisions.map { try $0.map { try resolve($0) } } ?? allRefTargets()
    let names = try refNames()
    var seen = Set<ObjectID>()
    var members: [ForestMember] = []
    var models: [ModelTensors] = []
    for id in ids where seen.insert(id).inserted {
      // Commits without a readable model at the top level (records, code-only commits, opaque
      // files) are not members.
      guard var m = try? modelTensors(revision: id.hex), let first = m.items.first else { continue }
      let refs = (names[id] ?? []).sorted()
      let tags = refs.filter { $0.hasPrefix("tag: ") }.map { String($0.dropFirst(5)) }
      m.label = tags.first ?? refs.first ?? id.short
      members.append(ForestMember(commit: id, refs: refs, path: first.file))
      models.append(m)
    }
    guard models.count >= 2 else { throw KitError.forensics("infer --all needs at least two stored models, found \(models.count)") }
    var o = options
    if priors {
      let index = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.commit, $0) })
      var declared: [DeclaredEdge] = []
      var times: [Int64?] = []
      for (child, m) in members.enumerated() {
        let record = try commit(m.commit)
        times.append(record.time)
        declared += record.parents.compactMap { p in index[p.id].map { DeclaredEdge(parent: $0, child: child) } }
      }
      o.declared = declared
      o.times = times
    } else {
      o.declared = []
      o.times = []
    }
    var phase = ""
    defer { if !phase.isEmpty { progress.end() } }
    do {
      let forest = try ForestInference.run(models: models, options: o) { label, done, total in
        if label != phase || done == 1 {
          if !phase.isEmpty { progress.end() }
          phase = label
          progress.begin(label, total: UInt64(total), unit: .items)
        }
        progress.advance(1)
        _ = done
      }
      return ForestReport(members: members, forest: forest, priors: priors)
    } catch let e as ForensicsError {
      throw KitError.forensics(e.description)
    }
  }
}
