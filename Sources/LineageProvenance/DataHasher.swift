import LineageCore
import LineageNative

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The digest of a data set on disk (Docs/DataDigest.md).
public struct DataDigest: Sendable, Equatable {
  /// `sha256:<64 lowercase hex>` over the sorted `sha256sum` lines of the files.
  public var digest: String
  /// Number of regular files hashed.
  public var files: Int
  /// Total size of the files hashed, in bytes.
  public var bytes: UInt64

  public init(digest: String, files: Int, bytes: UInt64) {
    self.digest = digest
    self.files = files
    self.bytes = bytes
  }
}

/// Computes data digests as Docs/DataDigest.md defines them.
public enum DataHasher {
  /// Names never descended into or hashed, at any depth: version-control and lineage metadata.
  public static let skippedNames: Set<[UInt8]> = [Array(".git".utf8), Array(".lineage".utf8)]

  /// Largest read issued at once (see LineageStore's `POSIX.ioPiece`: 1 MiB pieces are fastest here).
  static let readPiece = 1 << 20

  /// Digest a single file or a directory tree.
  public static func digest(path: String) throws(ProvenanceError) -> DataDigest {
    var info = stat()
    guard stat(path, &info) == 0 else {
      if errno == ENOENT || errno == ENOTDIR { throw .notFound(path: path) }
      throw .unreadable(path: path, message: systemMessage())
    }
    let root = Array(path.utf8)
    var files: [[UInt8]] = []
    let single: Bool
    switch info.st_mode & S_IFMT {
    case S_IFREG:
      single = true
      let name = Array(root.split(separator: UInt8(ascii: "/")).last ?? root[...])
      try checkName(name, display: path)
      files = [name]
    case S_IFDIR:
      single = false
      try collect(directory: root, relative: [], into: &files)
      guard !files.isEmpty else { throw .emptyData(path: path) }
    default:
      throw .specialFile(path: path)
    }
    // Bytewise order, as `LC_ALL=C sort` orders the lines.
    files.sort { $0.lexicographicallyPrecedes($1) }

    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readPiece, alignment: 64)
    defer { buffer.deallocate() }
    let listing = SHA256Hasher()
    var total: UInt64 = 0
    for name in files {
      let full = single ? root : root + [UInt8(ascii: "/")] + name
      let (digest, size) = try hashFile(full, buffer: buffer)
      let (sum, overflow) = total.addingReportingOverflow(size)
      if overflow { throw .tooLarge(path: display(full)) }
      total = sum
      listing.update(Array(digest.hex.utf8) + [0x20, 0x20] + name + [0x0A])
    }
    return DataDigest(digest: "sha256:" + listing.finalize().hex, files: files.count, bytes: total)
  }

  /// Validate a user-given digest: `sha256:` and 64 lowercase hex digits; returns it unchanged.
  public static func parseDigest(_ text: String) throws(ProvenanceError) -> String {
    // One rule for the form, shared with the commit record's decoder.
    guard DataRef.isValidDigest(text) else { throw .invalidDigest(text) }
    return text
  }

  // MARK: - Walking

  /// Append the relative paths of the regular files under `directory` (bytes, "/"-separated).
  private static func collect(directory: [UInt8], relative: [UInt8], into files: inout [[UInt8]]) throws(ProvenanceError) {
    let path = relative.isEmpty ? directory : directory + [UInt8(ascii: "/")] + relative
    guard let handle = withCPath(path, { opendir($0) }) else {
      throw .unreadable(path: display(path), message: systemMessage())
    }
    defer { closedir(handle) }
    let fd = dirfd(handle)
    var names: [[UInt8]] = []
    while true {
      errno = 0
      guard let entry = readdir(handle) else {
        if errno != 0 { throw .unreadable(path: display(path), message: systemMessage()) }
        break
      }
      let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
      if name == [0x2E] || name == [0x2E, 0x2E] || skippedNames.contains(name) { continue }
      names.append(name)
    }
    for name in names {
      let childRelative = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
      let childDisplay = display(directory + [UInt8(ascii: "/")] + childRelative)
      try checkName(name, display: childDisplay)
      var info = stat()
      guard withCPath(name, { fstatat(fd, $0, &info, AT_SYMLINK_NOFOLLOW) }) == 0 else {
        throw .unreadable(path: childDisplay, message: systemMessage())
      }
      switch info.st_mode & S_IFMT {
      case S_IFREG:
        files.append(childRelative)
      case S_IFDIR:
        try collect(directory: directory, relative: childRelative, into: &files)
      case S_IFLNK:
        // Links to files are followed (a dataset cache often links names to content blobs);
        // links to directories are refused rather than followed or skipped, so a digest never
        // silently leaves data out and never loops.
        var target = stat()
        guard withCPath(name, { fstatat(fd, $0, &target, 0) }) == 0 else { throw .brokenSymlink(path: childDisplay) }
        switch target.st_mode & S_IFMT {
        case S_IFREG: files.append(childRelative)
        case S_IFDIR: throw .symlinkToDirectory(path: childDisplay)
        default: throw .specialFile(path: childDisplay)
        }
      default:
        throw .specialFile(path: childDisplay)
      }
    }
  }

  /// Names `sha256sum` would escape (newline, carriage return, backslash) are refused.
  private static func checkName(_ name: [UInt8], display: String) throws(ProvenanceError) {
    if name.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0x5C }) { throw .unsupportedName(path: display) }
  }

  /// SHA-256 and size of one file, read front to back in `readPiece` pieces.
  private static func hashFile(_ path: [UInt8], buffer: UnsafeMutableRawBufferPointer) throws(ProvenanceError) -> (SHA256Digest, UInt64) {
    let fd = withCPath(path) { open($0, O_RDONLY | O_CLOEXEC) }
    guard fd >= 0 else { throw .unreadable(path: display(path), message: systemMessage()) }
    defer { close(fd) }
    guard let base = buffer.baseAddress else { throw .unreadable(path: display(path), message: "no buffer") }
    let hasher = SHA256Hasher()
    var size: UInt64 = 0
    while true {
      let n = read(fd, base, buffer.count)
      if n < 0 {
        if errno == EINTR { continue }
        throw .unreadable(path: display(path), message: systemMessage())
      }
      if n == 0 { break }
      hasher.update(UnsafeRawBufferPointer(start: base, count: n))
      size += UInt64(n)
    }
    return (hasher.finalize(), size)
  }

  private static func withCPath<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
    (bytes + [0]).withUnsafeBufferPointer { raw in
      raw.withMemoryRebound(to: CChar.self) { chars in
        guard let base = chars.baseAddress else { preconditionFailure("a terminated path is never empty") }
        return body(base)
      }
    }
  }

  /// A path for messages (bytes that are not UTF-8 are shown as U+FFFD).
  private static func display(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

  private static func systemMessage() -> String { String(cString: strerror(errno)) }
}
