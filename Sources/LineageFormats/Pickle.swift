import LineageCore

/// A Python global named by a pickle (`GLOBAL`/`STACK_GLOBAL`): module and qualified name.
public struct PickleGlobal: Hashable, Sendable, CustomStringConvertible {
  public var module: String
  public var name: String
  public init(_ module: String, _ name: String) {
    self.module = module
    self.name = name
  }
  public var description: String { "\(module).\(name)" }
}

/// A pickle's value tree. Nothing is imported or called: an allowed callable applied with
/// REDUCE is kept as a `call` record of the callable and its arguments.
public indirect enum PickleValue: Equatable, Sendable {
  /// One key and value of a dict, in the order the pickle set them.
  public struct Pair: Equatable, Sendable {
    public var key: PickleValue
    public var value: PickleValue
    public init(_ key: PickleValue, _ value: PickleValue) {
      self.key = key
      self.value = value
    }
  }

  case none
  case bool(Bool)
  case int(Int64)
  case float(Double)
  case string(String)
  /// BINBYTES/SHORT_BINBYTES/BINBYTES8, and BINSTRING/SHORT_BINSTRING (Python 2 `str`).
  case bytes([UInt8])
  case tuple([PickleValue])
  case list([PickleValue])
  /// A dict or `collections.OrderedDict`; keys kept as written, duplicates included.
  case dict([Pair])
  /// A set or frozenset, in the order written.
  case set([PickleValue])
  /// An allowed class or function, referenced as a value (a storage type, a module class).
  case global(PickleGlobal)
  /// An allowed callable applied (REDUCE) to its arguments; never executed.
  case call(PickleGlobal, [PickleValue])
  /// An instance of an archive-defined data class (`__torch__.…`) and the state BUILD set
  /// (`.none` when there was no BUILD).
  case object(PickleGlobal, state: PickleValue)
  /// A persistent id (BINPERSID/PERSID): a reference to data kept outside the pickle.
  case persistentID(PickleValue)

  /// The dict's value for a string key (the first one written).
  public subscript(key: String) -> PickleValue? {
    guard case .dict(let pairs) = self else { return nil }
    return pairs.first { $0.key == .string(key) }?.value
  }
}

/// Which globals a pickle may name. Anything not listed is refused the moment GLOBAL or
/// STACK_GLOBAL reads it, before any other opcode runs.
public struct PickleAllowList: Sendable {
  /// Functions and classes REDUCE may apply (kept as `call` records, or interpreted: see
  /// `PickleReader`).
  public var callables: Set<PickleGlobal>
  /// Classes that may appear as values but not be called (storage types).
  public var types: Set<PickleGlobal>
  /// Modules whose classes are data classes defined inside the file (TorchScript's
  /// `__torch__`): NEWOBJ makes an `object` record and BUILD sets its state. A module matches
  /// when it equals a prefix or starts with the prefix and a dot.
  public var classModules: [String]

  public init(callables: Set<PickleGlobal>, types: Set<PickleGlobal>, classModules: [String]) {
    self.callables = callables
    self.types = types
    self.classModules = classModules
  }

  /// The storage classes of `torch.save` persistent ids and the element type each holds.
  public static let torchStorageTypes: [String: DType] = [
    "FloatStorage": .f32, "DoubleStorage": .f64, "HalfStorage": .f16, "BFloat16Storage": .bf16,
    "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8, "ByteStorage": .u8,
    "BoolStorage": .bool,
  ]

  /// What `torch.save` checkpoints and TorchScript archives of tensors need, and nothing that
  /// imports code or runs it.
  public static let torch = PickleAllowList(
    callables: [
      PickleGlobal("torch._utils", "_rebuild_tensor_v2"), PickleGlobal("torch._utils", "_rebuild_parameter"),
      PickleGlobal("torch._utils", "_rebuild_parameter_with_state"),
      PickleGlobal("torch._tensor", "_rebuild_from_type_v2"), PickleGlobal("torch.nn.parameter", "Parameter"),
      PickleGlobal("collections", "OrderedDict"), PickleGlobal("torch", "Size"),
      PickleGlobal("torch.jit._pickle", "build_intlist"), PickleGlobal("torch.jit._pickle", "build_doublelist"),
      PickleGlobal("torch.jit._pickle", "build_boollist"), PickleGlobal("torch.jit._pickle", "build_tensorlist"),
      PickleGlobal("torch.jit._pickle", "restore_type_tag"),
    ],
    types: Set(torchStorageTypes.keys.map { PickleGlobal("torch", $0) } + [PickleGlobal("torch", "Tensor")]),
    classModules: ["__torch__"])

