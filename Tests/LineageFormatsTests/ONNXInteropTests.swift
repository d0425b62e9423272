import Foundation
import LineageCore
import LineageTestSupport
import Testing

@testable import LineageFormats

/// The test venv's Python (`make test` sets LINEAGE_TEST_PYTHON); these tests are skipped without it.
private let onnxTestPython = ProcessInfo.processInfo.environment["LINEAGE_TEST_PYTHON"]

/// Builds a model with the `onnx` package (raw_data and typed-field initializers, a Constant, an
/// If with a subgraph initializer, a STRING initializer, torch-style node names), saves it whole
/// and with external data, and dumps each tensor's expected little-endian bytes (numpy_helper).
private let buildModelScript = #"""
import json, os
import numpy as np, onnx, ml_dtypes
from onnx import helper, numpy_helper, TensorProto as TP
rng = np.random.default_rng(7)
inits = []
def add(arr, name):
    inits.append(numpy_helper.from_array(arr, name))
add(rng.standard_normal((4, 3)).astype(np.float32), "onnx::MatMul_7")
add(rng.standard_normal((3,)).astype(np.float32), "onnx::Add_8")
add(rng.standard_normal((10, 4)).astype(np.float32), "onnx::Gather_9")
add(np.ones(4, np.float32), "model.norm.weight")
add(rng.standard_normal((5,)).astype(np.float16), "half")
add(rng.standard_normal((2, 3)).astype(ml_dtypes.bfloat16), "bf")
add(np.array([1, -2, 3**30], dtype=np.int64), "i64")
add(np.array([-128, 0, 127, 5, -1, 2, 3], dtype=np.int8), "i8")
add(np.array([True, False, True, True]), "flags")
add(rng.standard_normal((2, 2)), "f64")
add(np.zeros((0, 3), np.float32), "empty")
inits.append(helper.make_tensor("typed_f32", TP.FLOAT, [2, 2], [1.0, -2.5, 3.25, 0.0]))
inits.append(helper.make_tensor("typed_f16", TP.FLOAT16, [3], np.array([1.0, -0.5, 65504], dtype=np.float16)))
inits.append(helper.make_tensor("typed_i8", TP.INT8, [4], [-128, -1, 0, 127]))
inits.append(helper.make_tensor("typed_i64", TP.INT64, [2], [-(2**40), 7]))
inits.append(helper.make_tensor("typed_f64", TP.DOUBLE, [2], [1e300, -0.125]))
inits.append(helper.make_tensor("typed_u32", TP.UINT32, [2], [4000000000, 1]))
inits.append(helper.make_tensor("words", TP.STRING, [2], [b"a", b"bc"]))
for name, field in [("typed_f32", "float_data"), ("typed_f16", "int32_data"), ("typed_i8", "int32_data"), ("typed_i64", "int64_data"), ("typed_f64", "double_data"), ("typed_u32", "uint64_data")]:
    t = next(t for t in inits if t.name == name)
    assert len(getattr(t, field)) > 0 and not t.HasField("raw_data"), name
then_g = helper.make_graph([helper.make_node("Identity", ["then_w"], ["t_out"])], "then", [],
    [helper.make_tensor_value_info("t_out", TP.FLOAT, [3])], [numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "then_w")])
else_g = helper.make_graph([helper.make_node("Constant", [], ["e_out"], value=numpy_helper.from_array(np.arange(3, dtype=np.float32), "e_val"))], "else", [],
    [helper.make_tensor_value_info("e_out", TP.FLOAT, [3])])
nodes = [
    helper.make_node("Gather", ["onnx::Gather_9", "ids"], ["h0"], name="/model/embed_tokens/Gather"),
    helper.make_node("MatMul", ["x", "onnx::MatMul_7"], ["mm"], name="/model/layers.0/mlp/up_proj/MatMul"),
    helper.make_node("Add", ["mm", "onnx::Add_8"], ["h1"], name="/model/layers.0/mlp/up_proj/Add"),
    helper.make_node("Constant", [], ["c0"], name="/model/Constant", value=numpy_helper.from_array(np.array([3, 4], np.int64), "")),
    helper.make_node("If", ["cond"], ["y_if"], name="/model/If", then_branch=then_g, else_branch=else_g),
]
graph = helper.make_graph(nodes, "main",
    [helper.make_tensor_value_info("x", TP.FLOAT, [1, 4]), helper.make_tensor_value_info("ids", TP.INT64, [1]), helper.make_tensor_value_info("cond", TP.BOOL, [])],
    [helper.make_tensor_value_info("h1", TP.FLOAT, [1, 3])], inits)
