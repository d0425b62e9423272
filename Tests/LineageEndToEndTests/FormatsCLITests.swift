import Foundation
import LineageTestSupport
import Testing

private let formatsTestPython = ProcessInfo.processInfo.environment["LINEAGE_TEST_PYTHON"]

/// Model files written by their real producers are committed tensor-aware, listed through their
/// readers, and checked out byte-identical; malformed ones are refused before anything is written.
@Suite(.serialized, .enabled(if: formatsTestPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
struct FormatsCLITests {
  @Test func numpyFilesCommitByTensorAndCheckOutByteIdentical() throws {
    let python = try #require(formatsTestPython)
    let dir = TemporaryDirectory("lineage-formats")
    let d = dir.path
    let writer = """
      import numpy as np, os
      os.makedirs("model", exist_ok=True)
      rng = np.random.default_rng(5)
      w = rng.standard_normal((256, 128)).astype(np.float32)
      np.save("model/w.npy", w)
      np.savez("model/all.npz", w=w, b=np.arange(7, dtype=">i4"), f=np.asfortranarray(rng.standard_normal((4, 3))))
      np.savez_compressed("model/packed.npz", w=w)
      """
    let r = try runProcess(python, ["-c", writer], in: d)
    try #require(r.status == 0, "\(r.stderr)")
    try lineage(["init"], in: d)
    let commit = try lineage(["commit", "model", "-m", "numpy", "--json"], in: d)
    let summary = try #require(parseJSON(commit.stdout) as? [String: Any])
    // w's 128 KiB appear verbatim in w.npy and all.npz: stored once (deflated, packed.npz holds
    // a second, different copy), not three times.
    let stored = summary["new_stored_bytes"] as? Int ?? .max
    let oneCopy = 256 * 128 * 4
    #expect(stored < oneCopy * 2, "\(commit.stdout)")
    let ls = try lineage(["ls", "--tensors", "--json"], in: d)
    let files = try #require((parseJSON(ls.stdout) as? [String: Any])?["files"] as? [[String: Any]])
    let byPath = Dictionary(uniqueKeysWithValues: files.map { ($0["path"] as? String ?? "", $0) })
    #expect(byPath["all.npz"]?["format"] as? String == "npz")
    let all = try #require(byPath["all.npz"]?["tensors"] as? [[String: Any]])
    #expect(Set(all.compactMap { $0["name"] as? String }) == ["w", "b", "f"])
    let b = all.first { $0["name"] as? String == "b" }
    #expect(b?["storage"] as? String == "encoded (big-endian array)")
    let packed = byPath["packed.npz"]?["tensors"] as? [[String: Any]]
    let packedStorage = packed?.first?["storage"] as? String
    #expect(packedStorage == "encoded (deflated zip entry)")
    // A tensor that is not stored verbatim (big-endian) checks out from the tensor view.
    try lineage(["checkout", "HEAD", "--tensor", "b", "--file", "all.npz", "-o", "b.safetensors"], in: d)
    let check = try runProcess(
      python, ["-c", "from safetensors.numpy import load_file; import numpy as np; b = load_file('b.safetensors')['b']; print(b.dtype, b.tolist())"], in: d)
    #expect(check.stdout == "int32 [0, 1, 2, 3, 4, 5, 6]\n", "\(check.stdout) \(check.stderr)")
    try lineage(["checkout", "HEAD", "-o", "out"], in: d)
    for f in ["w.npy", "all.npz", "packed.npz"] {
      #expect(readBytes("\(d)/out/\(f)") == readBytes("\(d)/model/\(f)"), "\(f)")
    }
    try lineage(["fsck", "--full"], in: d)
  }

  @Test func onnxModelsWithExternalDataCommitByTensorAndCheckOutByteIdentical() throws {
    let python = try #require(formatsTestPython)
    let dir = TemporaryDirectory("lineage-onnx-cli")
    let d = dir.path
    let writer = """
      import numpy as np, onnx, os, shutil, importlib.util
      from onnx import helper, numpy_helper, TensorProto
      rng = np.random.default_rng(3)
      w = numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), "onnx::MatMul_7")
      b = numpy_helper.from_array(rng.standard_normal((32,)).astype(np.float32), "model.layers.0.mlp.up_proj.bias")
      node = helper.make_node("MatMul", ["x", "onnx::MatMul_7"], ["y"], name="/model/layers.0/mlp/up_proj/MatMul")
      add = helper.make_node("Add", ["y", "model.layers.0.mlp.up_proj.bias"], ["z"], name="/model/layers.0/mlp/up_proj/Add")
      graph = helper.make_graph([node, add], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 32])], [w, b])
      model = helper.make_model(graph, producer_name="lineage-test")
      os.makedirs("m", exist_ok=True)
      onnx.save_model(model, "m/model.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
          location="weights.bin", size_threshold=0)
      src = os.path.join(os.path.dirname(importlib.util.find_spec("silero_vad").origin), "data", "silero_vad.onnx")
      shutil.copy(src, "m/silero_vad.onnx")
      """
    let r = try runProcess(python, ["-c", writer], in: d)
    try #require(r.status == 0, "\(r.stderr)")
    try lineage(["init"], in: d)
    try lineage(["commit", "m", "-m", "onnx"], in: d)
    let ls = try lineage(["ls", "--json"], in: d)
    let files = try #require((parseJSON(ls.stdout) as? [String: Any])?["files"] as? [[String: Any]])
    let weights = try #require(files.first { $0["path"] as? String == "weights.bin" })
    #expect(weights["format"] as? String == "onnx-data")
    #expect((weights["tensors"] as? [[String: Any]])?.count == 2)
    let silero = try #require(files.first { $0["path"] as? String == "silero_vad.onnx" })
    #expect(silero["format"] as? String == "onnx")
    #expect(((silero["tensors"] as? [[String: Any]])?.count ?? 0) > 10)
    let view = try lineage(["ls", "--tensors"], in: d)
    #expect(view.stdout.contains("onnx::MatMul_7") && view.stdout.contains("external:weights.bin"), "\(view.stdout)")
    try lineage(["checkout", "HEAD", "-o", "out"], in: d)
    for f in ["model.onnx", "weights.bin", "silero_vad.onnx"] {
      #expect(readBytes("\(d)/out/\(f)") == readBytes("\(d)/m/\(f)"), "\(f)")
    }
  }

  @Test func aShardedHuggingFaceDirectoryReadsAsOneModel() throws {
    let python = try #require(formatsTestPython)
    let dir = TemporaryDirectory("lineage-shards")
    let d = dir.path
    let writer = """
      import numpy as np, json, os
      from safetensors.numpy import save_file
      rng = np.random.default_rng(9)
      os.makedirs("hf", exist_ok=True)
      shards = {
          "model-00001-of-00002.safetensors": {"model.embed_tokens.weight": rng.standard_normal((32, 8)).astype(np.float32),
                                               "model.layers.0.mlp.up_proj.weight": rng.standard_normal((16, 8)).astype(np.float32)},
          "model-00002-of-00002.safetensors": {"lm_head.weight": rng.standard_normal((32, 8)).astype(np.float32)},
      }
      weight_map = {}
      for name, tensors in shards.items():
          save_file(tensors, "hf/" + name, metadata={"format": "pt"})
          weight_map.update({k: name for k in tensors})
      json.dump({"metadata": {"total_size": 4 * 8 * 80}, "weight_map": weight_map}, open("hf/model.safetensors.index.json", "w"))
      json.dump({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}, open("hf/config.json", "w"))
      """
    let r = try runProcess(python, ["-c", writer], in: d)
    try #require(r.status == 0, "\(r.stderr)")
    try lineage(["init"], in: d)
    try lineage(["commit", "hf", "-m", "sharded"], in: d)
    let view = try lineage(["ls", "--model", "--json"], in: d)
    let model = try #require(parseJSON(view.stdout) as? [String: Any])
    #expect(model["index"] as? String == "model.safetensors.index.json")
    #expect((model["config"] as? [String: String])?["architectures"] == "LlamaForCausalLM")
    let names = (model["tensors"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
    #expect(names == ["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "lm_head.weight"])
    // An index that lies about where a tensor is: the model view names the problem.
    let lie = """
      import json
      i = json.load(open("hf/model.safetensors.index.json"))
      i["weight_map"]["lm_head.weight"] = "model-00001-of-00002.safetensors"
      json.dump(i, open("hf/model.safetensors.index.json", "w"))
      """
    _ = try runProcess(python, ["-c", lie], in: d)
    try lineage(["commit", "hf", "-m", "lying index"], in: d)
    let bad = try lineage(["ls", "--model"], in: d, expect: 4)
    #expect(bad.stderr.contains("the index puts tensor 'lm_head.weight' in 'model-00001-of-00002.safetensors', which does not hold it"), "\(bad.stderr)")
  }

  @Test func ggufQuantizationsCommitByTensorDiffNumericallyAndCheckOutByteIdentical() throws {
    let python = try #require(formatsTestPython)
    let dir = TemporaryDirectory("lineage-gguf-cli")
    let d = dir.path
    let writer = """
      import numpy as np, gguf
      from gguf import GGUFWriter, GGMLQuantizationType as Q, quants
      rng = np.random.default_rng(4)
      base = {"token_embd.weight": rng.standard_normal((64, 128)).astype(np.float32),
              "blk.0.ffn_up.weight": rng.standard_normal((32, 128)).astype(np.float32)}
      def write(path, tensors):
          w = GGUFWriter(path, "llama")
          w.add_block_count(1)
          for name, a in tensors.items():
              q = quants.quantize(a, Q.Q8_0)
              w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=Q.Q8_0)
          w.add_tensor("output_norm.weight", np.ones(128, dtype=np.float16))
          w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
      write("base.gguf", base)
      child = dict(base)
      child["blk.0.ffn_up.weight"] = base["blk.0.ffn_up.weight"] + 0.01 * rng.standard_normal((32, 128)).astype(np.float32)
      write("child.bin", child)
      """
    let r = try runProcess(python, ["-c", writer], in: d)
    try #require(r.status == 0, "\(r.stderr)")
    try lineage(["init"], in: d)
    try lineage(["commit", "base.gguf", "-m", "base", "--tag", "base"], in: d)
    // A GGUF file named .bin is still read as GGUF (by its magic).
    try FileManager.default.moveItem(atPath: "\(d)/base.gguf", toPath: "\(d)/base.orig")
    try FileManager.default.copyItem(atPath: "\(d)/child.bin", toPath: "\(d)/base.gguf")
    try lineage(["commit", "base.gguf", "-m", "child", "--parent", "base:quantize", "--tag", "child"], in: d)
    let ls = try lineage(["ls", "child", "--tensors"], in: d)
    #expect(ls.stdout.contains("blk.0.ffn_up.weight") && ls.stdout.contains("Q8_0") && ls.stdout.contains("[32, 128]"), "\(ls.stdout)")
    let diff = try lineage(["diff", "base", "child", "--all", "--json"], in: d)
    let changes = try #require((parseJSON(diff.stdout) as? [String: Any])?["tensors"] as? [[String: Any]])
    let up = try #require(changes.first { $0["name"] as? String == "blk.0.ffn_up.weight" })
    let l2 = try #require(up["relative_l2"] as? Double)
    #expect(l2 > 0.003 && l2 < 0.03, "\(up)")
    #expect(changes.first { $0["name"] as? String == "token_embd.weight" }?["status"] as? String == "unchanged")
    // A quantized tensor checks out as F32 safetensors, equal to gguf-py's dequantization.
    try lineage(["checkout", "child", "--tensor", "blk.0.ffn_up.weight", "-o", "up.safetensors"], in: d)
    let compare = """
      import numpy as np, gguf
      from safetensors.numpy import load_file
      r = gguf.GGUFReader("child.bin")
      t = next(t for t in r.tensors if t.name == "blk.0.ffn_up.weight")
      ref = gguf.quants.dequantize(t.data, t.tensor_type).reshape(32, 128)
      got = load_file("up.safetensors")["blk.0.ffn_up.weight"]
      print(got.dtype, got.shape, np.array_equal(got, ref))
      """
    let same = try runProcess(python, ["-c", compare], in: d)
    #expect(same.stdout == "float32 (32, 128) True\n", "\(same.stdout) \(same.stderr)")
    try lineage(["checkout", "base", "-o", "out-base"], in: d)
    try lineage(["checkout", "child", "-o", "out-child"], in: d)
    #expect(readBytes("\(d)/out-base/base.gguf") == readBytes("\(d)/base.orig"))
    #expect(readBytes("\(d)/out-child/base.gguf") == readBytes("\(d)/child.bin"))
  }

  @Test func aPublishedTorchScriptArchiveCommitsByTensorAndAMaliciousPickleIsRefused() throws {
    let python = try #require(formatsTestPython)
    let dir = TemporaryDirectory("lineage-torch-cli")
    let d = dir.path
    let writer = """
      import importlib.util, os, shutil, pickle, zipfile
      src = os.path.join(os.path.dirname(importlib.util.find_spec("silero_vad").origin), "data", "silero_vad.jit")
      shutil.copy(src, "silero_vad.jit")
      class Evil:
          def __reduce__(self):
              return (os.system, ("touch pwned",))
      with zipfile.ZipFile("evil.pt", "w") as z:
          z.writestr("archive/data.pkl", pickle.dumps({"weight": Evil()}, protocol=2))
          z.writestr("archive/version", "3")
      """
    let r = try runProcess(python, ["-c", writer], in: d)
    try #require(r.status == 0, "\(r.stderr)")
    try lineage(["init"], in: d)
    let bad = try lineage(["commit", "evil.pt", "-m", "evil"], in: d, expect: 4)
    #expect(bad.stderr.contains("evil.pt: not a valid pytorch file") && bad.stderr.contains("posix.system"), "\(bad.stderr)")
    #expect(!FileManager.default.fileExists(atPath: "\(d)/pwned"))
    try lineage(["commit", "silero_vad.jit", "-m", "silero"], in: d)
    let ls = try lineage(["ls", "--tensors", "--json"], in: d)
    let files = try #require((parseJSON(ls.stdout) as? [String: Any])?["files"] as? [[String: Any]])
    #expect(files.first?["format"] as? String == "pytorch")
    #expect((files.first?["tensors"] as? [[String: Any]])?.count == 33)
    try lineage(["checkout", "HEAD", "-o", "out"], in: d)
    #expect(readBytes("\(d)/out/silero_vad.jit") == readBytes("\(d)/silero_vad.jit"))
  }

  /// The same weights written by five producers compare as identical (or, quantized, as nearly
  /// so), from paths and from revisions alike.
  @Test func compareReadsEveryFormat() throws {
    let python = try #require(formatsTestPython)
    let dir = TemporaryDirectory("lineage-compare")
    let d = dir.path
    let writer = """
      import numpy as np, gguf, onnx, sys, types, pickle, zipfile, collections, io
      from onnx import helper, numpy_helper, TensorProto
      from safetensors.numpy import save_file
      rng = np.random.default_rng(12)
      t = {"layers.0.w": rng.standard_normal((16, 64)).astype(np.float32), "layers.0.b": rng.standard_normal(64).astype(np.float32)}
      save_file(t, "model.safetensors")
      np.savez("model.npz", **t)
      w = gguf.GGUFWriter("model.gguf", "llama")
      for name, a in t.items():
          q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
          w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
      w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
      g = helper.make_graph([], "g", [], [], [numpy_helper.from_array(a, n) for n, a in t.items()])
      onnx.save_model(helper.make_model(g), "model.onnx")
      torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
      sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
      def rebuild(*a): pass
      rebuild.__module__, rebuild.__qualname__ = "torch._utils", "_rebuild_tensor_v2"; utils._rebuild_tensor_v2 = rebuild
      FloatStorage = type("FloatStorage", (), {"__module__": "torch"}); torch.FloatStorage = FloatStorage
      class S:
          def __init__(self, k, a): self.k, self.a = k, a
      class T:
          def __init__(self, s): self.s = s
          def __reduce_ex__(self, p): return (rebuild, (self.s, 0, self.s.a.shape, tuple(x // 4 for x in self.s.a.strides), False, collections.OrderedDict()))
      class P(pickle.Pickler):
          def persistent_id(self, o): return ("storage", FloatStorage, o.k, "cpu", o.a.size) if isinstance(o, S) else None
      storages = [S(str(i), a) for i, a in enumerate(t.values())]
      buf = io.BytesIO(); P(buf, protocol=2).dump(collections.OrderedDict((n, T(s)) for n, s in zip(t, storages)))
      with zipfile.ZipFile("model.pt", "w") as z:
          z.writestr("archive/data.pkl", buf.getvalue())
          for s in storages: z.writestr("archive/data/" + s.k, s.a.tobytes())
      """
    let r = try runProcess(python, ["-c", writer], in: d)
    try #require(r.status == 0, "\(r.stderr)")
    func compare(_ a: String, _ b: String) throws -> [String: [String: Any]] {
      let out = try lineage(["compare", a, b, "--json"], in: d)
      let rows = try #require((parseJSON(out.stdout) as? [String: Any])?["tensors"] as? [[String: Any]])
      return Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as? String ?? "", $0) })
    }
    // Outside a repository: paths alone.
    for other in ["model.npz", "model.onnx", "model.pt"] {
      let rows = try compare("model.safetensors", other)
      #expect(rows.count == 2, "\(other)")
      for (name, row) in rows {
        #expect(row["relative_l2"] as? Double == 0 && row["cosine"] as? Double ?? 0 > 0.999_999, "\(other) \(name) \(row)")
      }
    }
    let quantized = try compare("model.safetensors", "model.gguf")
    let w = try #require(quantized["layers.0.w"])
    #expect((w["cosine"] as? Double ?? 0) > 0.9999 && (w["relative_l2"] as? Double ?? 1) > 0, "\(w)")
    #expect(w["dtype_b"] as? String == "Q8_0")
    // A revision against a path.
    try lineage(["init"], in: d)
    try lineage(["commit", "model.gguf", "-m", "q8"], in: d)
    let fromStore = try compare("HEAD", "model.safetensors")
    #expect(fromStore["layers.0.w"]?["cosine"] as? Double == w["cosine"] as? Double)
  }

  @Test func aMalformedModelFileStopsTheCommitAndWritesNothing() throws {
    let dir = TemporaryDirectory("lineage-formats-bad")
    let d = dir.path
    try lineage(["init"], in: d)
    _ = dir.write("ok.safetensors", SafetensorsBytes.valid([("a", [4])]))
    // An npy header claiming more data than the file has.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }"
    var npy: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0]
    npy += Array(header.utf8) + [0, 0, 0, 0]
    _ = dir.write("bad.npy", npy)
    let before = try lineage(["du", "--json"], in: d).stdout
    let r = try lineage(["commit", "ok.safetensors", "bad.npy", "-m", "x"], in: d, expect: 4)
    #expect(r.stderr.contains("bad.npy: not a valid npy file: .npy data is 4 bytes; the header implies 4000"), "\(r.stderr)")
    #expect(try lineage(["du", "--json"], in: d).stdout == before)
    try lineage(["log"], in: d, expect: 5)
  }
}