  func isClass(_ g: PickleGlobal) -> Bool {
    classModules.contains { g.module == $0 || g.module.hasPrefix($0 + ".") } && !g.name.isEmpty
  }

  func allows(_ g: PickleGlobal) -> Bool { callables.contains(g) || types.contains(g) || isClass(g) }
}

/// Limits on what one pickle may build.
public struct PickleLimits: Sendable {
  /// The deepest nesting of containers in the value tree.
  public var maxDepth: Int
  /// The most values the tree may hold, counting every path to a shared (memoized) value:
  /// bounds the work of anyone who walks the tree. Also the most values the pickle may make,
  /// including ones it pops, which bounds memory.
  public var maxValues: Int
  public init(maxDepth: Int = 200, maxValues: Int = 20_000_000) {
    self.maxDepth = maxDepth
    self.maxValues = maxValues
  }
}

/// Why a pickle is refused. Offsets are of the opcode byte in the pickle.
public enum PickleError: FormatProblem, Equatable {
  /// GLOBAL or STACK_GLOBAL names a global that is not on the allow-list.
  case forbiddenGlobal(PickleGlobal, offset: Int)
  /// An opcode that imports or calls by itself (INST, OBJ, EXT1/2/4, NEWOBJ_EX).
  case forbiddenOpcode(name: String, offset: Int)
  /// A known opcode this reader does not interpret (text STRING, out-of-band buffers).
  case unsupportedOpcode(name: String, offset: Int)
  /// A byte that is no pickle opcode.
  case unknownOpcode(UInt8, offset: Int)
  /// REDUCE or NEWOBJ applied to something that is not an allowed callable or class.
  case notCallable(String, opcode: String, offset: Int)
  /// An opcode needs more values than the stack (above the last MARK) holds.
  case stackUnderflow(opcode: String, offset: Int)
  /// An opcode that collects items up to a MARK, with no MARK open.
  case markMissing(opcode: String, offset: Int)
  /// GET of a memo slot never PUT.
  case memoMissing(index: Int, offset: Int)
  /// An opcode's operand has the wrong type (APPEND to a non-list, STACK_GLOBAL of non-strings…).
  case wrongType(opcode: String, offset: Int, expected: String)
  /// DICT or SETITEMS with an odd number of items.
  case oddItemCount(opcode: String, offset: Int)
  /// An integer beyond Int64.
  case intTooLarge(opcode: String, offset: Int)
  /// A text operand that is not valid UTF-8, a number or a quoted form.
  case badText(opcode: String, offset: Int)
  /// A negative length (BINSTRING).
  case negativeLength(opcode: String, offset: Int)
  /// An operand runs past the end of the pickle.
  case truncated(opcode: String, offset: Int, needed: UInt64)
  /// PROTO names a protocol above 5.
  case unsupportedProtocol(Int, offset: Int)
  /// The bytes end without a STOP opcode.
  case missingStop(size: Int)
  /// STOP with other than exactly one value on the stack, or with a MARK still open.
  case unbalancedStop(values: Int, openMarks: Int, offset: Int)
  /// Bytes after STOP.
  case trailingBytes(offset: Int, count: Int)
  /// Containers nested deeper than the limit.
  case tooDeep(limit: Int)
  /// The value tree (counting shared values on every path) is larger than the limit.
  case tooLarge(limit: Int)
  /// A container that contains itself.
  case cycle(offset: Int)

