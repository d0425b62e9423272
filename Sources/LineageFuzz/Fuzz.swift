import Foundation
import LineageFormats

/// One fuzz target per parser, chosen by `LINEAGE_FUZZ_TARGET`. Each takes arbitrary bytes and
/// must return or throw a typed error: a crash, a hang or a sanitizer report is a bug.
///
/// Built with libFuzzer by `make fuzz` (`-sanitize=fuzzer,address -D LINEAGE_FUZZ`); in a normal
/// build this is a replayer: `lineage-fuzz TARGET FILE...` runs each file through the target.
enum FuzzTargets {
  static let all: [String: @Sendable ([UInt8]) -> Bool] = [
    "safetensors": { (try? SafetensorsSource(MemoryBytes($0))) != nil },
    "npy": { read(try? NumPySource(MemoryBytes($0), name: "x")) },
    "npz": { read(try? NumPyArchiveSource(MemoryBytes($0), limits: ZipLimits(maxEntries: 64, maxEntryBytes: 1 << 20))) },
    "gguf": { bytes in
      guard let gguf = try? GGUFSource(MemoryBytes(bytes)) else { return false }
      for t in gguf.tensors where t.byteLength <= 1 << 20 { _ = try? gguf.floats(of: t) }
      return true
    },
    "onnx": { read(try? ONNXSource(MemoryBytes($0), external: { _ in MemoryBytes([UInt8](repeating: 0, count: 4096)) })) },
    "pickle": { (try? PickleReader().read($0)) != nil },
    "pytorch": { read(try? PyTorchSource(MemoryBytes($0))) },
    "zip": { bytes in
      guard let zip = try? ZipArchive(MemoryBytes(bytes), limits: ZipLimits(maxEntries: 64, maxEntryBytes: 1 << 20)) else { return false }
      for e in zip.entries { _ = try? zip.read(e) }
      return true
    },
  ]

  /// Read every tensor the parser accepted, so the lazy paths are fuzzed too.
  static func read(_ source: (any TensorSource)?) -> Bool {
    guard let source else { return false }
    for t in source.tensors where t.byteLength <= 1 << 20 { _ = try? source.bytes(of: t) }
    return true
  }
}

#if LINEAGE_FUZZ
  let fuzzTarget: @Sendable ([UInt8]) -> Bool = {
    let name = ProcessInfo.processInfo.environment["LINEAGE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.all[name] else {
      FileHandle.standardError.write(Data("set LINEAGE_FUZZ_TARGET to one of \(FuzzTargets.all.keys.sorted())\n".utf8))
      exit(64)
    }
    return target
  }()

  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = fuzzTarget(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
  }

  @_silgen_name("LLVMFuzzerRunDriver")
  func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

  /// SwiftPM links an executable's entry as `main = <module>_main`; hand control to libFuzzer.
  @_cdecl("lineage_fuzz_main")
  public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return runDriver(&count, &vector, fuzzOne)
  }
#else
  @main struct Replay {
    static func main() {
      let args = CommandLine.arguments.dropFirst()
      guard let name = args.first, let target = FuzzTargets.all[name] else {
        print("usage: lineage-fuzz TARGET FILE...   targets: \(FuzzTargets.all.keys.sorted().joined(separator: " "))")
        exit(64)
      }
      var accepted = 0
      for path in args.dropFirst() {
        guard let data = FileManager.default.contents(atPath: path) else { continue }
        if target(Array(data)) { accepted += 1 }
      }
      print("replayed \(args.count - 1) input(s) through \(name): \(accepted) accepted")
    }
  }
#endif
