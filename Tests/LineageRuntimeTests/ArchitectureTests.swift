import Testing

@testable import LineageRuntime

@Suite struct ArchitectureTests {
  @Test func jsonRoundTripsBothKinds() throws {
    for a in [
      Architecture.mlp(inputs: 8, outputs: 3, hidden: 16, layers: 2, intermediate: 32, norm: .layer, activation: .relu),
      Architecture.transformer(vocab: 32, context: 16, hidden: 32, layers: 2, heads: 4, intermediate: 64),
    ] {
      #expect(try Architecture.parse(Array(a.json().utf8)) == a)
    }
  }

  @Test func defaultsApplyWhenOptionalKeysAreAbsent() throws {
    let a = try Architecture.parse(
      Array(#"{"format":"lineage-architecture/1","kind":"transformer","vocab":8,"context":4,"hidden":8,"layers":1,"heads":2,"intermediate":8}"#.utf8))
    #expect(a.norm == .rms && a.activation == .silu && a.normEpsilon == 1e-5)
  }

  @Test(arguments: [
    (#"{"kind":"mlp"}"#, RuntimeError.architectureFormat(nil)),
    (#"{"format":"lineage-architecture/2","kind":"mlp"}"#, .architectureFormat("lineage-architecture/2")),
    (#"{"format":"lineage-architecture/1","kind":"cnn"}"#, .architectureField(key: "kind", problem: "must be \"mlp\" or \"transformer\"")),
    (
      #"{"format":"lineage-architecture/1","kind":"mlp","inputs":2,"outputs":2,"hidden":4,"layers":1,"intermediate":4,"hiden":4}"#,
      .unknownArchitectureKey("hiden")
    ),
    (
      #"{"format":"lineage-architecture/1","kind":"mlp","inputs":2,"outputs":2,"hidden":4,"layers":1}"#,
      .architectureField(key: "intermediate", problem: "missing")
    ),
    (
      #"{"format":"lineage-architecture/1","kind":"mlp","inputs":2.5,"outputs":2,"hidden":4,"layers":1,"intermediate":4}"#,
      .architectureField(key: "inputs", problem: "must be an integer")
    ),
    (
      #"{"format":"lineage-architecture/1","kind":"mlp","inputs":0,"outputs":2,"hidden":4,"layers":1,"intermediate":4}"#,
      .architectureField(key: "inputs", problem: "must be between 1 and 1048576, is 0")
    ),
    (
      #"{"format":"lineage-architecture/1","kind":"transformer","vocab":8,"context":4,"hidden":10,"layers":1,"heads":4,"intermediate":8}"#,
      .architectureField(key: "heads", problem: "4 does not divide hidden 10")
    ),
    (
      #"{"format":"lineage-architecture/1","kind":"mlp","inputs":2,"outputs":2,"hidden":4,"layers":1,"intermediate":4,"norm":"batch"}"#,
      .architectureField(key: "norm", problem: "unknown value")
    ),
    (
      #"{"format":"lineage-architecture/1","kind":"mlp","inputs":2,"outputs":2,"hidden":4,"layers":1,"intermediate":4,"norm_eps":-1}"#,
      .architectureField(key: "norm_eps", problem: "must be positive")
    ),
  ])
  func rejectsBadArchitectures(text: String, expected: RuntimeError) {
    #expect(throws: expected) { try Architecture.parse(Array(text.utf8)) }
  }

  @Test func rejectsTextThatIsNotJSON() {
    #expect {
      try Architecture.parse(Array("{kind: mlp}".utf8))
    } throws: { error in
      guard case .architectureJSON = error as? RuntimeError else { return false }
      return true
    }
  }

  @Test func parameterNamesFollowTheLlamaConvention() {
    let t = ParameterLayout(.transformer(vocab: 16, context: 8, hidden: 8, layers: 2, heads: 2, intermediate: 12))
    let names = t.specs.map(\.name)
    #expect(names.first == "model.embed_tokens.weight")
    #expect(names.contains("model.layers.1.self_attn.q_proj.weight"))
    #expect(names.contains("model.layers.0.mlp.gate_proj.weight"))
    #expect(names.last == "lm_head.weight")
    #expect(t.spec("model.layers.0.mlp.down_proj.weight")?.shape == [8, 12])
    #expect(t.count == t.specs.reduce(0) { $0 + $1.count })
    let m = ParameterLayout(.mlp(inputs: 5, outputs: 3, hidden: 8, layers: 1, intermediate: 16, norm: .layer))
    #expect(m.spec("model.layers.0.norm.bias")?.shape == [8])
    #expect(m.spec("model.layers.0.mlp.up_proj.weight")?.shape == [16, 8])
  }
}
