import Foundation
import LineageSigning
import LineageTestSupport

/// Keys made once by `ssh-keygen -t ed25519 -N '' -C me@x` and `ssh-keygen -t ecdsa -b 256 -N '' -C ec@x`
/// (OpenSSH 9.2); test-only keys, never used anywhere else.
enum Fixture {
  static let ed25519Private = """
    -----BEGIN OPENSSH PRIVATE KEY-----
    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
    QyNTUxOQAAACBqVbvibnSvDtXArTDM0dBT7kvcPARBqHGKfPjDHlSMHwAAAIjeHuN/3h7j
    fwAAAAtzc2gtZWQyNTUxOQAAACBqVbvibnSvDtXArTDM0dBT7kvcPARBqHGKfPjDHlSMHw
    AAAED+PP24LHgjO1VIk6h+mv422HLhpXoXLPIs7iweE1O5SmpVu+JudK8O1cCtMMzR0FPu
    S9w8BEGocYp8+MMeVIwfAAAABG1lQHgB
    -----END OPENSSH PRIVATE KEY-----

    """
  static let ed25519Public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGpVu+JudK8O1cCtMMzR0FPuS9w8BEGocYp8+MMeVIwf me@x"

  static let ecdsaPrivate = """
    -----BEGIN OPENSSH PRIVATE KEY-----
    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAaAAAABNlY2RzYS
    1zaGEyLW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQQOyRRU68RwGjL73gxE/qXVyX6fxkbK
    qLk3I+GnZTSGAJbKjICU1JG15ce6m2Uvw1FbwrgJHPsAWXJivtwC0vwCAAAAoJYdN6WWHT
    elAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA7JFFTrxHAaMvve
    DET+pdXJfp/GRsqouTcj4adlNIYAlsqMgJTUkbXlx7qbZS/DUVvCuAkc+wBZcmK+3ALS/A
    IAAAAhAOTHbtFeLajBjcG3ekD/+QJY84CtFW9ZUSYUWOtrFpLSAAAABGVjQHgBAgM=
    -----END OPENSSH PRIVATE KEY-----

    """
  static let ecdsaPublic =
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA7JFFTrxHAaMvveDET+pdXJfp/GRsqouTcj4adlNIYAlsqMgJTUkbXlx7qbZS/DUVvCuAkc+wBZcmK+3ALS/AI= ec@x"

  /// `ssh-keygen -e -m PKCS8 -f ec.pub` of the ECDSA key.
  static let ecdsaPEM = """
    -----BEGIN PUBLIC KEY-----
    MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDskUVOvEcBoy+94MRP6l1cl+n8ZG
    yqi5NyPhp2U0hgCWyoyAlNSRteXHuptlL8NRW8K4CRz7AFlyYr7cAtL8Ag==
    -----END PUBLIC KEY-----

    """
  /// `ssh-keygen -lf` of the two keys.
  static let ed25519Fingerprint = "SHA256:P2WKjxRYJJVyxrztgWtX7TCacKPoNc/ynPRSKuZvAls"
  static let ecdsaFingerprint = "SHA256:1CuY/pRmUS9TSXAjV0dFhIgDQps5KqTHpX6VVBFDi9I"

  /// `ssh-keygen -Y sign -n lineage -f ed` over the five bytes `hello`.
  static let helloSignature = """
    -----BEGIN SSH SIGNATURE-----
    U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgalW74m50rw7VwK0wzNHQU+5L3D
    wEQahxinz4wx5UjB8AAAAHbGluZWFnZQAAAAAAAAAGc2hhNTEyAAAAUwAAAAtzc2gtZWQy
    NTUxOQAAAECqFxUIlTSWAwvO9FAHzKvdbxJOsmz96j5/ErfSec8O2GNPKor4Z+fAp8zrb/
    q4w8p32Caoa2vZZ/gUAFFrE+wC
    -----END SSH SIGNATURE-----

    """

