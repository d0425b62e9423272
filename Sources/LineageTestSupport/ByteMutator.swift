import LineageTensor

/// Seeded byte mutations for the parsers' mutation-fuzz tests: each call applies 1–4 of byte
/// flips, truncation, insertion, deletion, a byte that matters to the format, and a "lie": an
/// integer written little-endian over `lieWidth` bytes where counts, lengths and offsets live.
public struct ByteMutator: Sendable {
  /// Bytes with meaning in the format (protobuf tags, pickle opcodes, JSON punctuation…).
  public var interestingBytes: [UInt8]
  /// Values for lies; a value drawn as `nil` means "a length near the input's size".
  public var lies: [UInt64?]
  public var lieWidth: Int
  /// Write lies at the start of the input only (a length prefix) rather than anywhere.
  public var liesAtStart: Bool

  public init(interestingBytes: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF], lies: [UInt64?] = [0, 1, nil, 1 << 32, .max],
    lieWidth: Int = 8, liesAtStart: Bool = false)
  {
    self.interestingBytes = interestingBytes
    self.lies = lies
    self.lieWidth = lieWidth
    self.liesAtStart = liesAtStart
  }

  public func mutate(_ bytes: [UInt8], _ state: inout UInt64) -> [UInt8] {
    var out = bytes
    for _ in 0...(SplitMix64.next(&state) % 4) {
      let r = SplitMix64.next(&state)
      guard !out.isEmpty else { break }
      let at = Int(r >> 8) % out.count
      switch r % 6 {
      case 0: out[at] ^= UInt8(truncatingIfNeeded: r >> 40) | 1
      case 1: out = Array(out.prefix(at))
      case 2: out.insert(UInt8(truncatingIfNeeded: r >> 32), at: at)
      case 3: out.remove(at: at)
      case 4: out[at] = interestingBytes[Int(r >> 50) % interestingBytes.count]
      default:
        let lie = lies[Int(r >> 50) % lies.count] ?? UInt64(truncatingIfNeeded: r >> 16) % UInt64(out.count * 2 + 16)
        let start = liesAtStart ? 0 : at
        for k in 0..<lieWidth where start + k < out.count { out[start + k] = UInt8(truncatingIfNeeded: lie >> (8 * UInt64(k))) }
      }
    }
    return out
  }
}
