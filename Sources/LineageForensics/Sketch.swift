import Foundation
import LineageCore
import LineageFormats
import LineageNative
import LineageTensor

/// Why sketch bytes were refused (Docs/ObjectFormat.md §7.2). Every case names the field or
/// tensor at fault.
public enum SketchError: Error, Equatable, CustomStringConvertible {
  /// A primitive could not be read (truncated, bad string, trailing bytes).
  case malformed(DecodeError)
  /// A version other than 1.
  case unsupportedVersion(UInt8)
  /// The projection dimension `k` is outside 1...1024.
  case projectionDimension(UInt32)
  /// The quantile count `q` is outside 2...64.
  case quantileCount(UInt32)
  /// Tensors not strictly ascending by the bytes of their names; carries the name out of order.
  case unsorted(name: String)
  /// A dtype lineage does not know.
  case unknownDType(name: String, dtype: String)
  /// A rank above 64.
  case rankTooLarge(name: String, rank: UInt32)
  /// `count` is not the product of the dimensions (or the product overflows).
  case countMismatch(name: String, count: UInt64)
  /// Flag bits this version does not define, or bits that need bit 0 without it.
  case invalidFlags(name: String, flags: UInt8)
  /// A stored float that is NaN or infinite; carries the tensor and the field.
  case nonFinite(name: String, field: String)
  /// More zeros than elements.
  case zerosExceedCount(name: String, zeros: UInt64)
  /// `rows` is zero or does not divide `count`.
  case rowsDoNotDivide(name: String, rows: UInt64)

  public var description: String {
    switch self {
    case .malformed(let e): "malformed sketch: \(e)"
    case .unsupportedVersion(let v): "sketch version \(v) is not supported (this build reads version 1)"
    case .projectionDimension(let k): "sketch projection dimension \(k) is outside 1...1024"
    case .quantileCount(let q): "sketch quantile count \(q) is outside 2...64"
    case .unsorted(let n): "sketch tensor \(n) is out of order"
    case .unknownDType(let n, let d): "sketch tensor \(n) has an unknown dtype \(d)"
    case .rankTooLarge(let n, let r): "sketch tensor \(n) has rank \(r) (at most 64)"
    case .countMismatch(let n, let c): "sketch tensor \(n) counts \(c) elements, not the product of its dimensions"
    case .invalidFlags(let n, let f): "sketch tensor \(n) has invalid flags \(f)"
    case .nonFinite(let n, let field): "sketch tensor \(n) stores a non-finite \(field)"
    case .zerosExceedCount(let n, let z): "sketch tensor \(n) counts \(z) zeros, more than its elements"
    case .rowsDoNotDivide(let n, let r): "sketch tensor \(n) has \(r) rows, which do not divide its elements"
    }
  }
}

/// The summary of one tensor (Docs/ObjectFormat.md §7.2).
public struct TensorSketch: Sendable, Equatable {
  /// Statistics of the values, present when the tensor was sketched.
  public struct Values: Sendable, Equatable {
    /// Σx and Σx² (float64 accumulation of the float32 values).
    public var sum: Double
    public var sumSquares: Double
    public var min: Float
    public var max: Float
    public var zeros: UInt64
    /// Distinct bit patterns among the first min(count, 4096) values.
    public var distinct: UInt32
    /// Every sampled row on its own symmetric int8 grid (2-D, cols ≥ 8).
    public var onInt8Grid: Bool
    /// P·x, k values.
    public var projection: [Float]
    public var rows: UInt64
    /// Sorted row L2 norms at q quantiles.
    public var rowNorms: [Float]
    /// P·u(row norms) and P·u(column norms), k values each; nil below 2×2.
    public var rowProfile: [Float]?
    public var columnProfile: [Float]?

    /// ‖x‖₂.
    public var norm: Double { sumSquares.squareRoot() }
  }
  public var name: String
  public var dtype: DType
  public var shape: [UInt64]
  public var count: UInt64
  /// Some value is NaN or infinite (then nothing else is sketched).
  public var nonFinite: Bool
  public var values: Values?
}

