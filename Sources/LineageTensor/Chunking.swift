/// How lineage cuts bytes into chunks (Docs/ObjectFormat.md §3 and §6).
public enum ChunkPlan {
  /// Nominal chunk size for tensors, before rounding to whole elements.
  public static let tensorChunkSize = 65_536

  /// Chunk length for a tensor whose elements are `width` bytes wide: whole elements only.
  public static func tensorChunkLength(width: Int) -> Int {
    max(width, tensorChunkSize / width * width)
  }

  /// Lengths of the chunks of a tensor of `byteLength` bytes.
  public static func tensorChunks(byteLength: UInt64, width: Int) -> [Int] {
    let size = UInt64(tensorChunkLength(width: width))
    var out: [Int] = []
    out.reserveCapacity(Int(byteLength / size) + 1)
    var left = byteLength
    while left > 0 {
      let n = min(left, size)
      out.append(Int(n))
      left -= n
    }
    return out
  }
}

/// Gear-hash content-defined chunking for opaque files (Docs/ObjectFormat.md §6).
public enum GearChunker {
  public static let minimum = 8 * 1024
  public static let maximum = 128 * 1024
  static let mask: UInt64 = 0xFFFF_0000_0000_0000

  /// The gear table: 256 values from SplitMix64 seeded with "lineage".
  static let table: [UInt64] = {
    var state: UInt64 = 0x6C69_6E65_6167_65
    return (0..<256).map { _ in SplitMix64.next(&state) }
  }()

  /// Length of the next chunk at the start of `data`, or nil when no boundary is found yet and
  /// `data` is shorter than the maximum (the caller must supply more bytes, or take all at EOF).
  public static func nextChunkLength(_ data: UnsafeRawBufferPointer) -> Int? {
    let n = data.count
    if n <= minimum { return nil }
    let limit = min(n, maximum)
    var h: UInt64 = 0
    // The hash covers the bytes before the minimum too, so a boundary depends on a 64-byte
    // window of content, never on where the previous chunk ended.
    let warm = max(0, minimum - 64)
    for k in warm..<limit {
      h = (h << 1) &+ table[Int(data[k])]
      if k + 1 >= minimum, h & mask == 0 { return k + 1 }
    }
    return limit == maximum ? maximum : nil
  }
}

/// SplitMix64: the seed expander used for the gear table and for fixtures.
public enum SplitMix64 {
  public static func next(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
