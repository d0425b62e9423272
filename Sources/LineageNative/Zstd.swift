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
    /// Level 1, for opaque bytes.
    case fast
    /// Level 3, for small metadata.
    case metadata
  }

  private static let pools: [Profile: ContextPool] = [.planes: ContextPool(.planes), .fast: ContextPool(.fast), .metadata: ContextPool(.metadata)]
  private static let decoders = DecoderPool()

  /// Compress into `destination`; nil when the frame would not fit (the data does not compress
  /// below the destination's size), which is how callers cap the cost of incompressible data.
  public static func compress(
    _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, profile: Profile
  ) -> Int? {
    pools[profile]?.with { cctx in
      let n = ZSTD_compress2(cctx, destination.baseAddress, destination.count, source.baseAddress, source.count)
      return ZSTD_isError(n) != 0 ? nil : n
    } ?? nil
  }

  /// Compress `source`; returns a single zstd frame.
  public static func compress(_ source: UnsafeRawBufferPointer, profile: Profile) throws(ZstdError) -> [UInt8] {
    let bound = ZSTD_compressBound(source.count)
    var failure: Int?
    let out = [UInt8](unsafeUninitializedCapacity: bound) { dst, count in
      count = 0
      pools[profile]?.with { cctx in
        let written = ZSTD_compress2(cctx, dst.baseAddress, bound, source.baseAddress, source.count)
        if ZSTD_isError(written) != 0 { failure = written } else { count = written }
      }
    }
    if let failure { throw .compressionFailed(String(cString: ZSTD_getErrorName(failure))) }
    return out
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

/// A lock-protected free list of compression contexts with one profile's parameters.
private final class ContextPool: @unchecked Sendable {
  private let lock = NSLock()
  private var free: [OpaquePointer] = []
  private let profile: Zstd.Profile

  init(_ profile: Zstd.Profile) { self.profile = profile }

  func with<T>(_ body: (OpaquePointer) -> T) -> T? {
    guard let cctx = lock.withLock({ free.popLast() }) ?? make() else { return nil }
    defer { lock.withLock { free.append(cctx) } }
    return body(cctx)
  }

  private func make() -> OpaquePointer? {
    guard let c = ZSTD_createCCtx() else { return nil }
    switch profile {
    case .planes:
      ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1)
      ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, 7)
      ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, 6)
      ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 15)
    case .fast:
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
