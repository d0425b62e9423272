import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

@testable import LineageFormats

@Suite struct PickleReaderTests {
  let reader = PickleReader()

  @Test func aStateDictBecomesCallRecordsAndNothingIsCalled() throws {
    let bytes = PickleBytes.stateDict([("w", "0", [2, 3])])
    let v = try reader.read(bytes)
    let storage = PickleValue.persistentID(
      .tuple([.string("storage"), .global(PickleGlobal("torch", "FloatStorage")), .string("0"), .string("cpu"), .int(6)]))
    let tensor = PickleValue.call(
      PickleGlobal("torch._utils", "_rebuild_tensor_v2"),
      [storage, .int(0), .tuple([.int(2), .int(3)]), .tuple([.int(3), .int(1)]), .bool(false), .dict([])])
    #expect(v == .dict([.init(.string("w"), tensor)]))
    #expect(v["w"] == tensor)
  }

  @Test func memoizedContainersAreSharedAsInPython() throws {
    // l = []; d = {'a': l, 'b': l}; l.append(1), written as PUT after EMPTY_LIST and APPEND after the GET.
    let p = PickleBytes()
    p.emptyDict().mark().string("a").op(0x5D).put(0).string("b").get(0).setItems()
    p.get(0).int(1).op(0x61).op(0x30).stop()
    let v = try reader.read(p.bytes)
    #expect(v == .dict([.init(.string("a"), .list([.int(1)])), .init(.string("b"), .list([.int(1)]))]))
  }

  @Test func protocolZeroTextOpcodesAndWideIntegers() throws {
    let text = Array("(I42\nI01\nL-7L\nF2.5\nVa\\u00e9b\np3\ng3\nS".utf8)
    // Everything but the final STRING (not read): checked separately below.
    let v = try reader.read(Array(text.dropLast()) + Array("t.".utf8))
    #expect(v == .tuple([.int(42), .bool(true), .int(-7), .float(2.5), .string("aéb"), .string("aéb")]))
    // LONG1 of 9 bytes whose top byte only repeats the sign still fits; a tenth significant byte does not.
    let minusOne = try reader.read([0x80, 2, 0x8A, 9] + [UInt8](repeating: 0xFF, count: 9) + [0x2E])
    #expect(minusOne == .int(-1))
    let big: [UInt8] = [0x80, 2, 0x8A, 9] + [UInt8](repeating: 0, count: 8) + [1, 0x2E]
    #expect(throws: PickleError.intTooLarge(opcode: "LONG1", offset: 2)) { try reader.read(big) }
    #expect(throws: PickleError.intTooLarge(opcode: "INT", offset: 0)) { try reader.read(Array("I99999999999999999999\n.".utf8)) }
    #expect(try reader.read([0x80, 4, 0x95] + PickleBytes.le(3, 8) + [0x4B, 5, 0x2E]) == .int(5))
    #expect(try reader.read([0x80, 4, 0x8F, 0x28, 0x4B, 1, 0x4B, 2, 0x90, 0x2E]) == .set([.int(1), .int(2)]))
  }

  /// Calls that run code, by GLOBAL and STACK_GLOBAL: refused when the name is read.
  @Test(arguments: [
    ("os", "system"), ("posix", "system"), ("nt", "system"), ("builtins", "eval"), ("builtins", "exec"),
    ("builtins", "getattr"), ("__builtin__", "eval"), ("subprocess", "Popen"), ("torch", "load"),
    ("torch._utils", "_rebuild_tensor_v2.__globals__"), ("collections", "OrderedDict.fromkeys"),
  ])
  func forbiddenGlobalsAreRefusedByName(module: String, name: String) throws {
    let g = PickleBytes()
    g.global(module, name).string("echo pwned").op(0x85).reduce().stop()
    #expect(throws: PickleError.forbiddenGlobal(PickleGlobal(module, name), offset: 2)) { try reader.read(g.bytes) }
    let s = PickleBytes(protocol: 4)
    s.stackGlobal(module, name).string("echo pwned").op(0x85).reduce().stop()
    let at = 2 + 5 + module.utf8.count + 5 + name.utf8.count
    #expect(throws: PickleError.forbiddenGlobal(PickleGlobal(module, name), offset: at)) { try reader.read(s.bytes) }
  }

  @Test func opcodesThatImportOrCallAreRefused() throws {
    let cases: [(UInt8, String)] = [(0x69, "INST"), (0x6F, "OBJ"), (0x82, "EXT1"), (0x83, "EXT2"), (0x84, "EXT4"), (0x92, "NEWOBJ_EX")]
    for (code, name) in cases {
      // INST carries its module and class inline: refused before they are read.
      let bytes: [UInt8] = [0x80, 2, code] + Array("os\nsystem\n".utf8) + [0x2E]
      #expect(throws: PickleError.forbiddenOpcode(name: name, offset: 2)) { try reader.read(bytes) }
    }
    #expect(throws: PickleError.unsupportedOpcode(name: "STRING", offset: 0)) { try reader.read(Array("S'a'\n.".utf8)) }
    #expect(throws: PickleError.unsupportedOpcode(name: "BYTEARRAY8", offset: 2)) { try reader.read([0x80, 5, 0x96] + PickleBytes.le(0, 8) + [0x2E]) }
    #expect(throws: PickleError.unknownOpcode(0xFF, offset: 2)) { try reader.read([0x80, 2, 0xFF, 0x2E]) }
    #expect(throws: PickleError.unsupportedProtocol(6, offset: 0)) { try reader.read([0x80, 6, 0x4E, 0x2E]) }
  }

