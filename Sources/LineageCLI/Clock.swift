import ArgumentParser
import Foundation
import LineageCore

/// The time recorded in commits and the op log: now, or LINEAGE_COMMIT_TIME when set.
enum Clock {
  static func now() throws -> Int64 {
    guard let text = ProcessInfo.processInfo.environment["LINEAGE_COMMIT_TIME"] else {
      return Int64(Date().timeIntervalSince1970)
    }
    // Records hold four-digit years: 1970-01-01 to 9999-12-31.
    if let t = Int64(text) ?? RFC3339.parse(text), (0...253_402_300_799).contains(t) { return t }
    throw ValidationError(
      "LINEAGE_COMMIT_TIME must be seconds since the epoch or RFC 3339 UTC between 1970 and 9999, not '\(text)'")
  }
}
