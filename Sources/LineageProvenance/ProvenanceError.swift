/// Why a data digest could not be computed or a digest given by the user is not valid.
public enum ProvenanceError: Error, Equatable, Sendable {
  /// Nothing exists at this path (a dangling symlink given as the path also lands here).
  case notFound(path: String)
  /// A file or directory could not be opened or read; carries the path and the system's message.
  case unreadable(path: String, message: String)
  /// The directory at this path holds no regular file, so there is nothing to digest.
  case emptyData(path: String)
  /// This path is a device, FIFO or socket; only regular files are data.
  case specialFile(path: String)
  /// A symlink inside the data points to a directory; directory links are not followed.
  case symlinkToDirectory(path: String)
  /// A symlink inside the data points nowhere.
  case brokenSymlink(path: String)
  /// A name under the data contains a newline, carriage return or backslash, which `sha256sum`
  /// would escape, so the digest could not be checked by hand; carries the path.
  case unsupportedName(path: String)
  /// A digest given by the user is not `sha256:` followed by 64 lowercase hex digits.
  case invalidDigest(String)
  /// The byte count overflowed 64 bits at this path.
  case tooLarge(path: String)
}

extension ProvenanceError: CustomStringConvertible {
  /// One line for the user, naming the path at fault.
  public var description: String {
    switch self {
    case .notFound(let p): "\(p) does not exist"
    case .unreadable(let p, let m): "\(p) cannot be read: \(m)"
    case .emptyData(let p): "\(p) holds no files"
    case .specialFile(let p): "\(p) is a device, FIFO or socket, not a data file"
    case .symlinkToDirectory(let p): "\(p) is a link to a directory (not followed)"
    case .brokenSymlink(let p): "\(p) is a link that points nowhere"
    case .unsupportedName(let p): "\(p.debugDescription) has a newline, carriage return or backslash in its name"
    case .invalidDigest(let d): "\(d) is not sha256: followed by 64 lowercase hex digits"
    case .tooLarge(let p): "the data under \(p) exceeds 2^64 bytes"
    }
  }
}