  public var description: String {
    switch self {
    case .forbiddenGlobal(let g, let o): return "pickle names the forbidden global '\(g)' at offset \(o) (only tensor data is read)"
    case .forbiddenOpcode(let n, let o): return "pickle uses the forbidden opcode \(n) at offset \(o) (it imports or calls code)"
    case .unsupportedOpcode(let n, let o): return "pickle uses the opcode \(n) at offset \(o), which is not read"
    case .unknownOpcode(let b, let o): return "pickle has the unknown opcode 0x\(String(b, radix: 16)) at offset \(o)"
    case .notCallable(let what, let op, let o): return "pickle \(op) at offset \(o) applies \(what), which is not an allowed callable"
    case .stackUnderflow(let op, let o): return "pickle \(op) at offset \(o) pops an empty stack"
    case .markMissing(let op, let o): return "pickle \(op) at offset \(o) needs a MARK, and none is open"
    case .memoMissing(let i, let o): return "pickle reads memo slot \(i) at offset \(o), which was never set"
    case .wrongType(let op, let o, let e): return "pickle \(op) at offset \(o) expects \(e)"
    case .oddItemCount(let op, let o): return "pickle \(op) at offset \(o) has an odd number of keys and values"
    case .intTooLarge(let op, let o): return "pickle \(op) at offset \(o) holds an integer beyond 64 bits"
    case .badText(let op, let o): return "pickle \(op) at offset \(o) has malformed text"
    case .negativeLength(let op, let o): return "pickle \(op) at offset \(o) has a negative length"
    case .truncated(let op, let o, let n): return "pickle \(op) at offset \(o) needs \(n) more bytes than the pickle has"
    case .unsupportedProtocol(let v, let o): return "pickle protocol \(v) at offset \(o) is not read (0–5 are)"
    case .missingStop(let size): return "pickle of \(size) bytes ends without STOP"
    case .unbalancedStop(let v, let m, let o):
      return "pickle STOP at offset \(o) leaves \(v) values and \(m) open marks (expected one value, no marks)"
    case .trailingBytes(let o, let c): return "pickle has \(c) bytes after STOP at offset \(o)"
    case .tooDeep(let l): return "pickle nests containers deeper than \(l)"
    case .tooLarge(let l): return "pickle builds more than \(l) values"
    case .cycle(let o): return "pickle value at offset \(o) contains itself"
    }
  }
}

/// A restricted unpickler for tensor checkpoints: it interprets the opcodes of protocols 0–5
/// that `torch.save` and TorchScript write into a `PickleValue` tree, and never imports or calls
/// anything. GLOBAL/STACK_GLOBAL are checked against an allow-list when read. Of the allowed
/// callables, REDUCE interprets only data constructors: `collections.OrderedDict()` (an empty
/// dict), `torch.Size(t)` (a tuple), `torch.jit._pickle.build_*list(x)` and `restore_type_tag(x, t)`
/// (`x`); every other allowed callable becomes a `call` record. Lists, dicts, sets and objects
/// are shared through the memo as Python shares them (APPEND after PUT is seen by GET).
public struct PickleReader: Sendable {
  public var allowList: PickleAllowList
  public var limits: PickleLimits

  public init(allowList: PickleAllowList = .torch, limits: PickleLimits = PickleLimits()) {
    self.allowList = allowList
    self.limits = limits
  }

  public func read(_ bytes: [UInt8]) throws -> PickleValue {
    var machine = PickleMachine(bytes: bytes, allowList: allowList, maxNodes: limits.maxValues)
    let root = try machine.run()
    var builder = PickleTreeBuilder(nodes: machine.nodes, origins: machine.origins, limits: limits)
    return try builder.value(root, depth: 0).value
  }
}

/// A value under construction: containers are mutable nodes referenced by index, so memoized
/// containers are shared as in Python.
enum PickleNode {
  case scalar(PickleValue)
  case tuple([Int])
  case list([Int])
  case dict([Int])  // key, value, key, value…
  case set([Int])
  case call(PickleGlobal, [Int])
  case object(PickleGlobal, state: Int?)
  case persistentID(Int)
}

