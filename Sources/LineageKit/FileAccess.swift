import Foundation
import LineageStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file opened for reading, with its stat and checked positional reads.
final class InputHandle: @unchecked Sendable {
  let path: String
  let fd: Int32
  let stat: FileStat

  init(path: String) throws {
    self.path = path
    fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw KitError.io(operation: "open", path: path, message: String(cString: strerror(errno))) }
    do { stat = try InputHandle.fstatOf(fd, path: path) } catch {
      close(fd)
      throw error
    }
  }

  deinit { close(fd) }

  static func fstatOf(_ fd: Int32, path: String) throws -> FileStat {
    var st = Glibc.stat()
    if fstat(fd, &st) != 0 { throw KitError.io(operation: "stat", path: path, message: String(cString: strerror(errno))) }
    return FileStat(
      size: UInt64(st.st_size),
      mtimeNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
      ctimeNanoseconds: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
      inode: UInt64(st.st_ino), device: UInt64(st.st_dev))
  }

  /// Read exactly `buffer.count` bytes at `offset`.
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
    guard let base = buffer.baseAddress else { return }
    var done = 0
    while done < buffer.count {
      let n = pread(fd, base + done, min(buffer.count - done, POSIX.ioPiece), off_t(offset) + off_t(done))
      if n < 0 {
        if errno == EINTR { continue }
        throw KitError.io(operation: "read", path: path, message: String(cString: strerror(errno)))
      }
      if n == 0 { throw KitError.fileChangedWhileReading(path: path) }
      done += n
    }
  }

  /// The first `count` bytes, or the whole file when it is shorter.
  func readPrefix(upTo count: Int) throws -> [UInt8] {
    try read(count: Int(min(UInt64(count), stat.size)), at: 0)
  }

  func read(count: Int, at offset: UInt64) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    try out.withUnsafeMutableBytes { try read(into: $0, at: offset) }
    return out
  }

  /// Throw when the file changed since it was opened.
  func checkUnchanged() throws {
    let now = try InputHandle.fstatOf(fd, path: path)
    // ctime and inode too: a rewrite that restores the old mtime (cp -p, touch -r) still moves ctime.
    if now != stat {
      throw KitError.fileChangedWhileReading(path: path)
    }
  }
}

/// Wall-clock nanoseconds since the epoch (for the stat cache's racy-file rule).
func nowNanoseconds() -> Int64 {
  var ts = timespec()
  clock_gettime(CLOCK_REALTIME, &ts)
  return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// What kind of filesystem entry a path is, without following symlinks.
enum EntryKind { case file(executable: Bool), directory, other(String), missing }

func entryKind(_ path: String) -> EntryKind {
  var st = Glibc.stat()
  if lstat(path, &st) != 0 { return .missing }
  switch st.st_mode & S_IFMT {
  case S_IFREG: return .file(executable: st.st_mode & 0o100 != 0)
  case S_IFDIR: return .directory
  case S_IFLNK: return .other("symbolic link")
  default: return .other("special file")
  }
}

/// What an input path is, following a symbolic link to a regular file (Hugging Face cache
/// snapshots are directories of links to blobs); links to directories could loop and are refused.
func inputKind(_ path: String) -> EntryKind {
  let kind = entryKind(path)
  guard case .other("symbolic link") = kind else { return kind }
  var st = Glibc.stat()
  if stat(path, &st) != 0 { return .other("dangling symbolic link") }
  switch st.st_mode & S_IFMT {
  case S_IFREG: return .file(executable: st.st_mode & 0o100 != 0)
  case S_IFDIR: return .other("symbolic link to a directory")
  default: return .other("symbolic link to a special file")
  }
}

/// Carries a value into `DispatchQueue.concurrentPerform`, whose closure must be Sendable.
///
/// Used only where each iteration touches disjoint memory (its own output slot, its own slice of
/// a read-only window) or a value used by one iteration alone, which the compiler cannot see.
struct Unchecked<T>: @unchecked Sendable {
  let value: T
}
