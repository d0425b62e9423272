import Foundation
import LineageCore
import LineageTestSupport
import Testing

@testable import LineageFormats

private let ggufTestPython = ProcessInfo.processInfo.environment["LINEAGE_TEST_PYTHON"]

/// Files written by llama.cpp's own writer (gguf-py's `GGUFWriter`), checked against gguf-py's
/// `GGUFReader` view and `gguf.quants.dequantize` values, bit for bit.
@Suite(.serialized, .enabled(if: ggufTestPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the interop tests"))
struct GGUFInteropTests {
  /// Writes a.gguf (every metadata value type, nested arrays, F32 … Q3_K tensors, a zero-byte
  /// tensor, IQ4_NL/IQ4_XS/TQ1_0/TQ2_0/MXFP4) and b.gguf (`general.alignment` 64), then dumps GGUFReader's view to expect.json:
  /// metadata leaves as strings (floats as little-endian hex), tensors with raw bytes and
  /// dequantized float32 values as hex. K-quant blocks are seeded random bytes with finite f16
  /// scales (gguf-py cannot quantize to them).
  static let script = """
import json, struct, sys
import numpy as np
import gguf
from gguf import GGUFWriter, GGUFReader, GGUFValueType as V, GGMLQuantizationType as Q
from gguf.quants import quantize, dequantize

rng = np.random.default_rng(7)

def kquant(qtype, rows, half_fields):
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * 256 // bs
    blocks = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
    for at in half_fields:
        blocks[:, at:at + 2] = rng.uniform(-2, 2, size=(nb, 1)).astype(np.float16).view(np.uint8)
    return blocks.reshape(rows, -1)

w = GGUFWriter("a.gguf", "llama")
w.add_uint8("t.u8", 200); w.add_int8("t.i8", -100); w.add_uint16("t.u16", 60000); w.add_int16("t.i16", -30000)
w.add_uint32("t.u32", 4000000000); w.add_int32("t.i32", -2000000000); w.add_float32("t.f32", 0.1)
w.add_bool("t.bool", True); w.add_bool("t.false", False); w.add_string("t.str", "héllo ✓")
w.add_uint64("t.u64", 2**64 - 1); w.add_int64("t.i64", -2**63); w.add_float64("t.f64", -1.0 / 3.0)
w.add_key_value("t.arr.u8", [1, 2, 255], V.ARRAY, sub_type=V.UINT8)
w.add_key_value("t.arr.i64", [-1, 2**62], V.ARRAY, sub_type=V.INT64)
w.add_key_value("t.arr.f64", [1.5, -2.25], V.ARRAY, sub_type=V.FLOAT64)
w.add_key_value("t.arr.f32", [0.3, 1e-40], V.ARRAY, sub_type=V.FLOAT32)
w.add_key_value("t.arr.bool", [True, False], V.ARRAY, sub_type=V.BOOL)
w.add_array("t.arr.str", ["a", "", "ü"])
w.add_key_value("t.nested", [[1, 2], [3]], V.ARRAY, sub_type=V.ARRAY)
w.add_key_value("t.nested.str", [["x"], ["y", "z"]], V.ARRAY, sub_type=V.ARRAY)
w.add_name("tiny")

x = lambda *s: rng.standard_normal(s).astype(np.float32)
w.add_tensor("f32", x(2, 3, 2, 5))
w.add_tensor("empty", np.zeros((0, 4), dtype=np.float32))
f16 = x(4, 8).astype(np.float16)
f16.view(np.uint16)[0, :6] = [0x0000, 0x8000, 0x0001, 0x7C00, 0xFC00, 0x7E00]
w.add_tensor("f16", f16)
w.add_tensor("bf16", quantize(x(3, 6), Q.BF16), raw_dtype=Q.BF16)
w.add_tensor("i8", rng.integers(-128, 128, size=(2, 7), dtype=np.int8))
w.add_tensor("i32", rng.integers(-2**31, 2**31, size=(6,), dtype=np.int32))
for name, q, shape in [("q8_0", Q.Q8_0, (4, 64)), ("q4_0", Q.Q4_0, (2, 96)), ("q4_1", Q.Q4_1, (2, 32)),
                       ("q5_0", Q.Q5_0, (3, 32)), ("q5_1", Q.Q5_1, (1, 64))]:
    w.add_tensor(name, quantize(x(*shape), q), raw_dtype=q)
for name, q, fields in [("q4_k", Q.Q4_K, [0, 2]), ("q6_k", Q.Q6_K, [208]), ("q5_k", Q.Q5_K, [0, 2]),
                        ("q2_k", Q.Q2_K, [80, 82]), ("q3_k", Q.Q3_K, [108]), ("iq4_nl", Q.IQ4_NL, [0]),
                        ("iq4_xs", Q.IQ4_XS, [0]), ("tq1_0", Q.TQ1_0, [52]), ("tq2_0", Q.TQ2_0, [64]), ("mxfp4", Q.MXFP4, [])]:
    w.add_tensor(name, kquant(q, 2, fields), raw_dtype=q)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

w = GGUFWriter("b.gguf", "gpt2")
w.add_custom_alignment(64)
w.add_tensor("odd", x(3, 5))
w.add_tensor("q8", quantize(x(1, 32), Q.Q8_0), raw_dtype=Q.Q8_0)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

def leaf(t, v):
    if t == V.FLOAT32: return struct.pack("<f", v).hex()
    if t == V.FLOAT64: return struct.pack("<d", v).hex()
    if t == V.BOOL: return "true" if v else "false"
    return str(v)

def dump(path):
    r = GGUFReader(path)
    fields = []
    for key, f in r.fields.items():
        if key.startswith("GGUF."): continue
        c = f.contents()
        vals = c if isinstance(c, list) else [c]
        fields.append({"key": key, "types": [t.name for t in f.types], "values": [leaf(f.types[-1], v) for v in vals]})
    tensors = []
    for t in r.tensors:
        raw = np.asarray(t.data).tobytes()
        if t.tensor_type in (Q.I8, Q.I16, Q.I32, Q.I64):
            vals = np.asarray(t.data).astype(np.float32)
        else:
            vals = dequantize(np.asarray(t.data), t.tensor_type)
        tensors.append({"name": t.name, "type": t.tensor_type.name, "ne": [int(d) for d in t.shape],
                        "offset": int(t.data_offset), "bytes": int(t.n_bytes), "raw": raw.hex(),
                        "floats": np.ascontiguousarray(vals, dtype="<f4").tobytes().hex()})
    return {"path": path, "alignment": int(r.alignment), "dataStart": int(r.data_offset), "fields": fields, "tensors": tensors}

json.dump([dump("a.gguf"), dump("b.gguf")], open("expect.json", "w"))
"""

  static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

  static func le<T: FixedWidthInteger>(_ v: T) -> String { hex(withUnsafeBytes(of: v.littleEndian) { Array($0) }) }

  /// GGUFReader's flattened view of a value: its type chain (an array's first element decides)
  /// and its leaves as strings.
  static func flatten(_ v: GGUFValue) -> (types: [String], leaves: [String]) {
    let name = String(describing: v.type).uppercased()
    switch v {
    case .array(let t, let items):
      let first = items.first.map { flatten($0).types } ?? [String(describing: t).uppercased()]
      return ([name] + first, items.flatMap { flatten($0).leaves })
    case .uint8(let x): return ([name], [String(x)])
    case .int8(let x): return ([name], [String(x)])
    case .uint16(let x): return ([name], [String(x)])
    case .int16(let x): return ([name], [String(x)])
    case .uint32(let x): return ([name], [String(x)])
    case .int32(let x): return ([name], [String(x)])
    case .uint64(let x): return ([name], [String(x)])
    case .int64(let x): return ([name], [String(x)])
    case .float32(let x): return ([name], [le(x.bitPattern)])
    case .float64(let x): return ([name], [le(x.bitPattern)])
    case .bool(let x): return ([name], [x ? "true" : "false"])
    case .string(let x): return ([name], [x])
    }
  }

  static func fromHex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.utf8.makeIterator()
    while let a = it.next(), let b = it.next() {
      func v(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
      out.append(v(a) << 4 | v(b))
    }
    return out
  }

  @Test func ggufPyFilesReadAsGGUFReaderSeesThem() throws {
    let dir = TemporaryDirectory("gguf-interop")
    let python = try #require(ggufTestPython)
    let run = try runProcess(python, ["-c", Self.script], in: dir.path)
    try #require(run.status == 0, "\(run.stderr)")
    let json = try #require(parseJSON(String(decoding: readBytes(dir.file("expect.json")), as: UTF8.self)) as? [[String: Any]])
    #expect(json.count == 2)
    var checkedQuantized = Set<DType>()
    for file in json {
      let path = try #require(file["path"] as? String)
      let s = try GGUFSource(MemoryBytes(readBytes(dir.file(path))))
      #expect(s.version == 3)
      #expect(s.alignment == (file["alignment"] as? NSNumber)?.uint64Value, "\(path)")
      #expect(s.dataStart == (file["dataStart"] as? NSNumber)?.uint64Value, "\(path)")
      let fields = try #require(file["fields"] as? [[String: Any]])
      #expect(s.metadata.map(\.key) == fields.compactMap { $0["key"] as? String })
      for (field, (key, value)) in zip(fields, s.metadata) {
        let (types, leaves) = Self.flatten(value)
        #expect(types == field["types"] as? [String], "\(key)")
        #expect(leaves == field["values"] as? [String], "\(key)")
      }
      let tensors = try #require(file["tensors"] as? [[String: Any]])
      #expect(s.tensors.map(\.name) == tensors.compactMap { $0["name"] as? String })
      for (t, entry) in zip(tensors, s.tensors) {
        let name = entry.name
        #expect(entry.dtype.rawValue == t["type"] as? String, "\(name)")
        let ne = (t["ne"] as? [NSNumber] ?? []).map(\.uint64Value)
        #expect(entry.shape == Array(ne.reversed()), "\(name)")
        #expect(entry.layout == .contiguous(offset: (t["offset"] as? NSNumber)?.uint64Value ?? 0), "\(name)")
        #expect(entry.byteLength == (t["bytes"] as? NSNumber)?.uint64Value, "\(name)")
        #expect(Self.hex(try s.bytes(of: entry)) == t["raw"] as? String, "\(name)")
        let expected = Self.fromHex(t["floats"] as? String ?? "").withUnsafeBytes { raw in
          (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        let mine = try s.floats(of: entry)
        #expect(mine.count == expected.count, "\(name)")
        let mismatches = zip(mine, expected).enumerated().filter { _, p in
          !(p.0.bitPattern == p.1.bitPattern || (p.0.isNaN && p.1.isNaN))
        }
        #expect(mismatches.isEmpty, "\(name): \(mismatches.prefix(3).map { "[\($0.offset)] \($0.element.0) vs \($0.element.1)" })")
        if entry.dtype.isQuantized { checkedQuantized.insert(entry.dtype) }
      }
      #expect(s.regions.count == s.tensors.count)
    }
    #expect(checkedQuantized == Dequantize.quantizedTypes)
    let a = try GGUFSource(MemoryBytes(readBytes(dir.file("a.gguf"))))
    #expect(a.string("general.architecture") == "llama" && a.string("general.name") == "tiny")
  }
}
