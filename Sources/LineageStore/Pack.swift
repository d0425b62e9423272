import CSystem
import Foundation
import LineageCore
import LineageNative

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension ObjectType {
  /// The type byte in pack entries.
  var packCode: UInt8 {
    switch self {
    case .chunk: return 0
    case .tensor: return 1
    case .file: return 2
    case .tree: return 3
    case .commit: return 4
    }
  }

  init?(packCode: UInt8) {
    switch packCode {
    case 0: self = .chunk
    case 1: self = .tensor
    case 2: self = .file
    case 3: self = .tree
    case 4: self = .commit
    default: return nil
    }
  }
}

/// Where an object lives and how it is stored, as its pack index says.
public struct PackLocation: Sendable, Equatable {
  public var pack: Int
  public var offset: UInt64
  public var rawLength: UInt64
  public var type: ObjectType
  public var codec: Codec
  public var depth: UInt8
}

/// One index record.
struct PackRecord {
  var id: ObjectID
  var offset: UInt64
  var rawLength: UInt64
  var type: ObjectType
  var codec: Codec
  var depth: UInt8
}

enum PackFormat {
  static let packMagic = Array("LINPACK1".utf8)
  static let indexMagic = Array("LINIDX01".utf8)
  static let recordSize = 32 + 8 + 8 + 3
  /// Entry header without the optional base id.
  static let entryHeaderSize = 32 + 3 + 8 + 8
  static let targetPackBytes: UInt64 = 64 << 20
  /// Largest metadata object a reader accepts (a file object of ~28 M chunks, over 1 PB of
  /// data at 64 KiB per chunk).
  static let maximumMetadataLength: UInt64 = 1 << 30

  /// Parse and verify an index file.
  static func parseIndex(_ bytes: [UInt8], path: String) throws -> [PackRecord] {
    guard bytes.count >= indexMagic.count + 4 + 32, Array(bytes[0..<8]) == indexMagic else {
      throw StoreError.corruptIndex(path: path, reason: "bad magic or too short")
    }
    let body = Array(bytes[0..<(bytes.count - 32)])
    guard SHA256Hasher.hash(body).bytes == Array(bytes[(bytes.count - 32)...]) else {
      throw StoreError.corruptIndex(path: path, reason: "checksum mismatch")
    }
    var r = ByteReader(body, offset: 8)
    var records: [PackRecord] = []
    do {
      let n = try r.count("count", minimumElementSize: recordSize)
      records.reserveCapacity(n)
      for _ in 0..<n {
        let id = try r.id("id")
        let offset = try r.u64("offset")
        let raw = try r.u64("rawLength")
        let t = try r.u8("type")
        let c = try r.u8("codec")
        let d = try r.u8("depth")
        guard let type = ObjectType(packCode: t), let codec = Codec(rawValue: c) else {
          throw StoreError.corruptIndex(path: path, reason: "unknown type \(t) or codec \(c) for \(id)")
        }
        // Decoding allocates rawLength bytes: bound it before anything trusts it.
        let limit: UInt64 = type == .chunk ? UInt64(maximumChunkLength) : PackFormat.maximumMetadataLength
        guard raw <= limit, type != .chunk || raw > 0, d <= 8 else {
          throw StoreError.corruptIndex(path: path, reason: "record for \(id) claims \(raw) bytes at depth \(d)")
        }
        if let last = records.last, !(last.id < id) {
          throw StoreError.corruptIndex(path: path, reason: "records not sorted at \(id)")
        }
        records.append(PackRecord(id: id, offset: offset, rawLength: raw, type: type, codec: codec, depth: d))
      }
      try r.expectEnd()
    } catch let e as StoreError {
      throw e
    } catch {
      throw StoreError.corruptIndex(path: path, reason: "\(error)")
    }
    return records
  }

  static func encodeIndex(_ records: [PackRecord]) -> [UInt8] {
    var w = ByteWriter(capacity: 12 + records.count * recordSize + 32)
    w.raw(indexMagic)
    w.u32(UInt32(records.count))
    for r in records.sorted(by: { $0.id < $1.id }) {
      w.id(r.id)
      w.u64(r.offset)
      w.u64(r.rawLength)
      w.u8(r.type.packCode)
      w.u8(r.codec.rawValue)
      w.u8(r.depth)
    }
    let sum = SHA256Hasher.hash(w.bytes)
    w.raw(sum.bytes)
    return w.bytes
  }
}

/// An open, immutable pack.
final class OpenPack: @unchecked Sendable {
  let packPath: String
  let indexPath: String
  let fd: Int32
  let size: UInt64
  let records: [PackRecord]

  init(packPath: String, indexPath: String) throws {
    self.packPath = packPath
    self.indexPath = indexPath
    records = try PackFormat.parseIndex(try POSIX.readWholeFile(indexPath), path: indexPath)
    fd = try POSIX.openRead(packPath)
    do {
      size = try POSIX.fileSize(fd, path: packPath)
      var magic = [UInt8](repeating: 0, count: 8)
      try magic.withUnsafeMutableBytes { b in try POSIX.preadAll(fd, b, offset: 0, path: packPath) }
      guard magic == PackFormat.packMagic else { throw StoreError.corruptPack(path: packPath, offset: 0, reason: "bad magic") }
    } catch {
      close(fd)
      throw error
    }
  }

  deinit { close(fd) }

