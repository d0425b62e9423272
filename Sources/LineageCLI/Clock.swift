import ArgumentParser
import Foundation
import LineageCore

/// The time recorded in commits and the op log: now, or LINEAGE_COMMIT_TIME when set.
enum Clock {
  static func now() throws -> Int64 {
    guard let text = ProcessInfo.processInfo.environment["LINEAGE_COMMIT_TIME"] else {
      return Int64(Date().timeIntervalSince1970)
    }
    if let t = Int64(text) ?? RFC3339.parse(text) { return t }
    throw ValidationError("LINEAGE_COMMIT_TIME must be seconds since the epoch or RFC 3339 UTC, not '\(text)'")
  }
}
