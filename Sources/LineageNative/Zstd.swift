import CZstd

/// Errors from the zstd library.
public enum ZstdError: Error, Equatable, Sendable {
  /// zstd reported an error while compressing; carries zstd's own message.
  case compressionFailed(String)
  /// The frame did not decode; carries zstd's message.
  case decompressionFailed(String)
  /// The frame decoded to a different length than the container promised.
  case lengthMismatch(expected: Int, actual: Int)
}

/// zstd compression through libzstd (one-shot frames with a known size).
public enum Zstd {
  /// Compress `source` at `level` (1 is fastest); returns a single zstd frame.
  public static func compress(_ source: UnsafeRawBufferPointer, level: Int32 = 1) throws(ZstdError) -> [UInt8] {
    let bound = ZSTD_compressBound(source.count)
    var out = [UInt8](repeating: 0, count: bound)
    let written = out.withUnsafeMutableBytes { dst in
      ZSTD_compress(dst.baseAddress, bound, source.baseAddress, source.count, level)
    }
    if ZSTD_isError(written) != 0 {
      throw .compressionFailed(String(cString: ZSTD_getErrorName(written)))
    }
    out.removeSubrange(written...)
    return out
  }

  /// Decompress one frame into `destination`, which must be exactly the decoded length.
  public static func decompress(
    _ frame: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
  ) throws(ZstdError) {
    let n = ZSTD_decompress(destination.baseAddress, destination.count, frame.baseAddress, frame.count)
    if ZSTD_isError(n) != 0 {
      throw .decompressionFailed(String(cString: ZSTD_getErrorName(n)))
    }
    if n != destination.count { throw .lengthMismatch(expected: destination.count, actual: n) }
  }

  /// The linked libzstd version, e.g. "1.5.4".
  public static var version: String { String(cString: ZSTD_versionString()) }
}
