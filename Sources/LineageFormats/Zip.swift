import CMinizip
import Foundation

/// Why a zip archive (a PyTorch checkpoint, an `.npz`) is refused.
public enum ZipError: FormatProblem, Equatable {
  /// minizip could not read the archive's directory (its return code).
  case notZip(code: Int32)
  /// An entry name that could escape a directory: `..`, absolute, backslash, NUL, empty.
  case unsafeEntryName(String)
  case duplicateEntry(String)
  case tooManyEntries(count: UInt64, limit: UInt64)
  case encrypted(String)
  /// Only stored (0) and deflated (8) entries are read.
  case unsupportedMethod(name: String, method: Int)
  case entryPastEnd(name: String, end: UInt64, size: UInt64)
  /// A stored entry whose compressed and uncompressed sizes differ.
  case storedSizeMismatch(name: String, compressed: UInt64, uncompressed: UInt64)
  /// Two entries' data overlap: the trick of overlapping-entry zip bombs.
  case overlappingEntries(String, String)
  /// An entry inflates to more than the limit allows.
  case entryTooLarge(name: String, size: UInt64, limit: UInt64)
  /// More than deflate can achieve (1032:1): the header lies or the entry is a bomb.
  case compressionRatio(name: String, compressed: UInt64, uncompressed: UInt64)
  /// The entry's bytes do not inflate to its declared size and CRC.
  case corruptEntry(name: String, reason: String)

  public var description: String {
    switch self {
    case .notZip(let code): return "not a readable zip archive (minizip error \(code))"
    case .unsafeEntryName(let n): return "zip entry name \(n.debugDescription) is unsafe (absolute, '..', backslash or NUL)"
    case .duplicateEntry(let n): return "zip entry '\(n)' appears twice"
    case .tooManyEntries(let c, let l): return "zip archive has \(c) entries, over the limit of \(l)"
    case .encrypted(let n): return "zip entry '\(n)' is encrypted"
    case .unsupportedMethod(let n, let m): return "zip entry '\(n)' uses compression method \(m); only stored and deflated are read"
    case .entryPastEnd(let n, let end, let size): return "zip entry '\(n)' ends at byte \(end), past the end of the \(size)-byte file"
    case .storedSizeMismatch(let n, let c, let u):
      return "stored zip entry '\(n)' claims \(u) bytes but holds \(c)"
    case .overlappingEntries(let a, let b): return "zip entries '\(a)' and '\(b)' share bytes (an overlapping-entry zip bomb)"
    case .entryTooLarge(let n, let s, let l): return "zip entry '\(n)' inflates to \(s) bytes, over the limit of \(l)"
    case .compressionRatio(let n, let c, let u):
      return "zip entry '\(n)' claims \(u) bytes from \(c) compressed, beyond what deflate can do (a zip bomb or a lying header)"
    case .corruptEntry(let n, let r): return "zip entry '\(n)' is corrupt: \(r)"
    }
  }
}

/// One entry of a zip archive.
public struct ZipEntry: Equatable, Sendable {
  public var name: String
  /// 0 stored, 8 deflated.
  public var method: Int
  public var compressedSize: UInt64
  public var uncompressedSize: UInt64
  public var crc32: UInt32
  /// File offset of the entry's (compressed) data, after its local header.
  public var dataOffset: UInt64
  var position: unz64_file_pos

  public var isStored: Bool { method == 0 }

  public static func == (a: ZipEntry, b: ZipEntry) -> Bool {
    a.name == b.name && a.method == b.method && a.compressedSize == b.compressedSize
      && a.uncompressedSize == b.uncompressedSize && a.crc32 == b.crc32 && a.dataOffset == b.dataOffset
  }
}

/// Limits that keep a hostile archive from exhausting memory.
public struct ZipLimits: Sendable {
  public var maxEntries: UInt64
  /// The most one entry may inflate to (entries are read into memory).
  public var maxEntryBytes: UInt64
  public init(maxEntries: UInt64 = 1_000_000, maxEntryBytes: UInt64 = 8 << 30) {
    self.maxEntries = maxEntries
    self.maxEntryBytes = maxEntryBytes
  }
}

/// A zip archive read through zlib's minizip, over any `ByteSource`. Entries are listed and
/// checked when the archive is opened; stored entries can be read in place (their bytes are a
/// range of the file), deflated ones are inflated with their size and CRC checked.
public final class ZipArchive: @unchecked Sendable {
  public let source: any ByteSource
  public let entries: [ZipEntry]
  public let limits: ZipLimits
  private let io: ZipIO
  private let handle: unzFile
  private let lock = NSLock()