model = helper.make_model(graph, producer_name="lineage-test", producer_version="0.1", opset_imports=[helper.make_opsetid("", 17)])
onnx.save_model(model, "model.onnx")
dtypes = {1: "F32", 2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64", 9: "BOOL", 10: "F16", 11: "F64", 12: "U32", 13: "U64", 16: "BF16", 17: "F8_E4M3", 19: "F8_E5M2"}
expected, skipped = [], []
def dump(name, t):
    if t.data_type not in dtypes:
        skipped.append(name); return
    a = numpy_helper.to_array(t)
    path = f"expected/{len(expected)}.bin"
    os.makedirs("expected", exist_ok=True)
    with open(path, "wb") as f:
        f.write(a.astype(a.dtype.newbyteorder("<")).tobytes())
    expected.append({"name": name, "dtype": dtypes[t.data_type], "dims": list(t.dims), "file": path, "raw": t.HasField("raw_data")})
def walk(g):
    for t in g.initializer: dump(t.name, t)
    for n in g.node:
        for a in n.attribute:
            if a.HasField("t"): dump(n.output[0] if n.op_type == "Constant" else n.name + "/" + a.name, a.t)
            if a.HasField("g"): walk(a.g)
walk(model.graph)
os.makedirs("ext", exist_ok=True)
onnx.save_model(model, "ext/model.onnx", save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
ext = onnx.load("ext/model.onnx", load_external_data=False)
external = []
def walk_ext(g):
    for t in g.initializer:
        if t.data_location == TP.EXTERNAL: external.append(t.name)
    for n in g.node:
        for a in n.attribute:
            if a.HasField("g"): walk_ext(a.g)
walk_ext(ext.graph)
json.dump({"tensors": expected, "skipped": skipped, "external": external, "ir_version": model.ir_version}, open("manifest.json", "w"))
"""#

/// Lists every tensor of the ONNX files shipped in the silero-vad wheel (initializers and node
/// attribute tensors, subgraphs included), named as ONNXSource names them, with the bytes
/// `onnx.load` + `numpy_helper.to_array` give.
private let sileroScript = #"""
import glob, importlib.util, json, os
import onnx
from onnx import numpy_helper
data = os.path.join(os.path.dirname(importlib.util.find_spec("silero_vad").origin), "data")
dtypes = {1: "F32", 2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64", 9: "BOOL", 10: "F16", 11: "F64", 12: "U32", 13: "U64", 16: "BF16", 17: "F8_E4M3", 19: "F8_E5M2"}
models = []
for path in sorted(glob.glob(os.path.join(data, "*.onnx"))):
    model = onnx.load(path)
    tensors = []
    out = "expected/%d" % len(models)
    os.makedirs(out, exist_ok=True)
    def dump(name, t):
        if t.data_type not in dtypes:
            return
        a = numpy_helper.to_array(t)
        f = "%s/%d.bin" % (out, len(tensors))
        with open(f, "wb") as fh:
            fh.write(a.astype(a.dtype.newbyteorder("<")).tobytes())
        tensors.append({"name": name, "dtype": dtypes[t.data_type], "dims": list(t.dims), "file": f})
    def walk(g):
        for t in g.initializer:
            dump(t.name, t)
        for k, n in enumerate(g.node):
            label = n.name or (n.output[0] if n.output else "%s_%d" % (n.op_type, k))
            for a in n.attribute:
                if a.HasField("t"):
                    dump(n.output[0] if n.op_type == "Constant" and n.domain in ("", "ai.onnx") else label + "/" + a.name, a.t)
                for i, t in enumerate(a.tensors):
                    dump("%s/%s/%d" % (label, a.name, i), t)
                if a.HasField("g"):
                    walk(a.g)
                for sg in a.graphs:
                    walk(sg)
    walk(model.graph)
    models.append({"path": path, "tensors": tensors, "ir_version": model.ir_version, "producer": model.producer_name})
json.dump(models, open("manifest.json", "w"))
"""#

private struct Expected {
  var name: String
  var dtype: String
  var dims: [UInt64]
  var bytes: [UInt8]
  var raw: Bool
}

private func expectations(_ list: [[String: Any]], in dir: String) -> [Expected] {
  list.map { t in
    Expected(
      name: t["name"] as? String ?? "", dtype: t["dtype"] as? String ?? "", dims: (t["dims"] as? [Int] ?? []).map { UInt64($0) },
      bytes: readBytes("\(dir)/\(t["file"] as? String ?? "")"), raw: t["raw"] as? Bool ?? false)
  }
}

private func runPython(_ script: String, in dir: TemporaryDirectory) throws -> Any? {
  let python = try #require(onnxTestPython)
  let r = try runProcess(python, ["-c", script], in: dir.path)
  try #require(r.status == 0, "python failed: \(r.stderr)")
  return parseJSON(String(decoding: readBytes(dir.path + "/manifest.json"), as: UTF8.self))
}

@Suite(.serialized, .enabled(if: onnxTestPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
struct ONNXInteropTests {
  @Test func tensorsMatchTheONNXPackageByteForByte() throws {
    let dir = TemporaryDirectory("onnx-interop")
    let manifest = try #require(try runPython(buildModelScript, in: dir) as? [String: Any])
    let expected = expectations(manifest["tensors"] as? [[String: Any]] ?? [], in: dir.path)
    try #require(expected.count == 20)
    let file = readBytes(dir.path + "/model.onnx")
    let s = try ONNXSource(MemoryBytes(file))
    #expect(s.tensors.map(\.name) == expected.map(\.name))
    #expect(s.skipped.map(\.name) == manifest["skipped"] as? [String])
    for e in expected {
      let t = try #require(s.tensor(named: e.name))
      #expect(t.dtype.rawValue == e.dtype && t.shape == e.dims, "\(e.name)")
      #expect(try s.bytes(of: t) == e.bytes, "\(e.name)")
      if e.raw {
        // raw_data is a region at the exact bytes of the file.
        guard case .contiguous(let offset) = t.layout else {
          Issue.record("\(e.name) is raw_data but not contiguous")
          continue
        }
        #expect(Array(file[Int(offset)..<Int(offset) + e.bytes.count]) == e.bytes, "\(e.name)")
        #expect(s.regions.contains { $0.name == e.name && $0.offset == offset && $0.byteLength == UInt64(e.bytes.count) })
      } else {
        #expect(t.layout == .encoded("onnx typed field"), "\(e.name)")
      }
    }
    #expect(s.regions.count == expected.filter(\.raw).count)
    #expect(
      s.parameterNames == [
        "onnx::MatMul_7": "model.layers.0.mlp.up_proj.weight", "onnx::Add_8": "model.layers.0.mlp.up_proj.bias",
        "onnx::Gather_9": "model.embed_tokens.weight", "model.norm.weight": "model.norm.weight",
      ])
    #expect(s.irVersion == Int64(manifest["ir_version"] as? Int ?? -1))
    #expect(s.producer == "lineage-test 0.1")
    #expect(s.opsets.map(\.domain) == [""] && s.opsets.map(\.version) == [17])

    // The same model saved with external data: the tensors onnx moved out are read through the
    // resolver, from the regions externalRegions() lists.
    let extDir = dir.path + "/ext"
    let extFile = readBytes(extDir + "/model.onnx")
    let weights = readBytes(extDir + "/weights.bin")
    let x = try ONNXSource(MemoryBytes(extFile)) { path in MemoryBytes(readBytes("\(extDir)/\(path)")) }
    let moved = Set(manifest["external"] as? [String] ?? [])
    try #require(moved.count == 12)
    #expect(x.tensors.map(\.name) == expected.map(\.name))
    for e in expected {
      let t = try #require(x.tensor(named: e.name))
      #expect(try x.bytes(of: t) == e.bytes, "\(e.name)")
      if moved.contains(e.name) {
        guard case .external(let path, let offset) = t.layout else {
          Issue.record("\(e.name) should be external")
          continue
        }
        #expect(path == "weights.bin")
        #expect(Array(weights[Int(offset)..<Int(offset) + e.bytes.count]) == e.bytes, "\(e.name)")
      }
    }
    let regions = x.externalRegions()
    #expect(Array(regions.keys) == ["weights.bin"])
    #expect(Set(regions["weights.bin"]?.map(\.name) ?? []) == moved)
    for r in regions["weights.bin"] ?? [] {
      let e = try #require(expected.first { $0.name == r.name })
      #expect(Array(weights[Int(r.offset)..<Int(r.offset + r.byteLength)]) == e.bytes)
    }
    // Without a resolver the external tensors are listed, and reading them is refused.
    let blind = try ONNXSource(MemoryBytes(extFile))
    let first = try #require(blind.tensor(named: "onnx::MatMul_7"))
    #expect(throws: ONNXError.externalDataUnavailable(name: "onnx::MatMul_7", location: "weights.bin")) { try blind.bytes(of: first) }
  }

  @Test func sileroVADModelsFromTheirWheelMatchONNXLoad() throws {
    let dir = TemporaryDirectory("onnx-silero")
    let models = try #require(try runPython(sileroScript, in: dir) as? [[String: Any]])
    try #require(models.count >= 1)
    for model in models {
      let path = try #require(model["path"] as? String)
      let expected = expectations(model["tensors"] as? [[String: Any]] ?? [], in: dir.path)
      let s = try ONNXSource(MemoryBytes(readBytes(path)))
      #expect(!expected.isEmpty)
      #expect(s.tensors.map(\.name) == expected.map(\.name), "\(path)")
      #expect(s.skipped.isEmpty, "\(path)")
      // Every raw_data tensor (the weights here are Constants inside If branches) is a region.
      let contiguous = s.tensors.filter { if case .contiguous = $0.layout { return true } else { return false } }
      #expect(!contiguous.isEmpty && s.regions.count == contiguous.count, "\(path)")
      #expect(s.irVersion == Int64(model["ir_version"] as? Int ?? -1))
      #expect(s.producer.hasPrefix(model["producer"] as? String ?? "?"))
      for e in expected {
        let t = try #require(s.tensor(named: e.name), "\(path): \(e.name)")
        #expect(t.dtype.rawValue == e.dtype && t.shape == e.dims, "\(path): \(e.name)")
        #expect(try s.bytes(of: t) == e.bytes, "\(path): \(e.name)")
      }
    }
  }
}
