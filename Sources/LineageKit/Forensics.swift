import LineageForensics

extension Repository {
  /// Compare two models tensor by tensor (Docs/Forensics.md).
  public static func compare(_ a: ModelTensors, _ b: ModelTensors, progress: ProgressSink = SilentProgress()) throws -> Comparison {
    progress.begin("Comparing", total: UInt64(a.items.count), unit: .items)
    defer { progress.end() }
    do {
      return try Compare.run(a, b) { _, _ in progress.advance(1) }
    } catch let e as ForensicsError {
      throw KitError.forensics(e.description)
    }
  }
}
