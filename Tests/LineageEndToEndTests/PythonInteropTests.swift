import Foundation
import LineageTestSupport
import Testing

/// The Python of the pinned test venv (`make test` creates it and sets LINEAGE_TEST_PYTHON).
let testPython = ProcessInfo.processInfo.environment["LINEAGE_TEST_PYTHON"]

/// Files written by the real `safetensors` package are stored and given back bit-exact, and
/// lineage's own output loads back in it.
@Suite(.serialized, .enabled(if: testPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
struct PythonInteropTests {
  @Test func filesFromTheSafetensorsPackageRoundTrip() throws {
    let python = try #require(testPython)
    let dir = TemporaryDirectory("lineage-py")
    let d = dir.path
    let writer = """
      import numpy as np
      from safetensors.numpy import save_file
      rng = np.random.default_rng(7)
      tensors = {
          "model.embed_tokens.weight": rng.standard_normal((512, 64)).astype(np.float32),
          "model.layers.0.mlp.up_proj.weight": rng.standard_normal((256, 64)).astype(np.float16),
          "model.layers.0.input_layernorm.weight": np.ones(64, dtype=np.float64),
          "tokens": rng.integers(0, 50000, size=(33,), dtype=np.int64),
          "mask": rng.integers(0, 2, size=(7, 3)).astype(np.bool_),
          "scalar": np.array(3, dtype=np.int8),
          "empty": np.zeros((0, 4), dtype=np.float32),
      }
      save_file(tensors, "real.safetensors", metadata={"format": "np", "source": "lineage test"})
      np.savez("arrays.npz", **{k: v for k, v in tensors.items()})
      """
    try run(python, ["-c", writer], in: d)
    try lineage(["init"], in: d)
    try lineage(["commit", "real.safetensors", "arrays.npz", "-m", "from python"], in: d)
    let ls = try lineage(["ls", "HEAD"], in: d)
    #expect(ls.stdout.contains("model.layers.0.mlp.up_proj.weight") && ls.stdout.contains("F16"))
    try lineage(["checkout", "HEAD", "-o", "out"], in: d)
    #expect(readBytes("\(d)/out/real.safetensors") == readBytes("\(d)/real.safetensors"))
    #expect(readBytes("\(d)/out/arrays.npz") == readBytes("\(d)/arrays.npz"))
    // The npz holds the same names: the tensor is ambiguous until a file is named.
    let ambiguous = try LineageBinary.run(["checkout", "HEAD", "--tensor", "model.embed_tokens.weight"], in: d)
    #expect(ambiguous.status == 4 && ambiguous.stderr.contains("--file"))
    try lineage(["checkout", "HEAD", "--tensor", "model.embed_tokens.weight", "--file", "arrays.npz", "-o", "emb-npz.safetensors"], in: d)
    try lineage(["checkout", "HEAD", "--tensor", "model.embed_tokens.weight", "--file", "real.safetensors", "-o", "emb.safetensors"], in: d)
    #expect(Array(readBytes("\(d)/emb-npz.safetensors").suffix(512 * 64 * 4)) == Array(readBytes("\(d)/emb.safetensors").suffix(512 * 64 * 4)))
    let reader = """
      import numpy as np
      from safetensors.numpy import load_file
      original = load_file("real.safetensors")
      one = load_file("emb.safetensors")
      assert list(one) == ["model.embed_tokens.weight"], list(one)
      assert one["model.embed_tokens.weight"].dtype == np.float32
      assert np.array_equal(one["model.embed_tokens.weight"], original["model.embed_tokens.weight"])
      back = load_file("out/real.safetensors")
      assert all(np.array_equal(back[k], original[k]) for k in original)
      print("ok")
      """
    #expect(try run(python, ["-c", reader], in: d) == "ok\n")
  }

  @discardableResult
  func run(_ python: String, _ args: [String], in dir: String) throws -> String {
    let r = try runProcess(python, args, in: dir)
    #expect(r.status == 0, "python failed: \(r.stderr)")
    return r.stdout
  }
}