  /// Read one entry's stored form, checking its header against the index record.
  func readEntry(_ record: PackRecord) throws -> (EncodedObject, UInt64) {
    let at = record.offset
    guard at >= 8, at < size, size - at >= UInt64(PackFormat.entryHeaderSize) else {
      throw StoreError.corruptPack(path: packPath, offset: at, reason: "entry header past the end")
    }
    var head = [UInt8](repeating: 0, count: PackFormat.entryHeaderSize)
    try head.withUnsafeMutableBytes { b in try POSIX.preadAll(fd, b, offset: at, path: packPath) }
    var r = ByteReader(head)
    do {
      let id = try r.id("id")
      let type = try r.u8("type")
      let codecByte = try r.u8("codec")
      let depth = try r.u8("depth")
      let raw = try r.u64("rawLength")
      let payloadLength = try r.u64("payloadLength")
      guard id == record.id, type == record.type.packCode, codecByte == record.codec.rawValue,
        depth == record.depth, raw == record.rawLength, let codec = Codec(rawValue: codecByte)
      else { throw StoreError.corruptPack(path: packPath, offset: at, reason: "entry disagrees with its index record for \(record.id)") }
      var cursor = at + UInt64(PackFormat.entryHeaderSize)
      var base: ObjectID?
      if codec.isDelta {
        guard size - cursor >= 32 else { throw StoreError.corruptPack(path: packPath, offset: cursor, reason: "base id past the end") }
        var b = [UInt8](repeating: 0, count: 32)
        try b.withUnsafeMutableBytes { p in try POSIX.preadAll(fd, p, offset: cursor, path: packPath) }
        base = b.withUnsafeBytes { ObjectID(unchecked: $0, offset: 0) }
        cursor += 32
      }
      // Every payload must lie inside the pack; chunks are also bounded by their format limit
      // (metadata such as the file object of a huge file may be larger).
      guard payloadLength <= size - cursor, record.type != .chunk || payloadLength <= UInt64(maximumChunkLength) * 2 + 1024 else {
        throw StoreError.corruptPack(path: packPath, offset: at, reason: "payload of \(payloadLength) bytes runs past the end")
      }
      var payload = [UInt8](repeating: 0, count: Int(payloadLength))
      try payload.withUnsafeMutableBytes { p in try POSIX.preadAll(fd, p, offset: cursor, path: packPath) }
      return (EncodedObject(codec: codec, payload: payload, base: base, depth: depth), cursor + payloadLength)
    } catch let e as StoreError {
      throw e
    } catch {
      throw StoreError.corruptPack(path: packPath, offset: at, reason: "\(error)")
    }
  }
}

/// Appends objects to new packs in `tmp/`; `finish()` makes them visible.
///
/// Not thread-safe: one writer per commit, fed from the committing thread. The bytes go to disk
/// from a background thread (`BackgroundWriter`).
final class PackWriter {
  private let tmpDirectory: String
  private let packDirectory: String
  private var file: BackgroundWriter?
  private var tmpPath = ""
  private var records: [PackRecord] = []
  private(set) var finished: [(pack: String, index: String)] = []

  init(tmpDirectory: String, packDirectory: String) {
    self.tmpDirectory = tmpDirectory
    self.packDirectory = packDirectory
  }

  deinit { abort() }

  /// Append one entry; returns its size in the pack (header and payload).
  @discardableResult
  func append(id: ObjectID, type: ObjectType, rawLength: Int, encoded: EncodedObject) throws -> Int {
    let file = try self.file ?? start()
    let offset = file.length
    var w = ByteWriter(capacity: PackFormat.entryHeaderSize + 32)
    w.id(id)
    w.u8(type.packCode)
    w.u8(encoded.codec.rawValue)
    w.u8(encoded.depth)
    w.u64(UInt64(rawLength))
    w.u64(UInt64(encoded.payload.count))
    if let base = encoded.base { w.id(base) }
    try w.bytes.withUnsafeBytes { try file.write($0) }
    try encoded.payload.withUnsafeBytes { try file.write($0) }
    records.append(
      PackRecord(
        id: id, offset: offset, rawLength: UInt64(rawLength), type: type, codec: encoded.codec,
        depth: encoded.depth))
    if file.length >= PackFormat.targetPackBytes { try seal() }
    return w.bytes.count + encoded.payload.count
  }

  private func start() throws -> BackgroundWriter {
    tmpPath = "\(tmpDirectory)/pack-\(UUID().uuidString).pack"
    let file = try BackgroundWriter(creating: tmpPath)
    self.file = file
    records = []
    try PackFormat.packMagic.withUnsafeBytes { try file.write($0) }
    return file
  }

  /// Finish the current pack: fsync it, write its index, rename both into `packs/`.
  func seal() throws {
    guard let file else { return }
    do { try file.finish() } catch {
      abort()
      throw error
    }
    self.file = nil
    let index = PackFormat.encodeIndex(records)
    let name = "pack-" + HexEncoding.encode(index.suffix(32))
    let packPath = "\(packDirectory)/\(name).pack"
    let indexPath = "\(packDirectory)/\(name).idx"
    // The pack is renamed first: an index never names a pack that is not in place.
    try POSIX.renameFile(tmpPath, packPath)
    try AtomicFile.write(index, to: indexPath, tmpDirectory: tmpDirectory)
    finished.append((packPath, indexPath))
    records = []
  }

  /// Drop an unfinished pack.
  func abort() {
    guard let file else { return }
    file.cancel()
    self.file = nil
    POSIX.unlinkFile(tmpPath)
  }
}
