import Foundation
#if canImport(FoundationXML)
  import FoundationXML
#endif
import LineageForensics
import LineageKit
import LineageRuntime
import LineageTensor
import LineageTestSupport
import Testing

/// The permutation-robust evidence of `compare` on runtime models: related pairs (a fine-tune, a
/// hidden-unit permutation that leaves the function unchanged) and independent pairs.
@Suite struct CompareEvidenceTests {
  let arch = Architecture.transformer(vocab: 16, context: 8, hidden: 32, layers: 3, heads: 4, intermediate: 96)

  func tensors(_ p: Parameters, _ dir: TemporaryDirectory, _ name: String) throws -> ModelTensors {
    try RunnableModel(label: name, architecture: arch, parameters: p).write(to: dir.file(name))
    return try Repository.modelTensors(atPath: dir.file(name))
  }

  /// Permute every block's MLP hidden units: gate and up rows, down columns.
  func permuted(_ p: Parameters, seed: UInt64) -> Parameters {
    var out = p
    var rng = Xoshiro(seed: seed)
    let I = arch.intermediate
    let H = arch.hidden
    for l in 0..<arch.layers {
      var sigma = Array(0..<I)
      for i in stride(from: I - 1, to: 0, by: -1) { sigma.swapAt(i, rng.below(i + 1)) }
      for m in ["gate_proj", "up_proj"] {
        let name = "model.layers.\(l).mlp.\(m).weight"
        let w = p.tensor(name) ?? []
        out.setTensor(name, sigma.flatMap { w[($0 * H)..<(($0 + 1) * H)] })
      }
      let name = "model.layers.\(l).mlp.down_proj.weight"
      let w = p.tensor(name) ?? []
      out.setTensor(name, (0..<H).flatMap { r in sigma.map { w[r * I + $0] } })
    }
    return out
  }

  @Test func aPermutedCopyKeepsItsFunctionLosesItsCosineAndIsStillFound() throws {
    let dir = TemporaryDirectory()
    var base = Parameters.initialise(arch, seed: 1)
    var rng = Xoshiro(seed: 9)
    for i in base.values.indices { base.values[i] += 0.05 * rng.normal() }
    let shuffled = permuted(base, seed: 2)
    let batch = Batch.tokens([1, 5, 2, 9, 3, 3, 7, 0], rows: 1, length: 8)
    let m = try Model(arch)
    let (x, y) = (try m.forward(base, batch).logits, try m.forward(shuffled, batch).logits)
    #expect(zip(x, y).allSatisfy { abs($0 - $1) < 1e-4 }, "a unit permutation must not change the function")
    let c = try Repository.compare(try tensors(base, dir, "a"), try tensors(shuffled, dir, "b"))
    #expect(c.grouping == .llama && c.unitTests.count == 3)
    let up = try #require(c.rows.first { $0.name == "model.layers.0.mlp.up_proj.weight" })
    #expect(abs(up.metrics?.cosine ?? 1) < 0.2, "plain cosine should not see through the permutation")
    for t in c.unitTests {
      #expect(t.identityFraction < 0.1 && t.agreement == 1 && t.alignedSimilarity > 0.999 && t.logP < log(1e-20))
    }
    #expect(ComparisonReport.verdict(c).hasPrefix("Related"))
  }

  @Test func aFineTuneIsRelatedAndIndependentModelsAreNot() throws {
    let dir = TemporaryDirectory()
    let base = Parameters.initialise(arch, seed: 1)
    var tuned = base
    var rng = Xoshiro(seed: 3)
    for i in tuned.values.indices { tuned.values[i] += 0.01 * rng.normal() }
    let a = try tensors(base, dir, "base")
    let related = try Repository.compare(a, try tensors(tuned, dir, "tuned"))
    #expect((related.combined?.logP ?? 0) < log(1e-20))
    // Twenty independent pairs: under independence p-values are uniform, so few fall below 0.05.
    var small = 0
    for k in 0..<20 {
      let x = try tensors(Parameters.initialise(arch, seed: UInt64(100 + 2 * k)), dir, "x\(k)")
      let y = try tensors(Parameters.initialise(arch, seed: UInt64(101 + 2 * k)), dir, "y\(k)")
      let c = try Repository.compare(x, y)
      if (c.combined?.pValue ?? 0) < 0.05 { small += 1 }
    }
    #expect(small <= 4, "\(small) of 20 independent pairs had p < 0.05")
  }

