/// Builds pickles opcode by opcode, for reader tests and hand-made PyTorch archives.
final class PickleBytes {
  var bytes: [UInt8] = []

  init(protocol version: UInt8? = 2) {
    if let version { bytes = [0x80, version] }
  }

  static func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

  @discardableResult func op(_ code: UInt8, _ operand: [UInt8] = []) -> PickleBytes {
    bytes += [code] + operand
    return self
  }
  @discardableResult func mark() -> PickleBytes { op(0x28) }
  @discardableResult func stop() -> PickleBytes { op(0x2E) }
  @discardableResult func none() -> PickleBytes { op(0x4E) }
  @discardableResult func bool(_ b: Bool) -> PickleBytes { op(b ? 0x88 : 0x89) }
  @discardableResult func int(_ i: Int) -> PickleBytes {
    if (0..<256).contains(i) { return op(0x4B, [UInt8(i)]) }
    if Int(Int32.min)...Int(Int32.max) ~= i { return op(0x4A, Self.le(UInt64(bitPattern: Int64(i)), 4)) }
    return op(0x8A, [8] + Self.le(UInt64(bitPattern: Int64(i)), 8))
  }
  @discardableResult func string(_ s: String) -> PickleBytes { op(0x58, Self.le(UInt64(s.utf8.count), 4) + Array(s.utf8)) }
  @discardableResult func global(_ module: String, _ name: String) -> PickleBytes { op(0x63, Array("\(module)\n\(name)\n".utf8)) }
  @discardableResult func stackGlobal(_ module: String, _ name: String) -> PickleBytes {
    string(module).string(name).op(0x93)
  }
  @discardableResult func tuple() -> PickleBytes { op(0x74) }
  @discardableResult func emptyTuple() -> PickleBytes { op(0x29) }
  @discardableResult func emptyDict() -> PickleBytes { op(0x7D) }
  @discardableResult func setItems() -> PickleBytes { op(0x75) }
  @discardableResult func reduce() -> PickleBytes { op(0x52) }
  @discardableResult func put(_ k: UInt8) -> PickleBytes { op(0x71, [k]) }
  @discardableResult func get(_ k: UInt8) -> PickleBytes { op(0x68, [k]) }

  /// `_rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`.
  @discardableResult func tensor(
    type: String = "FloatStorage", key: String, numel: Int, offset: Int = 0, size: [Int], stride: [Int]
  ) -> PickleBytes {
    global("torch._utils", "_rebuild_tensor_v2").mark()
    mark().string("storage").global("torch", type).string(key).string("cpu").int(numel).tuple().op(0x51)
    int(offset)
    mark()
    for s in size { int(s) }
    tuple().mark()
    for s in stride { int(s) }
    tuple().bool(false).global("collections", "OrderedDict").emptyTuple().reduce()
    return tuple().reduce()
  }

  /// A state dict pickle `{name: tensor, …}` of contiguous F32 tensors, one storage each.
  static func stateDict(_ tensors: [(name: String, key: String, shape: [Int])]) -> [UInt8] {
    let p = PickleBytes()
    p.global("collections", "OrderedDict").emptyTuple().reduce().mark()
    for t in tensors {
      var stride: [Int] = []
      var n = 1
      for d in t.shape.reversed() {
        stride.insert(n, at: 0)
        n *= d
      }
      p.string(t.name).tensor(key: t.key, numel: n, size: t.shape, stride: stride)
    }
    return p.setItems().stop().bytes
  }
}