  /// `openssl pkey -pubout` of a P-384 and an RSA-1024 key.
  static let p384PEM = """
    -----BEGIN PUBLIC KEY-----
    MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE6gIxkZnDcYVi0chIMsjIDUvxTpzz6b+o
    Ow5m3Wf4bw2mKp3u+asp4k2j6AaW92tXEANPktotyWDFuxZ20y8G8Vxkr3wy2s8v
    ta9hcPwJmJqIdZFxxnoAMgMnPiZnr/Ql
    -----END PUBLIC KEY-----

    """
  static let rsaPEM = """
    -----BEGIN PUBLIC KEY-----
    MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCsTK3d+rDZ+m3quYdTNlrTUbXJ
    Qq9ADBLTl7j0QSP2uv9w3oIpoy+FDeIZ2vMTQuRZ5nLB1R681pzQH/hO3uXyMKob
    avU3czoBGjRxXGRgl58kaYD+74qc2HorxQpk+uxTK6SWKih+dQsnFpyHqyWo0H0x
    JcKl1bY1erXdQUgn8wIDAQAB
    -----END PUBLIC KEY-----

    """

  static func ed25519() throws -> SSHPrivateKey { try SSHPrivateKey(openSSH: ed25519Private) }
  static func ecdsa() throws -> SSHPrivateKey { try SSHPrivateKey(openSSH: ecdsaPrivate) }
}

/// Builds SSH wire bytes (big-endian) for hand-made fixtures, independently of the library's writer.
struct Wire {
  var bytes: [UInt8] = []

  init() {}

  init(_ build: (inout Wire) -> Void) { build(&self) }

  mutating func raw(_ b: [UInt8]) { bytes += b }
  mutating func u32(_ v: UInt32) { bytes += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
  mutating func string(_ b: [UInt8]) {
    u32(UInt32(b.count))
    bytes += b
  }
  mutating func string(_ s: String) { string(Array(s.utf8)) }
}

/// Reads SSH wire bytes in tests (to take fixtures apart).
struct WireReader {
  let bytes: [UInt8]
  var offset = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  mutating func raw(_ n: Int) -> [UInt8] {
    defer { offset += n }
    return Array(bytes[offset..<(offset + n)])
  }
  mutating func u32() -> UInt32 { raw(4).reduce(0) { $0 << 8 | UInt32($1) } }
  mutating func string() -> [UInt8] { raw(Int(u32())) }
}

func base64(_ b: [UInt8]) -> String { Data(b).base64EncodedString() }

func unbase64(_ s: String) -> [UInt8] { Data(base64Encoded: s).map { [UInt8]($0) } ?? [] }

/// The bytes between an armor's header and footer.
func dearmor(_ text: String) -> [UInt8] {
  unbase64(text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined())
}

/// Armor as OpenSSH writes it (70 columns).
func armor(_ bytes: [UInt8], _ label: String) -> String {
  let b64 = Array(base64(bytes))
  var lines: [String] = []
  var i = 0
  while i < b64.count {
    lines.append(String(b64[i..<min(i + 70, b64.count)]))
    i += 70
  }
  return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
}

/// The pieces of an openssh-key-v1 file, to rebuild it with one thing wrong.
struct OpenSSHKeyFile {
  var magic: [UInt8] = Array("openssh-key-v1".utf8) + [0]
  var cipher = "none"
  var kdf = "none"
  var kdfOptions: [UInt8] = []
  var count: UInt32 = 1
  var publicBlob: [UInt8]
  var check1: UInt32 = 0x1234_5678
  var check2: UInt32 = 0x1234_5678
  /// `string keytype` and the type's private fields.
  var privateFields: [UInt8]
  var comment: [UInt8] = Array("c".utf8)
  /// nil: 1, 2, 3, … to a multiple of 8.
  var padding: [UInt8]?
  var trailing: [UInt8] = []

  var bytes: [UInt8] {
    var p = Wire()
    p.u32(check1)
    p.u32(check2)
    p.raw(privateFields)
    p.string(comment)
    if let padding {
      p.raw(padding)
    } else {
      var n: UInt8 = 1
      while p.bytes.count % 8 != 0 {
        p.raw([n])
        n += 1
      }
    }
    return Wire {
      $0.raw(magic)
      $0.string(cipher)
      $0.string(kdf)
      $0.string(kdfOptions)
      $0.u32(count)
      $0.string(publicBlob)
      $0.string(p.bytes)
      $0.raw(trailing)
    }.bytes
  }