/// The pickle virtual machine: a stack of node indices, MARK positions and the memo.
struct PickleMachine {
  let bytes: [UInt8]
  let allowList: PickleAllowList
  var pos = 0
  var nodes: [PickleNode] = []
  /// Where each node was made (for errors found while building the tree).
  var origins: [Int] = []
  var stack: [Int] = []
  var marks: [Int] = []
  var memo: [Int: Int] = [:]
  var opOffset = 0
  var opName = ""
  /// The most nodes the machine makes, popped ones included (memory stays proportional to it).
  let maxNodes: Int

  init(bytes: [UInt8], allowList: PickleAllowList, maxNodes: Int) {
    self.bytes = bytes
    self.allowList = allowList
    self.maxNodes = maxNodes
  }

  // MARK: Reading operands

  mutating func take(_ n: UInt64) throws -> ArraySlice<UInt8> {
    let remaining = UInt64(bytes.count - pos)
    guard n <= remaining else { throw PickleError.truncated(opcode: opName, offset: opOffset, needed: n - remaining) }
    let slice = bytes[pos..<(pos + Int(n))]
    pos += Int(n)
    return slice
  }

  mutating func uint(_ n: Int) throws -> UInt64 {
    var v: UInt64 = 0
    for (k, b) in try take(UInt64(n)).enumerated() { v |= UInt64(b) << (8 * UInt64(k)) }
    return v
  }

  /// Bytes up to (not including) the next newline, which is consumed.
  mutating func line() throws -> ArraySlice<UInt8> {
    guard let end = bytes[pos...].firstIndex(of: 0x0A) else {
      throw PickleError.truncated(opcode: opName, offset: opOffset, needed: 1)
    }
    let slice = bytes[pos..<end]
    pos = end + 1
    return slice
  }

  mutating func text(_ raw: ArraySlice<UInt8>) throws -> String {
    guard let s = String(validating: raw, as: UTF8.self) else { throw PickleError.badText(opcode: opName, offset: opOffset) }
    return s
  }

  mutating func lineText() throws -> String { try text(try line()) }

