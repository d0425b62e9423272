import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

@testable import LineageFormats

/// Hand-made PyTorch archives: the zip layout `torch.save` writes, with pickles from `PickleBytes`.
@Suite struct PyTorchSourceTests {
  static func archive(_ pickle: [UInt8], storages: [(String, [UInt8])], root: String = "archive") -> [UInt8] {
    var items = [TestZip.Item(name: "\(root)/data.pkl", data: pickle), TestZip.Item(name: "\(root)/byteorder", data: Array("little".utf8))]
    items += storages.map { TestZip.Item(name: "\(root)/data/\($0.0)", data: $0.1) }
    items.append(TestZip.Item(name: "\(root)/version", data: Array("3\n".utf8)))
    return TestZip(items: items).bytes()
  }

  /// `w` [2, 3], its transpose `wt` and `tail` (elements 4 and 5) share storage 0; `b` has storage 1.
  static let sharedPickle: [UInt8] = {
    let p = PickleBytes()
    p.emptyDict().mark()
    p.string("w").tensor(key: "0", numel: 6, size: [2, 3], stride: [3, 1])
    p.string("wt").tensor(key: "0", numel: 6, size: [3, 2], stride: [1, 3])
    p.string("tail").tensor(key: "0", numel: 6, offset: 4, size: [2], stride: [1])
    p.string("b").tensor(type: "LongStorage", key: "1", numel: 2, size: [2], stride: [1])
    return p.setItems().stop().bytes
  }()
  static let storage0 = seededBytes(24, seed: 3)
  static let storage1 = seededBytes(16, seed: 4)
  static let shared = archive(sharedPickle, storages: [("0", storage0), ("1", storage1)])

  func elements(_ bytes: [UInt8], _ indices: [Int], width: Int = 4) -> [UInt8] {
    indices.flatMap { bytes[($0 * width)..<($0 * width + width)] }
  }

  @Test func aStateDictArchiveGivesNamedTensorsAndOneRegionPerStorage() throws {
    let a = seededBytes(24, seed: 1), b = seededBytes(16, seed: 2)
    let file = Self.archive(PickleBytes.stateDict([("layer.weight", "0", [2, 3]), ("layer.bias", "1", [4])]), storages: [("0", a), ("1", b)])
    let s = try PyTorchSource(MemoryBytes(file))
    #expect(s.archiveName == "archive" && !s.isTorchScript && s.format == .pytorch)
    #expect(s.tensors.map(\.name) == ["layer.weight", "layer.bias"])
    #expect(s.tensors.map(\.shape) == [[2, 3], [4]])
    #expect(s.tensors.allSatisfy { $0.dtype == .f32 })
    let e0 = try #require(s.container.entry(named: "archive/data/0"))
    #expect(s.tensors[0].layout == .contiguous(offset: e0.dataOffset))
    #expect(s.regions.map(\.name) == ["layer.weight", "layer.bias"])
    #expect(s.regions[0] == TensorRegion(name: "layer.weight", dtype: .f32, shape: [2, 3], offset: e0.dataOffset, byteLength: 24))
    #expect(try s.bytes(of: s.tensors[0]) == a)
    #expect(try s.bytes(of: s.tensors[1]) == b)
  }

  @Test func sharedStoragesTransposesAndOffsetsAreViews() throws {
    let s = try PyTorchSource(MemoryBytes(Self.shared))
    let e0 = try #require(s.container.entry(named: "archive/data/0"))
    #expect(s.tensors.map(\.name) == ["w", "wt", "tail", "b"])
    #expect(s.tensors[1].layout == .strided(storageOffset: e0.dataOffset, storageBytes: 24, elementOffset: 0, strides: [1, 3]))
    #expect(s.tensors[2].layout == .contiguous(offset: e0.dataOffset + 16))
    #expect(s.tensors[3].dtype == .i64)
    // Three views of storage 0: the region is named after the entry; storage 1 has one whole view.
    #expect(s.regions.map(\.name) == ["archive/data/0", "b"])
    #expect(s.regions[0].shape == [6])
    let w = try s.bytes(of: s.tensors[0])
    #expect(w == Self.storage0)
    #expect(try s.bytes(of: s.tensors[1]) == elements(Self.storage0, [0, 3, 1, 4, 2, 5]))
    #expect(try s.bytes(of: s.tensors[2]) == elements(Self.storage0, [4, 5]))
    #expect(try s.bytes(of: s.tensors[3]) == Self.storage1)
  }