  var text: String { armor(bytes, "OPENSSH PRIVATE KEY") }

  /// The Ed25519 fixture, taken apart.
  static func ed25519() -> OpenSSHKeyFile {
    var r = WireReader(dearmor(Fixture.ed25519Private))
    _ = r.raw(15)
    _ = (r.string(), r.string(), r.string(), r.u32())
    let blob = r.string()
    var p = WireReader(r.string())
    _ = (p.u32(), p.u32(), p.string())
    let pub = p.string()
    let pair = p.string()
    return OpenSSHKeyFile(publicBlob: blob, privateFields: ed25519Fields(pub: pub, pair: pair))
  }

  static func ed25519Fields(type: String = "ssh-ed25519", pub: [UInt8], pair: [UInt8]) -> [UInt8] {
    Wire {
      $0.string(type)
      $0.string(pub)
      $0.string(pair)
    }.bytes
  }

  /// The ECDSA fixture's (public blob, point, scalar mpint bytes).
  static func ecdsaParts() -> (blob: [UInt8], point: [UInt8], scalar: [UInt8]) {
    var r = WireReader(dearmor(Fixture.ecdsaPrivate))
    _ = r.raw(15)
    _ = (r.string(), r.string(), r.string(), r.u32())
    let blob = r.string()
    var p = WireReader(r.string())
    _ = (p.u32(), p.u32(), p.string(), p.string())
    let point = p.string()
    let scalar = p.string()
    return (blob, point, scalar)
  }

  static func ecdsaFields(curve: String = "nistp256", point: [UInt8], scalarMPInt: [UInt8]) -> [UInt8] {
    Wire {
      $0.string("ecdsa-sha2-nistp256")
      $0.string(curve)
      $0.string(point)
      $0.string(scalarMPInt)
    }.bytes
  }

  static func ecdsa() -> OpenSSHKeyFile {
    let (blob, point, scalar) = ecdsaParts()
    return OpenSSHKeyFile(publicBlob: blob, privateFields: ecdsaFields(point: point, scalarMPInt: scalar))
  }
}

/// Parts of an SSHSIG blob, to rebuild it with one thing wrong.
struct SignatureBlob {
  var magic: [UInt8] = Array("SSHSIG".utf8)
  var version: UInt32 = 1
  var publicKey: [UInt8]
  var namespace = "lineage"
  var reserved: [UInt8] = []
  var hash = "sha512"
  var signature: [UInt8]
  var trailing: [UInt8] = []

  init(_ s: SSHSignature) {
    publicKey = s.publicKey.blob
    namespace = s.namespace
    hash = s.hashAlgorithm
    signature = s.signature
  }

  var bytes: [UInt8] {
    Wire {
      $0.raw(magic)
      $0.u32(version)
      $0.string(publicKey)
      $0.string(namespace)
      $0.string(reserved)
      $0.string(hash)
      $0.string(signature)
      $0.raw(trailing)
    }.bytes
  }
}

let sshKeygen = "/usr/bin/ssh-keygen"
let opensslTool = "/usr/bin/openssl"
let haveSSHKeygen = FileManager.default.isExecutableFile(atPath: sshKeygen)
let haveOpenSSL = FileManager.default.isExecutableFile(atPath: opensslTool)

/// Run a tool hermetically in `dir` (own HOME, UTC clock).
@discardableResult
func tool(_ path: String, _ args: [String], in dir: TemporaryDirectory, stdin: [UInt8]? = nil) throws -> CommandResult {
  try runProcess(path, args, in: dir.path, environment: ["PATH": "/usr/bin:/bin", "HOME": dir.path, "TZ": "UTC"], stdin: stdin)
}

/// Write a private key file with the 0600 mode ssh-keygen insists on.
func writePrivateKey(_ text: String, _ name: String, in dir: TemporaryDirectory) throws -> String {
  let path = dir.write(name, Array(text.utf8))
  try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
  return path
}