  public init(_ source: any ByteSource, limits: ZipLimits = ZipLimits()) throws {
    self.source = source
    self.limits = limits
    let io = ZipIO(source)
    var def = io.functions()
    guard let handle = "lineage-zip".withCString({ unzOpen2_64($0, &def) }) else {
      if let failure = io.failure { throw failure }
      throw ZipError.notZip(code: UNZ_BADZIPFILE)
    }
    self.io = io
    self.handle = handle
    do {
      entries = try Self.list(handle, io: io, source: source, limits: limits)
    } catch {
      unzClose(handle)
      throw error
    }
  }

  deinit { unzClose(handle) }

  public func entry(named name: String) -> ZipEntry? { entries.first { $0.name == name } }

  /// The entry's uncompressed bytes, checked against its size and CRC.
  public func read(_ entry: ZipEntry) throws -> [UInt8] {
    guard entry.uncompressedSize <= limits.maxEntryBytes else {
      throw ZipError.entryTooLarge(name: entry.name, size: entry.uncompressedSize, limit: limits.maxEntryBytes)
    }
    if entry.isStored {
      let bytes = try source.read(count: Int(entry.uncompressedSize), at: entry.dataOffset, what: "zip entry '\(entry.name)'")
      let crc = bytes.withUnsafeBufferPointer { UInt32(CMinizip.crc32(0, $0.baseAddress, uInt($0.count))) }
      guard crc == entry.crc32 else { throw ZipError.corruptEntry(name: entry.name, reason: "CRC mismatch") }
      return bytes
    }
    lock.lock()
    defer { lock.unlock() }
    var position = entry.position
    guard unzGoToFilePos64(handle, &position) == UNZ_OK, unzOpenCurrentFile(handle) == UNZ_OK else {
      if let failure = io.takeFailure() { throw failure }
      throw ZipError.corruptEntry(name: entry.name, reason: "its local header cannot be read")
    }
    var out = [UInt8](repeating: 0, count: Int(entry.uncompressedSize))
    var done = 0
    var status: Int32 = 0
    while done < out.count {
      status = out.withUnsafeMutableBytes {
        unzReadCurrentFile(handle, $0.baseAddress! + done, UInt32(min($0.count - done, 1 << 20)))
      }
      if status <= 0 { break }
      done += Int(status)
    }
    var extra: UInt8 = 0
    let more = done == out.count ? unzReadCurrentFile(handle, &extra, 1) : 0
    let closed = unzCloseCurrentFile(handle)
    if let failure = io.takeFailure() { throw failure }
    guard status >= 0, more == 0 else {
      throw ZipError.corruptEntry(name: entry.name, reason: more > 0 ? "inflates past its declared size" : "inflate error \(status)")
    }
    guard done == out.count else {
      throw ZipError.corruptEntry(name: entry.name, reason: "inflates to \(done) bytes, not the declared \(out.count)")
    }
    guard closed == UNZ_OK else { throw ZipError.corruptEntry(name: entry.name, reason: "CRC mismatch") }
    return out
  }

