"""Small valid inputs for each fuzz target, written by the real producers (make fuzz runs this).

Usage: python fuzz-seeds.py DIR  -> DIR/<target>/seed-*  (safetensors npy npz zip gguf onnx pickle pytorch)
torch is not needed: PyTorch files are written in torch.save's zip layout with stub classes.
"""
import collections, io, os, pickle, sys, types, zipfile
import numpy as np

out = sys.argv[1]
def path(target, name):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    return os.path.join(out, target, name)

rng = np.random.default_rng(1)
a = rng.standard_normal((4, 8)).astype(np.float32)

from safetensors.numpy import save_file
save_file({"a": a, "b": np.arange(6, dtype=np.int8)}, path("safetensors", "seed-1"), metadata={"format": "pt"})

np.save(path("npy", "seed-1"), a)
np.save(path("npy", "seed-2"), np.asfortranarray(np.arange(6, dtype=">i2").reshape(2, 3)))
np.savez(path("npz", "seed-1.npz"), a=a, b=np.arange(3, dtype=np.uint8))
np.savez_compressed(path("npz", "seed-2.npz"), a=a)
for f in os.listdir(os.path.join(out, "npz")):
    os.replace(os.path.join(out, "npz", f), os.path.join(out, "npz", f.replace(".npz", "")))
    with open(os.path.join(out, "npz", f.replace(".npz", "")), "rb") as src, open(path("zip", f.replace(".npz", "")), "wb") as dst:
        dst.write(src.read())

import gguf
from gguf import GGMLQuantizationType as Q, quants
w = gguf.GGUFWriter(path("gguf", "seed-1"), "llama")
w.add_block_count(1)
w.add_array("tokenizer.ggml.tokens", ["a", "b"])
q = quants.quantize(rng.standard_normal((2, 64)).astype(np.float32), Q.Q8_0)
w.add_tensor("blk.0.w", q, raw_shape=q.shape, raw_dtype=Q.Q8_0)
w.add_tensor("norm", np.ones(8, dtype=np.float16))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

import onnx
from onnx import helper, numpy_helper, TensorProto
init = numpy_helper.from_array(a, "onnx::MatMul_1")
typed = helper.make_tensor("t", TensorProto.INT64, [3], [1, 2, 3])
const = helper.make_node("Constant", [], ["c"], name="/m/Constant", value=numpy_helper.from_array(np.ones(2, np.float16)))
mm = helper.make_node("MatMul", ["x", "onnx::MatMul_1"], ["y"], name="/model/layers.0/mlp/MatMul")
g = helper.make_graph([const, mm], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [init, typed])
onnx.save_model(helper.make_model(g), path("onnx", "seed-1"))

def stub(name):
    m = types.ModuleType(name); sys.modules[name] = m; return m
torch = stub("torch"); utils = stub("torch._utils")
def rebuild(*args): raise RuntimeError("stub")
rebuild.__module__, rebuild.__qualname__, rebuild.__name__ = "torch._utils", "_rebuild_tensor_v2", "_rebuild_tensor_v2"
utils._rebuild_tensor_v2 = rebuild
FloatStorage = type("FloatStorage", (), {}); FloatStorage.__module__ = "torch"; torch.FloatStorage = FloatStorage
class Storage:
    def __init__(self, key, array): self.key, self.array = key, array
class Tensor:
    def __init__(self, s, offset, size, stride): self.s, self.offset, self.size, self.stride = s, offset, size, stride
    def __reduce_ex__(self, proto): return (rebuild, (self.s, self.offset, self.size, self.stride, False, collections.OrderedDict()))
class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", FloatStorage, obj.key, "cpu", obj.array.size) if isinstance(obj, Storage) else None
s = Storage("0", a.reshape(-1))
state = collections.OrderedDict([("w", Tensor(s, 0, (4, 8), (8, 1))), ("w_t", Tensor(s, 0, (8, 4), (1, 8))), ("tail", Tensor(s, 30, (2,), (1,)))])
buf = io.BytesIO(); Pickler(buf, protocol=2).dump({"model": state, "step": 3})
open(path("pickle", "seed-1"), "wb").write(buf.getvalue())
with zipfile.ZipFile(path("pytorch", "seed-1"), "w") as z:
    z.writestr("archive/data.pkl", buf.getvalue())
    z.writestr("archive/byteorder", "little")
    z.writestr("archive/data/0", a.tobytes())
    z.writestr("archive/version", "3")
