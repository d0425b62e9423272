import LineageCore
import LineageNative

/// The SHA-256 of every file each commit holds, kept beside the store (`cache/file-digests`) so
/// that the pre-push gate finds which commits hold a file without reading every tree and file
/// object again. Commits are immutable, so an entry never goes stale; the cache may be deleted
/// at any time and is rebuilt. Each line carries a checksum: a damaged line is ignored (and
/// recomputed), never trusted.
///
/// Line: `<commit hex> <file sha256 hex>,… <sha256 hex of the text before it>\n`.
public final class DigestCache: @unchecked Sendable {
  let path: String
  let tmpDirectory: String
  public private(set) var entries: [ObjectID: [[UInt8]]] = [:]
  private var added = false

  public init(path: String, tmpDirectory: String) {
    self.path = path
    self.tmpDirectory = tmpDirectory
    guard let bytes = try? POSIX.readWholeFile(path) else { return }
    for line in bytes.split(separator: 0x0A) {
      let fields = line.split(separator: 0x20, omittingEmptySubsequences: false)
      guard fields.count == 3, let commit = ObjectID(hex: String(decoding: fields[0], as: UTF8.self)) else { continue }
      let body = Array(line[line.startIndex..<fields[2].startIndex].dropLast())
      guard HexEncoding.encode(Self.digest(body)) == String(decoding: fields[2], as: UTF8.self) else { continue }
      let digests = fields[1].isEmpty ? [] : fields[1].split(separator: 0x2C).compactMap { HexEncoding.decode(String(decoding: $0, as: UTF8.self)) }
      guard digests.allSatisfy({ $0.count == 32 }) else { continue }
      entries[commit] = digests
    }
  }

  public func record(_ commit: ObjectID, _ digests: [[UInt8]]) {
    entries[commit] = digests
    added = true
  }

  /// Write the cache when something was added (atomically; a failure only costs a rebuild).
  public func save() throws {
    guard added else { return }
    var out: [UInt8] = []
    for (commit, digests) in entries.sorted(by: { $0.key.hex < $1.key.hex }) {
      let body = Array("\(commit.hex) \(digests.map { HexEncoding.encode($0) }.joined(separator: ","))".utf8)
      out += body + [0x20] + Array(HexEncoding.encode(Self.digest(body)).utf8) + [0x0A]
    }
    try AtomicFile.write(out, to: path, tmpDirectory: tmpDirectory)
    added = false
  }

  static func digest(_ bytes: [UInt8]) -> [UInt8] {
    let h = SHA256Hasher()
    bytes.withUnsafeBytes { h.update($0) }
    return h.finalize().bytes
  }
}