  @Test func aBroadcastViewGathersRepeatedElements() throws {
    let p = PickleBytes()
    p.emptyDict().mark().string("row").tensor(key: "0", numel: 6, offset: 3, size: [2, 3], stride: [0, 1]).setItems().stop()
    let s = try PyTorchSource(MemoryBytes(Self.archive(p.bytes, storages: [("0", Self.storage0)])))
    #expect(s.tensors[0].byteLength == 24)
    #expect(try s.bytes(of: s.tensors[0]) == elements(Self.storage0, [3, 4, 5, 3, 4, 5]))
    #expect(s.regions.map(\.name) == ["archive/data/0"])
  }

  @Test func aDeflatedStorageIsEncodedAndHasNoRegion() throws {
    // Raw deflate of 1000 × 'a' (from ZipTests): 250 F32 elements.
    let deflated: [UInt8] = [0x4b, 0x4c, 0x1c, 0x05, 0xa3, 0x60, 0x14, 0x0c, 0x77, 0x00, 0x00]
    let plain = [UInt8](repeating: 0x61, count: 1000)
    let p = PickleBytes()
    p.emptyDict().mark().string("x").tensor(key: "0", numel: 250, size: [10, 25], stride: [25, 1])
    p.string("xt").tensor(key: "0", numel: 250, offset: 1, size: [2, 2], stride: [1, 25]).setItems().stop()
    let file = TestZip(items: [
      .init(name: "archive/data.pkl", data: p.bytes),
      .init(name: "archive/data/0", data: deflated, method: 8, uncompressedSize: 1000, crc: TestZip.crc32(plain)),
    ]).bytes()
    let s = try PyTorchSource(MemoryBytes(file))
    #expect(s.tensors[0].layout == .encoded("deflated zip entry"))
    #expect(s.regions.isEmpty)
    #expect(try s.bytes(of: s.tensors[0]) == plain)
    #expect(try s.bytes(of: s.tensors[1]) == [UInt8](repeating: 0x61, count: 16))
  }

  @Test func torchScriptObjectsAreNamedByAttributePath() throws {
    let p = PickleBytes()
    p.global("__torch__.m", "Net").emptyTuple().op(0x81).emptyDict().mark().string("training").bool(true)
    p.string("encoder").global("__torch__.torch.nn.modules.container", "Sequential").emptyTuple().op(0x81).emptyDict().mark()
    p.string("0").global("__torch__.m", "Conv").emptyTuple().op(0x81).emptyDict().mark()
    p.string("weight").tensor(key: "0", numel: 6, size: [2, 3], stride: [3, 1]).string("bias").none()
    p.setItems().op(0x62).setItems().op(0x62).setItems().op(0x62).stop()
    let c = PickleBytes()
    c.tensor(key: "0", numel: 2, size: [2], stride: [1]).op(0x85).stop()
    let file = TestZip(items: [
      .init(name: "model/data.pkl", data: p.bytes), .init(name: "model/constants.pkl", data: c.bytes),
      .init(name: "model/code/__torch__/m.py", data: Array("class Net: ...".utf8)),
      .init(name: "model/data/0", data: seededBytes(24, seed: 9)), .init(name: "model/constants/0", data: seededBytes(8, seed: 10)),
    ]).bytes()
    let s = try PyTorchSource(MemoryBytes(file))
    #expect(s.isTorchScript && s.archiveName == "model")
    #expect(s.tensors.map(\.name) == ["encoder.0.weight", "constants.0"])
    #expect(s.regions.map(\.name) == ["encoder.0.weight", "constants.0"])
    #expect(try s.bytes(of: s.tensors[1]) == seededBytes(8, seed: 10))
  }

