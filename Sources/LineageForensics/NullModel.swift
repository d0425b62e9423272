import Foundation
import LineageCore
import LineageNative

/// An empirical null: the pair statistics of every unordered pair of N ≥ 3 independent models of
/// one architecture, against which a pair is scored (Docs/Forensics.md, "Empirical nulls"; the
/// file format `lineage-null/1` is normative there).
public struct NullModel: Equatable, Sendable {
  /// One compared pair of the null's models.
  public struct Pair: Equatable, Sendable {
    /// Indices into `models`, a < b.
    public var a: Int
    public var b: Int
    public var statistics: PairStatistics

    public init(a: Int, b: Int, statistics: PairStatistics) {
      self.a = a
      self.b = b
      self.statistics = statistics
    }
  }

  /// The format this version reads and writes.
  public static let format = "lineage-null/1"
  /// The fewest models a null is built from (3 models give 3 pairs).
  public static let minimumModels = 3

  /// A name for the architecture (given, or the grouping and the signature's first 12 hex digits).
  public var architecture: String
  /// The tensor signature every model shares (`TensorSignature`).
  public var signature: String
  /// The grouping every comparison used (never `auto`).
  public var grouping: Grouping
  /// The statistic names, in the fixed order of `PairStatistics.Name`.
  public var statistics: [PairStatistics.Name]
  /// The models' labels.
  public var models: [String]
  /// Every unordered pair of `models` exactly once, in the order (0,1), (0,2), …, (1,2), ….
  public var pairs: [Pair]

  public init(
    architecture: String, signature: String, grouping: Grouping, statistics: [PairStatistics.Name], models: [String], pairs: [Pair]
  ) {
    self.architecture = architecture
    self.signature = signature
    self.grouping = grouping
    self.statistics = statistics
    self.models = models
    self.pairs = pairs
  }

  /// Compare every unordered pair of `models` (all of one tensor signature, at least
  /// `minimumModels`). `grouping` `auto` is resolved once from the first model's names.
  /// `progress(done, total)` after each pair.
  public static func build(
    _ models: [ModelTensors], architecture: String? = nil, grouping: Grouping = .auto, progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> NullModel {
    guard models.count >= minimumModels, let first = models.first else {
      throw ForensicsError.tooFewModels(minimum: minimumModels, count: models.count)
    }
    let signature = TensorSignature.of(first)
    for model in models.dropFirst() where TensorSignature.of(model) != signature {
      let (tensor, reason) =
        TensorSignature.firstDifference(model, from: first) ?? ("", "repeats a tensor name the first model has once (or the reverse)")
      throw ForensicsError.architectureMismatch(model: model.label, tensor: tensor, reason: reason)
    }
    let resolved = grouping == .auto ? Grouping.detect(first.items.map(\.entry.name)) : grouping
    var options = CompareOptions()
    options.grouping = resolved
    let total = models.count * (models.count - 1) / 2
    var pairs: [Pair] = []
    for i in models.indices {
      for j in (i + 1)..<models.count {
        let c = try Compare.run(models[i], models[j], options: options)
        pairs.append(Pair(a: i, b: j, statistics: PairStatistics(c)))
        progress(pairs.count, total)
      }
    }
    let name = architecture.flatMap { $0.isEmpty ? nil : $0 } ?? "\(resolved.rawValue)-\(signature.prefix(12))"
    return NullModel(
      architecture: name, signature: signature, grouping: resolved, statistics: PairStatistics.Name.allCases, models: models.map(\.label),
      pairs: pairs)
  }

  /// The null's values of one statistic: the pairs where it is present, in pair order.
  public func values(of name: PairStatistics.Name) -> [Double] {
    pairs.compactMap { $0.statistics[name] }
  }

  /// Compare `a` and `b` (both of the null's signature) with the null's grouping and place each
  /// pair statistic within the null (Docs/Forensics.md, "Scoring"). `progress(done, total)` after
  /// each tensor.
  public func score(_ a: ModelTensors, _ b: ModelTensors, progress: (Int, Int) -> Void = { _, _ in }) throws -> NullScore {
    for model in [a, b] {
      let found = TensorSignature.of(model)
      guard found == signature else { throw ForensicsError.signatureMismatch(model: model.label, expected: signature, found: found) }
    }
    var options = CompareOptions()
    options.grouping = grouping
    let comparison = try Compare.run(a, b, options: options, progress: progress)
    let observed = PairStatistics(comparison)
    var scored: [NullScore.Statistic] = []
    for name in statistics {
      let values = values(of: name)
      var s = NullScore.Statistic(name: name, observed: observed[name], nullSize: values.count)
      if !values.isEmpty {
        let null = try EmpiricalNull(scores: values)
        s.nullMean = null.mean
        s.nullStandardDeviation = values.count > 1 ? null.standardDeviation : nil
        s.smallestPValue = 1 / Double(values.count + 1)
        if let x = observed[name] { s.summary = try null.summary(of: x, tail: .upper) }
      }
      if name == .unitNegLogP, let f = comparison.combined {
        s.analyticPValue = f.pValue
        s.analyticLogP = f.logP
      }
      scored.append(s)
    }
    return NullScore(a: a.label, b: b.label, null: self, statistics: scored, comparison: comparison)
  }
}

/// How a pair stands against an empirical null (Docs/Forensics.md, "Scoring").
public struct NullScore: Sendable {
  /// One statistic of the scored pair against the null's values of it.
  public struct Statistic: Equatable, Sendable {
    public var name: PairStatistics.Name
    /// The pair's value; nil when absent (nothing to average).
    public var observed: Double?
    /// N: the null pairs where the statistic is present.
    public var nullSize: Int
    /// Mean of the null's values; nil when N = 0.
    public var nullMean: Double?
    /// Sample standard deviation (denominator N − 1); nil when N < 2.
    public var nullStandardDeviation: Double?
    /// The empirical p-value (1 + k)/(N + 1), k, and the z-score; nil when the pair's value or
    /// every null value is absent.
    public var summary: EmpiricalNull.Summary?
    /// 1/(N + 1), the smallest p-value this null can give; nil when N = 0.
    public var smallestPValue: Double?
    /// For `unit_neg_log_p`: the Fisher-combined unit-matching p-value under independent
    /// initialisation (no null needed) and its natural log, finite where the p-value underflows.
    public var analyticPValue: Double?
    public var analyticLogP: Double?