  /// A decimal integer in text (INT, LONG, PUT, GET).
  mutating func decimal(_ raw: String) throws -> Int64 {
    if let v = Int64(raw) { return v }
    let digits = raw.hasPrefix("-") || raw.hasPrefix("+") ? raw.dropFirst() : Substring(raw)
    if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
      throw PickleError.intTooLarge(opcode: opName, offset: opOffset)
    }
    throw PickleError.badText(opcode: opName, offset: opOffset)
  }

  /// A little-endian two's-complement integer (LONG1/LONG4).
  mutating func long(_ raw: ArraySlice<UInt8>) throws -> Int64 {
    guard let last = raw.last else { return 0 }
    let sign: UInt8 = last & 0x80 != 0 ? 0xFF : 0
    let low = Array(raw.prefix(8))
    // Bytes past the eighth must only repeat the sign, and the eighth's top bit must agree.
    if raw.count > 8 {
      guard raw.dropFirst(8).allSatisfy({ $0 == sign }), low[7] & 0x80 == sign & 0x80 else {
        throw PickleError.intTooLarge(opcode: opName, offset: opOffset)
      }
    }
    var v: UInt64 = sign == 0 ? 0 : .max
    for (k, b) in low.enumerated() {
      v &= ~(UInt64(0xFF) << (8 * UInt64(k)))
      v |= UInt64(b) << (8 * UInt64(k))
    }
    return Int64(bitPattern: v)
  }

  // MARK: The stack

  mutating func make(_ node: PickleNode) -> Int {
    nodes.append(node)
    origins.append(opOffset)
    return nodes.count - 1
  }

  mutating func push(_ node: PickleNode) { stack.append(make(node)) }

  mutating func pop() throws -> Int {
    guard stack.count > (marks.last ?? 0), let v = stack.popLast() else {
      throw PickleError.stackUnderflow(opcode: opName, offset: opOffset)
    }
    return v
  }

  func top() throws -> Int {
    guard stack.count > (marks.last ?? 0), let v = stack.last else {
      throw PickleError.stackUnderflow(opcode: opName, offset: opOffset)
    }
    return v
  }

  mutating func popToMark() throws -> [Int] {
    guard let m = marks.popLast() else { throw PickleError.markMissing(opcode: opName, offset: opOffset) }
    let items = Array(stack[m...])
    stack.removeSubrange(m...)
    return items
  }

  func wrong(_ expected: String) -> PickleError { .wrongType(opcode: opName, offset: opOffset, expected: expected) }

  mutating func global(_ g: PickleGlobal) throws {
    guard allowList.allows(g) else { throw PickleError.forbiddenGlobal(g, offset: opOffset) }
    push(.scalar(.global(g)))
  }

  mutating func string(_ id: Int) throws -> String {
    guard case .scalar(.string(let s)) = nodes[id] else { throw wrong("a string") }
    return s
  }

  /// Run to STOP: the root node.
  mutating func run() throws -> Int {
    while pos < bytes.count {
      guard nodes.count <= maxNodes else { throw PickleError.tooLarge(limit: maxNodes) }
      opOffset = pos
      let op = bytes[pos]
      pos += 1
      opName = PickleMachine.names[op] ?? "0x\(String(op, radix: 16))"
      switch op {
      case 0x80:  // PROTO
        let v = Int(try uint(1))
        guard v <= 5 else { throw PickleError.unsupportedProtocol(v, offset: opOffset) }
      case 0x95:  // FRAME: a length hint only; the frame's opcodes follow inline.
        let n = try uint(8)
        guard n <= UInt64(bytes.count - pos) else {
          throw PickleError.truncated(opcode: opName, offset: opOffset, needed: n - UInt64(bytes.count - pos))
        }
      case 0x2E:  // STOP
        guard stack.count == 1, marks.isEmpty else {
          throw PickleError.unbalancedStop(values: stack.count, openMarks: marks.count, offset: opOffset)
        }
        guard pos == bytes.count else { throw PickleError.trailingBytes(offset: opOffset, count: bytes.count - pos) }
        return stack[0]
      case 0x28: marks.append(stack.count)  // MARK
      case 0x30:  // POP: Python pops a MARK when no value is above it
        if stack.count > (marks.last ?? 0) {
          stack.removeLast()
        } else if marks.popLast() == nil {
          throw PickleError.stackUnderflow(opcode: opName, offset: opOffset)
        }
      case 0x31: _ = try popToMark()  // POP_MARK
      case 0x32: stack.append(try top())  // DUP
      case 0x4E: push(.scalar(.none))
      case 0x88: push(.scalar(.bool(true)))
      case 0x89: push(.scalar(.bool(false)))
      case 0x49:  // INT: text; "01"/"00" are protocol 0's True and False
        let t = try lineText()
        if t == "01" || t == "00" { push(.scalar(.bool(t == "01"))) } else { push(.scalar(.int(try decimal(t)))) }
      case 0x4C:  // LONG: text with a trailing L
        var t = try lineText()
        if t.hasSuffix("L") { t.removeLast() }
        push(.scalar(.int(try decimal(t))))
      case 0x4A: push(.scalar(.int(Int64(Int32(bitPattern: UInt32(try uint(4)))))))  // BININT
      case 0x4B: push(.scalar(.int(Int64(try uint(1)))))  // BININT1
      case 0x4D: push(.scalar(.int(Int64(try uint(2)))))  // BININT2
      case 0x8A: push(.scalar(.int(try long(try take(try uint(1))))))  // LONG1
      case 0x8B: push(.scalar(.int(try long(try take(try uint(4))))))  // LONG4
      case 0x47:  // BINFLOAT: big-endian
        let raw = try take(8)
        push(.scalar(.float(Double(bitPattern: raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))))
      case 0x46:  // FLOAT: text
        guard let d = Double(try lineText()) else { throw PickleError.badText(opcode: opName, offset: opOffset) }
        push(.scalar(.float(d)))
      case 0x58: push(.scalar(.string(try text(try take(try uint(4))))))  // BINUNICODE
      case 0x8C: push(.scalar(.string(try text(try take(try uint(1))))))  // SHORT_BINUNICODE
      case 0x8D: push(.scalar(.string(try text(try take(try uint(8))))))  // BINUNICODE8
      case 0x56: push(.scalar(.string(try rawUnicodeEscape(try line()))))  // UNICODE
      case 0x54:  // BINSTRING: signed length
        let n = Int32(bitPattern: UInt32(try uint(4)))
        guard n >= 0 else { throw PickleError.negativeLength(opcode: opName, offset: opOffset) }
        push(.scalar(.bytes(Array(try take(UInt64(n))))))
      case 0x55: push(.scalar(.bytes(Array(try take(try uint(1))))))  // SHORT_BINSTRING
      case 0x42: push(.scalar(.bytes(Array(try take(try uint(4))))))  // BINBYTES
      case 0x43: push(.scalar(.bytes(Array(try take(try uint(1))))))  // SHORT_BINBYTES
      case 0x8E: push(.scalar(.bytes(Array(try take(try uint(8))))))  // BINBYTES8
      case 0x5D: push(.list([]))  // EMPTY_LIST
      case 0x6C: push(.list(try popToMark()))  // LIST
      case 0x61:  // APPEND
        let v = try pop()
        try append([v], to: try top())
      case 0x65:  // APPENDS
        let items = try popToMark()
        try append(items, to: try top())
      case 0x29: push(.tuple([]))  // EMPTY_TUPLE
      case 0x74: push(.tuple(try popToMark()))  // TUPLE
      case 0x85, 0x86, 0x87:  // TUPLE1-3
        var items: [Int] = []
        for _ in 0..<Int(op - 0x84) { items.insert(try pop(), at: 0) }
        push(.tuple(items))
      case 0x7D: push(.dict([]))  // EMPTY_DICT
      case 0x64:  // DICT
        let items = try popToMark()
        guard items.count % 2 == 0 else { throw PickleError.oddItemCount(opcode: opName, offset: opOffset) }
        push(.dict(items))
      case 0x73:  // SETITEM
        let v = try pop()
        let k = try pop()
        try setItems([k, v], in: try top())
      case 0x75:  // SETITEMS
        let items = try popToMark()
        guard items.count % 2 == 0 else { throw PickleError.oddItemCount(opcode: opName, offset: opOffset) }
        try setItems(items, in: try top())
      case 0x8F: push(.set([]))  // EMPTY_SET
      case 0x90:  // ADDITEMS
        let items = try popToMark()
        let target = try top()
        guard case .set(var set) = nodes[target] else { throw wrong("a set") }
        nodes[target] = .scalar(.none)  // so `set` is the array's only reference: appends in place
        set += items
        nodes[target] = .set(set)
      case 0x91: push(.set(try popToMark()))  // FROZENSET
      case 0x67: try get(Int(try decimal(try lineText())))  // GET
      case 0x68: try get(Int(try uint(1)))  // BINGET
      case 0x6A: try get(Int(try uint(4)))  // LONG_BINGET
      case 0x70: memo[Int(try decimal(try lineText()))] = try top()  // PUT
      case 0x71: memo[Int(try uint(1))] = try top()  // BINPUT
      case 0x72: memo[Int(try uint(4))] = try top()  // LONG_BINPUT
      case 0x94: memo[memo.count] = try top()  // MEMOIZE
      case 0x63:  // GLOBAL
        let module = try lineText()
        let name = try lineText()
        try global(PickleGlobal(module, name))
      case 0x93:  // STACK_GLOBAL
        let name = try pop()
        let module = try pop()
        try global(PickleGlobal(try string(module), try string(name)))
      case 0x52: try reduce()  // REDUCE
      case 0x81: try newObject()  // NEWOBJ
      case 0x62: try build()  // BUILD
      case 0x51: push(.persistentID(try pop()))  // BINPERSID
      case 0x50: push(.persistentID(make(.scalar(.string(try lineText())))))  // PERSID
      case 0x69, 0x6F, 0x82, 0x83, 0x84, 0x92:  // INST OBJ EXT1 EXT2 EXT4 NEWOBJ_EX
        throw PickleError.forbiddenOpcode(name: opName, offset: opOffset)
      case 0x53, 0x96, 0x97, 0x98:  // STRING BYTEARRAY8 NEXT_BUFFER READONLY_BUFFER
        throw PickleError.unsupportedOpcode(name: opName, offset: opOffset)
      default:
        throw PickleError.unknownOpcode(op, offset: opOffset)
      }
    }
    throw PickleError.missingStop(size: bytes.count)
  }

  mutating func get(_ index: Int) throws {
    guard let id = memo[index] else { throw PickleError.memoMissing(index: index, offset: opOffset) }
    stack.append(id)
  }

  /// Appends in place: the node gives up its array first, so one-item APPENDs stay linear.
  mutating func append(_ items: [Int], to target: Int) throws {
    guard case .list(var list) = nodes[target] else { throw wrong("a list") }
    nodes[target] = .scalar(.none)
    list += items
    nodes[target] = .list(list)
  }

  mutating func setItems(_ items: [Int], in target: Int) throws {
    guard case .dict(var dict) = nodes[target] else { throw wrong("a dict") }
    nodes[target] = .scalar(.none)
    dict += items
    nodes[target] = .dict(dict)
  }

  mutating func reduce() throws {
    let args = try pop()
    let callable = try pop()
    guard case .scalar(.global(let g)) = nodes[callable], allowList.callables.contains(g) else {
      throw PickleError.notCallable(describe(callable), opcode: opName, offset: opOffset)
    }
    guard case .tuple(let a) = nodes[args] else { throw wrong("an argument tuple") }
    switch (g.module, g.name) {
    case ("collections", "OrderedDict"):
      guard a.isEmpty else { throw wrong("OrderedDict() with no arguments") }
      push(.dict([]))
    case ("torch", "Size"):
      guard a.count == 1, case .tuple(let dims) = nodes[a[0]] else { throw wrong("torch.Size of one tuple") }
      push(.tuple(dims))
    case ("torch.jit._pickle", "restore_type_tag"):
      guard a.count == 2 else { throw wrong("restore_type_tag(value, type)") }
      stack.append(a[0])
    case ("torch.jit._pickle", _):
      guard a.count == 1 else { throw wrong("\(g.name)(list)") }
      stack.append(a[0])
    default:
      push(.call(g, a))
    }
  }

  mutating func newObject() throws {
    let args = try pop()
    let cls = try pop()
    guard case .scalar(.global(let g)) = nodes[cls], allowList.isClass(g) else {
      throw PickleError.notCallable(describe(cls), opcode: opName, offset: opOffset)
    }
    guard case .tuple(let a) = nodes[args], a.isEmpty else { throw wrong("an empty argument tuple") }
    push(.object(g, state: nil))
  }

  mutating func build() throws {
    let state = try pop()
    let target = try top()
    switch nodes[target] {
    case .object(let g, nil): nodes[target] = .object(g, state: state)
    case .object(let g, let old?):
      // A second BUILD adds to a dict state, as Python's `__dict__.update` does.
      guard case .dict(let a) = nodes[old], case .dict(let b) = nodes[state] else { throw wrong("a dict state") }
      nodes[target] = .object(g, state: make(.dict(a + b)))
    case .dict:
      // OrderedDict's attributes (a state dict's `_metadata`): not part of its items.
      break
    default: throw wrong("an object or OrderedDict to BUILD")
    }
  }

  func describe(_ id: Int) -> String {
    switch nodes[id] {
    case .scalar(.global(let g)): return "'\(g)'"
    case .scalar: return "a scalar"
    case .tuple: return "a tuple"
    case .list: return "a list"
    case .dict: return "a dict"
    case .set: return "a set"
    case .call(let g, _): return "the result of '\(g)'"
    case .object(let g, _): return "an instance of '\(g)'"
    case .persistentID: return "a persistent id"
    }
  }

  /// Python's raw-unicode-escape: bytes are Latin-1 code points, except `\uXXXX` and `\UXXXXXXXX`.
  mutating func rawUnicodeEscape(_ raw: ArraySlice<UInt8>) throws -> String {
    var out = String.UnicodeScalarView()
    var i = raw.startIndex
    while i < raw.endIndex {
      let b = raw[i]
      if b == 0x5C, i + 1 < raw.endIndex, raw[i + 1] == 0x75 || raw[i + 1] == 0x55 {
        let n = raw[i + 1] == 0x75 ? 4 : 8
        guard i + 2 + n <= raw.endIndex, let hex = String(validating: raw[(i + 2)..<(i + 2 + n)], as: UTF8.self),
          let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v)
        else { throw PickleError.badText(opcode: opName, offset: opOffset) }
        out.append(scalar)
        i += 2 + n
      } else {
        out.append(Unicode.Scalar(b))
        i += 1
      }
    }
    return String(out)
  }

  static let names: [UInt8: String] = [
    0x28: "MARK", 0x2E: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT", 0x4A: "BININT",
    0x4B: "BININT1", 0x4C: "LONG", 0x4D: "BININT2", 0x4E: "NONE", 0x50: "PERSID", 0x51: "BINPERSID", 0x52: "REDUCE",
    0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING", 0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND",
    0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT", 0x7D: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET",
    0x69: "INST", 0x6A: "LONG_BINGET", 0x6C: "LIST", 0x5D: "EMPTY_LIST", 0x6F: "OBJ", 0x70: "PUT", 0x71: "BINPUT",
    0x72: "LONG_BINPUT", 0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
    0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2",
    0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8A: "LONG1", 0x8B: "LONG4", 0x42: "BINBYTES",
    0x43: "SHORT_BINBYTES", 0x8C: "SHORT_BINUNICODE", 0x8D: "BINUNICODE8", 0x8E: "BINBYTES8", 0x8F: "EMPTY_SET",
    0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME",
    0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
  ]
}

