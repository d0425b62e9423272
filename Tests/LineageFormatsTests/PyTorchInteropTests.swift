import Foundation
import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

@testable import LineageFormats

private let torchTestPython = ProcessInfo.processInfo.environment["LINEAGE_TEST_PYTHON"]

/// PyTorch archives from real producers: the TorchScript model published in the silero-vad wheel,
/// and checkpoints written in `torch.save`'s exact layout by a Python script without torch
/// (pickled through stub `torch` modules so pickle emits torch's GLOBAL opcodes). Expected
/// values come from Python's own `pickle`, `zipfile` and numpy.
@Suite(.serialized, .enabled(if: torchTestPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
struct PyTorchInteropTests {
  let python = torchTestPython ?? "python3"

  func run(_ script: String, _ arguments: [String], in dir: TemporaryDirectory) throws -> String {
    let r = try runProcess(python, ["-c", script] + arguments, in: dir.path)
    try #require(r.status == 0, "python failed: \(r.stderr)")
    return r.stdout
  }

  func json(_ text: String) throws -> [String: Any] { try #require(parseJSON(text) as? [String: Any]) }

  func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out += [digits[Int(b >> 4)], digits[Int(b & 15)]] }
    return String(decoding: out, as: UTF8.self)
  }

  func sileroFile(_ name: String, in dir: TemporaryDirectory) throws -> String {
    let script = "import importlib.util,os,sys;print(os.path.join(os.path.dirname(importlib.util.find_spec('silero_vad').origin),'data',sys.argv[1]))"
    return try run(script, [name], in: dir).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  @Test func theSileroTorchScriptArchiveMatchesPythonsReading() throws {
    let dir = TemporaryDirectory("pytorch-interop")
    let path = try sileroFile("silero_vad.jit", in: dir)
    let s = try PyTorchSource(MemoryBytes(readBytes(path)))
    let expected = try json(try run(Self.independentReader, [path], in: dir))
    let tensors = try #require(expected["tensors"] as? [[String: Any]])
    let entries = try #require(expected["entries"] as? [String: [String: Any]])
    #expect(s.isTorchScript && s.archiveName == "VADr_v6_10_25_noths_re" && expected["root"] as? String == s.archiveName)
    #expect(s.tensors.count == 33 && tensors.count == 33)
    #expect(s.tensors.map(\.name) == tensors.compactMap { $0["name"] as? String })
    let conv = try #require(s.tensor(named: "_model.encoder.0.reparam_conv.weight"))
    #expect(conv.shape == [128, 129, 3] && conv.dtype == .f32)
    #expect(s.tensor(named: "_model_8k.decoder.rnn.weight_hh")?.shape == [512, 128])
    #expect(s.tensor(named: "constants.0")?.shape == [0])
    for (t, e) in zip(s.tensors, tensors) {
      #expect(t.dtype.rawValue == e["dtype"] as? String, "\(t.name)")
      #expect(t.shape.map { Int($0) } == e["shape"] as? [Int], "\(t.name)")
      #expect(hex(try s.bytes(of: t)) == e["hex"] as? String, "\(t.name)")
    }
    // Every non-empty storage is a stored entry, and so a region holding exactly its bytes.
    #expect(s.regions.count == 30)
    let byEntry = Dictionary(tensors.map { ($0["entry"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    for r in s.regions {
      let t = try #require(tensors.first { $0["name"] as? String == r.name })
      let entry = try #require(entries[t["entry"] as? String ?? ""])
      #expect(entry["stored"] as? Bool == true)
      #expect(r.offset == entry["offset"] as? UInt64 && r.byteLength == entry["size"] as? UInt64, "\(r.name)")
      #expect(hex(try MemoryBytes(readBytes(path)).read(count: Int(r.byteLength), at: r.offset, what: r.name)) == t["hex"] as? String)
    }
    #expect(byEntry.count == 33)
    // The wheel's safetensors export holds the 16 kHz STFT basis with the same values.
    let st = try SafetensorsSource(MemoryBytes(readBytes(try sileroFile("silero_vad_16k.safetensors", in: dir))))
    let basis = try #require(st.tensor(named: "stft_conv.weight"))
    let jitBasis = try #require(s.tensor(named: "_model.stft.forward_basis_buffer"))
    let basisBytes = try st.bytes(of: basis)
    #expect(try basis.shape == jitBasis.shape && basisBytes == s.bytes(of: jitBasis))
  }

  @Test func checkpointsInTorchSaveLayoutReadAsNumpyWroteThem() throws {
    let dir = TemporaryDirectory("pytorch-interop")
    _ = try run(Self.torchSaveWriter, [dir.path], in: dir)
    let expected = try #require(parseJSON(String(decoding: readBytes(dir.path + "/expected.json"), as: UTF8.self)) as? [String: [String: Any]])
    let names = ["model.encoder.weight", "model.encoder.weight_t", "model.half", "model.bf16_tail", "step_counts"]
    // torch.save(..., pickle_protocol=5) writes FRAME, MEMOIZE, SHORT_BINUNICODE and STACK_GLOBAL.
    for file in ["ckpt.pt", "deflated.pt", "protocol5.pt"] {
      let s = try PyTorchSource(MemoryBytes(readBytes(dir.path + "/" + file)))
      #expect(s.archiveName == "archive" && !s.isTorchScript)
      #expect(s.tensors.map(\.name) == names, "\(file)")
      #expect(s.tensors.map(\.dtype) == [.f32, .f32, .f16, .bf16, .i64])
      for t in s.tensors {
        let e = try #require(expected[t.name])
        #expect(t.shape.map { Int($0) } == e["shape"] as? [Int], "\(file) \(t.name)")
        #expect(hex(try s.bytes(of: t)) == e["hex"] as? String, "\(file) \(t.name)")
      }
      if file == "deflated.pt" {
        #expect(s.regions.isEmpty && s.tensors.allSatisfy { $0.layout == .encoded("deflated zip entry") })
        continue
      }
      // Tied storage 0 and the offset view of storage 2 are regions named after their entries.
      #expect(s.regions.map(\.name) == ["archive/data/0", "model.half", "archive/data/2", "step_counts"])
      #expect(s.regions.allSatisfy { $0.offset % 64 == 0 }, "torch aligns storage data to 64 bytes")
      let e0 = try #require(s.container.entry(named: "archive/data/0"))
      #expect(s.tensors[1].layout == .strided(storageOffset: e0.dataOffset, storageBytes: 48, elementOffset: 0, strides: [1, 4]))
      let e2 = try #require(s.container.entry(named: "archive/data/2"))
      #expect(s.tensors[3].layout == .contiguous(offset: e2.dataOffset + 6))
    }
  }

  @Test func picklesPythonWritesToRunCodeAreRefusedByName() throws {
    let dir = TemporaryDirectory("pytorch-interop")
    let script = #"""
import os, pickle, sys
class Evil:
    def __reduce__(self): return (os.system, ('touch pwned',))
for p in (2, 4):
    open(sys.argv[1] + '/evil%d.pkl' % p, 'wb').write(pickle.dumps({'w': Evil()}, protocol=p))
"""#
    _ = try run(script, [dir.path], in: dir)
    for p in [2, 4] {
      let bytes = readBytes(dir.path + "/evil\(p).pkl")
      #expect(throws: PickleError.self) { try PickleReader().read(bytes) }
      do {
        _ = try PickleReader().read(bytes)
      } catch PickleError.forbiddenGlobal(let g, _) {
        #expect(g == PickleGlobal("posix", "system") || g == PickleGlobal("nt", "system"), "protocol \(p)")
      }
      let file = PyTorchSourceTests.archive(bytes, storages: [])
      #expect(throws: PickleError.self) { try PyTorchSource(MemoryBytes(file)) }
    }
    #expect(!FileManager.default.fileExists(atPath: dir.path + "/pwned"))
  }

  /// Reads a TorchScript archive with Python's pickle (stub classes, no torch) and numpy, and
  /// prints every tensor's name, dtype, shape, storage entry and bytes, and every entry's data offset.
  static let independentReader = #"""
import sys, pickle, zipfile, collections, json, types
import numpy as np
path = sys.argv[1]
z = zipfile.ZipFile(path)
root = [n for n in z.namelist() if n.endswith('/data.pkl') and n.count('/') == 1][0].split('/')[0]
dtypes = {'FloatStorage': '<f4', 'DoubleStorage': '<f8', 'HalfStorage': '<f2', 'LongStorage': '<i8', 'IntStorage': '<i4', 'BFloat16Storage': '<u2', 'ShortStorage': '<i2', 'CharStorage': 'i1', 'ByteStorage': 'u1', 'BoolStorage': 'u1'}
names = {'FloatStorage': 'F32', 'DoubleStorage': 'F64', 'HalfStorage': 'F16', 'LongStorage': 'I64', 'IntStorage': 'I32', 'BFloat16Storage': 'BF16', 'ShortStorage': 'I16', 'CharStorage': 'I8', 'ByteStorage': 'U8', 'BoolStorage': 'BOOL'}
class T:
    def __init__(self, storage, offset, size, stride, *rest): self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
classes = {}
class U(pickle.Unpickler):
    def __init__(self, f, folder): super().__init__(f); self.folder = folder
    def find_class(self, mod, name):
        if mod.startswith('__torch__'): return classes.setdefault((mod, name), type(name, (), {}))
        if (mod, name) == ('torch._utils', '_rebuild_tensor_v2'): return T
        if (mod, name) == ('collections', 'OrderedDict'): return collections.OrderedDict
        if mod == 'torch' and name.endswith('Storage'): return name
        if mod == 'torch.jit._pickle': return lambda x: x
        raise pickle.UnpicklingError(mod + '.' + name)
    def persistent_load(self, pid):
        return (pid[1], self.folder + '/' + pid[2], pid[4])
out = []
def walk(v, path):
    if isinstance(v, T):
        kind, entry, numel = v.storage
        flat = np.frombuffer(z.read(root + '/' + entry), dtype=dtypes[kind])
        assert flat.size == numel
        arr = np.lib.stride_tricks.as_strided(flat[v.offset:], v.size, [s * flat.itemsize for s in v.stride]) if flat.size else np.zeros(v.size, flat.dtype)
        out.append({'name': '.'.join(path), 'dtype': names[kind], 'shape': list(v.size), 'entry': root + '/' + entry, 'hex': np.ascontiguousarray(arr).tobytes().hex()})
    elif isinstance(v, dict):
        for k, x in v.items(): walk(x, path + [str(k)])
    elif isinstance(v, (list, tuple)):
        for k, x in enumerate(v): walk(x, path + [str(k)])
    elif type(v) in classes.values():
        walk(vars(v), path)
import io
walk(U(io.BytesIO(z.read(root + '/data.pkl')), 'data').load(), [])
if root + '/constants.pkl' in z.namelist():
    walk(U(io.BytesIO(z.read(root + '/constants.pkl')), 'constants').load(), ['constants'])
import struct
def data_offset(info):
    with open(path, 'rb') as f:
        f.seek(info.header_offset)
        h = f.read(30)
        return info.header_offset + 30 + struct.unpack('<H', h[26:28])[0] + struct.unpack('<H', h[28:30])[0]
entries = {i.filename: {'offset': data_offset(i), 'size': i.file_size, 'stored': i.compress_type == 0} for i in z.infolist()}
json.dump({'root': root, 'tensors': out, 'entries': entries}, sys.stdout)
"""#

  /// Writes `ckpt.pt` (stored, 64-byte aligned) and `deflated.pt` in torch.save's zip layout,
  /// and `expected.json` with each tensor's shape and row-major bytes from numpy.
  static let torchSaveWriter = #"""
import sys, types, pickle, zipfile, collections, json, io
import numpy as np

def stub(name):
    m = types.ModuleType(name); sys.modules[name] = m; return m
torch = stub('torch'); utils = stub('torch._utils'); stub('torch.nn'); param_mod = stub('torch.nn.parameter')
def fn(mod, name):
    def f(*a): raise RuntimeError('stub')
    f.__module__ = mod.__name__; f.__qualname__ = name; f.__name__ = name
    setattr(mod, name, f); return f
rebuild_tensor_v2 = fn(utils, '_rebuild_tensor_v2')
rebuild_parameter = fn(utils, '_rebuild_parameter')
storage_types = {}
for n in ['Float', 'Double', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool']:
    cls = type(n + 'Storage', (), {}); cls.__module__ = 'torch'; setattr(torch, cls.__name__, cls); storage_types[n] = cls

class Storage:
    def __init__(self, key, kind, array):
        self.key, self.kind, self.array = key, kind, np.ascontiguousarray(array)
class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
    def __reduce_ex__(self, proto):
        return (rebuild_tensor_v2, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))
    def values(self):
        flat = self.storage.array.reshape(-1)
        item = flat.itemsize
        return np.lib.stride_tricks.as_strided(flat[self.offset:], self.size, [s * item for s in self.stride]).copy()
class Parameter:
    def __init__(self, t): self.t = t
    def __reduce_ex__(self, proto):
        return (rebuild_parameter, (self.t, True, collections.OrderedDict()))

class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ('storage', storage_types[obj.kind], obj.key, 'cpu', obj.array.size)
        return None

def save(obj, storages, path, compress=False, protocol=2):
    buf = io.BytesIO()
    Pickler(buf, protocol=protocol).dump(obj)
    with zipfile.ZipFile(path, 'w') as z:
        def record(name, data):
            info = zipfile.ZipInfo('archive/' + name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if compress and name.startswith('data/') else zipfile.ZIP_STORED
            # torch pads the local header's extra field ('FB' id) so entry data starts on 64 bytes.
            start = z.fp.tell() + 30 + len(info.filename.encode()) + 4
            info.extra = b'FB' + (( -start) % 64).to_bytes(2, 'little') + b'Z' * ((-start) % 64)
            z.writestr(info, data)
        record('data.pkl', buf.getvalue())
        record('.format_version', b'1')
        record('byteorder', b'little')
        for s in storages: record('data/' + s.key, s.array.tobytes())
        record('version', b'3\n')
        record('.data/serialization_id', b'1234567890123456789012345678901234567890')

rng = np.random.default_rng(7)
w = Storage('0', 'Float', rng.standard_normal(12).astype('<f4'))
h = Storage('1', 'Half', rng.standard_normal(6).astype('<f2'))
b = Storage('2', 'BFloat16', rng.integers(0, 65535, 8).astype('<u2'))
l = Storage('3', 'Long', rng.integers(-2**40, 2**40, 5).astype('<i8'))
tensors = {
    'model.encoder.weight': Tensor(w, 0, (3, 4), (4, 1)),
    'model.encoder.weight_t': Tensor(w, 0, (4, 3), (1, 4)),
    'model.half': Parameter(Tensor(h, 0, (2, 3), (3, 1))),
    'model.bf16_tail': Tensor(b, 3, (5,), (1,)),
    'step_counts': Tensor(l, 0, (5,), (1,)),
}
model = collections.OrderedDict([('encoder', collections.OrderedDict([('weight', tensors['model.encoder.weight']), ('weight_t', tensors['model.encoder.weight_t'])])), ('half', tensors['model.half']), ('bf16_tail', tensors['model.bf16_tail'])])
ckpt = {'model': model, 'step': 3, 'step_counts': tensors['step_counts'], 'note': 'hello'}
save(ckpt, [w, h, b, l], sys.argv[1] + '/ckpt.pt', compress=False)
save(ckpt, [w, h, b, l], sys.argv[1] + '/deflated.pt', compress=True)
save(ckpt, [w, h, b, l], sys.argv[1] + '/protocol5.pt', protocol=5)
def values(t): return (t.t if isinstance(t, Parameter) else t).values()
expected = {n: {'shape': list(values(t).shape), 'hex': values(t).tobytes().hex()} for n, t in tensors.items()}
json.dump(expected, open(sys.argv[1] + '/expected.json', 'w'), indent=1)
"""#
}
