/// Receives progress of long operations; the CLI renders it, tests may record it.
public protocol ProgressSink: AnyObject, Sendable {
  /// A phase starts, with its total in `unit` (e.g. bytes), 0 when unknown.
  func begin(_ label: String, total: UInt64, unit: ProgressUnit)
  /// `amount` more units are done.
  func advance(_ amount: UInt64)
  /// The phase ended.
  func end()
}

public enum ProgressUnit: Sendable { case bytes, items }

/// Discards progress.
public final class SilentProgress: ProgressSink {
  public init() {}
  public func begin(_ label: String, total: UInt64, unit: ProgressUnit) {}
  public func advance(_ amount: UInt64) {}
  public func end() {}
}
