import ArgumentParser
import LineageNative
import LineageStore

struct Version: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Show lineage's version and the native libraries it uses")

  @Flag(help: "Print the result as JSON.") var json = false

  func run() throws {
    let v = NativeLibraryVersions.current()
    if json {
      Render.json(["lineage": "0.1.0", "store_format": Store.currentFormatVersion, "openssl": v.openssl, "zstd": v.zstd, "libgit2": v.libgit2, "openblas": v.openblas])
    } else {
      Render.line("lineage 0.1.0 (store format \(Store.currentFormatVersion))")
      Render.line("OpenSSL \(v.openssl); zstd \(v.zstd); libgit2 \(v.libgit2); OpenBLAS \(v.openblas)")
    }
  }
}
