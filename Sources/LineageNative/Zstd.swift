import CZstd
import Foundation

/// Errors from the zstd library.
public enum ZstdError: Error, Equatable, Sendable {
  /// zstd reported an error while compressing; carries zstd's own message.
  case compressionFailed(String)
  /// The frame did not decode; carries zstd's message.
  case decompressionFailed(String)
  /// The frame decoded to a different length than the container promised.
  case lengthMismatch(expected: Int, actual: Int)
}

/// zstd compression through libzstd, with pooled contexts (creating one per call costs more than
/// compressing a 32 KiB plane).
public enum Zstd {
  /// Parameter sets lineage uses.
  public enum Profile: Sendable {
    /// Level 1 with a 7-byte minimum match and a tiny hash table: on float byte planes, whose
    /// bytes repeat often but rarely in long runs, this is mostly Huffman coding of literals,
    /// about twice as fast as level 1 and smaller (measured on bf16 exponent planes).
    case planes
    /// Literals only: no match search at all, the block's bytes Huffman-coded (zstd's
    /// `ZSTD_compressSequences` with no sequences). For planes whose bytes are skewed but not
    /// repetitive (float exponent planes, about 2.7 bits per byte), this is as small as `planes`
    /// and about 1.4× faster; Huffman cannot go below one bit per byte, so low-entropy planes
    /// (long runs of one value) keep `planes`. The output is an ordinary zstd frame.
    case literals
    /// Level 1, for opaque bytes.
    case fast
    /// Level 3, for small metadata.
    case metadata
  }

  private static let pools: [Profile: ContextPool] = [
    .planes: ContextPool(.planes), .literals: ContextPool(.literals), .fast: ContextPool(.fast), .metadata: ContextPool(.metadata)]
  private static let decoders = DecoderPool()

  /// Compress into `destination`; nil when the frame would not fit (the data does not compress
  /// below the destination's size), which is how callers cap the cost of incompressible data.
  public static func compress(
    _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, profile: Profile
  ) -> Int? {
    if profile == .literals {
      // libzstd 1.5.4's ZSTD_compressSequences can write past a destination too small for the
      // frame (found by a test that fills the bytes after the destination): it only ever gets a
      // buffer of ZSTD_compressBound, and the frame is copied when it fits.
      let bound = ZSTD_compressBound(source.count)
      return pools[profile]?.with(scratch: bound) { cctx, scratch in
        let n = run(cctx, profile, scratch.baseAddress, bound, source)
        guard ZSTD_isError(n) == 0, n <= destination.count, let to = destination.baseAddress, let from = scratch.baseAddress else { return nil }
        to.copyMemory(from: from, byteCount: n)
        return n
      } ?? nil
    }
    return pools[profile]?.with { cctx in
      let n = run(cctx, profile, destination.baseAddress, destination.count, source)
      return ZSTD_isError(n) != 0 ? nil : n
    } ?? nil
  }

  /// Compress `source`; returns a single zstd frame.
  public static func compress(_ source: UnsafeRawBufferPointer, profile: Profile) throws(ZstdError) -> [UInt8] {
    // Always at least ZSTD_compressBound: see `compress(_:into:profile:)` on `.literals`.
    let bound = ZSTD_compressBound(source.count)
    var failure: Int?
    let out = [UInt8](unsafeUninitializedCapacity: bound) { dst, count in
      count = 0
      pools[profile]?.with { cctx in
        let written = run(cctx, profile, dst.baseAddress, bound, source)
        if ZSTD_isError(written) != 0 { failure = written } else { count = written }
      }
    }
    if let failure { throw .compressionFailed(String(cString: ZSTD_getErrorName(failure))) }
    return out
  }

  private static func run(
    _ cctx: OpaquePointer, _ profile: Profile, _ dst: UnsafeMutableRawPointer?, _ capacity: Int, _ source: UnsafeRawBufferPointer
  ) -> Int {
    if profile == .literals {
      // No sequences: every byte is a literal (zstd.h: "If srcSize > sum(sequence.length), the
      // remaining bytes are considered all literals").
      return ZSTD_compressSequences(cctx, dst, capacity, nil, 0, source.baseAddress, source.count)
    }
    return ZSTD_compress2(cctx, dst, capacity, source.baseAddress, source.count)
  }

  /// Decompress one frame into `destination`, which must be exactly the decoded length.
  public static func decompress(
    _ frame: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
  ) throws(ZstdError) {
    let n = decoders.with { dctx in
      ZSTD_decompressDCtx(dctx, destination.baseAddress, destination.count, frame.baseAddress, frame.count)
    }
    if ZSTD_isError(n) != 0 {
      throw .decompressionFailed(String(cString: ZSTD_getErrorName(n)))
    }
    if n != destination.count { throw .lengthMismatch(expected: destination.count, actual: n) }
  }

  /// The linked libzstd version, e.g. "1.5.4".
  public static var version: String { String(cString: ZSTD_versionString()) }
}

/// A lock-protected free list of compression contexts with one profile's parameters, each with
/// a scratch buffer that grows to the largest size asked for.
private final class ContextPool: @unchecked Sendable {
  private struct Entry {
    var cctx: OpaquePointer
    var scratch: UnsafeMutableRawBufferPointer
  }

  private let lock = NSLock()
  private var free: [Entry] = []
  private let profile: Zstd.Profile

  init(_ profile: Zstd.Profile) { self.profile = profile }

  func with<T>(_ body: (OpaquePointer) -> T) -> T? {
    with(scratch: 0) { cctx, _ in body(cctx) }
  }

  func with<T>(scratch size: Int, _ body: (OpaquePointer, UnsafeMutableRawBufferPointer) -> T) -> T? {
    guard var entry = lock.withLock({ free.popLast() }) ?? make().map({ Entry(cctx: $0, scratch: UnsafeMutableRawBufferPointer(start: nil, count: 0)) }) else {
      return nil
    }
    if entry.scratch.count < size {
      entry.scratch.deallocate()
      entry.scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
    }
    defer { lock.withLock { free.append(entry) } }
    return body(entry.cctx, entry.scratch)
  }

  private func make() -> OpaquePointer? {
    guard let c = ZSTD_createCCtx() else { return nil }
    switch profile {
    case .planes:
      ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1)
      ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, 7)
      ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, 6)
      ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 15)
    case .fast, .literals:
      ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1)
    case .metadata:
      ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3)
    }
    // A frame always records its content size, so decoders can check the length they expect.
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1)
    return c
  }
}

/// A lock-protected free list of decompression contexts.
private final class DecoderPool: @unchecked Sendable {
  private let lock = NSLock()
  private var free: [OpaquePointer] = []

  func with(_ body: (OpaquePointer?) -> Int) -> Int {
    let dctx = lock.withLock({ free.popLast() }) ?? ZSTD_createDCtx()
    defer { if let dctx { lock.withLock { free.append(dctx) } } }
    return body(dctx)
  }
}
