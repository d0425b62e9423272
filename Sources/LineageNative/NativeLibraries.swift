import CLibGit2
import COpenBLAS
import COpenSSL
import CZstd

/// Versions of the native libraries lineage is linked against, as each library reports itself.
public struct NativeLibraryVersions: Sendable, Equatable {
  public var openssl: String
  public var zstd: String
  public var libgit2: String
  public var openblas: String

  /// Ask each linked library for its version string.
  public static func current() -> NativeLibraryVersions {
    var major: Int32 = 0
    var minor: Int32 = 0
    var revision: Int32 = 0
    git_libgit2_version(&major, &minor, &revision)
    let blas = openblas_get_config().map { String(cString: $0) } ?? "unknown"
    return NativeLibraryVersions(
      openssl: String(cString: OpenSSL_version(Int32(OPENSSL_VERSION))),
      zstd: Zstd.version,
      libgit2: "\(major).\(minor).\(revision)",
      openblas: blas.trimmingCharacters(in: " ")
    )
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: Character) -> String {
    var s = Substring(self)
    while s.first == set { s = s.dropFirst() }
    while s.last == set { s = s.dropLast() }
    return String(s)
  }
}
