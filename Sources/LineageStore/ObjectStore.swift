import Foundation
import LineageCore
import LineageNative

/// Read access to content-addressed objects.
public protocol ObjectDatabase: AnyObject, Sendable {
  /// Whether an object is stored.
  func contains(_ id: ObjectID) -> Bool
  /// How an object is stored, or nil.
  func location(of id: ObjectID) -> PackLocation?
  /// An object's content, checked against its id and expected type.
  func read(_ id: ObjectID, as type: ObjectType) throws -> [UInt8]
}

/// The on-disk object database: every object lives in an append-only pack with an index.
///
/// Thread-safe: lookups and reads may run from many threads at once (reads use pread).
public final class PackObjectStore: ObjectDatabase, @unchecked Sendable {
  public let directory: String
  let tmpDirectory: String
  private let lock = NSLock()
  private var packs: [OpenPack] = []
  private var index: [ObjectID: PackLocation] = [:]

  /// Open the packs under `directory/packs`.
  public init(directory: String) throws {
    self.directory = directory
    tmpDirectory = "\(directory)/tmp"
    try reload()
  }

  /// Re-read the list of packs (after gc, or to see another writer's packs).
  public func reload() throws {
    // Packs never change once visible, so packs already open are kept as they are: a reload
    // after taking a lock costs a directory listing unless a gc or another writer changed it.
    let current: [String: OpenPack] = lock.withLock { Dictionary(packs.map { ($0.indexPath, $0) }, uniquingKeysWith: { a, _ in a }) }
    var opened: [OpenPack] = []
    // A gc may delete packs between the listing and the opening (it has written their
    // replacements first): list again when a listed pack has vanished.
    for attempt in 0..<5 {
      opened = []
      do {
        for name in POSIX.listDirectory("\(directory)/packs") where name.hasSuffix(".idx") {
          let base = "\(directory)/packs/\(name.dropLast(4))"
          opened.append(try current[base + ".idx"] ?? OpenPack(packPath: base + ".pack", indexPath: base + ".idx"))
        }
        break
      } catch StoreError.io(let op, let path, let message) where op == "open" && !POSIX.exists(path) {
        if attempt == 4 { throw StoreError.io(operation: op, path: path, message: message) }
      }
    }
    lock.withLock {
      guard opened.map(\.indexPath) != packs.map(\.indexPath) else { return }
      packs = []
      index = [:]
      for p in opened { register(p) }
    }
  }

  private func register(_ p: OpenPack) {
    let k = packs.count
    packs.append(p)
    index.reserveCapacity(index.count + p.records.count)
    for r in p.records where index[r.id] == nil {
      index[r.id] = PackLocation(pack: k, offset: r.offset, rawLength: r.rawLength, type: r.type, codec: r.codec, depth: r.depth)
    }
  }

  public func contains(_ id: ObjectID) -> Bool { lock.withLock { index[id] != nil } }

  public func location(of id: ObjectID) -> PackLocation? { lock.withLock { index[id] } }

  /// Every stored object with its location.
  public func allObjects() -> [(ObjectID, PackLocation)] { lock.withLock { index.map { ($0.key, $0.value) } } }

  /// Paths and sizes of the pack files.
  public func packFiles() -> [(pack: String, index: String, bytes: UInt64)] {
    lock.withLock { packs.map { ($0.packPath, $0.indexPath, $0.size) } }
  }

  /// Bytes of all pack and index files.
  public func storedBytes() -> UInt64 {
    lock.withLock {
      packs.reduce(UInt64(0)) { $0 + $1.size + UInt64(12 + $1.records.count * PackFormat.recordSize + 32) }
    }
  }

  /// The stored form of an object.
  public func stored(_ id: ObjectID) throws -> EncodedObject {
    let (p, loc) = try locate(id)
    return try p.readEntry(PackRecord(id: id, offset: loc.offset, rawLength: loc.rawLength, type: loc.type, codec: loc.codec, depth: loc.depth)).0
  }

  private func locate(_ id: ObjectID) throws -> (OpenPack, PackLocation) {
    let found: (OpenPack, PackLocation)? = lock.withLock {
      guard let loc = index[id] else { return nil }
      return (packs[loc.pack], loc)
    }
    guard let found else { throw StoreError.objectMissing(id) }
    return found
  }

  public func read(_ id: ObjectID, as type: ObjectType) throws -> [UInt8] {
    try read(id, as: type, verify: true)
  }

  /// An object's content; `verify` re-hashes it against its id (checkout and fsck always do).
  public func read(_ id: ObjectID, as type: ObjectType, verify: Bool, depthLeft: Int = 9) throws -> [UInt8] {
    let (p, loc) = try locate(id)
    guard loc.type == type else { throw StoreError.wrongType(id, expected: type, actual: loc.type) }
    guard depthLeft > 0 else { throw StoreError.objectCorrupt(id, reason: "delta chain deeper than 8") }
    let record = PackRecord(id: id, offset: loc.offset, rawLength: loc.rawLength, type: loc.type, codec: loc.codec, depth: loc.depth)
    let (encoded, _) = try p.readEntry(record)
    var base: [UInt8]?
    if let b = encoded.base {
      base = try read(b, as: .chunk, verify: false, depthLeft: depthLeft - 1)
    }
    let content: [UInt8]
    do {
      content = try ChunkCodec.decode(codec: encoded.codec, payload: encoded.payload, rawLength: Int(loc.rawLength), base: base)
    } catch {
      throw StoreError.objectCorrupt(id, reason: (error as? CodecFailure)?.reason ?? "\(error)")
    }
    if verify, ObjectID.of(type, content: content) != id {
      throw StoreError.objectCorrupt(id, reason: "content does not hash to its id")
    }
    return content
  }

