import Foundation
import LineageCore

/// What `stat(2)` says about a file, compared to decide whether it changed.
public struct FileStat: Equatable, Sendable {
  public var size: UInt64
  public var mtimeNanoseconds: Int64
  public var ctimeNanoseconds: Int64
  public var inode: UInt64
  public var device: UInt64

  public init(size: UInt64, mtimeNanoseconds: Int64, ctimeNanoseconds: Int64, inode: UInt64, device: UInt64) {
    self.size = size
    self.mtimeNanoseconds = mtimeNanoseconds
    self.ctimeNanoseconds = ctimeNanoseconds
    self.inode = inode
    self.device = device
  }
}

/// Maps (path, stat) to the file object stored for it, so an unchanged file is not re-read.
///
/// An entry is trusted only when every stat field matches and the file's mtime is older than the
/// moment reading began: a file written during or after the read ("racily clean", as git calls
/// it) is always re-read.
public final class StatCache {
  struct Entry {
    var stat: FileStat
    var readStartedNanoseconds: Int64
    var file: ObjectID
  }

  private let path: String
  private let tmpDirectory: String
  private var entries: [String: Entry] = [:]
  private var dirty = false

  /// Load the cache; a missing or unreadable cache is empty (it is only a cache).
  public init(path: String, tmpDirectory: String) {
    self.path = path
    self.tmpDirectory = tmpDirectory
    guard let bytes = try? POSIX.readWholeFile(path), let v = try? StrictJSONParser.parse(bytes),
      let members = v["entries"]?.objectValue
    else { return }
    for (p, e) in members {
      guard let f = e["file"]?.stringValue.flatMap(ObjectID.init(hex:)),
        let size = e["size"]?.stringValue.flatMap(UInt64.init), let m = e["mtime"]?.stringValue.flatMap(Int64.init),
        let c = e["ctime"]?.stringValue.flatMap(Int64.init), let i = e["inode"]?.stringValue.flatMap(UInt64.init),
        let d = e["device"]?.stringValue.flatMap(UInt64.init), let r = e["read"]?.stringValue.flatMap(Int64.init)
      else { continue }
      entries[p] = Entry(
        stat: FileStat(size: size, mtimeNanoseconds: m, ctimeNanoseconds: c, inode: i, device: d),
        readStartedNanoseconds: r, file: f)
    }
  }

  /// The cached file object for `absolutePath` when its stat is unchanged and not racy.
  public func lookup(_ absolutePath: String, stat: FileStat) -> ObjectID? {
    guard let e = entries[absolutePath], e.stat == stat, stat.mtimeNanoseconds < e.readStartedNanoseconds,
      stat.ctimeNanoseconds < e.readStartedNanoseconds
    else { return nil }
    return e.file
  }

  /// Record the file object for a path whose reading started at `readStarted` (ns since epoch).
  public func record(_ absolutePath: String, stat: FileStat, readStarted: Int64, file: ObjectID) {
    entries[absolutePath] = Entry(stat: stat, readStartedNanoseconds: readStarted, file: file)
    dirty = true
  }

  /// Write the cache atomically if it changed, dropping entries for files that are gone so the
  /// cache never outgrows the files a user still has.
  public func save() throws {
    guard dirty else { return }
    entries = entries.filter { POSIX.exists($0.key) }
    let members: [(String, JSONValue)] = entries.map { p, e in
      (
        p,
        .object([
          ("file", .string(e.file.hex)), ("size", .string(String(e.stat.size))),
          ("mtime", .string(String(e.stat.mtimeNanoseconds))), ("ctime", .string(String(e.stat.ctimeNanoseconds))),
          ("inode", .string(String(e.stat.inode))), ("device", .string(String(e.stat.device))),
          ("read", .string(String(e.readStartedNanoseconds))),
        ])
      )
    }
    let bytes = (try? CanonicalJSON.encode(.object([("version", .number("1")), ("entries", .object(members))]))) ?? []
    try AtomicFile.write(bytes, to: path, tmpDirectory: tmpDirectory)
    dirty = false
  }
}