  @Test func theReportFilesAreWrittenAndParse() throws {
    let dir = TemporaryDirectory()
    let base = Parameters.initialise(arch, seed: 1)
    let c = try Repository.compare(try tensors(base, dir, "a"), try tensors(permuted(base, seed: 4), dir, "b"))
    let files = try ComparisonReport.write(c, a: "a", b: "b", to: dir.file("report"))
    #expect(files.map { ($0 as NSString).lastPathComponent } == ["raw_tensor_metrics.csv", "by_layer.csv", "by_module.csv", "layer_profile.svg", "REPORT.md"])
    let raw = String(decoding: readBytes(dir.file("report/raw_tensor_metrics.csv")), as: UTF8.self).split(separator: "\n")
    #expect(raw.count == c.rows.count + 1 && raw[0].hasPrefix("name,layer,module,shape"))
    let layers = String(decoding: readBytes(dir.file("report/by_layer.csv")), as: UTF8.self).split(separator: "\n")
    #expect(layers.count == 1 + 3 + 1)  // header, three blocks, the tensors outside blocks
    let svg = try XMLDocument(data: Data(readBytes(dir.file("report/layer_profile.svg"))))
    #expect(svg.rootElement()?.name == "svg")
    let report = String(decoding: readBytes(dir.file("report/REPORT.md")), as: UTF8.self)
    #expect(report.contains("## Unit matching by block") && report.contains("Related"))
  }

  @Test(arguments: [
    ("model.layers.3.self_attn.q_proj.weight", Grouping.llama, TensorGroup(layer: 3, module: "self_attn.q_proj")),
    ("model.embed_tokens.weight", .llama, TensorGroup(layer: nil, module: "embed_tokens")),
    ("transformer.h.11.mlp.c_fc.bias", .gpt2, TensorGroup(layer: 11, module: "mlp.c_fc")),
    ("bert.encoder.layer.2.intermediate.dense.weight", .bert, TensorGroup(layer: 2, module: "intermediate.dense")),
    ("blocks.0.attn.qkv.weight", .vit, TensorGroup(layer: 0, module: "attn.qkv")),
    ("blk.7.ffn_up.weight", .gguf, TensorGroup(layer: 7, module: "ffn_up")),
    ("model.layers.3.mlp.up_proj.weight", .none, TensorGroup(layer: nil, module: "layers.3.mlp.up_proj")),
  ])
  func namesMapToLayersAndModules(name: String, grouping: Grouping, expected: TensorGroup) {
    #expect(grouping.group(name) == expected)
  }

  @Test func ggufLlamaNamesReadAsHuggingFaceNames() {
    #expect(TensorNames.canonical("blk.3.ffn_up.weight") == "model.layers.3.mlp.up_proj.weight")
    #expect(TensorNames.canonical("blk.0.attn_output.weight") == "model.layers.0.self_attn.o_proj.weight")
    #expect(TensorNames.canonical("blk.1.ffn_norm.weight") == "model.layers.1.post_attention_layernorm.weight")
    #expect(TensorNames.canonical("token_embd.weight") == "model.embed_tokens.weight")
    #expect(TensorNames.canonical("output.weight") == "lm_head.weight")
    for kept in ["model.layers.3.mlp.up_proj.weight", "blk.x.ffn_up.weight", "blk.1.ffn_up", "rope_freqs.weight", "output"] {
      #expect(TensorNames.canonical(kept) == kept)
    }
  }

  @Test func detectionPicksTheConventionMostNamesFollow() {
    #expect(Grouping.detect(["model.layers.0.mlp.up_proj.weight", "model.norm.weight"]) == .llama)
    #expect(Grouping.detect(["h.0.attn.c_attn.weight", "wte.weight"]) == .gpt2)
    #expect(Grouping.detect(["blk.0.attn_q.weight", "output.weight"]) == .gguf)
    #expect(Grouping.detect(["w", "b"]) == Grouping.none)
  }
}
