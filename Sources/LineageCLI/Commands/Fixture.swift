import ArgumentParser
import LineageCore
import LineageKit

struct FixtureCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fixture", abstract: "Generate seeded synthetic checkpoints for demos, tests and benchmarks",
    discussion: "Llama-shaped tensor names, N(0, 0.02²) weights; the same seed gives the same bytes on every machine.",
    subcommands: [Generate.self, Derive.self])

  struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a base checkpoint")
    @Argument(help: "Output .safetensors path.") var output: String
    @Option(help: "Approximate size, e.g. 64MiB, 1GiB.") var size: String = "16MiB"
    @Option(help: "F32, BF16 or F16.") var dtype: String = "BF16"
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
      guard let d = DType(rawValue: dtype.uppercased()), [.f32, .bf16, .f16].contains(d) else {
        throw ValidationError("--dtype must be F32, BF16 or F16")
      }
      let s = try Fixtures.generate(to: output, targetBytes: try parseSize(size), dtype: d, seed: seed)
      if json {
        Render.json(["path": s.path, "bytes": s.bytes, "tensors": s.tensors, "dtype": d.rawValue, "seed": seed])
      } else {
        Render.line("Wrote \(s.path): \(s.tensors) tensors, \(Render.bytes(s.bytes))")
      }
    }
  }

  struct Derive: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write a child of a checkpoint: small steps on a fraction of its tensors")
    @Argument(help: "Parent .safetensors path.") var parent: String
    @Argument(help: "Output .safetensors path.") var output: String
    @Option(help: "Fraction of tensor bytes to change (0…1).") var fraction: Double = 1
    @Option(help: "Step size relative to the weights' scale.") var scale: Float = 0.01
    @Option(help: "Seed.") var seed: UInt64 = 2
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
      guard (0...1).contains(fraction) else { throw ValidationError("--fraction must be between 0 and 1") }
      let s = try Fixtures.derive(from: parent, to: output, fraction: fraction, scale: scale, seed: seed)
      if json {
        Render.json([
          "path": s.path, "bytes": s.bytes, "tensors": s.tensors, "changed_tensors": s.changedTensors,
          "changed_bytes": s.changedBytes,
        ])
      } else {
        Render.line("Wrote \(s.path): changed \(s.changedTensors)/\(s.tensors) tensors (\(Render.bytes(s.changedBytes)))")
      }
    }
  }
}

func parseSize(_ text: String) throws -> Int {
  let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)]
  for (suffix, scale) in units where text.hasSuffix(suffix) {
    if let v = Double(text.dropLast(suffix.count)), v > 0 { return Int(v * Double(scale)) }
  }
  if let v = Int(text), v > 0 { return v }
  throw ValidationError("cannot read size '\(text)'; use e.g. 64MiB or 1GiB")
}
