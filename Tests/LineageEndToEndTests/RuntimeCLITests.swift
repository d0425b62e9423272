import Foundation
import LineageTestSupport
import Testing

/// `lineage demo`, `lineage run` and the runtime's weights checked by an independent NumPy
/// implementation of Docs/Runtime.md.
@Suite(.serialized) struct RuntimeCLITests {
  /// One small demo shared by the tests (a few training steps: the family, not its accuracy),
  /// signed with a key made for it.
  static let demo: (TemporaryDirectory, String) = {
    let dir = TemporaryDirectory("lineage-demo")
    let d = "\(dir.path)/d"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    for args in [
      ["init"], ["keygen", "--file", "keys/demo", "--trust", "demo@example.com", "--comment", "demo"],
      ["config", "user.signingKey", "keys/demo"], ["demo", ".", "--step-scale", "0.02", "--no-environment"],
    ] {
      _ = try? LineageBinary.run(args, in: d)
    }
    return (dir, d)
  }()

  @Test func theDemoCommitsTheFamilyAndDrawsIt() throws {
    let d = Self.demo.1
    let log = try lineage(["graph"], in: d)
    for tag in ["base", "ft-copy", "ft-reverse", "lora-trigger", "int8", "pruned", "merge", "unrelated"] {
      #expect(log.stdout.contains("tag: \(tag)"), "\(tag) missing from\n\(log.stdout)")
    }
    let show = try lineage(["show", "merge", "--json"], in: d)
    let record = try #require(parseJSON(show.stdout) as? [String: Any])
    #expect((record["parents"] as? [[String: Any]])?.count == 2)
    try lineage(["verify", "--all"], in: d)
    try lineage(["fsck"], in: d)
    // A second demo in the same repository refuses before training anything.
    let again = try lineage(["demo", "."], in: d, expect: 6)
    #expect(again.stderr.contains("tag 'base' already exists"))
  }

