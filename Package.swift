// swift-tools-version: 6.0
import PackageDescription

/// lineage: git for model checkpoints.
///
/// Modules depend one way: CLI → Kit → Store → Tensor/Core → Native → C shims.
let package = Package(
  name: "lineage",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "lineage", targets: ["lineage"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
  ],
  targets: [
    // System libraries (Debian -dev packages; see README).
    .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
    .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(name: "CLibGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
    .systemLibrary(
      name: "COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),

    .systemLibrary(name: "CMinizip", pkgConfig: "minizip", providers: [.apt(["libminizip-dev"])]),
    .systemLibrary(name: "CSystem"),
    // toml++ (Debian's libtomlplusplus-dev) behind one C function: TOML in, JSON out.
    .target(
      name: "CTOMLBridge",
      cxxSettings: [.define("TOML_HEADER_ONLY", to: "0"), .define("TOML_SHARED_LIB", to: "1")],
      linkerSettings: [.linkedLibrary("tomlplusplus")]),

    // Thin Swift wrappers over the C libraries; the only place that imports them, except that
    // LineageSigning imports COpenSSL in its Crypto.swift alone.
    .target(name: "LineageNative", dependencies: ["CZstd", "COpenSSL", "CLibGit2", "COpenBLAS"]),
    // Object ids, canonical encodings and record types (no file I/O).
    .target(name: "LineageCore", dependencies: ["LineageNative"]),
    // Checkpoint formats: safetensors parsing, dtypes, chunk planning (no file I/O of its own).
    .target(name: "LineageTensor", dependencies: ["LineageCore"]),
    // Model file formats behind one TensorSource protocol: safetensors, PyTorch zip (restricted
    // pickle), GGUF, ONNX, NumPy; pure parsing over ByteSource (no file I/O of its own).
    .target(name: "LineageFormats", dependencies: ["LineageCore", "LineageTensor", "LineageNative", "CMinizip"]),
    // Weight forensics over tensors in memory: per-tensor metrics with OpenBLAS (compare).
    .target(name: "LineageForensics", dependencies: ["LineageCore", "LineageFormats", "LineageNative"]),
    // The native runtime: two small architectures, forward/backward with OpenBLAS sgemm, seeded
    // tasks, optimisers (a fixture and replay engine, not a training framework).
    .target(name: "LineageRuntime", dependencies: ["LineageCore", "LineageTensor", "LineageNative"]),
    // Object store: packs, loose objects, refs, op log, codecs, locks, atomic files.
    .target(name: "LineageStore", dependencies: ["LineageCore", "LineageNative", "CSystem"]),
    // Code anchors: the git commit and working-tree state a checkpoint came from (libgit2).
    .target(name: "LineageGit", dependencies: ["CLibGit2", "LineageCore", "LineageNative"]),
    // Provenance capture: data digests and the machine environment (no libgit2).
    .target(name: "LineageProvenance", dependencies: ["LineageCore", "LineageNative"]),
    // Keys, SSH signatures (PROTOCOL.sshsig) and the allowed-signers trust policy; OpenSSL in Crypto.swift.
    .target(name: "LineageSigning", dependencies: ["LineageCore", "LineageNative", "COpenSSL"]),
    // Facade the CLI calls: repository, commit, checkout, fsck, gc, du, revisions.
    .target(
      name: "LineageKit",
      dependencies: [
        "LineageCore", "LineageTensor", "LineageFormats", "LineageForensics", "LineageRuntime", "LineageStore", "LineageNative", "LineageGit",
        "LineageProvenance", "LineageSigning", "CTOMLBridge", .product(name: "Yams", package: "Yams"),
      ]),
    // One file per verb, rendering, error → exit code.
    .target(
      name: "LineageCLI",
      dependencies: [
        "LineageKit", "LineageCore", "LineageGit", "LineageFormats", "LineageForensics", "LineageRuntime", "CSystem", "LineageTensor", "LineageProvenance", "LineageSigning", "LineageNative",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(name: "lineage", dependencies: ["LineageCLI"]),
    // Fuzz targets for every parser: libFuzzer under `make fuzz`, a corpus replayer otherwise.
    .executableTarget(name: "lineage-fuzz", dependencies: ["LineageFormats"], path: "Sources/LineageFuzz"),
    // Seeded fixtures and temporary repositories for tests (a normal target, not a test target).
    .target(name: "LineageTestSupport", dependencies: ["LineageKit", "LineageTensor", "LineageCore"]),

    .testTarget(name: "LineageCoreTests", dependencies: ["LineageCore", "LineageTestSupport"]),
    .testTarget(name: "LineageRuntimeTests", dependencies: ["LineageRuntime", "LineageTensor", "LineageTestSupport"]),
    .testTarget(name: "LineageTensorTests", dependencies: ["LineageTensor", "LineageTestSupport"]),
    .testTarget(
      name: "LineageFormatsTests", dependencies: ["LineageFormats", "LineageTensor", "LineageCore", "LineageTestSupport"]),
    .testTarget(
      name: "LineageStoreTests",
      dependencies: ["LineageStore", "LineageCore", "LineageNative", "LineageTestSupport"]),
    .testTarget(
      name: "LineageKitTests",
      dependencies: ["LineageKit", "LineageStore", "LineageTensor", "LineageSigning", "LineageProvenance", "LineageRuntime", "LineageForensics", "LineageTestSupport"]),
    .testTarget(
      name: "LineageForensicsTests",
      dependencies: ["LineageForensics", "LineageFormats", "LineageCore", "LineageTensor", "LineageRuntime", "LineageTestSupport"]),
    .testTarget(name: "LineageGitTests", dependencies: ["LineageGit", "LineageTestSupport"]),
    .testTarget(
      name: "LineageProvenanceTests",
      dependencies: ["LineageProvenance", "LineageCore", "LineageNative", "LineageTestSupport"]),
    .testTarget(
      name: "LineageSigningTests", dependencies: ["LineageSigning", "LineageCore", "LineageTestSupport"]),
    .testTarget(
      name: "LineageEndToEndTests",
      // LineageKit and LineageRuntime only to write runtime models as fixtures; the tests drive the binary.
      dependencies: ["lineage", "LineageTestSupport", "LineageTensor", "LineageKit", "LineageRuntime"]),
  ],
  cxxLanguageStandard: .cxx17
)
