import Foundation
import LineageCore
import LineageForensics
import LineageStore

extension Repository {
  /// Build an empirical null from N ≥ 3 independent models of one architecture: every unordered
  /// pair compared, its pair statistics kept (Docs/Forensics.md, "Empirical nulls"). `architecture`
  /// names it (default: the grouping and the tensor signature's first 12 hex digits).
  public static func buildNull(
    _ models: [ModelTensors], architecture: String? = nil, grouping: Grouping = .auto, progress: ProgressSink = SilentProgress()
  ) throws -> NullModel {
    progress.begin("Comparing pairs", total: UInt64(max(models.count * (models.count - 1) / 2, 0)), unit: .items)
    defer { progress.end() }
    do {
      return try NullModel.build(models, architecture: architecture, grouping: grouping) { _, _ in progress.advance(1) }
    } catch let e as ForensicsError {
      throw KitError.forensics(e.description)
    }
  }

  /// Compare `a` and `b` and place each pair statistic within `null`: empirical add-one p-values,
  /// z-scores, and the analytic unit-matching p-value (Docs/Forensics.md, "Scoring").
  public static func score(
    _ a: ModelTensors, _ b: ModelTensors, null: NullModel, progress: ProgressSink = SilentProgress()
  ) throws -> NullScore {
    progress.begin("Comparing", total: UInt64(a.items.count), unit: .items)
    defer { progress.end() }
    do {
      return try null.score(a, b) { _, _ in progress.advance(1) }
    } catch let e as ForensicsError {
      throw KitError.forensics(e.description)
    }
  }
}

/// One `infer` candidate scored against an empirical null (`infer --null`).
public struct MatchScore: Sendable {
  public var commit: ObjectID
  /// The pair statistics of the query and the candidate against the null; nil when not scored.
  public var score: NullScore?
  /// Why the candidate was not scored (another tensor signature than the null's).
  public var unavailable: String?
  /// The unit-matching statistic's place in the null (`unit_neg_log_p`), the one `infer`'s
  /// analytic p-value comes from.
  public var units: NullScore.Statistic? { score?.statistics.first { $0.name == .unitNegLogP } }
}

extension Repository {
  /// Score each match's candidate (its stored tensors) with the query against `null`: the
  /// empirical calibration of `infer`'s relatedness (Docs/Forensics.md, "Scoring"). A candidate
  /// of another tensor signature than the null's is reported with the reason, not scored.
  public func scoreMatches(_ query: ModelTensors, _ matches: [InferenceMatch], null: NullModel, progress: ProgressSink = SilentProgress()) throws
    -> [MatchScore]
  {
    progress.begin("Scoring against the null", total: UInt64(matches.count), unit: .items)
    defer { progress.end() }
    return try matches.map { m in
      defer { progress.advance(1) }
      let candidate = try modelTensors(revision: m.commit.hex)
      do {
        return MatchScore(commit: m.commit, score: try null.score(query, candidate) { _, _ in }, unavailable: nil)
      } catch let e as ForensicsError {
        return MatchScore(commit: m.commit, score: nil, unavailable: e.description)
      }
    }
  }
}

extension NullModel {
  /// The file a null directory holds.
  public static let fileName = "null.json"

  /// Write `directory/null.json` (the directory created if missing); returns its path.
  public func write(to directory: String) throws -> String {
    do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
      throw KitError.io(operation: "create directory", path: directory, message: error.localizedDescription)
    }
    let path = "\(directory)/\(Self.fileName)"
    // Temporary file, then rename: a reader (or a second build) never sees half a null.
    let out = try Fixtures.Output(path: path)
    try out.write(encoded())
    try out.finish()
    return path
  }

  /// Read and check a null from `path`: a directory holding `null.json`, or the file itself.
  public static func load(from path: String) throws -> NullModel {
    var file = path
    if case .directory = entryKind(path) { file = "\(path)/\(fileName)" }
    if case .missing = entryKind(file) { throw KitError.pathNotFound(file) }
    let bytes: [UInt8]
    do { bytes = try POSIX.readWholeFile(file) } catch {
      throw KitError.io(operation: "read", path: file, message: "\(error)")
    }
    do { return try decode(bytes) } catch { throw KitError.nullModel(path: file, reason: error.description) }
  }
}
