import Foundation
import LineageForensics
import LineageKit
import LineageRuntime
import LineageTensor
import LineageTestSupport
import Testing

/// `infer --all` on a small lake trained with the native runtime: a root, two fine-tunes, int8,
/// 4-bit, pruned, permuted and merged children, and an independent model, on weights alone.
@Suite(.serialized) struct ForestTests {
  static let arch = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 2, heads: 4, intermediate: 64)

  /// The lake, committed once for the suite (tags are the names).
  static let lake: (TemporaryDirectory, Repository)? = {
    let dir = TemporaryDirectory()
    do {
      let repo = try Repository.initialize(at: dir.path)
      let model = try Model(arch)
      func train(_ p: inout Parameters, _ data: TokenDataset, steps: Int, seed: UInt64) throws {
        var opt = try Optimizer(.adam(learningRate: 3e-3), count: p.values.count)
        _ = try Trainer.train(model, &p, data: data, optimizer: &opt, steps: steps, batchSize: 8, seed: seed)
      }
      let markov = Tasks.markov(vocab: 15, length: 8, count: 128, seed: 1, tableSeed: 2)
      let copy = Tasks.copy(vocab: 16, length: 8, count: 128, seed: 3, reversed: false)
      let reverse = Tasks.copy(vocab: 16, length: 8, count: 128, seed: 4, reversed: true)
      var root = Parameters.initialise(arch, seed: 5)
      try train(&root, markov, steps: 40, seed: 6)
      var a = root
      try train(&a, copy, steps: 25, seed: 7)
      var b = root
      try train(&b, reverse, steps: 25, seed: 8)
      var other = Parameters.initialise(arch, seed: 9)
      try train(&other, markov, steps: 40, seed: 10)
      let models: [(String, Parameters)] = [
        ("root", root), ("a", a), ("b", b), ("int8", Transform.int8RoundTrip(a)), ("int4", Transform.int4RoundTrip(b)),
        ("pruned", Transform.magnitudePrune(a, fraction: 0.4)), ("permuted", Transform.permuteHiddenUnits(b, seed: 11)),
        ("merge", try Transform.weightedAverage([(a, 0.4), (b, 0.6)])), ("other", other),
      ]
      for (k, (name, p)) in models.enumerated() {
        try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file("m/\(name)"))
        _ = try repo.commit(commitOptions([dir.file("m/\(name)")], name, tags: [name], time: 1_767_322_800 + Int64(k)))
      }
      return (dir, repo)
    } catch {
      return nil
    }
  }()

  static let names = ["root", "a", "b", "int8", "int4", "pruned", "permuted", "merge", "other"]

  func forest(_ options: ForestOptions = ForestOptions()) throws -> (ForestResult, [String]) {
    let (_, repo) = try #require(Self.lake)
    let report = try repo.inferForest(revisions: Self.names, priors: false, options: options)
    return (report.forest, report.forest.nodes.map(\.label))
  }

  @Test func familiesStructureAndMergesComeBackFromWeightsAlone() throws {
    let (f, name) = try forest()
    #expect(f.families.count == 2)
    // The root of the trained family is a full-precision member (which of root, a and b rests on
    // trends in so small a lake: Docs/Benchmarks.md measures it); never a structural child.
    let roots = f.families.map { name[$0[0]] }
    #expect(roots.contains("other") && roots.contains { ["root", "a", "b"].contains($0) }, "roots: \(roots)")
    func parents(_ child: String) -> [String: Relation] {
      Dictionary(f.edges.filter { name[$0.child] == child }.map { (name[$0.parent], $0.relation) }, uniquingKeysWith: { x, _ in x })
    }
    #expect(parents("int8") == ["a": .quantizedFrom])
    #expect(parents("int4") == ["b": .quantizedFrom])
    #expect(parents("pruned") == ["a": .prunedFrom])
    #expect(parents("permuted") == ["b": .permutedFrom])
    #expect(parents("merge") == ["a": .mergeOf, "b": .mergeOf])
    #expect(parents("a").count + parents("b").count + parents("root").count == 2, "\(f.edges.map { (name[$0.parent], name[$0.child]) })")
    let weights = f.edges.filter { name[$0.child] == "merge" }.sorted { name[$0.parent] < name[$1.parent] }.compactMap(\.mergeWeight)
    #expect(weights.count == 2 && abs(weights[0] - 0.4) < 1e-3 && abs(weights[1] - 0.6) < 1e-3)
    #expect(f.nodes[try #require(name.firstIndex(of: "int4"))].quantization == "4-bit")
    #expect(f.nodes[try #require(name.firstIndex(of: "int8"))].quantization == "int8")
    for e in f.edges {
      #expect((0...1).contains(e.directionConfidence) && (0...1).contains(e.placementConfidence))
      #expect((e.pValue ?? 1) < 0.01)
    }
    // A structural child is oriented whatever the root: its direction confidence is near 1.
    for e in f.edges where [.quantizedFrom, .prunedFrom, .permutedFrom].contains(e.relation) { #expect(e.directionConfidence > 0.9) }
    // No pair across the two families is related.
    let other = try #require(name.firstIndex(of: "other"))
    #expect(f.pairs.filter { $0.a == other || $0.b == other }.allSatisfy { !$0.related })
  }

  @Test func everyDistancePlacesTheStructuralChildrenAlike() throws {
    var edges: [Set<String>] = []
    for distance in PlacementDistance.allCases {
      var options = ForestOptions()
      options.distance = distance
      let (f, name) = try forest(options)
      edges.append(Set(f.edges.filter { ["int8", "int4", "pruned", "permuted", "merge"].contains(name[$0.child]) }.map { "\(name[$0.parent])>\(name[$0.child])" }))
    }
    #expect(edges.allSatisfy { $0 == edges[0] } && edges[0].count == 6, "\(edges)")
  }

  @Test func motherNeedsTheFamilyCountAndBuildsATreePerCluster() throws {
    var options = ForestOptions()
    options.method = .mother(families: 2)
    let (f, name) = try forest(options)
    #expect(f.families.count == 2)
    #expect(f.families.contains { $0.map { name[$0] } == ["other"] })
    // A tree: one parent per non-root member, so the merge has one parent only.
    #expect(f.edges.count == Self.names.count - 2)
    #expect(Set(f.edges.map(\.child)).count == f.edges.count)
  }

  @Test func fewerThanTwoModelsIsAnError() throws {
    let (_, repo) = try #require(Self.lake)
    #expect(throws: KitError.self) { try repo.inferForest(revisions: ["root"]) }
  }
}
