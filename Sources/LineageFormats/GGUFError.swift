/// Why a GGUF file (or a block of GGML-quantized bytes) was not read. Offsets are bytes from the
/// start of the file.
public enum GGUFError: FormatProblem, Equatable {
  /// The first four bytes are not `GGUF`.
  case badMagic([UInt8])
  /// The version is not 2 or 3 (version 1 used 32-bit lengths and is not read).
  case unsupportedVersion(UInt32)
  /// The version reads as 2 or 3 only when byte-swapped: a big-endian file.
  case bigEndian(version: UInt32)
  /// A read of `needed` bytes at `offset` runs past the end of a `size`-byte file.
  case truncated(what: String, offset: UInt64, needed: UInt64, size: UInt64)
  /// A string's length prefix (at `offset`) claims more bytes than the file has left.
  case stringPastEnd(what: String, offset: UInt64, length: UInt64)
  /// A metadata key or tensor name is not valid UTF-8.
  case invalidUTF8(what: String, offset: UInt64)
  /// The metadata key-value count is larger than the remaining bytes could hold (13 bytes each at least).
  case keyValueCountTooLarge(count: UInt64, remaining: UInt64)
  /// The tensor count is larger than the remaining bytes could hold (24 bytes per tensor info at least).
  case tensorCountTooLarge(count: UInt64, remaining: UInt64)
  /// An array's element count is larger than the remaining bytes could hold.
  case arrayTooLong(key: String, count: UInt64, offset: UInt64)
  /// The metadata's arrays hold more than `GGUFSource.maxArrayElements` elements in all.
  case tooManyArrayElements(key: String, offset: UInt64, limit: UInt64)
  /// Arrays nested deeper than `GGUFSource.maxArrayDepth`.
  case nestingTooDeep(key: String, offset: UInt64)
  /// A metadata value type id that GGUF does not define.
  case unknownValueType(key: String, type: UInt32, offset: UInt64)
  /// A metadata key appears twice.
  case duplicateKey(String)
  /// `general.alignment` is not a uint32.
  case alignmentNotUInt32(type: String)
  /// `general.alignment` is zero or not a power of two.
  case badAlignment(UInt32)
  /// A tensor's GGML type id is not one lineage knows (Docs/Formats.md lists them).
  case unknownTensorType(name: String, type: UInt32)
  /// A tensor has more than four dimensions.
  case tooManyDimensions(name: String, count: UInt32)
  /// The product of a tensor's dimensions (or its byte length) does not fit in 63 bits.
  case shapeOverflow(name: String)
  /// A quantized tensor's innermost dimension (ne[0]) is not a whole number of blocks.
  case rowNotWholeBlocks(name: String, ne0: UInt64, blockElements: Int)
  /// Two tensor infos share a name.
  case duplicateTensor(String)
  /// A tensor's data offset (relative to the data section) is not a multiple of the alignment.
  case misalignedTensor(name: String, offset: UInt64, alignment: UInt64)
  /// A tensor's bytes end past the end of the file.
  case tensorPastEnd(name: String, end: UInt64, fileSize: UInt64)
  /// Two tensors' bytes overlap.
  case tensorsOverlap(String, String)
  /// Bytes handed to `Dequantize` are not a whole number of `dtype` blocks (or elements).
  case partialBlock(dtype: String, byteCount: Int, blockBytes: Int)

  public var description: String {
    switch self {
    case .badMagic(let m): return "not a GGUF file: the magic is \(m) rather than 'GGUF'"
    case .unsupportedVersion(let v): return "GGUF version \(v) is not read (versions 2 and 3 are)"
    case .bigEndian(let v): return "big-endian GGUF (version \(v) byte-swapped) is not read"
    case .truncated(let what, let offset, let needed, let size):
      return "truncated GGUF: \(what) needs \(needed) bytes at offset \(offset), but the file has \(size)"
    case .stringPastEnd(let what, let offset, let length):
      return "GGUF \(what) at offset \(offset) claims \(length) bytes, past the end of the file"
    case .invalidUTF8(let what, let offset): return "GGUF \(what) at offset \(offset) is not valid UTF-8"
    case .keyValueCountTooLarge(let n, let rest):
      return "GGUF header claims \(n) metadata entries, more than the remaining \(rest) bytes can hold"
    case .tensorCountTooLarge(let n, let rest):
      return "GGUF header claims \(n) tensors, more than the remaining \(rest) bytes can hold"
    case .arrayTooLong(let key, let n, let offset):
      return "GGUF array '\(key)' at offset \(offset) claims \(n) elements, more than the remaining bytes can hold"
    case .tooManyArrayElements(let key, let offset, let limit):
      return "GGUF array '\(key)' at offset \(offset) takes the metadata past \(limit) array elements"
    case .nestingTooDeep(let key, let offset): return "GGUF array '\(key)' at offset \(offset) nests arrays too deeply"
    case .unknownValueType(let key, let t, let offset): return "GGUF metadata '\(key)' at offset \(offset) has unknown value type \(t)"
    case .duplicateKey(let key): return "GGUF metadata key '\(key)' appears twice"
    case .alignmentNotUInt32(let t): return "GGUF general.alignment is a \(t), not a uint32"
    case .badAlignment(let a): return "GGUF general.alignment \(a) is not a non-zero power of two"
    case .unknownTensorType(let name, let t): return "GGUF tensor '\(name)' has unknown GGML type id \(t)"
    case .tooManyDimensions(let name, let n): return "GGUF tensor '\(name)' has \(n) dimensions (at most 4)"
    case .shapeOverflow(let name): return "GGUF tensor '\(name)' has a shape whose size overflows"
    case .rowNotWholeBlocks(let name, let ne0, let b):
      return "GGUF tensor '\(name)' has rows of \(ne0) values, not a multiple of its \(b)-value block"
    case .duplicateTensor(let name): return "GGUF tensor name '\(name)' appears twice"
    case .misalignedTensor(let name, let offset, let a):
      return "GGUF tensor '\(name)' starts at data offset \(offset), not a multiple of the alignment \(a)"
    case .tensorPastEnd(let name, let end, let size):
      return "GGUF tensor '\(name)' ends at byte \(end), past the end of the \(size)-byte file"
    case .tensorsOverlap(let a, let b): return "GGUF tensors '\(a)' and '\(b)' overlap"
    case .partialBlock(let d, let n, let b): return "\(n) bytes of \(d) are not a whole number of \(b)-byte blocks"
    }
  }
}