  @Test func maliciousPicklesInsideTheArchiveAreRefusedByName() throws {
    for (module, name) in [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("subprocess", "Popen")] {
      let g = PickleBytes()
      g.global(module, name).string("touch /tmp/pwned").op(0x85).reduce().stop()
      #expect(throws: PickleError.forbiddenGlobal(PickleGlobal(module, name), offset: 2)) {
        try PyTorchSource(MemoryBytes(Self.archive(g.bytes, storages: [])))
      }
      let s = PickleBytes(protocol: 4)
      s.stackGlobal(module, name).string("touch /tmp/pwned").op(0x85).reduce().stop()
      #expect(throws: PickleError.self) { try PyTorchSource(MemoryBytes(Self.archive(s.bytes, storages: []))) }
    }
    let inst: [UInt8] = [0x80, 2, 0x28, 0x69] + Array("os\nsystem\n".utf8) + [0x2E]
    #expect(throws: PickleError.forbiddenOpcode(name: "INST", offset: 3)) { try PyTorchSource(MemoryBytes(Self.archive(inst, storages: []))) }
    let ext: [UInt8] = [0x80, 2, 0x82, 1, 0x2E]
    #expect(throws: PickleError.forbiddenOpcode(name: "EXT1", offset: 2)) { try PyTorchSource(MemoryBytes(Self.archive(ext, storages: []))) }
    let memo: [UInt8] = [0x80, 2, 0x68, 3, 0x2E]
    #expect(throws: PickleError.memoMissing(index: 3, offset: 2)) { try PyTorchSource(MemoryBytes(Self.archive(memo, storages: []))) }
    let underflow: [UInt8] = [0x80, 2, 0x52, 0x2E]
    #expect(throws: PickleError.stackUnderflow(opcode: "REDUCE", offset: 2)) {
      try PyTorchSource(MemoryBytes(Self.archive(underflow, storages: [])))
    }
    let truncated = Array(PickleBytes.stateDict([("a", "0", [2])]).dropLast(9))
    #expect(throws: PickleError.self) { try PyTorchSource(MemoryBytes(Self.archive(truncated, storages: [("0", seededBytes(8, seed: 1))]))) }
  }

  @Test func storageProblemsNameTheTensor() throws {
    func open(_ build: (PickleBytes) -> Void, storages: [(String, [UInt8])] = [("0", seededBytes(24, seed: 1))]) throws {
      let p = PickleBytes()
      p.emptyDict().mark()
      build(p)
      _ = try PyTorchSource(MemoryBytes(Self.archive(p.setItems().stop().bytes, storages: storages)))
    }
    #expect(throws: PyTorchError.storageOutOfRange(tensor: "t", storageOffset: 5, extent: 2, numel: 6)) {
      try open { $0.string("t").tensor(key: "0", numel: 6, offset: 5, size: [2], stride: [1]) }
    }
    #expect(throws: PyTorchError.storageOutOfRange(tensor: "t", storageOffset: 0, extent: 8, numel: 6)) {
      try open { $0.string("t").tensor(key: "0", numel: 6, size: [2, 3], stride: [1, 3]) }
    }
    #expect(throws: PyTorchError.storageOutOfRange(tensor: "t", storageOffset: 0, extent: .max, numel: 6)) {
      try open { $0.string("t").tensor(key: "0", numel: 6, size: [3, 3], stride: [Int(Int64.max), 1]) }
    }
    // A broadcast (stride 0) view may repeat its storage, within bounds.
    try open { $0.string("t").tensor(key: "0", numel: 6, size: [4, 6], stride: [0, 1]) }
    #expect(throws: PyTorchError.viewTooLarge(tensor: "t", bytes: 1 << 42, storageBytes: 24)) {
      try open { $0.string("t").tensor(key: "0", numel: 6, size: [1 << 20, 1 << 20], stride: [0, 0]) }
    }
    #expect(throws: PyTorchError.malformedTensor(name: "t", reason: "its shape [4294967296, 4294967296] overflows 64 bits of bytes")) {
      try open { $0.string("t").tensor(key: "0", numel: 6, size: [1 << 32, 1 << 32], stride: [0, 0]) }
    }
    #expect(throws: PyTorchError.missingStorage(tensor: "t", entry: "archive/data/9")) {
      try open { $0.string("t").tensor(key: "9", numel: 6, size: [6], stride: [1]) }
    }
    #expect(throws: PyTorchError.storageSizeMismatch(entry: "archive/data/0", numel: 7, dtype: .f32, bytes: 24)) {
      try open { $0.string("t").tensor(key: "0", numel: 7, size: [6], stride: [1]) }
    }
    #expect(throws: PyTorchError.storageTypeConflict(entry: "archive/data/0", .f32, .i32)) {
      try open {
        $0.string("a").tensor(key: "0", numel: 6, size: [6], stride: [1])
        $0.string("b").tensor(type: "IntStorage", key: "0", numel: 6, size: [6], stride: [1])
      }
    }
    #expect(throws: PyTorchError.unknownStorageType(tensor: "t", type: "torch.Tensor")) {
      try open { $0.string("t").tensor(type: "Tensor", key: "0", numel: 6, size: [6], stride: [1]) }
    }
    #expect(throws: PyTorchError.malformedStorageID(tensor: "t")) {
      try open { $0.string("t").tensor(key: "../0", numel: 6, size: [6], stride: [1]) }
    }
    #expect(throws: PyTorchError.malformedTensor(name: "t", reason: "its size and stride are not tuples of the same number of non-negative integers")) {
      try open { $0.string("t").tensor(key: "0", numel: 6, size: [6], stride: [1, 1]) }
    }
    #expect(throws: PyTorchError.malformedTensor(name: "t", reason: "_rebuild_parameter is not given a tensor")) {
      try open { $0.string("t").global("torch._utils", "_rebuild_parameter").mark().int(1).bool(true).emptyDict().tuple().reduce() }
    }
    #expect(throws: PyTorchError.duplicateTensorName("a.b")) {
      try open {
        $0.string("a.b").tensor(key: "0", numel: 6, size: [6], stride: [1])
        $0.string("a").emptyDict().string("b").tensor(key: "0", numel: 6, size: [6], stride: [1]).op(0x73)
      }
    }
    let s = try PyTorchSource(MemoryBytes(Self.shared))
    let stranger = TensorEntry(name: "nope", dtype: .f32, shape: [1], layout: .contiguous(offset: 0), byteLength: 4)
    #expect(throws: PyTorchError.unknownTensor("nope")) { try s.bytes(of: stranger) }
  }

  @Test func archivesThatAreNotOneTorchArchiveAreRefused() throws {
    let legacy: [UInt8] = PyTorchSource.legacyMagic + [0x2E]
    #expect(throws: PyTorchError.legacyFormat(hasLegacyMagic: true)) { try PyTorchSource(MemoryBytes(legacy)) }
    #expect(throws: PyTorchError.legacyFormat(hasLegacyMagic: false)) { try PyTorchSource(MemoryBytes(Array("hello".utf8))) }
    #expect(PyTorchError.legacyFormat(hasLegacyMagic: true).description.contains("_use_new_zipfile_serialization=True"))
    let data = PickleBytes.stateDict([])
    #expect(throws: PyTorchError.missingDataPickle) {
      try PyTorchSource(MemoryBytes(TestZip(items: [.init(name: "archive/other.pkl", data: data)]).bytes()))
    }
    #expect(throws: PyTorchError.multipleArchives(["a", "b"])) {
      try PyTorchSource(MemoryBytes(TestZip(items: [.init(name: "a/data.pkl", data: data), .init(name: "b/data.pkl", data: data)]).bytes()))
    }
    #expect(throws: PyTorchError.entryOutsideArchive("stray")) {
      try PyTorchSource(MemoryBytes(TestZip(items: [.init(name: "a/data.pkl", data: data), .init(name: "stray", data: [1])]).bytes()))
    }
    #expect(throws: PyTorchError.unsupportedByteOrder("big")) {
      try PyTorchSource(
        MemoryBytes(TestZip(items: [.init(name: "a/data.pkl", data: data), .init(name: "a/byteorder", data: Array("big".utf8))]).bytes()))
    }
    #expect(throws: ZipError.unsafeEntryName("archive/../data.pkl")) {
      try PyTorchSource(MemoryBytes(TestZip(items: [.init(name: "archive/../data.pkl", data: data)]).bytes()))
    }
    let bomb = TestZip(items: [
      .init(name: "archive/data.pkl", data: data), .init(name: "archive/data/0", data: [0x03, 0x00], method: 8, uncompressedSize: 4_000_000_000),
    ])
    #expect(throws: ZipError.compressionRatio(name: "archive/data/0", compressed: 2, uncompressed: 4_000_000_000)) {
      try PyTorchSource(MemoryBytes(bomb.bytes()))
    }
  }

  @Test func mutatedArchivesAreReadOrRefusedWithATypedError() {
    var state: UInt64 = 0x70_2C4
    var accepted = 0
    var rejected = 0
    for k in 0..<4000 {
      // Half mutate the whole file (zip structure); half only the pickle inside a sound zip.
      let input =
        k % 2 == 0
        ? FuzzMutation.mutate(Self.shared, &state)
        : Self.archive(FuzzMutation.mutate(Self.sharedPickle, &state), storages: [("0", Self.storage0), ("1", Self.storage1)])
      do {
        let s = try PyTorchSource(MemoryBytes(input))
        for t in s.tensors { #expect((try? s.bytes(of: t))?.count ?? Int(t.byteLength) == Int(t.byteLength)) }
        accepted += 1
      } catch is any FormatProblem {
        rejected += 1
      } catch {
        Issue.record("untyped error \(error)")
      }
    }
    #expect(accepted > 30 && rejected > 1000 && accepted + rejected == 4000, "accepted \(accepted), rejected \(rejected)")
  }
}
