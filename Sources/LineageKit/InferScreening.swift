import Foundation
import LineageCore
import LineageForensics

/// How `infer` narrows the candidates before testing them in full.
public struct ScreeningOptions: Sendable {
  /// Candidates tested in full after ranking by sketch.
  public var shortlist = 8
  public init(shortlist: Int = 8) { self.shortlist = shortlist }
}

/// One candidate's rank by sketch.
public struct ScreenedModel: Sendable {
  public var commit: ObjectID
  public var label: String
  public var estimate: SketchEstimate
  /// Chosen for the full test.
  public var shortlisted: Bool
}

/// `infer` through stored sketches: the matches of the shortlisted candidates, and what was
/// screened (Docs/Forensics.md, "Screening by sketch").
public struct ScreenedInference: Sendable {
  public var matches: [InferenceMatch]
  /// Candidates ranked by sketch alone (stored models sharing a tensor name with the query).
  public var screened: [ScreenedModel]
  /// Candidates tested in full.
  public var testedInFull: Int
  /// Candidate models that had no stored sketch and were sketched from their tensors now.
  public var sketchedNow: Int
  /// Seconds spent sketching the query (reading it included), ranking, and testing in full.
  public var querySeconds: Double
  public var screeningSeconds: Double
  public var fullTestSeconds: Double
}

/// The ranking of every candidate by sketch (the first half of `inferScreened`).
public struct SketchScreen: Sendable {
  /// Candidates ranked by sketch alone (stored models sharing a tensor name with the query),
  /// the shortlisted ones marked.
  public var screened: [ScreenedModel]
  /// Candidate models that had no stored sketch and were sketched from their tensors now.
  public var sketchedNow: Int
  /// Seconds spent reading and sketching the query, and ranking the candidates.
  public var querySeconds: Double
  public var screeningSeconds: Double
}

extension Repository {
  /// Rank the stored models (or `among`) against `query` by sketch alone and mark the
  /// shortlist (Docs/Forensics.md, "Screening by sketch").
  public func screen(
    _ query: ModelTensors, among: [String]? = nil, excluding: ObjectID? = nil, screening: ScreeningOptions = ScreeningOptions()
  ) throws -> SketchScreen {
    func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    let t0 = now()
    let sketcher = Sketcher()
    let querySketch: ModelSketch
    do { querySketch = try sketcher.sketch(query) } catch let e as ForensicsError { throw KitError.forensics(e.description) }
    let q = Screening.Query(querySketch)
    let t1 = now()
    let ids: [ObjectID]
    if let among {
      ids = try among.map { try resolve($0) }
    } else {
      ids = try ancestry(from: try allRefTargets()).map(\.id)
    }
    let index = try sketchIndex()
    let names = try refNames()
    var byTree: [ObjectID: ModelSketch] = [:]
    var seen = Set<ObjectID>()
    var screened: [ScreenedModel] = []
    var sketchedNow = 0
    for id in ids where id != excluding && seen.insert(id).inserted {
      let tree = try commit(id).tree
      let sketch: ModelSketch
      if let s = byTree[tree] {
        sketch = s
      } else if let file = index[tree] {
        sketch = try storedSketch(file)
        byTree[tree] = sketch
      } else {
        sketch = try computeSketch(commit: id, sketcher: sketcher)
        byTree[tree] = sketch
        sketchedNow += 1
      }
      guard !sketch.tensors.isEmpty, Screening.sharesNames(q, sketch) else { continue }
      let tags = (names[id] ?? []).filter { $0.hasPrefix("tag: ") }.map { String($0.dropFirst(5)) }
      let label = tags.isEmpty ? id.short : "\(tags.joined(separator: ",")) (\(id.short))"
      screened.append(ScreenedModel(commit: id, label: label, estimate: Screening.estimate(q, sketch), shortlisted: false))
    }
    for i in Screening.shortlist(screened.map(\.estimate), size: screening.shortlist) { screened[i].shortlisted = true }
    return SketchScreen(
      screened: screened, sketchedNow: sketchedNow, querySeconds: Double(t1 - t0) / 1e9, screeningSeconds: Double(now() - t1) / 1e9)
  }

  /// Infer how `query` relates to the stored models, reading only their sketches, then testing
  /// the `screening.shortlist` best by sketch in full with `Infer.run`. The relatedness test is
  /// Holm-corrected over every screened candidate, not only the shortlist, so screening does not
  /// make chance relatives likelier.
  public func inferScreened(
    _ query: ModelTensors, among: [String]? = nil, excluding: ObjectID? = nil, options: InferOptions = InferOptions(),
    screening: ScreeningOptions = ScreeningOptions(), progress: ProgressSink = SilentProgress()
  ) throws -> ScreenedInference {
    let s = try screen(query, among: among, excluding: excluding, screening: screening)
    let t2 = DispatchTime.now().uptimeNanoseconds
    var candidates: [ModelTensors] = []
    var commits: [String: ObjectID] = [:]
    for c in s.screened where c.shortlisted {
      var m = try modelTensors(revision: c.commit.hex)
      m.label = c.label
      commits[m.label] = c.commit
      candidates.append(m)
    }
    let below = try excluding.map { own in Set(try descendants(of: own.hex).descendants.map(\.id)) } ?? []
    let descendantLabels = Set(commits.filter { below.contains($0.value) }.map(\.key))
    var full = options
    full.hypotheses = max(full.hypotheses, s.screened.count)
    progress.begin("Comparing", total: UInt64(candidates.count), unit: .items)
    defer { progress.end() }
    let matches: [InferenceMatch]
    do {
      matches = try Infer.run(query: query, candidates: candidates, descendants: descendantLabels, options: full) { _, _ in
        progress.advance(1)
      }.compactMap { c in commits[c.label].map { InferenceMatch(commit: $0, candidate: c) } }
    } catch let e as ForensicsError {
      throw KitError.forensics(e.description)
    }
    return ScreenedInference(
      matches: matches, screened: s.screened, testedInFull: candidates.count, sketchedNow: s.sketchedNow, querySeconds: s.querySeconds,
      screeningSeconds: s.screeningSeconds, fullTestSeconds: Double(DispatchTime.now().uptimeNanoseconds - t2) / 1e9)
  }
}
