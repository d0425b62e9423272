import Foundation
import LineageKit

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Output helpers shared by the commands.
enum Render {
  /// Write a line to standard output.
  static func line(_ s: String = "") { print(s) }

  /// Escape for a double-quoted Graphviz string.
  static func dotEscape(_ s: String, keepNewlines: Bool = false) -> String {
    var out = s.replacingOccurrences(of: "\\", with: keepNewlines ? "\\" : "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    if !keepNewlines { out = out.replacingOccurrences(of: "\n", with: " ") }
    return out
  }

  /// Pretty, key-sorted JSON on standard output.
  static func json(_ value: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
  }

  /// 1536 → "1.5 KiB".
  static func bytes(_ n: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var k = 0
    while v >= 1024, k < units.count - 1 {
      v /= 1024
      k += 1
    }
    return k == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[k])
  }

  static func ratio(_ x: Double) -> String { String(format: "%.2f×", x) }

  static func shape(_ s: [UInt64]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

  /// Left-aligned columns.
  static func table(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = [Int](repeating: 0, count: first.count)
    for r in rows { for (k, c) in r.enumerated() where k < widths.count { widths[k] = max(widths[k], c.count) } }
    for r in rows {
      let cells = r.enumerated().map { k, c in k == r.count - 1 ? c : c.padding(toLength: widths[k], withPad: " ", startingAt: 0) }
      print(cells.joined(separator: "  "))
    }
  }
}

/// A progress bar on standard error, drawn only when it is a terminal.
final class TerminalProgress: ProgressSink, @unchecked Sendable {
  private let lock = NSLock()
  private let enabled: Bool
  private var label = ""
  private var total: UInt64 = 0
  private var done: UInt64 = 0
  private var unit = ProgressUnit.bytes
  private var lastDraw = Date.distantPast
  private var started = Date()

  init(enabled: Bool = isatty(STDERR_FILENO) != 0) { self.enabled = enabled }

  func begin(_ label: String, total: UInt64, unit: ProgressUnit) {
    lock.withLock {
      self.label = label
      self.total = total
      self.unit = unit
      done = 0
      started = Date()
      lastDraw = .distantPast
    }
  }

  func advance(_ amount: UInt64) {
    lock.withLock {
      done += amount
      guard enabled, Date().timeIntervalSince(lastDraw) > 0.1 else { return }
      lastDraw = Date()
      draw()
    }
  }

  func end() {
    lock.withLock {
      guard enabled else { return }
      draw()
      FileHandle.standardError.write(Data("\n".utf8))
    }
  }

  private func draw() {
    let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
    let width = 30
    let filled = Int(fraction * Double(width))
    let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
    let elapsed = max(Date().timeIntervalSince(started), 0.001)
    let amount = unit == .bytes ? "\(Render.bytes(done))/\(Render.bytes(total)) \(Render.bytes(UInt64(Double(done) / elapsed)))/s" : "\(done)/\(total)"
    FileHandle.standardError.write(Data("\r\(label) \(bar) \(Int(fraction * 100))% \(amount)\u{1B}[K".utf8))
  }
}
