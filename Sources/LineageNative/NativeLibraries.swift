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

/// What the linked OpenBLAS reports about its build and its run-time configuration.
public struct BLASConfiguration: Sendable, Equatable {
  /// Build configuration (`openblas_get_config()`), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY …".
  public var config: String
  /// Threads OpenBLAS will use (`openblas_get_num_threads()`); OpenBLAS itself derives this from
  /// the CPU count and its `OPENBLAS_NUM_THREADS`/`OMP_NUM_THREADS` variables at load time.
  public var threads: Int
  /// The kernel set chosen for this CPU (`openblas_get_corename()`), e.g. "Haswell".
  public var coreName: String

  /// Ask the linked OpenBLAS.
  public static func current() -> BLASConfiguration {
    let config = openblas_get_config().map { String(cString: $0) } ?? ""
    let core = openblas_get_corename().map { String(cString: $0) } ?? ""
    return BLASConfiguration(
      config: config.trimmingCharacters(in: " "), threads: Int(openblas_get_num_threads()),
      coreName: core.trimmingCharacters(in: " "))
  }
}