/// Turns the machine's shared nodes into a value tree, bounding depth and size and refusing
/// cycles. A shared node is built once (Swift's copy-on-write shares its storage); its size and
/// height are remembered so every path to it is counted.
struct PickleTreeBuilder {
  struct Built {
    var value: PickleValue
    var count: Int
    var height: Int
  }
  let nodes: [PickleNode]
  let origins: [Int]
  let limits: PickleLimits
  var done: [Int: Built] = [:]
  var inProgress = Set<Int>()

  init(nodes: [PickleNode], origins: [Int], limits: PickleLimits) {
    self.nodes = nodes
    self.origins = origins
    self.limits = limits
  }

  mutating func value(_ id: Int, depth: Int) throws -> Built {
    if let b = done[id] {
      guard depth + b.height <= limits.maxDepth else { throw PickleError.tooDeep(limit: limits.maxDepth) }
      return b
    }
    guard depth <= limits.maxDepth else { throw PickleError.tooDeep(limit: limits.maxDepth) }
    guard inProgress.insert(id).inserted else { throw PickleError.cycle(offset: origins[id]) }
    defer { inProgress.remove(id) }
    var count = 1
    var height = 0
    func children(_ ids: [Int]) throws -> [PickleValue] {
      var out: [PickleValue] = []
      out.reserveCapacity(ids.count)
      for c in ids {
        let b = try value(c, depth: depth + 1)
        count = min(count + b.count, limits.maxValues + 1)
        guard count <= limits.maxValues else { throw PickleError.tooLarge(limit: limits.maxValues) }
        height = max(height, b.height + 1)
        out.append(b.value)
      }
      return out
    }
    let v: PickleValue
    switch nodes[id] {
    case .scalar(let s): v = s
    case .tuple(let ids): v = .tuple(try children(ids))
    case .list(let ids): v = .list(try children(ids))
    case .set(let ids): v = .set(try children(ids))
    case .dict(let ids):
      let flat = try children(ids)
      v = .dict(stride(from: 0, to: flat.count, by: 2).map { PickleValue.Pair(flat[$0], flat[$0 + 1]) })
    case .call(let g, let ids): v = .call(g, try children(ids))
    case .object(let g, let state): v = .object(g, state: try state.map { try children([$0])[0] } ?? .none)
    case .persistentID(let p): v = .persistentID(try children([p])[0])
    }
    let b = Built(value: v, count: count, height: height)
    done[id] = b
    return b
  }
}
