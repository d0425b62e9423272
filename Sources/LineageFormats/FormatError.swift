/// A model file's bytes are not what its format allows. Every format's error enum conforms, so
/// callers map all of them the same way (exit 4, bad input) and print `description`, which names
/// the problem and where it is.
public protocol FormatProblem: Error, CustomStringConvertible, Sendable {}

/// Problems shared by every format.
public enum FormatError: FormatProblem, Equatable {
  /// A read of `needed` bytes at `offset` runs past the end of a `size`-byte file.
  case truncated(what: String, offset: UInt64, needed: UInt64, size: UInt64)
  /// A tensor region ends past the end of the file.
  case regionPastEnd(name: String, end: UInt64, fileSize: UInt64)
  /// A tensor region's length does not match its dtype and shape.
  case regionSizeMismatch(name: String, byteLength: UInt64)
  /// Two tensor regions overlap (or are out of order).
  case regionsOverlap(String, String)
  /// The file's format cannot be read (a legacy pickle, an unknown version, …).
  case unsupported(format: String, reason: String)
  /// A quantized type has no dequantization to float.
  case noDequantization(dtype: String)

  public var description: String {
    switch self {
    case .truncated(let what, let offset, let needed, let size):
      return "truncated: \(what) needs \(needed) bytes at offset \(offset), but the file has \(size)"
    case .regionPastEnd(let name, let end, let size):
      return "tensor '\(name)' ends at byte \(end), past the end of the \(size)-byte file"
    case .regionSizeMismatch(let name, let n):
      return "tensor '\(name)' has \(n) bytes, which does not match its dtype and shape"
    case .regionsOverlap(let a, let b): return "tensors '\(a)' and '\(b)' overlap in the file"
    case .unsupported(let format, let reason): return "unsupported \(format): \(reason)"
    case .noDequantization(let d): return "no dequantization to float for \(d) tensors (Docs/Formats.md lists the types read)"
    }
  }
}