/// A model's sketch: one `TensorSketch` per tensor, sorted by name bytes.
public struct ModelSketch: Sendable, Equatable {
  public static let version: UInt8 = 1
  /// Format name of the file object that stores a sketch.
  public static let format = "lineage-sketch"
  public var k: Int
  public var q: Int
  public var tensors: [TensorSketch]

  public init(k: Int, q: Int, tensors: [TensorSketch]) {
    self.k = k
    self.q = q
    self.tensors = tensors.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
  }

  /// The bytes of Docs/ObjectFormat.md §7.2.
  public func encoded() -> [UInt8] {
    var w = ByteWriter(capacity: 64 + tensors.count * (96 + 12 * k))
    w.u8(Self.version)
    w.u32(UInt32(k))
    w.u32(UInt32(q))
    w.u32(UInt32(tensors.count))
    func f32(_ x: Float) { w.u32(x.bitPattern) }
    func f64(_ x: Double) { w.u64(x.bitPattern) }
    for t in tensors {
      w.string(t.name)
      w.string(t.dtype.rawValue)
      w.u32(UInt32(t.shape.count))
      for d in t.shape { w.u64(d) }
      w.u64(t.count)
      var flags: UInt8 = 0
      if let v = t.values {
        flags |= 1
        if v.rowProfile != nil { flags |= 4 }
        if v.onInt8Grid { flags |= 8 }
      } else if t.nonFinite {
        flags |= 2
      }
      w.u8(flags)
      guard let v = t.values else { continue }
      f64(v.sum)
      f64(v.sumSquares)
      f32(v.min)
      f32(v.max)
      w.u64(v.zeros)
      w.u32(v.distinct)
      v.projection.forEach(f32)
      w.u64(v.rows)
      v.rowNorms.forEach(f32)
      if let r = v.rowProfile, let c = v.columnProfile {
        r.forEach(f32)
        c.forEach(f32)
      }
    }
    return w.bytes
  }

  /// Parse sketch bytes, refusing anything §7.2 does not allow.
  public init(decoding bytes: [UInt8]) throws(SketchError) {
    do {
      self = try Self.parse(bytes)
    } catch let e as SketchError {
      throw e
    } catch let e as DecodeError {
      throw .malformed(e)
    } catch {
      throw .malformed(.invalidValue(field: "sketch", reason: "\(error)"))
    }
  }

  /// `n` little-endian float32 values, all finite.
  static func floats(_ r: inout ByteReader, _ n: Int, name: String, field: String) throws -> [Float] {
    let raw = try r.raw(4 * n, field)
    var out = [Float](repeating: 0, count: n)
    for i in 0..<n {
      var bits = UInt32(raw[4 * i])
      bits |= UInt32(raw[4 * i + 1]) << 8
      bits |= UInt32(raw[4 * i + 2]) << 16
      bits |= UInt32(raw[4 * i + 3]) << 24
      let x = Float(bitPattern: bits)
      guard x.isFinite else { throw SketchError.nonFinite(name: name, field: field) }
      out[i] = x
    }
    return out
  }

  /// A little-endian float64, finite.
  static func double(_ r: inout ByteReader, name: String, field: String) throws -> Double {
    let x = Double(bitPattern: try r.u64(field))
    guard x.isFinite else { throw SketchError.nonFinite(name: name, field: field) }
    return x
  }

