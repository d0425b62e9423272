import CSystem
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writes a new file front to back from a background thread, in aligned 8 MiB blocks that bypass
/// the page cache (`O_DIRECT`) where the file system allows it.
///
/// Why: on the 2-core VM of Docs/Benchmarks.md, copying a pack into the page cache was 15% of a
/// first commit's CPU time, and took 0.5–2.2 s of kernel time for 700 MB depending on whether
/// the kernel had to fault in fresh pages. A direct write costs the CPU nothing; the disk time
/// overlaps hashing and compression because the writes run on their own thread.
///
/// The producer calls `write` (which copies into the current block) and `finish` or `cancel`;
/// it is not safe to call from two threads at once. A failed background write is reported by the
/// next `write` or by `finish`. Where `O_DIRECT` is refused (tmpfs, some overlay file systems),
/// at open or at the first write, the writer falls back to ordinary writes and starts their
/// writeback early, so the final fsync finds little left to do.
final class BackgroundWriter: @unchecked Sendable {
  static let blockSize = 8 << 20
  static let alignment = 4096
  /// Blocks filled or being written at once: the producer waits when all are busy.
  static let blocksInFlight = 3

  let path: String
  private let fd: Int32
  /// Touched only on `queue` once the writer is open.
  private var direct: Bool
  private let queue = DispatchQueue(label: "lineage.background-writer")
  private let slots = DispatchSemaphore(value: BackgroundWriter.blocksInFlight)
  private let lock = NSLock()
  private var spare: [UnsafeMutableRawPointer] = []
  private var failure: StoreError?
  private var current: UnsafeMutableRawPointer?
  private var filled = 0
  /// File offset of the current block.
  private var blockOffset: UInt64 = 0
  private var closed = false

  /// Create `path` (which must not exist). `bypassingCache: false` writes through the page
  /// cache from the start (tests use it to cover both paths).
  init(creating path: String, bypassingCache: Bool = true) throws {
    self.path = path
    let direct = bypassingCache && lineage_o_direct() != 0 ? try? POSIX.create(path, extraFlags: lineage_o_direct()) : nil
    self.fd = try direct ?? POSIX.create(path)
    self.direct = direct != nil
  }

  deinit {
    if !closed { cancel() }
    for block in spare { block.deallocate() }
  }

  /// Whether writes still bypass the page cache (false after a fallback).
  var bypassesCache: Bool { queue.sync { direct } }

  /// Bytes accepted so far (the file's length once finished).
  var length: UInt64 { blockOffset + UInt64(filled) }

  /// Copy `bytes` to the end of the file.
  func write(_ bytes: UnsafeRawBufferPointer) throws {
    if let e = lock.withLock({ failure }) { throw e }
    guard var source = bytes.baseAddress else { return }
    var left = bytes.count
    while left > 0 {
      let block = try currentBlock()
      let n = min(left, Self.blockSize - filled)
      (block + filled).copyMemory(from: source, byteCount: n)
      filled += n
      source += n
      left -= n
      if filled == Self.blockSize { submit() }
    }
  }

  /// Write what is left, wait for every write, fsync, close. Throws the first write error.
  func finish() throws {
    if filled > 0 { submit() }
    queue.sync {}
    closed = true
    if let e = lock.withLock({ failure }) {
      close(fd)
      throw e
    }
    do { try POSIX.fsyncFD(fd, path: path) } catch {
      close(fd)
      throw error
    }
    if close(fd) != 0 { throw POSIX.error("close", path) }
  }

  /// Wait for writes under way and close; the caller removes the file.
  func cancel() {
    guard !closed else { return }
    closed = true
    queue.sync {}
    if let block = current {
      block.deallocate()
      slots.signal()
    }
    current = nil
    close(fd)
  }

  private func currentBlock() throws -> UnsafeMutableRawPointer {
    if let current { return current }
    slots.wait()
    if let e = lock.withLock({ failure }) {
      slots.signal()
      throw e
    }
    let block = lock.withLock { spare.popLast() } ?? UnsafeMutableRawPointer.allocate(byteCount: Self.blockSize, alignment: Self.alignment)
    current = block
    return block
  }

  /// Hand the current block to the background thread.
  private func submit() {
    guard let block = current else { return }
    let count = filled
    let offset = blockOffset
    current = nil
    filled = 0
    blockOffset += UInt64(count)
    let me = self
    let handed = Handed(pointer: block)
    queue.async {
      let block = handed.pointer
      do { try me.writeBlock(block, count: count, at: offset) } catch let e as StoreError {
        me.lock.withLock { if me.failure == nil { me.failure = e } }
      } catch {
        me.lock.withLock { if me.failure == nil { me.failure = .io(operation: "write", path: me.path, message: "\(error)") } }
      }
      me.lock.withLock { me.spare.append(block) }
      me.slots.signal()
    }
  }

  /// On `queue`: write `count` bytes at `offset`; a block shorter than the alignment unit (the
  /// file's tail) goes through the page cache.
  private func writeBlock(_ block: UnsafeMutableRawPointer, count: Int, at offset: UInt64) throws {
    if lock.withLock({ failure }) != nil { return }
    var done = 0
    if direct {
      let aligned = count / Self.alignment * Self.alignment
      if aligned > 0 {
        do {
          try pwriteAll(block, aligned, at: offset)
          done = aligned
        } catch let e as WriteFailure where e.code == EINVAL {
          // The file system refused the direct write: continue through the page cache.
          try dropDirect()
        }
      }
      if done < count { try dropDirect() }
    }
    guard done < count else { return }
    try pwriteAll(block + done, count - done, at: offset + UInt64(done))
    _ = lineage_start_writeback(fd, Int64(offset) + Int64(done), Int64(count - done))
  }

  private func dropDirect() throws {
    guard direct else { return }
    let flags = fcntl(fd, F_GETFL)
    if flags < 0 || fcntl(fd, F_SETFL, flags & ~lineage_o_direct()) != 0 { throw POSIX.error("fcntl", path) }
    direct = false
  }

  private struct WriteFailure: Error { var code: Int32 }

  /// A block passed to the background thread, which owns it until it is back in `spare`.
  private struct Handed: @unchecked Sendable { let pointer: UnsafeMutableRawPointer }

  private func pwriteAll(_ base: UnsafeMutableRawPointer, _ count: Int, at offset: UInt64) throws {
    var done = 0
    while done < count {
      let n = pwrite(fd, base + done, count - done, off_t(offset) + off_t(done))
      if n < 0 {
        if errno == EINTR { continue }
        if errno == EINVAL && direct { throw WriteFailure(code: EINVAL) }
        throw POSIX.error("write", path)
      }
      done += n
    }
  }
}