    public init(name: PairStatistics.Name, observed: Double?, nullSize: Int) {
      self.name = name
      self.observed = observed
      self.nullSize = nullSize
    }
  }

  public var a: String
  public var b: String
  /// The null scored against.
  public var null: NullModel
  /// In the null's statistic order.
  public var statistics: [Statistic]
  /// The comparison of A and B the statistics came from.
  public var comparison: Comparison
}

/// A model's tensor names and shapes as one SHA-256 (Docs/Forensics.md, "Tensor signature").
public enum TensorSignature {
  /// Lowercase hex SHA-256 over the sorted lines `NAME:D0xD1x…\n`; dtypes are not part of it.
  public static func of(_ model: ModelTensors) -> String {
    let lines = model.items.map { "\($0.entry.name):\($0.entry.shape.map(String.init).joined(separator: "x"))\n" }
    // Bytewise order, so the digest does not depend on the platform's string collation.
    let sorted = lines.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
    let hasher = SHA256Hasher()
    for line in sorted { hasher.update(line) }
    return hasher.finalize().hex
  }

  /// The first tensor (in bytewise name order) whose presence or shape differs between `model`
  /// and `reference`, and how; nil when names and shapes agree.
  public static func firstDifference(_ model: ModelTensors, from reference: ModelTensors) -> (tensor: String, reason: String)? {
    let mine = Dictionary(model.items.map { ($0.entry.name, $0.entry.shape) }, uniquingKeysWith: { x, _ in x })
    let theirs = Dictionary(reference.items.map { ($0.entry.name, $0.entry.shape) }, uniquingKeysWith: { x, _ in x })
    func shape(_ s: [UInt64]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
    let names = Set(mine.keys).union(theirs.keys).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    for name in names {
      switch (theirs[name], mine[name]) {
      case (let r?, let m?) where r != m: return (name, "has shape \(shape(m)), not \(shape(r)) as in \(reference.label)")
      case (.some, nil): return (name, "is missing (\(reference.label) has it)")
      case (nil, .some): return (name, "is not in \(reference.label)")
      default: continue
      }
    }
    return nil
  }
}

extension NullModel {
  /// The file's bytes: one member per line and one pair per line, numbers as the shortest decimal
  /// that reads back to the same double, absent statistics as null.
  public func encoded() -> [UInt8] {
    // Canonical encoding of a plain string cannot fail; it gives JSON's escaping.
    func string(_ s: String) -> String { String(decoding: (try? CanonicalJSON.encode(.string(s))) ?? [], as: UTF8.self) }
    func number(_ x: Double?) -> String { x.map { "\($0)" } ?? "null" }
    var out = "{\n"
    out += "  \"format\": \(string(Self.format)),\n"
    out += "  \"architecture\": \(string(architecture)),\n"
    out += "  \"signature\": \(string(signature)),\n"
    out += "  \"grouping\": \(string(grouping.rawValue)),\n"
    out += "  \"statistics\": [\(statistics.map { string($0.rawValue) }.joined(separator: ", "))],\n"
    out += "  \"models\": [\(models.map(string).joined(separator: ", "))],\n"
    out += "  \"pairs\": [\n"
    for (k, p) in pairs.enumerated() {
      let values = statistics.map { "\(string($0.rawValue)): \(number(p.statistics[$0]))" }.joined(separator: ", ")
      out += "    {\"a\": \(p.a), \"b\": \(p.b), \"statistics\": {\(values)}}\(k + 1 < pairs.count ? "," : "")\n"
    }
    out += "  ]\n}\n"
    return Array(out.utf8)
  }