  /// The parser behind `init(decoding:)`: throws `DecodeError` or `SketchError`.
  static func parse(_ bytes: [UInt8]) throws -> ModelSketch {
    var r = ByteReader(bytes)
    let version = try r.u8("version")
    guard version == Self.version else { throw SketchError.unsupportedVersion(version) }
    let k32 = try r.u32("k")
    guard (1...1024).contains(k32) else { throw SketchError.projectionDimension(k32) }
    let q32 = try r.u32("q")
    guard (2...64).contains(q32) else { throw SketchError.quantileCount(q32) }
    let (k, q) = (Int(k32), Int(q32))
    // The smallest tensor: two empty strings, rank 0, count, flags.
    let count = try r.count("tensorCount", minimumElementSize: 17)
    var tensors: [TensorSketch] = []
    tensors.reserveCapacity(count)
    var previous: [UInt8]?
    for _ in 0..<count {
      let name = try r.string("name")
      let nameBytes = Array(name.utf8)
      if let p = previous, !p.lexicographicallyPrecedes(nameBytes) { throw SketchError.unsorted(name: name) }
      previous = nameBytes
      let dtypeText = try r.string("dtype")
      guard let dtype = DType(rawValue: dtypeText) else { throw SketchError.unknownDType(name: name, dtype: dtypeText) }
      let rank = try r.u32("rank")
      guard rank <= 64 else { throw SketchError.rankTooLarge(name: name, rank: rank) }
      var shape: [UInt64] = []
      for _ in 0..<rank { shape.append(try r.u64("dim")) }
      let elements = try r.u64("count")
      var product: UInt64 = 1
      for d in shape {
        let (p, overflow) = product.multipliedReportingOverflow(by: d)
        guard !overflow else { throw SketchError.countMismatch(name: name, count: elements) }
        product = p
      }
      guard product == elements else { throw SketchError.countMismatch(name: name, count: elements) }
      let flags = try r.u8("flags")
      let sketched = flags & 1 != 0
      guard flags & 0xF0 == 0, !(sketched && flags & 2 != 0), sketched || flags & 0x0C == 0 else {
        throw SketchError.invalidFlags(name: name, flags: flags)
      }
      var t = TensorSketch(name: name, dtype: dtype, shape: shape, count: elements, nonFinite: flags & 2 != 0, values: nil)
      if sketched {
        let sum = try double(&r, name: name, field: "sum")
        let sumSquares = try double(&r, name: name, field: "sumSquares")
        let range = try floats(&r, 2, name: name, field: "min/max")
        let zeros = try r.u64("zeros")
        guard zeros <= elements else { throw SketchError.zerosExceedCount(name: name, zeros: zeros) }
        let distinct = try r.u32("distinct")
        let projection = try floats(&r, k, name: name, field: "projection")
        let rows = try r.u64("rows")
        guard rows > 0, elements % rows == 0 else { throw SketchError.rowsDoNotDivide(name: name, rows: rows) }
        let rowNorms = try floats(&r, q, name: name, field: "rowNorms")
        var rowProfile: [Float]?
        var columnProfile: [Float]?
        if flags & 4 != 0 {
          rowProfile = try floats(&r, k, name: name, field: "rowProfile")
          columnProfile = try floats(&r, k, name: name, field: "colProfile")
        }
        t.values = TensorSketch.Values(
          sum: sum, sumSquares: sumSquares, min: range[0], max: range[1], zeros: zeros, distinct: distinct, onInt8Grid: flags & 8 != 0,
          projection: projection, rows: rows, rowNorms: rowNorms, rowProfile: rowProfile, columnProfile: columnProfile)
      }
      tensors.append(t)
    }
    try r.expectEnd()
    var out = ModelSketch(k: k, q: q, tensors: [])
    out.tensors = tensors
    return out
  }
}

/// Computes sketches (Docs/ObjectFormat.md §7.3). Holds the projection matrices it has made, so
/// one sketcher reused over many models generates each matrix once; safe to share between
/// threads.
public final class Sketcher: @unchecked Sendable {
  /// Projection dimension and row-norm quantiles writers use.
  public static let defaultK = 64
  public static let defaultQ = 9
  /// Widest block of the sign-hashing step.
  public static let blockWidth = 4096
  public let k: Int
  public let q: Int
  private var matrices: [Int: [Float]] = [:]
  private let lock = NSLock()

  public init(k: Int = Sketcher.defaultK, q: Int = Sketcher.defaultQ) {
    precondition((1...1024).contains(k) && (2...64).contains(q), "sketch dimensions out of range")
    self.k = k
    self.q = q
  }

