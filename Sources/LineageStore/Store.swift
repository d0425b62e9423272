import Foundation
import LineageCore

/// A `.lineage` directory: its object database, refs, locks and caches.
public final class Store: @unchecked Sendable {
  /// The name and version written in the `format` file of a new store.
  public static let formatText = "lineage-store\nversion \(currentFormatVersion)\n"
  /// `format` files this build reads, by version: 3 allows codecs 4 (sub-delta) and 5 (ulp-bits),
  /// 2 allows codec 4, 1 neither (Docs/ObjectFormat.md §4).
  public static let readableFormats = [
    "lineage-store\nversion 1\n": 1, "lineage-store\nversion 2\n": 2, formatText: 3,
  ]
  /// Seconds to wait for another process's lock before giving up.
  public static let lockTimeout = 60.0

  /// Path of the `.lineage` directory.
  public let directory: String
  public let objects: PackObjectStore
  public let refs: RefStore
  /// The store's format version (1, 2 or 3).
  public let formatVersion: Int
  /// Whether writers may store chunks as sub-deltas: not in a version 1 store, which lineage
  /// builds from before codec 4 still read.
  public var allowsSubDelta: Bool { formatVersion >= 2 }
  /// Whether writers may store chunks as ulp-bits deltas (codec 5): only in a version 3 store,
  /// so that builds from before codec 5 refuse the store instead of failing on its chunks.
  public var allowsUlpBits: Bool { formatVersion >= 3 }

  public var tmpDirectory: String { "\(directory)/tmp" }

  /// Create a new store at `directory` (the `.lineage` path itself), with HEAD on `main`.
  public static func create(at directory: String) throws -> Store {
    if POSIX.exists("\(directory)/format") { throw StoreError.alreadyExists(path: directory) }
    for sub in ["", "/packs", "/refs/heads", "/refs/tags", "/tmp", "/cache"] {
      try POSIX.makeDirectories(directory + sub)
    }
    try AtomicFile.write(Array("ref: refs/heads/main\n".utf8), to: "\(directory)/HEAD", tmpDirectory: "\(directory)/tmp")
    // The format file goes last: its presence is what makes the directory a store.
    try AtomicFile.write(Array(formatText.utf8), to: "\(directory)/format", tmpDirectory: "\(directory)/tmp")
    return try Store(directory: directory)
  }

  /// Open the store at `directory`, checking its format version.
  public init(directory: String) throws {
    let formatPath = "\(directory)/format"
    guard POSIX.exists(formatPath) else { throw StoreError.notAStore(path: directory) }
    let text = String(decoding: try POSIX.readWholeFile(formatPath), as: UTF8.self)
    guard let version = Self.readableFormats[text] else { throw StoreError.unsupportedFormat(path: formatPath, found: text) }
    formatVersion = version
    self.directory = directory
    objects = try PackObjectStore(directory: directory)
    refs = RefStore(directory: directory)
  }

  /// The version `init` writes, which this build's writers use in full.
  public static let currentFormatVersion = 3

  /// Raise this store's `format` file to `currentFormatVersion`, under the exclusive lock (so it
  /// waits for running writers); returns the version it had. Objects are not touched: every
  /// version's chunks stay valid in the newer one, and only new commits may use the codecs it
  /// adds. Builds that do not read the new version refuse the store from then on. This `Store`
  /// keeps writing as its `formatVersion`; open a new one to write with the new version.
  public func upgradeFormat(timeout: Double = Store.lockTimeout) throws -> Int {
    let lock = try lock(exclusive: true, timeout: timeout)
    defer { withExtendedLifetime(lock) {} }
    // Read again under the lock: another upgrade may have run since this store was opened.
    let path = "\(directory)/format"
    let text = String(decoding: try POSIX.readWholeFile(path), as: UTF8.self)
    guard let version = Self.readableFormats[text] else { throw StoreError.unsupportedFormat(path: path, found: text) }
    if version < Self.currentFormatVersion {
      try AtomicFile.write(Array(Self.formatText.utf8), to: path, tmpDirectory: tmpDirectory)
    }
    return version
  }

  /// Hold while writing objects (shared) or collecting garbage (exclusive).
  public func lock(exclusive: Bool, timeout: Double = Store.lockTimeout) throws -> FileLock {
    try FileLock(path: "\(directory)/lock", exclusive: exclusive, timeout: timeout)
  }

  /// The stat cache.
  /// File digests by commit, for the pre-push gate (may be deleted at any time).
  public func digestCache() -> DigestCache {
    DigestCache(path: "\(directory)/cache/file-digests", tmpDirectory: tmpDirectory)
  }

  public func statCache() -> StatCache {
    StatCache(path: "\(directory)/cache/stat", tmpDirectory: tmpDirectory)
  }

  /// Pack files without an index: left by a crash between the pack's rename and its index's
  /// (never read; gc removes them under the exclusive lock).
  public func orphanPacks() -> [String] {
    let names = Set(POSIX.listDirectory("\(directory)/packs"))
    return names.filter { $0.hasSuffix(".pack") && !names.contains(String($0.dropLast(5)) + ".idx") }.sorted()
      .map { "\(directory)/packs/\($0)" }
  }

  /// Files in `tmp/`: leftovers of interrupted writers when no writer holds the lock.
  public func temporaryFiles() -> [String] {
    POSIX.listDirectory(tmpDirectory).map { "\(tmpDirectory)/\($0)" }
  }
}