  @Test func reduceAndNewobjOnlyApplyAllowedCallables() throws {
    let storage = PickleBytes()
    storage.global("torch", "FloatStorage").emptyTuple().reduce().stop()
    #expect(throws: PickleError.notCallable("'torch.FloatStorage'", opcode: "REDUCE", offset: 23)) { try reader.read(storage.bytes) }
    let str = PickleBytes()
    str.string("os.system").emptyTuple().reduce().stop()
    #expect(throws: PickleError.notCallable("a scalar", opcode: "REDUCE", offset: 17)) { try reader.read(str.bytes) }
    let newobj = PickleBytes()
    newobj.global("collections", "OrderedDict").emptyTuple().op(0x81).stop()
    #expect(throws: PickleError.notCallable("'collections.OrderedDict'", opcode: "NEWOBJ", offset: 28)) { try reader.read(newobj.bytes) }
    // A TorchScript data class: an object record with its BUILD state, nothing imported.
    let obj = PickleBytes()
    obj.global("__torch__.m", "Net").emptyTuple().op(0x81).emptyDict().string("training").bool(true).op(0x73).op(0x62).stop()
    #expect(
      try reader.read(obj.bytes)
        == .object(PickleGlobal("__torch__.m", "Net"), state: .dict([.init(.string("training"), .bool(true))])))
    let fake = PickleBytes()
    fake.global("__torch__evil", "X").stop()
    #expect(throws: PickleError.forbiddenGlobal(PickleGlobal("__torch__evil", "X"), offset: 2)) { try reader.read(fake.bytes) }
  }

  @Test func structuralProblemsHaveTheirOwnErrors() throws {
    #expect(throws: PickleError.stackUnderflow(opcode: "APPEND", offset: 2)) { try reader.read([0x80, 2, 0x61, 0x2E]) }
    // Items below a MARK are out of reach, as in Python.
    #expect(throws: PickleError.stackUnderflow(opcode: "TUPLE1", offset: 4)) { try reader.read([0x80, 2, 0x4E, 0x28, 0x85, 0x2E]) }
    #expect(throws: PickleError.markMissing(opcode: "TUPLE", offset: 3)) { try reader.read([0x80, 2, 0x4E, 0x74, 0x2E]) }
    #expect(throws: PickleError.memoMissing(index: 7, offset: 2)) { try reader.read([0x80, 2, 0x68, 7, 0x2E]) }
    #expect(throws: PickleError.memoMissing(index: 9, offset: 2)) { try reader.read([0x80, 2, 0x6A, 9, 0, 0, 0, 0x2E]) }
    #expect(throws: PickleError.wrongType(opcode: "APPEND", offset: 5, expected: "a list")) {
      try reader.read([0x80, 2, 0x7D, 0x4B, 1, 0x61, 0x2E])
    }
    #expect(throws: PickleError.oddItemCount(opcode: "SETITEMS", offset: 6)) { try reader.read([0x80, 2, 0x7D, 0x28, 0x4B, 1, 0x75, 0x2E]) }
    #expect(throws: PickleError.wrongType(opcode: "STACK_GLOBAL", offset: 6, expected: "a string")) {
      try reader.read([0x80, 4, 0x4B, 1, 0x4B, 2, 0x93, 0x2E])
    }
    #expect(throws: PickleError.badText(opcode: "SHORT_BINUNICODE", offset: 2)) { try reader.read([0x80, 4, 0x8C, 1, 0xFF, 0x2E]) }
    #expect(throws: PickleError.negativeLength(opcode: "BINSTRING", offset: 2)) { try reader.read([0x80, 2, 0x54, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]) }
    #expect(throws: PickleError.truncated(opcode: "BINUNICODE", offset: 2, needed: 999_999)) {
      try reader.read([0x80, 2, 0x58] + PickleBytes.le(1_000_000, 4) + [0x2E])
    }
    #expect(throws: PickleError.truncated(opcode: "BINUNICODE8", offset: 2, needed: .max - 1)) {
      try reader.read([0x80, 4, 0x8D] + PickleBytes.le(.max, 8) + [0x2E])
    }
    #expect(throws: PickleError.truncated(opcode: "GLOBAL", offset: 2, needed: 1)) { try reader.read([0x80, 2, 0x63] + Array("os\nsys".utf8)) }
    #expect(throws: PickleError.missingStop(size: 3)) { try reader.read([0x80, 2, 0x4E]) }
    #expect(throws: PickleError.missingStop(size: 0)) { try reader.read([]) }
    #expect(throws: PickleError.unbalancedStop(values: 2, openMarks: 0, offset: 4)) { try reader.read([0x80, 2, 0x4E, 0x4E, 0x2E]) }
    #expect(throws: PickleError.unbalancedStop(values: 1, openMarks: 1, offset: 4)) { try reader.read([0x80, 2, 0x4E, 0x28, 0x2E]) }
    #expect(throws: PickleError.trailingBytes(offset: 3, count: 2)) { try reader.read([0x80, 2, 0x4E, 0x2E, 0x4E, 0x2E]) }
    #expect(throws: PickleError.wrongType(opcode: "BUILD", offset: 4, expected: "an object or OrderedDict to BUILD")) {
      try reader.read([0x80, 2, 0x5D, 0x7D, 0x62, 0x2E])
    }
  }

  @Test func depthSizeAndCyclesAreBounded() throws {
    // 300 nested lists: deeper than the default limit of 200.
    let deep: [UInt8] = [0x80, 2] + [UInt8](repeating: 0x5D, count: 300) + [UInt8](repeating: 0x61, count: 299) + [0x2E]
    #expect(throws: PickleError.tooDeep(limit: 200)) { try reader.read(deep) }
    // Each level holds the one below twice: 2^40 values from a few hundred bytes.
    let bomb = PickleBytes()
    bomb.op(0x5D)
    for _ in 0..<40 { bomb.put(0).get(0).op(0x86) }
    bomb.stop()
    #expect(throws: PickleError.tooLarge(limit: 20_000_000)) { try reader.read(bomb.bytes) }
    // Values made and popped count too: memory stays bounded by the limit.
    let churn: [UInt8] = [0x80, 2] + Array(repeating: [UInt8]([0x4E, 0x30]), count: 200).flatMap { $0 } + [0x4E, 0x2E]
    #expect(throws: PickleError.tooLarge(limit: 100)) { try PickleReader(limits: PickleLimits(maxValues: 100)).read(churn) }
    #expect(try PickleReader(limits: PickleLimits(maxValues: 201)).read(churn) == PickleValue.none)
    // A list that contains itself.
    #expect(throws: PickleError.cycle(offset: 2)) { try reader.read([0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E]) }
  }

  @Test func oneItemAppendsAndSetitemsStayLinear() throws {
    // 200 000 single APPENDs and SETITEMs: quadratic copying would take minutes.
    let n = 200_000
    let list: [UInt8] = [0x80, 2, 0x5D] + Array(repeating: [UInt8]([0x4E, 0x61]), count: n).flatMap { $0 } + [0x2E]
    guard case .list(let items) = try reader.read(list) else { throw PickleError.missingStop(size: 0) }
    #expect(items.count == n)
    let dict: [UInt8] = [0x80, 2, 0x7D] + Array(repeating: [UInt8]([0x4E, 0x4E, 0x73]), count: n).flatMap { $0 } + [0x2E]
    guard case .dict(let pairs) = try reader.read(dict) else { throw PickleError.missingStop(size: 0) }
    #expect(pairs.count == n)
  }

  @Test func mutatedPicklesAreReadOrRefusedWithATypedError() {
    let torchScript = PickleBytes()
    torchScript.global("__torch__.m", "Net").put(0).emptyTuple().op(0x81).emptyDict().mark()
    torchScript.string("training").bool(false).string("w").tensor(key: "0", numel: 4, size: [2, 2], stride: [2, 1])
    torchScript.string("ints").global("torch.jit._pickle", "build_intlist").mark().op(0x5D).mark().int(8000).int(16000)
    torchScript.op(0x65).tuple().reduce().setItems().op(0x62).stop()
    let seeds = [
      PickleBytes.stateDict([("a.weight", "0", [3, 4]), ("a.bias", "1", [4]), ("b", "2", [])]), torchScript.bytes,
    ]
    for seed in seeds { #expect((try? reader.read(seed)) != nil) }
    var state: UInt64 = 0x51C4_1E
    var accepted = 0
    var rejected = 0
    for k in 0..<6000 {
      let input = FuzzMutation.mutate(seeds[k % seeds.count], &state)
      do {
        _ = try reader.read(input)
        accepted += 1
      } catch is PickleError {
        rejected += 1
      } catch {
        Issue.record("untyped error \(error)")
      }
    }
    #expect(rejected > 3000 && accepted + rejected == 6000)
  }
}

/// The pickle fuzz tests' mutations: pickle opcodes and 4-byte lengths up to 70,000.
enum FuzzMutation {
  static let mutator = ByteMutator(
    interestingBytes: [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x28, 0x2E, 0x61], lies: [0, 1, 255, 65_535, 70_000, nil], lieWidth: 4)
  static func mutate(_ bytes: [UInt8], _ state: inout UInt64) -> [UInt8] { mutator.mutate(bytes, &state) }
}
