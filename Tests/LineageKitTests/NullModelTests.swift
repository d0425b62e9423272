import Foundation
import LineageForensics
import LineageKit
import LineageRuntime
import LineageTensor
import LineageTestSupport
import Testing

/// `null build` and `score` on runtime models: a null of six independent initialisations, a
/// fine-tune scored at the null's floor, an independent pair that is not, the file round trip,
/// and one test per refusal (Docs/Forensics.md, "Empirical nulls").
@Suite struct NullModelTests {
  static let arch = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)

  /// Six independent models (seeds 100…105), their null, and the directory holding them.
  struct Fixture: Sendable {
    var dir: TemporaryDirectory
    var models: [ModelTensors]
    var null: NullModel
  }

  static let fixture: Fixture? = {
    let dir = TemporaryDirectory("lineage-null")
    guard let models = try? (100...105).map({ try write(Parameters.initialise(arch, seed: UInt64($0)), dir, "m\($0)") }),
      let null = try? Repository.buildNull(models)
    else { return nil }
    return Fixture(dir: dir, models: models, null: null)
  }()

  static func write(_ p: Parameters, _ dir: TemporaryDirectory, _ name: String, architecture: Architecture = arch) throws -> ModelTensors {
    try RunnableModel(label: name, architecture: architecture, parameters: p).write(to: dir.file(name))
    return try Repository.modelTensors(atPath: dir.file(name))
  }

  /// The statistics a related pair must win outright (the spectrum does not discriminate).
  static let related: [PairStatistics.Name] = [.meanCosine, .meanPearson, .meanCKA, .unitAgreement, .unitAlignedSimilarity, .unitNegLogP]

  @Test func aNullOfSixModelsHoldsFifteenPairs() throws {
    let f = try #require(Self.fixture)
    #expect(f.null.pairs.count == 15 && f.null.models.count == 6)
    #expect(f.null.pairs.map { [$0.a, $0.b] }.first == [0, 1] && f.null.pairs.map { [$0.a, $0.b] }.last == [4, 5])
    #expect(f.null.statistics == PairStatistics.Name.allCases && f.null.grouping == .llama)
    #expect(f.null.architecture == "llama-" + f.null.signature.prefix(12) && f.null.signature == TensorSignature.of(f.models[0]))
    for name in PairStatistics.Name.allCases { #expect(f.null.values(of: name).count == 15, "\(name.rawValue)") }
  }

  @Test func aFineTuneScoresTheFloorWithALargeZ() throws {
    let f = try #require(Self.fixture)
    let base = Parameters.initialise(Self.arch, seed: 200)
    var tuned = base
    var rng = Xoshiro(seed: 201)
    for i in tuned.values.indices { tuned.values[i] += 0.01 * rng.normal() }
    let s = try Repository.score(try Self.write(base, f.dir, "base"), try Self.write(tuned, f.dir, "tuned"), null: f.null)
    #expect(s.statistics.map(\.name) == PairStatistics.Name.allCases)
    for t in s.statistics where Self.related.contains(t.name) {
      #expect(t.summary?.pValue == 1.0 / 16 && t.summary?.atLeastAsExtreme == 0 && t.nullSize == 15, "\(t.name.rawValue)")
      #expect((t.summary?.zScore ?? 0) > 5, "\(t.name.rawValue): z = \(t.summary?.zScore ?? .nan)")
      #expect(t.smallestPValue == 1.0 / 16)
    }
    let units = try #require(s.statistics.first { $0.name == .unitNegLogP })
    #expect((units.analyticLogP ?? 0) < log(1e-20) && units.observed == 0 - (units.analyticLogP ?? 0))
    #expect(s.statistics.filter { $0.name != .unitNegLogP }.allSatisfy { $0.analyticPValue == nil })
  }

  @Test func anIndependentPairIsNotAtTheFloorEverywhere() throws {
    let f = try #require(Self.fixture)
    let x = try Self.write(Parameters.initialise(Self.arch, seed: 300), f.dir, "x")
    let y = try Self.write(Parameters.initialise(Self.arch, seed: 301), f.dir, "y")
    let s = try Repository.score(x, y, null: f.null)
    let above = s.statistics.filter { ($0.summary?.pValue ?? 0) > 1.0 / 16 }
    #expect(above.count >= 4, "\(s.statistics.map { "\($0.name.rawValue) p=\($0.summary?.pValue ?? .nan)" })")
    let units = try #require(s.statistics.first { $0.name == .unitNegLogP })
    #expect((units.analyticPValue ?? 0) > 1e-3)
  }

  @Test func theNullFileRoundTrips() throws {
    let f = try #require(Self.fixture)
    let out = TemporaryDirectory("lineage-null-file")
    let path = try f.null.write(to: out.file("nulls/small"))
    #expect(path == out.file("nulls/small/null.json") && !FileManager.default.fileExists(atPath: path + ".partial"))
    #expect(try NullModel.load(from: out.file("nulls/small")) == f.null)
    #expect(try NullModel.load(from: path) == f.null)
    #expect(String(decoding: readBytes(path), as: UTF8.self).contains(#""format": "lineage-null/1""#))
  }

  @Test func fewerThanThreeModelsAreRefused() throws {
    let f = try #require(Self.fixture)
    #expect(throws: KitError.forensics(ForensicsError.tooFewModels(minimum: 3, count: 2).description)) {
      try Repository.buildNull(Array(f.models.prefix(2)))
    }
  }

  @Test func aModelOfAnotherArchitectureIsRefusedByNameAndTensor() throws {
    let f = try #require(Self.fixture)
    let wide = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 48)
    let other = try Self.write(Parameters.initialise(wide, seed: 106), f.dir, "wide", architecture: wide)
    let expected = ForensicsError.architectureMismatch(
      model: other.label, tensor: "model.layers.0.mlp.down_proj.weight", reason: "has shape [32, 48], not [32, 64] as in \(f.models[0].label)")
    #expect(throws: KitError.forensics(expected.description)) { try Repository.buildNull(Array(f.models.prefix(3)) + [other]) }
  }

  @Test func aPairOfAnotherSignatureIsNotScored() throws {
    let f = try #require(Self.fixture)
    let deep = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 3, heads: 4, intermediate: 64)
    let x = try Self.write(Parameters.initialise(deep, seed: 1), f.dir, "deep-x", architecture: deep)
    let y = try Self.write(Parameters.initialise(deep, seed: 2), f.dir, "deep-y", architecture: deep)
    let expected = ForensicsError.signatureMismatch(model: x.label, expected: f.null.signature, found: TensorSignature.of(x))
    #expect(throws: KitError.forensics(expected.description)) { try Repository.score(x, y, null: f.null) }
  }

  /// Write `text` as a null.json and return the error `load` gives.
  func loadError(_ text: String) -> KitError? {
    let dir = TemporaryDirectory("lineage-null-bad")
    dir.write("null.json", Array(text.utf8))
    return #expect(throws: KitError.self) { try NullModel.load(from: dir.path) }
  }

  @Test func aCorruptNullFileIsRefused() throws {
    let error = loadError(#"{"format": "lineage-null/1", "pairs": ["#)
    guard case .nullModel(let path, let reason)? = error else { Issue.record("\(String(describing: error))"); return }
    #expect(path.hasSuffix("/null.json") && reason.hasPrefix("null file: not strict JSON"))
  }

  @Test func anUnknownFormatIsRefused() throws {
    let error = loadError(#"{"format": "lineage-null/2", "everything": "else"}"#)
    guard case .nullModel(_, let reason)? = error else { Issue.record("\(String(describing: error))"); return }
    #expect(reason == ForensicsError.unsupportedNullFormat("lineage-null/2").description)
  }

  @Test func missingMembersAreNamed() throws {
    let error = loadError(#"{"format": "lineage-null/1", "architecture": "x", "models": []}"#)
    guard case .nullModel(_, let reason)? = error else { Issue.record("\(String(describing: error))"); return }
    #expect(reason == ForensicsError.missingNullFields(["signature", "grouping", "statistics", "pairs"]).description)
  }

  @Test func aPairOutOfOrderIsRefused() throws {
    let f = try #require(Self.fixture)
    let text = String(decoding: f.null.encoded(), as: UTF8.self).replacingOccurrences(of: #"{"a": 0, "b": 1,"#, with: #"{"a": 1, "b": 0,"#)
    let error = loadError(text)
    guard case .nullModel(_, let reason)? = error else { Issue.record("\(String(describing: error))"); return }
    #expect(reason.hasPrefix("null file member pairs[0]: indices 1, 0"))
  }

  @Test func aMissingNullDirectoryIsReportedAsMissing() throws {
    let dir = TemporaryDirectory("lineage-null-none")
    #expect(throws: KitError.pathNotFound(dir.file("nope"))) { try NullModel.load(from: dir.file("nope")) }
  }
}