  /// The k×B Gaussian matrix for block width B, row-major.
  func gaussian(_ width: Int) -> [Float] {
    if let m = lock.withLock({ matrices[width] }) { return m }
    var state = 0x6C69_6E65_6167_65 ^ UInt64(width)
    var m = [Float](repeating: 0, count: k * width)
    var i = 0
    while i < m.count {
      let u1 = Double((SplitMix64.next(&state) >> 11) + 1) * 0x1p-53
      let u2 = Double(SplitMix64.next(&state) >> 11) * 0x1p-53
      let r = (-2 * Foundation.log(u1)).squareRoot()
      m[i] = Float(r * cos(2 * Double.pi * u2))
      if i + 1 < m.count { m[i + 1] = Float(r * sin(2 * Double.pi * u2)) }
      i += 2
    }
    lock.withLock { matrices[width] = m }
    return m
  }

  /// P·x for a vector of n > 0 values: sign-hash into min(n, 4096) buckets, then a Gaussian
  /// map to k values, both with `sgemm`.
  public func project(_ x: UnsafeBufferPointer<Float>) -> [Float] {
    let n = x.count
    guard n > 0, let base = x.baseAddress else { return [Float](repeating: 0, count: k) }
    let width = min(n, Self.blockWidth)
    let blocks = (n + width - 1) / width
    var state = 0x736B_6574_6368 ^ UInt64(n)
    let signs = (0..<blocks).map { _ in SplitMix64.next(&state) >> 63 == 1 ? Float(1) : Float(-1) }
    var z = [Float](repeating: 0, count: width)
    let full = n / width
    z.withUnsafeMutableBufferPointer { zp in
      guard let zb = zp.baseAddress else { return }
      if full > 0 {
        signs.withUnsafeBufferPointer { sp in
          if let s = sp.baseAddress { BLAS.gemm(.none, .none, m: 1, n: width, k: full, s, lda: full, base, ldb: width, zb, ldc: width) }
        }
      }
      let rest = n - full * width
      if rest > 0 {
        let s = signs[full]
        for i in 0..<rest { zp[i] += s * x[full * width + i] }
      }
    }
    let g = gaussian(width)
    var y = [Float](repeating: 0, count: k)
    g.withUnsafeBufferPointer { gp in
      z.withUnsafeBufferPointer { zp in
        y.withUnsafeMutableBufferPointer { yp in
          if let gb = gp.baseAddress, let zb = zp.baseAddress, let yb = yp.baseAddress {
            BLAS.gemm(.none, .none, m: k, n: 1, k: width, alpha: 1 / Float(k).squareRoot(), gb, lda: width, zb, ldb: 1, yb, ldc: 1)
          }
        }
      }
    }
    return y
  }

  /// P·u(v): the projection of `v` centred and scaled to unit norm (zeros when v is constant).
  func profile(_ v: [Double]) -> [Float] {
    let mean = v.reduce(0, +) / Double(max(v.count, 1))
    let centred = v.map { $0 - mean }
    let norm = centred.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard norm > 0, norm.isFinite else { return [Float](repeating: 0, count: k) }
    let unit = centred.map { Float($0 / norm) }
    return unit.withUnsafeBufferPointer { project($0) }
  }

  /// Whether `dtype` is sketched: floats and GGML block types (dequantized), not integers.
  public static func sketches(_ dtype: DType) -> Bool {
    switch dtype {
    case .f64, .f32, .f16, .bf16, .f8e4m3, .f8e5m2: true
    case .i64, .i32, .i16, .i8, .u64, .u32, .u16, .u8, .bool: false
    default: dtype.isQuantized
    }
  }

  /// The product of the dimensions (0 when it overflows, which no readable tensor does).
  static func elements(_ shape: [UInt64]) -> UInt64 {
    var product: UInt64 = 1
    for d in shape {
      let (p, overflow) = product.multipliedReportingOverflow(by: d)
      if overflow { return 0 }
      product = p
    }
    return product
  }