  private static func list(_ handle: unzFile, io: ZipIO, source: any ByteSource, limits: ZipLimits) throws -> [ZipEntry] {
    var global = unz_global_info64()
    guard unzGetGlobalInfo64(handle, &global) == UNZ_OK else { throw ZipError.notZip(code: UNZ_BADZIPFILE) }
    guard global.number_entry <= limits.maxEntries else {
      throw ZipError.tooManyEntries(count: global.number_entry, limit: limits.maxEntries)
    }
    var entries: [ZipEntry] = []
    var seen = Set<String>()
    var status = unzGoToFirstFile(handle)
    while status == UNZ_OK {
      var info = unz_file_info64()
      var name = [CChar](repeating: 0, count: 65_537)
      guard unzGetCurrentFileInfo64(handle, &info, &name, uLong(name.count - 1), nil, 0, nil, 0) == UNZ_OK else {
        throw io.takeFailure() ?? ZipError.notZip(code: UNZ_BADZIPFILE)
      }
      let rawName = Array(name.prefix(Int(info.size_filename)).map { UInt8(bitPattern: $0) })
      let text = String(decoding: rawName, as: UTF8.self)
      guard isSafe(rawName) else { throw ZipError.unsafeEntryName(text) }
      guard seen.insert(text).inserted else { throw ZipError.duplicateEntry(text) }
      guard info.flag & 1 == 0 else { throw ZipError.encrypted(text) }
      let method = Int(info.compression_method)
      guard method == 0 || method == 8 else { throw ZipError.unsupportedMethod(name: text, method: method) }
      if method == 0, info.compressed_size != info.uncompressed_size {
        throw ZipError.storedSizeMismatch(name: text, compressed: info.compressed_size, uncompressed: info.uncompressed_size)
      }
      if method == 8, info.uncompressed_size > 1 << 20, info.uncompressed_size / max(info.compressed_size, 1) > 1032 {
        throw ZipError.compressionRatio(name: text, compressed: info.compressed_size, uncompressed: info.uncompressed_size)
      }
      var position = unz64_file_pos()
      unzGetFilePos64(handle, &position)
      guard unzOpenCurrentFile(handle) == UNZ_OK else {
        throw io.takeFailure() ?? ZipError.corruptEntry(name: text, reason: "its local header cannot be read")
      }
      let dataOffset = UInt64(unzGetCurrentFileZStreamPos64(handle))
      unzCloseCurrentFile(handle)
      let (end, overflow) = dataOffset.addingReportingOverflow(info.compressed_size)
      guard !overflow, end <= source.size else {
        throw ZipError.entryPastEnd(name: text, end: overflow ? .max : end, size: source.size)
      }
      entries.append(
        ZipEntry(
          name: text, method: method, compressedSize: info.compressed_size, uncompressedSize: info.uncompressed_size,
          crc32: UInt32(truncatingIfNeeded: info.crc), dataOffset: dataOffset, position: position))
      status = unzGoToNextFile(handle)
    }
    if let failure = io.takeFailure() { throw failure }
    guard status == UNZ_END_OF_LIST_OF_FILE else { throw ZipError.notZip(code: status) }
    let byData = entries.filter { $0.compressedSize > 0 }.sorted { $0.dataOffset < $1.dataOffset }
    for (a, b) in zip(byData, byData.dropFirst()) where a.dataOffset + a.compressedSize > b.dataOffset {
      throw ZipError.overlappingEntries(a.name, b.name)
    }
    return entries
  }

  /// Relative, `/`-separated, no empty, `.` or `..` component, no backslash or NUL, valid UTF-8.
  static func isSafe(_ name: [UInt8]) -> Bool {
    guard !name.isEmpty, String(validating: name, as: UTF8.self) != nil, !name.contains(0), !name.contains(0x5C),
      name.first != 0x2F
    else { return false }
    let parts = name.split(separator: 0x2F, omittingEmptySubsequences: false)
    for (k, p) in parts.enumerated() {
      if p.isEmpty && k != parts.count - 1 { return false }  // a trailing slash marks a directory
      if p.elementsEqual([0x2E]) || p.elementsEqual([0x2E, 0x2E]) { return false }
    }
    return true
  }
}

/// minizip's I/O callbacks over a `ByteSource`; the first read failure is kept and rethrown.
final class ZipIO: @unchecked Sendable {
  let source: any ByteSource
  var position: UInt64 = 0
  var failure: (any Error)?

  init(_ source: any ByteSource) { self.source = source }

  func takeFailure() -> (any Error)? {
    defer { failure = nil }
    return failure
  }

  func functions() -> zlib_filefunc64_def {
    var def = zlib_filefunc64_def()
    def.opaque = Unmanaged.passUnretained(self).toOpaque()
    def.zopen64_file = { opaque, _, _ in opaque }
    def.zread_file = { opaque, _, buffer, size in
      let io = Unmanaged<ZipIO>.fromOpaque(opaque!).takeUnretainedValue()
      guard let buffer, io.position < io.source.size else { return 0 }
      let n = min(UInt64(size), io.source.size - io.position)
      do {
        try io.source.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(n)), at: io.position)
      } catch {
        io.failure = io.failure ?? error
        return 0
      }
      io.position += n
      return uLong(n)
    }
    def.zwrite_file = { _, _, _, _ in 0 }
    def.ztell64_file = { opaque, _ in Unmanaged<ZipIO>.fromOpaque(opaque!).takeUnretainedValue().position }
    def.zseek64_file = { opaque, _, offset, origin in
      let io = Unmanaged<ZipIO>.fromOpaque(opaque!).takeUnretainedValue()
      let base: UInt64
      switch origin {
      case 0: base = 0
      case 1: base = io.position
      case 2: base = io.source.size
      default: return -1
      }
      let (target, overflow) = base.addingReportingOverflow(offset)
      guard !overflow, target <= io.source.size else { return -1 }
      io.position = target
      return 0
    }
    def.zclose_file = { _, _ in 0 }
    def.zerror_file = { opaque, _ in Unmanaged<ZipIO>.fromOpaque(opaque!).takeUnretainedValue().failure == nil ? 0 : 1 }
    return def
  }
}