  /// Parse a `lineage-null/1` file strictly: an unknown format, a missing or unknown member, or any
  /// rule of Docs/Forensics.md broken is an error naming the member.
  public static func decode(_ bytes: [UInt8]) throws(ForensicsError) -> NullModel {
    let root: JSONValue
    do { root = try StrictJSONParser.parse(bytes) } catch { throw .malformedNull(field: "", reason: "not strict JSON (\(error))") }
    guard let members = root.objectValue else { throw .malformedNull(field: "", reason: "not a JSON object") }
    // The format first: a file of another version may lack this version's members.
    if let f = root["format"], f.stringValue != format { throw .unsupportedNullFormat(f.stringValue ?? "a non-string") }
    let required = ["format", "architecture", "signature", "grouping", "statistics", "models", "pairs"]
    let missing = required.filter { root[$0] == nil }
    guard missing.isEmpty else { throw .missingNullFields(missing) }
    if let extra = members.first(where: { !required.contains($0.0) }) {
      throw .malformedNull(field: extra.0, reason: "not a member of \(format)")
    }
    guard let architecture = root["architecture"]?.stringValue, !architecture.isEmpty else {
      throw .malformedNull(field: "architecture", reason: "not a non-empty string")
    }
    guard let signature = root["signature"]?.stringValue, signature.utf8.count == 64,
      signature.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
    else { throw .malformedNull(field: "signature", reason: "not 64 lowercase hex digits") }
    guard let groupingText = root["grouping"]?.stringValue, let grouping = Grouping(rawValue: groupingText), grouping != .auto else {
      let names = Grouping.allCases.filter { $0 != .auto }.map(\.rawValue)
      throw .malformedNull(field: "grouping", reason: "not one of " + names.joined(separator: ", "))
    }
    guard let statisticValues = root["statistics"]?.arrayValue else { throw .malformedNull(field: "statistics", reason: "not an array") }
    var statistics: [PairStatistics.Name] = []
    for v in statisticValues {
      guard let text = v.stringValue, let name = PairStatistics.Name(rawValue: text), !statistics.contains(name) else {
        throw .malformedNull(field: "statistics", reason: "\(v.stringValue.map { "'\($0)'" } ?? "an entry") is not a statistic name, or repeats")
      }
      statistics.append(name)
    }
    guard let modelValues = root["models"]?.arrayValue else { throw .malformedNull(field: "models", reason: "not an array") }
    let models = modelValues.compactMap(\.stringValue)
    guard models.count == modelValues.count else { throw .malformedNull(field: "models", reason: "holds a non-string") }
    guard models.count >= minimumModels else {
      throw .malformedNull(field: "models", reason: "\(models.count) models, fewer than \(minimumModels)")
    }
    guard let pairValues = root["pairs"]?.arrayValue else { throw .malformedNull(field: "pairs", reason: "not an array") }
    let expected = models.count * (models.count - 1) / 2
    guard pairValues.count == expected else {
      throw .malformedNull(field: "pairs", reason: "\(pairValues.count) pairs; \(models.count) models have \(expected)")
    }
    var seen = Set<[Int]>()
    var pairs: [Pair] = []
    for (k, p) in pairValues.enumerated() {
      let field = "pairs[\(k)]"
      guard let object = p.objectValue, object.count == 3, let a = p["a"]?.int64Value.map(Int.init), let b = p["b"]?.int64Value.map(Int.init),
        let values = p["statistics"]?.objectValue
      else { throw .malformedNull(field: field, reason: "not {\"a\": INT, \"b\": INT, \"statistics\": {…}}") }
      guard 0 <= a, a < b, b < models.count, seen.insert([a, b]).inserted else {
        throw .malformedNull(field: field, reason: "indices \(a), \(b) are not 0 ≤ a < b < \(models.count), or repeat a pair")
      }
      guard values.count == statistics.count, Set(values.map(\.0)) == Set(statistics.map(\.rawValue)) else {
        throw .malformedNull(field: field, reason: "its statistics are not exactly the file's statistic names")
      }
      var parsed: [PairStatistics.Name: Double] = [:]
      for (key, value) in values {
        guard let name = PairStatistics.Name(rawValue: key) else { continue }
        switch value {
        case .null: continue
        case .number(let text):
          guard let x = Double(text), x.isFinite else {
            throw .malformedNull(field: "\(field).\(key)", reason: "\(text) is not a finite number")
          }
          parsed[name] = x
        default: throw .malformedNull(field: "\(field).\(key)", reason: "neither a number nor null")
        }
      }
      pairs.append(Pair(a: a, b: b, statistics: PairStatistics(values: parsed)))
    }
    return NullModel(
      architecture: architecture, signature: signature, grouping: grouping, statistics: statistics, models: models, pairs: pairs)
  }
}