  /// The sketch of one tensor's values (row-major, `shape` outermost first).
  public func sketch(name: String, dtype: DType, shape: [UInt64], values x: [Float]) -> TensorSketch {
    let n = x.count
    var t = TensorSketch(name: name, dtype: dtype, shape: shape, count: Self.elements(shape), nonFinite: false, values: nil)
    guard n > 0, UInt64(n) == t.count, Self.sketches(dtype) else { return t }
    var sum = 0.0
    var lo = Float.infinity
    var hi = -Float.infinity
    var zeros: UInt64 = 0
    var finite = true
    x.withUnsafeBufferPointer { p in
      for v in p {
        if !v.isFinite { finite = false }
        sum += Double(v)
        if v < lo { lo = v }
        if v > hi { hi = v }
        if v == 0 { zeros += 1 }
      }
    }
    guard finite else {
      t.nonFinite = true
      return t
    }
    let rows = shape.count >= 2 ? Int(shape[0]) : 1
    let cols = rows > 0 ? n / rows : 0
    guard rows > 0, rows * cols == n else { return t }
    var rowNorms = [Double](repeating: 0, count: rows)
    var colSquares = [Double](repeating: 0, count: cols)
    let sumSquares = x.withUnsafeBufferPointer { p -> Double in
      for r in 0..<rows {
        let row = UnsafeBufferPointer(rebasing: p[(r * cols)..<((r + 1) * cols)])
        rowNorms[r] = BLAS.dot(row, row).squareRoot()
        for c in 0..<cols { colSquares[c] += Double(row[c]) * Double(row[c]) }
      }
      return BLAS.dot(p, p)
    }
    let sorted = rowNorms.sorted()
    let quantiles = (0..<q).map { i in Float(sorted[Int((Double(i) * Double(rows - 1) / Double(q - 1)).rounded())]) }
    let distinct = UInt32(Set(x.prefix(4096).map(\.bitPattern)).count)
    let projection = x.withUnsafeBufferPointer { project($0) }
    let profiles = shape.count >= 2 && rows >= 2 && cols >= 2
    t.values = TensorSketch.Values(
      sum: sum, sumSquares: sumSquares, min: lo, max: hi, zeros: zeros, distinct: distinct,
      onInt8Grid: shape.count == 2 && Infer.onInt8Grid(x, rows: rows, cols: cols), projection: projection, rows: UInt64(rows),
      rowNorms: quantiles, rowProfile: profiles ? profile(rowNorms) : nil,
      columnProfile: profiles ? profile(colSquares.map { $0.squareRoot() }) : nil)
    return t
  }

  /// The sketch of a whole model (values read through each tensor's source).
  public func sketch(_ model: ModelTensors) throws -> ModelSketch {
    var tensors: [TensorSketch] = []
    var names = Set<String>()
    for item in model.items where names.insert(item.entry.name).inserted {
      let e = item.entry
      if Self.sketches(e.dtype) {
        tensors.append(sketch(name: e.name, dtype: e.dtype, shape: e.shape, values: try Compare.floats(item)))
      } else {
        tensors.append(TensorSketch(name: e.name, dtype: e.dtype, shape: e.shape, count: Self.elements(e.shape), nonFinite: false, values: nil))
      }
    }
    return ModelSketch(k: k, q: q, tensors: tensors)
  }
}

/// What two sketches say about two models (Docs/Forensics.md, "Screening by sketch").
public struct SketchEstimate: Sendable, Equatable {
  /// Tensors with the same canonical name and shape, sketched on both sides.
  public var sharedTensors: Int
  /// Mean over them of the estimated symmetric relative L2, ‖P(a−b)‖ / ((‖a‖+‖b‖)/2).
  public var distance: Double
  /// Mean over shared matrices of the larger estimated Pearson correlation of their row-norm or
  /// column-norm profiles (unchanged by a permutation of hidden units); nil without matrices.
  public var profileCorrelation: Double?