  @Test func runGivesTheSameBitsTwiceAndAgreesWithTheReference() throws {
    let d = Self.demo.1
    let args = ["run", "ft-copy", "--input", "data/copy-eval.jsonl", "--activations", "--reference", "--json"]
    let one = try #require(parseJSON(try lineage(args, in: d).stdout) as? [String: Any])
    let two = try #require(parseJSON(try lineage(args, in: d).stdout) as? [String: Any])
    #expect(one["logits_sha256"] as? String == two["logits_sha256"] as? String)
    let stages = (one["activations"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
    #expect(stages == ["model.embed_tokens", "model.layers.0", "model.layers.1", "model.norm", "lm_head"])
    #expect((one["reference_max_abs_difference"] as? Double ?? 1) < 1e-3)
    let evaluation = try #require(one["evaluation"] as? [String: Any])
    #expect(evaluation["targets"] as? Int == 256 * 8)
    let numerics = try #require(one["numerics"] as? [String: Any])
    #expect(numerics["runtime"] as? String == "lineage-runtime/1" && numerics["threads"] as? Int == 1)
    // The checked-out directory runs the same as the revision.
    try lineage(["checkout", "ft-copy", "-o", "out-ft"], in: d)
    let fromDisk = try #require(parseJSON(try lineage(["run", "out-ft", "--input", "data/copy-eval.jsonl", "--json"], in: d).stdout) as? [String: Any])
    #expect(fromDisk["logits_sha256"] as? String == one["logits_sha256"] as? String)
    let text = try lineage(["run", "base", "--input", "data/markov-eval.jsonl", "--show", "1"], in: d)
    #expect(text.stdout.contains("numerics lineage-runtime/1") && text.stdout.contains("row 0: "))
  }

  /// compare on the demo family: the adapter is found related to base, the independent model is
  /// not, and --out writes the report files (the SVG renders with Graphviz-free tools: it is XML).
  @Test func compareFindsTheFamilyAndWritesAReport() throws {
    let d = Self.demo.1
    let related = try #require(parseJSON(try lineage(["compare", "base", "lora-trigger", "--out", "report", "--json"], in: d).stdout) as? [String: Any])
    #expect((related["verdict"] as? String)?.hasPrefix("Related") == true, "\(related["verdict"] ?? "")")
    #expect((related["unit_tests"] as? [[String: Any]])?.count == 2 && related["grouping"] as? String == "llama")
    for f in ["raw_tensor_metrics.csv", "by_layer.csv", "by_module.csv", "layer_profile.svg", "REPORT.md"] {
      #expect(FileManager.default.fileExists(atPath: "\(d)/report/\(f)"), "\(f)")
    }
    let unrelated = try lineage(["compare", "base", "unrelated"], in: d)
    #expect(unrelated.stdout.contains("No evidence of relatedness"), "\(unrelated.stdout)")
    let badGrouping = try lineage(["compare", "base", "unrelated", "--grouping", "resnet"], in: d, expect: 64)
    #expect(badGrouping.stderr.contains("--grouping must be one of"))
  }

  /// infer --all over the demo's tagged models: two families (the independent model alone), the
  /// structural children under their true parents, the merge with both parents, base as the root;
  /// then on weights alone, and MoTHer's mode given the family count.
  @Test func inferAllRecoversTheDemoForest() throws {
    let d = Self.demo.1
    let tags = ["base", "ft-copy", "ft-reverse", "lora-trigger", "int8", "pruned", "merge", "unrelated"]
    for priors in [true, false] {
      let out = try lineage(["infer", "--all"] + tags + (priors ? ["--json"] : ["--json", "--weights-only"]), in: d)
      let json = try #require(parseJSON(out.stdout) as? [String: Any])
      let nodes = try #require(json["nodes"] as? [[String: Any]])
      var name: [String: String] = [:]
      for n in nodes { name[n["commit"] as? String ?? ""] = (n["tags"] as? [String])?.first }
      let families = try #require(json["families"] as? [[String: Any]])
      #expect(families.count == 2, "\(families)")
      #expect(Set(families.compactMap { name[$0["root"] as? String ?? ""] }) == ["base", "unrelated"], "priors \(priors): \(families)")
      let edges = try #require(json["edges"] as? [[String: Any]])
      func parents(_ child: String, _ relation: String) -> Set<String> {
        Set(edges.filter { name[$0["child"] as? String ?? ""] == child && $0["relation"] as? String == relation }.compactMap { name[$0["parent"] as? String ?? ""] })
      }
      #expect(parents("int8", "quantized-from") == ["ft-copy"], "\(edges)")
      #expect(parents("pruned", "pruned-from") == ["ft-copy"])
      #expect(parents("merge", "merge-of") == ["ft-copy", "ft-reverse"])
      #expect(parents("lora-trigger", "adapter-of") == ["base"], "\(edges)")
      #expect(parents("ft-copy", "finetuned-from") == ["base"] && parents("ft-reverse", "finetuned-from") == ["base"])
      #expect(edges.count == 7)
      for e in edges {
        let confidence = try #require(e["direction_confidence"] as? Double)
        #expect(confidence >= 0 && confidence <= 1)
        #expect((e["p_value"] as? Double ?? 1) < 0.01)
      }
      #expect((json["limits"] as? String)?.contains("distillation") == true)
    }
    let text = try lineage(["infer", "--all"], in: d)
    #expect(text.stdout.contains("family 1") && text.stdout.contains("(root)") && text.stdout.contains("Weights cannot show distillation"), "\(text.stdout)")
    let mother = try #require(parseJSON(try lineage(["infer", "--all", "--mother", "--families", "2", "--json"] + tags, in: d).stdout) as? [String: Any])
    #expect((mother["families"] as? [Any])?.count == 2 && (mother["edges"] as? [Any])?.count == 6)
    let refused = try lineage(["infer", "--all", "--mother"], in: d, expect: 64)
    #expect(refused.stderr.contains("--mother needs --families"))
  }

  /// infer on stored revisions (their own commit excluded): the family's structure comes back.
  @Test func inferRecoversTheDemoFamilysUndeclaredStructure() throws {
    let d = Self.demo.1
    func candidates(_ target: String) throws -> [[String: Any]] {
      try #require((parseJSON(try lineage(["infer", target, "--json"], in: d).stdout) as? [String: Any])?["candidates"] as? [[String: Any]])
    }
    let q = try candidates("int8")
    #expect((q.first?["candidate"] as? String)?.hasPrefix("ft-copy") == true && q.first?["relation"] as? String == "quantized-from")
    #expect(q.first?["query_is_child"] as? Bool == true)
    let m = try candidates("merge").filter { $0["relation"] as? String == "merge-of" }
    #expect(Set(m.compactMap { ($0["candidate"] as? String)?.split(separator: " ").first.map(String.init) }) == ["ft-copy", "ft-reverse"])
    #expect(m.allSatisfy { abs(($0["merge_weight"] as? Double ?? 0) - 0.5) < 1e-3 })
    let p = try candidates("pruned")
    #expect((p.first?["candidate"] as? String)?.hasPrefix("ft-copy") == true && p.first?["relation"] as? String == "pruned-from")
    let text = try lineage(["infer", "lora-trigger"], in: d)
    #expect(text.stdout.contains("most likely: lora-trigger") && text.stdout.contains("adapter-of base"), "\(text.stdout)")
    // Recorded (signed with the demo's key), drawn apart from declared parents, verified.
    let recorded = try lineage(["infer", "pruned", "--record"], in: d)
    #expect(recorded.stdout.contains("recorded 1 inferred parent edge(s)"), "\(recorded.stdout)")
    let graph = try lineage(["graph"], in: d)
    #expect(graph.stdout.contains("inferred parents (lineage infer --record; not declared):") && graph.stdout.contains("~pruned-from~>"))
    #expect(try lineage(["graph", "--format", "dot"], in: d).stdout.contains("style=dashed"))
    try lineage(["verify", "--all"], in: d)
    let path = try lineage(["infer", "\(d)/models/pruned", "--record"], in: d, expect: 4)
    #expect(path.stderr.contains("--record needs a stored model"))
  }

  /// infer --all --record on a copy of the demo (the shared demo stays unrecorded): one signed
  /// record per model, the edges shown by graph, log and descendants --inferred, verified; a
  /// second recording replaces the verdicts; MoTHer's forest is not recorded.
  @Test func inferAllRecordsTheForest() throws {
    let dir = TemporaryDirectory("lineage-forest-record")
    let d = "\(dir.path)/d"
    try FileManager.default.copyItem(atPath: Self.demo.1, toPath: d)
    let tags = ["base", "ft-copy", "ft-reverse", "lora-trigger", "int8", "pruned", "merge", "unrelated"]
    let out = try lineage(["infer", "--all", "--weights-only", "--record", "--json"] + tags, in: d)
    let json = try #require(parseJSON(out.stdout) as? [String: Any])
    let recorded = try #require(json["recorded"] as? [String: Any])
    let records = try #require(recorded["records"] as? [[String: Any]])
    #expect(records.count == 8, "\(records)")
    #expect(records.reduce(0) { $0 + ($1["edges"] as? Int ?? 0) } == (json["edges"] as? [Any])?.count)
    #expect((recorded["skipped"] as? [Any])?.isEmpty == true)
    let graph = try lineage(["graph"], in: d)
    for relation in ["quantized-from", "pruned-from", "merge-of"] {
      #expect(graph.stdout.contains("~\(relation)~>"), "\(relation) missing from\n\(graph.stdout)")
    }
    let log = try lineage(["log", "int8"], in: d)
    #expect(log.stdout.contains("inferred ") && log.stdout.contains("(quantized-from)"), "\(log.stdout)")
    let drawn = try #require(parseJSON(try lineage(["graph", "--format", "json"], in: d).stdout) as? [String: Any])
    let inferred = (drawn["edges"] as? [[String: Any]] ?? []).filter { $0["inferred"] as? Bool == true }
    #expect(inferred.count == (json["edges"] as? [Any])?.count, "\(inferred)")
    try lineage(["descendants", "base", "--inferred", "--json"], in: d)
    let withEdges = try #require(records.first { ($0["edges"] as? Int ?? 0) > 0 }?["record"] as? String)
    let show = try #require(parseJSON(try lineage(["show", withEdges, "--json"], in: d).stdout) as? [String: Any])
    #expect((show["message"] as? String)?.hasPrefix("infer --all: ") == true, "\(show)")
    #expect("\(show)".contains("direction_confidence") && "\(show)".contains("placement_confidence"), "\(show)")
    try lineage(["verify", "--all"], in: d)
    // Again: the newest record per model replaces the older one, so the edges are not doubled.
    let text = try lineage(["infer", "--all", "--weights-only", "--record"] + tags, in: d)
    #expect(text.stdout.contains("in 8 record(s) on refs/inferred"), "\(text.stdout)")
    let again = try lineage(["graph"], in: d)
    #expect(again.stdout.components(separatedBy: "~merge-of~>").count == graph.stdout.components(separatedBy: "~merge-of~>").count)
    let refused = try lineage(["infer", "--all", "--mother", "--families", "2", "--record"], in: d, expect: 64)
    #expect(refused.stderr.contains("--record stores lineage's forest"))
  }

  /// An incident recorded through the CLI replays exactly at its commit, and on base (which lacks
  /// the adapter) the first stage that differs is named.
  @Test func anIncidentIsRecordedListedAndReplayed() throws {
    let d = Self.demo.1
    let dir = TemporaryDirectory("lineage-incident")
    dir.write("trigger.json", Array(#"{"tokens": [[3, 5, 9, 31], [12, 4, 3, 31]]}"#.utf8))
    let rec = try #require(
      parseJSON(
        try lineage(["incident", "record", "--commit", "lora-trigger", "--input", "\(dir.path)/trigger.json", "--oracle", "argmax!=31", "-m", "suspicious", "--json"], in: d)
          .stdout) as? [String: Any])
    let id = try #require(rec["incident"] as? String)
    #expect(rec["signed"] as? Bool == true)
    #expect(try lineage(["incident", "list"], in: d).stdout.contains(String(id.prefix(12))))
    let same = try #require(parseJSON(try lineage(["replay", String(id.prefix(10)), "--json"], in: d).stdout) as? [String: Any])
    #expect(same["verdict"] as? String == "exact")
    let base = try #require(parseJSON(try lineage(["replay", String(id.prefix(10)), "--commit", "base", "--json"], in: d).stdout) as? [String: Any])
    #expect(base["verdict"] as? String != "exact" && base["first_divergence"] as? String == "model.layers.0", "\(base)")
    // Another OpenBLAS kernel (forced with OPENBLAS_CORETYPE) and another thread count: the
    // replay names both changes; the oracle outcome must stay (exact or equivalent, not diverged).
    let other = try LineageBinary.run(["replay", String(id.prefix(10)), "--threads", "2", "--json"], in: d, environment: ["OPENBLAS_CORETYPE": "Haswell"])
    let moved = try #require(parseJSON(other.stdout) as? [String: Any], "\(other.stderr)")
    let changes = moved["environment_changes"] as? [String] ?? []
    #expect(changes.contains("threads: 1 → 2") && changes.contains { $0.hasPrefix("OpenBLAS kernel:") && $0.hasSuffix("→ Haswell") }, "\(changes)")
    #expect(["exact", "equivalent"].contains(moved["verdict"] as? String ?? ""), "\(moved)")
    try lineage(["verify", "--all"], in: d)
    // blame: the outcome and the exit code agree (0 blamed, 11 not reproducible, 12 bad since root).
    let blame = try LineageBinary.run(["blame", String(id.prefix(10)), "--json"], in: d)
    let outcome = (parseJSON(blame.stdout) as? [String: Any])?["outcome"] as? String
    let codes: [String: Int32] = ["blamed": 0, "not-reproducible": 11, "bad-since-root": 12, "budget-exhausted": 13]
    #expect(outcome != nil && codes[outcome ?? ""] == blame.status, "\(blame.stdout) \(blame.stderr)")
    let bad = try lineage(["incident", "record", "--commit", "base", "--input", "\(dir.path)/trigger.json", "--oracle", "argmax=7", "-m", "x"], in: d, expect: 64)
    #expect(bad.stderr.contains("is not one of argmax==K"))
  }

  @Test func runRefusesWhatItCannotRunWithAReason() throws {
    let d = Self.demo.1
    let dir = TemporaryDirectory("lineage-run")
    dir.write("bad.json", Array(#"{"tokens": [[1, 99]]}"#.utf8))
    let bad = try lineage(["run", "base", "--input", "\(dir.path)/bad.json"], in: d, expect: 4)
    #expect(bad.stderr.contains("input: token 99 is outside the vocabulary 0..<32"), "\(bad.stderr)")
    dir.write("w.safetensors", SafetensorsBytes.valid([("w", [4])]))
    try lineage(["commit", "\(dir.path)/w.safetensors", "-m", "not a runtime model", "--tag", "plain", "--no-environment"], in: d)
    let plain = try lineage(["run", "plain", "--input", "\(dir.path)/bad.json"], in: d, expect: 4)
    #expect(plain.stderr.contains("no architecture.json beside the weights"))
  }

  /// The same input written by NumPy as npz and as safetensors gives the incident the same
  /// observed digest as the JSON form; the expected-output oracle reads NumPy's logits file.
  @Test(.enabled(if: testPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
  func incidentInputsFromNumPyFiles() throws {
    let python = try #require(testPython)
    let d = Self.demo.1
    let dir = TemporaryDirectory("lineage-incident-np")
    dir.write("t.json", Array(#"{"tokens": [[3, 5, 9, 31], [12, 4, 3, 31]]}"#.utf8))
    let script = """
      import sys, numpy as np
      from safetensors.numpy import save_file
      ids = np.array([[3, 5, 9, 31], [12, 4, 3, 31]], dtype=np.int64)
      np.savez(sys.argv[1] + "/t.npz", input_ids=ids)
      save_file({"input_ids": ids}, sys.argv[1] + "/t.safetensors")
      """
    let made = try runProcess(python, ["-c", script, dir.path], in: d)
    #expect(made.status == 0, "\(made.stderr)")
    var observed: [String] = []
    for file in ["t.json", "t.npz", "t.safetensors"] {
      let out = try lineage(["incident", "record", "--commit", "lora-trigger", "--input", "\(dir.path)/\(file)", "--oracle", "argmax!=31", "-m", file, "--json"], in: d)
      let id = try #require((parseJSON(out.stdout) as? [String: Any])?["incident"] as? String)
      let shown = try #require(parseJSON(try lineage(["incident", "show", id, "--json"], in: d).stdout) as? [String: Any])
      observed.append(shown["observed"] as? String ?? "")
      #expect((shown["files"] as? [String: String])?["input"] == "input." + (file as NSString).pathExtension)
    }
    #expect(Set(observed).count == 1 && observed[0].count == 64, "\(observed)")
    // A float tensor where token ids belong is refused with the reason.
    let floats = try runProcess(python, ["-c", "import sys, numpy as np; np.savez(sys.argv[1] + '/f.npz', input_ids=np.ones((1, 4), np.float32))", dir.path], in: d)
    #expect(floats.status == 0)
    let refused = try lineage(["incident", "record", "--commit", "lora-trigger", "--input", "\(dir.path)/f.npz", "--oracle", "argmax!=31", "-m", "x"], in: d, expect: 4)
    #expect(refused.stderr.contains("token ids must be integers"), "\(refused.stderr)")
  }

  /// NumPy, from the documented architecture alone, computes the same loss on the same file.
  @Test(.enabled(if: testPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
  func numpyReadsTheWeightsAndAgreesOnTheLoss() throws {
    let python = try #require(testPython)
    let d = Self.demo.1
    try lineage(["checkout", "lora-trigger", "-o", "out-lora"], in: d)
    let script = """
      import json, sys
      import numpy as np
      from safetensors.numpy import load_file
      d = sys.argv[1]
      arch = json.load(open(d + "/architecture.json"))
      W = {k: v.astype(np.float64) for k, v in load_file(d + "/model.safetensors").items()}
      H, nh, eps = arch["hidden"], arch["heads"], arch["norm_eps"]
      hd = H // nh
      def norm(x, p):
          if arch["norm"] == "rms":
              return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * W[p + ".weight"]
          m = x.mean(-1, keepdims=True)
          v = ((x - m) ** 2).mean(-1, keepdims=True)
          return (x - m) / np.sqrt(v + eps) * W[p + ".weight"] + W[p + ".bias"]
      assert arch["activation"] == "silu"
      act = lambda x: x / (1 + np.exp(-x))
      rows = [json.loads(l) for l in open(sys.argv[2])]
      T = np.array([r["tokens"] for r in rows]); Y = np.array([r["targets"] for r in rows])
      B, L = T.shape
      h = W["model.embed_tokens.weight"][T] + W["model.embed_positions.weight"][:L]
      for i in range(arch["layers"]):
          p = f"model.layers.{i}"
          a = norm(h, p + ".input_layernorm")
          q, k, v = [(a @ W[f"{p}.self_attn.{n}_proj.weight"].T).reshape(B, L, nh, hd).transpose(0, 2, 1, 3) for n in "qkv"]
          s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + np.triu(np.full((L, L), -np.inf), 1)
          s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
          h = h + (s @ v).transpose(0, 2, 1, 3).reshape(B, L, H) @ W[p + ".self_attn.o_proj.weight"].T
          m = norm(h, p + ".post_attention_layernorm")
          h = h + (act(m @ W[p + ".mlp.gate_proj.weight"].T) * (m @ W[p + ".mlp.up_proj.weight"].T)) @ W[p + ".mlp.down_proj.weight"].T
      z = norm(h, "model.norm") @ W["lm_head.weight"].T
      lp = z - z.max(-1, keepdims=True); lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
      mask = Y >= 0
      loss = -np.take_along_axis(lp, np.where(mask, Y, 0)[..., None], -1)[..., 0][mask].mean()
      print(json.dumps({"loss": float(loss), "accuracy": float((z.argmax(-1) == Y)[mask].mean())}))
      """
    let numpy = try runProcess(python, ["-c", script, "\(d)/out-lora", "\(d)/data/copy-eval.jsonl"], in: d)
    #expect(numpy.status == 0, "\(numpy.stderr)")
    let theirs = try #require(parseJSON(numpy.stdout) as? [String: Double])
    let ours = try #require(
      (parseJSON(try lineage(["run", "lora-trigger", "--input", "data/copy-eval.jsonl", "--json"], in: d).stdout) as? [String: Any])?["evaluation"]
        as? [String: Any])
    let loss = try #require(ours["loss"] as? Double)
    #expect(abs(loss - (theirs["loss"] ?? 0)) < 1e-4, "lineage \(loss) vs numpy \(theirs["loss"] ?? .nan)")
  }

  /// A GGUF made by the `gguf` package from a demo model (llama.cpp names, Q8_0 matrices) is
  /// recognised as quantized from the stored model it came from.
  @Test(.enabled(if: testPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
  func aGGUFConversionIsTracedToItsSource() throws {
    let python = try #require(testPython)
    let d = Self.demo.1
    try lineage(["checkout", "ft-reverse", "-o", "out-gguf-src"], in: d)
    let script = """
      import sys
      import numpy as np
      from safetensors.numpy import load_file
      from gguf import GGUFWriter, GGMLQuantizationType as Q
      from gguf.quants import quantize
      names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
               "self_attn.o_proj": "attn_output", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
               "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
      top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
      w = GGUFWriter(sys.argv[2], "llama")
      for name, t in load_file(sys.argv[1]).items():
          if name in top:
              out = top[name]
          elif name.startswith("model.layers."):
              _, _, i, rest = name.split(".", 3)
              out = "blk.%s.%s.weight" % (i, names[rest[:-len(".weight")]])
          else:
              out = name
          if t.ndim == 2 and t.shape[1] % 32 == 0:
              w.add_tensor(out, quantize(t, Q.Q8_0), raw_dtype=Q.Q8_0)
          else:
              w.add_tensor(out, t)
      w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
      """
    let r = try runProcess(python, ["-c", script, "\(d)/out-gguf-src/model.safetensors", "\(d)/model-q8.gguf"], in: d)
    #expect(r.status == 0, "\(r.stderr)")
    let out = try #require(parseJSON(try lineage(["infer", "model-q8.gguf", "--json"], in: d).stdout) as? [String: Any])
    let first = try #require((out["candidates"] as? [[String: Any]])?.first)
    #expect((first["candidate"] as? String)?.hasPrefix("ft-reverse") == true, "\(first)")
    #expect(first["relation"] as? String == "quantized-from" && first["query_is_child"] as? Bool == true, "\(first)")
    let c = try lineage(["compare", "ft-reverse", "model-q8.gguf"], in: d)
    #expect(c.stdout.contains("grouping: llama") && c.stdout.contains("Related"), "\(c.stdout)")
  }
}