  /// Decode a chunk straight into `destination` (exactly its length) and verify its id there:
  /// checkout's path, with no intermediate copy.
  public func readChunk(_ id: ObjectID, into destination: UnsafeMutableRawBufferPointer) throws {
    let (p, loc) = try locate(id)
    guard loc.type == .chunk else { throw StoreError.wrongType(id, expected: .chunk, actual: loc.type) }
    guard loc.rawLength == UInt64(destination.count) else {
      throw StoreError.objectCorrupt(id, reason: "chunk is \(loc.rawLength) bytes, expected \(destination.count)")
    }
    let record = PackRecord(id: id, offset: loc.offset, rawLength: loc.rawLength, type: loc.type, codec: loc.codec, depth: loc.depth)
    let (encoded, _) = try p.readEntry(record)
    do {
      switch encoded.codec {
      case .raw:
        guard encoded.payload.count == destination.count else { throw CodecFailure("raw payload has the wrong length") }
        encoded.payload.withUnsafeBytes { destination.copyMemory(from: $0) }
      case .zstd:
        try encoded.payload.withUnsafeBytes { src in
          do { try Zstd.decompress(src, into: destination) } catch { throw CodecFailure("zstd: \(error)") }
        }
      case .planes:
        try ChunkCodec.decodePlanes(encoded.payload, into: destination)
      case .xorDelta:
        guard let b = encoded.base else { throw CodecFailure("delta without a base") }
        let base = try read(b, as: .chunk, verify: false, depthLeft: 8)
        guard base.count == destination.count else { throw CodecFailure.deltaBaseLength(found: base.count, expected: destination.count) }
        try ChunkCodec.decodePlanes(encoded.payload, into: destination)
        base.withUnsafeBytes { ChunkCodec.xorBytes(UnsafeRawBufferPointer(destination), $0, into: destination) }
      case .subDelta:
        guard let b = encoded.base else { throw CodecFailure("delta without a base") }
        let base = try read(b, as: .chunk, verify: false, depthLeft: 8)
        try base.withUnsafeBytes { try ChunkCodec.decodeSubDelta(encoded.payload, base: $0, into: destination) }
      case .ulpBits:
        guard let b = encoded.base else { throw CodecFailure("delta without a base") }
        let base = try read(b, as: .chunk, verify: false, depthLeft: 8)
        try base.withUnsafeBytes { try ChunkCodec.decodeUlpBits(encoded.payload, base: $0, into: destination) }
      }
    } catch let e as CodecFailure {
      throw StoreError.objectCorrupt(id, reason: e.reason)
    }
    if ObjectID.of(.chunk, content: UnsafeRawBufferPointer(destination)) != id {
      throw StoreError.objectCorrupt(id, reason: "content does not hash to its id")
    }
  }

  /// Start writing new objects. Nothing is visible to readers until `finish()`.
  ///
  /// A repacking writer copies objects even when the store has them (in the packs it replaces).
  public func writer(repacking: Bool = false) -> ObjectWriter { ObjectWriter(store: self, repacking: repacking) }

  func adopt(_ finished: [(pack: String, index: String)]) throws {
    var opened: [OpenPack] = []
    for f in finished { opened.append(try OpenPack(packPath: f.pack, indexPath: f.index)) }
    lock.withLock { for p in opened { register(p) } }
  }
}

/// Collects new objects into packs for one operation.
public final class ObjectWriter {
  let store: PackObjectStore
  private let packs: PackWriter
  private var pending = Set<ObjectID>()
  /// Bytes of new objects: their content, and the pack entries (header and payload) holding them.
  public private(set) var rawBytesAdded: UInt64 = 0
  public private(set) var storedBytesAdded: UInt64 = 0

  private let repacking: Bool

  init(store: PackObjectStore, repacking: Bool) {
    self.store = store
    self.repacking = repacking
    packs = PackWriter(tmpDirectory: store.tmpDirectory, packDirectory: "\(store.directory)/packs")
  }

  /// Whether the object is stored already or written by this writer.
  public func has(_ id: ObjectID) -> Bool { pending.contains(id) || (!repacking && store.contains(id)) }

  /// Add an encoded object unless it is already present; returns whether it was added.
  @discardableResult
  public func add(_ id: ObjectID, type: ObjectType, rawLength: Int, encoded: EncodedObject) throws -> Bool {
    if has(id) { return false }
    let size = try packs.append(id: id, type: type, rawLength: rawLength, encoded: encoded)
    pending.insert(id)
    rawBytesAdded += UInt64(rawLength)
    storedBytesAdded += UInt64(size)
    return true
  }

  /// Add a metadata object (tensor, file, tree, commit); returns its id.
  @discardableResult
  public func addMetadata(_ type: ObjectType, content: [UInt8]) throws -> ObjectID {
    let id = ObjectID.of(type, content: content)
    try add(id, type: type, rawLength: content.count, encoded: ChunkCodec.encodeMetadata(content))
    return id
  }

  /// Seal the packs and make every added object visible.
  public func finish() throws {
    try packs.seal()
    try store.adopt(packs.finished)
  }

  /// Pack and index paths this writer made visible.
  public var sealedPacks: [(pack: String, index: String)] { packs.finished }
}