  public init(sharedTensors: Int, distance: Double, profileCorrelation: Double?) {
    self.sharedTensors = sharedTensors
    self.distance = distance
    self.profileCorrelation = profileCorrelation
  }
}

/// Ranking stored models by sketch alone, and the shortlist that `infer` tests in full.
public enum Screening {
  /// A query's sketch, indexed for comparison with many candidates.
  public struct Query: Sendable {
    let byName: [String: TensorSketch]
    let names: Set<String>
    public init(_ sketch: ModelSketch) {
      var d: [String: TensorSketch] = [:]
      for t in sketch.tensors { d[TensorNames.canonical(t.name)] = t }
      byName = d
      names = Set(d.keys)
    }
  }

  /// Whether the candidate shares any tensor name with the query (`infer` skips it otherwise).
  public static func sharesNames(_ query: Query, _ candidate: ModelSketch) -> Bool {
    candidate.tensors.contains { query.names.contains(TensorNames.canonical($0.name)) }
  }

  /// Estimate distance and profile correlation between the query and one candidate.
  public static func estimate(_ query: Query, _ candidate: ModelSketch) -> SketchEstimate {
    var shared = 0
    var distance = 0.0
    var profiles = 0
    var correlation = 0.0
    for c in candidate.tensors {
      guard let a = query.byName[TensorNames.canonical(c.name)], a.shape == c.shape, let va = a.values, let vb = c.values,
        va.projection.count == vb.projection.count
      else { continue }
      var d2 = 0.0
      for i in va.projection.indices {
        let d = Double(va.projection[i]) - Double(vb.projection[i])
        d2 += d * d
      }
      let mean = (va.norm + vb.norm) / 2
      distance += mean > 0 ? d2.squareRoot() / mean : 0
      shared += 1
      if let ra = va.rowProfile, let rb = vb.rowProfile, let ca = va.columnProfile, let cb = vb.columnProfile, ra.count == rb.count {
        correlation += max(cosine(ra, rb), cosine(ca, cb))
        profiles += 1
      }
    }
    return SketchEstimate(
      sharedTensors: shared, distance: shared > 0 ? distance / Double(shared) : .infinity,
      profileCorrelation: profiles > 0 ? correlation / Double(profiles) : nil)
  }

  /// x·y / (‖x‖‖y‖) of two projections (0 when either is zero): the angle between projected
  /// unit vectors estimates the angle between the vectors themselves, and is exactly 0° for a
  /// profile identical on both sides.
  static func cosine(_ x: [Float], _ y: [Float]) -> Double {
    var (xy, xx, yy) = (0.0, 0.0, 0.0)
    for i in x.indices where i < y.count {
      xy += Double(x[i]) * Double(y[i])
      xx += Double(x[i]) * Double(x[i])
      yy += Double(y[i]) * Double(y[i])
    }
    return xx > 0 && yy > 0 ? xy / (xx * yy).squareRoot() : 0
  }

  /// The indices of `estimates` to test in full: taken in turn from the nearest by estimated
  /// distance and the most correlated by norm profile, until `size` are chosen.
  public static func shortlist(_ estimates: [SketchEstimate], size: Int) -> [Int] {
    let byDistance = estimates.indices.sorted { (estimates[$0].distance, $0) < (estimates[$1].distance, $1) }
    let byProfile = estimates.indices.sorted {
      (-(estimates[$0].profileCorrelation ?? -2), $0) < (-(estimates[$1].profileCorrelation ?? -2), $1)
    }
    var chosen: [Int] = []
    var taken = Set<Int>()
    var (i, j) = (0, 0)
    while chosen.count < min(size, estimates.count) {
      if i < byDistance.count, taken.insert(byDistance[i]).inserted { chosen.append(byDistance[i]) }
      i += 1
      guard chosen.count < min(size, estimates.count) else { break }
      if j < byProfile.count, taken.insert(byProfile[j]).inserted { chosen.append(byProfile[j]) }
      j += 1
    }
    return chosen
  }
}
