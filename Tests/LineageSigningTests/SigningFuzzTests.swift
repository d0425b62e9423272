import LineageSigning
import Testing

/// SplitMix64 (Steele, Lea, Flood 2014), the seeded generator the fuzz cases draw from.
func nextRandom(_ state: inout UInt64) -> UInt64 {
  state &+= 0x9E37_79B9_7F4A_7C15
  var z = state
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}

/// Seeded mutation fuzzing of every parser: a mutated input is either rejected with a
/// `SigningError` or accepted only if it re-encodes to exactly the same bytes (one encoding per
/// value), and a mutated signature never verifies.
@Suite struct SigningFuzzTests {
  /// Apply 1–4 seeded mutations: byte flips, truncation, insertion, or a lie in a length prefix.
  func mutate(_ bytes: [UInt8], _ state: inout UInt64) -> [UInt8] {
    var out = bytes
    for _ in 0...(nextRandom(&state) % 4) {
      let r = nextRandom(&state)
      guard !out.isEmpty else { break }
      let at = Int(r >> 8) % out.count
      switch r % 4 {
      case 0: out[at] ^= UInt8(truncatingIfNeeded: r >> 40) | 1
      case 1: out = Array(out.prefix(at))
      case 2: out.insert(UInt8(truncatingIfNeeded: r >> 32), at: at)
      default:
        // Overwrite four bytes with a big-endian length near the buffer size, or a huge one.
        let lie = UInt32(truncatingIfNeeded: (r >> 16) % 3 == 0 ? r >> 32 : (r >> 16) % UInt64(out.count + 8))
        for k in 0..<4 where at + k < out.count { out[at + k] = UInt8(truncatingIfNeeded: lie >> (24 - 8 * UInt32(k))) }
      }
    }
    return out
  }

  @Test func signatureParserAcceptsOnlyCanonicalBlobsAndMutantsNeverVerify() throws {
    let message = Array("fuzz".utf8)
    let seeds = try [Fixture.ed25519(), Fixture.ecdsa()].map {
      try SSHSignature.sign(message: message, namespace: "lineage", key: $0).blob
    }
    var state: UInt64 = 0x5EED_5165
    var rejected = 0
    for k in 0..<3000 {
      let seed = seeds[k % seeds.count]
      let bytes = mutate(seed, &state)
      guard let sig = try? SSHSignature(blob: bytes) else {
        rejected += 1
        continue
      }
      #expect(sig.blob == bytes, "accepted a non-canonical signature blob")
      if bytes != seed {
        #expect(throws: SigningError.self) { try sig.verify(message: message, namespace: "lineage") }
      }
    }
    #expect(rejected > 2000)
  }

  @Test func privateKeyParserAcceptsOnlyCanonicalFiles() {
    let seeds = [dearmor(Fixture.ed25519Private), dearmor(Fixture.ecdsaPrivate)]
    var state: UInt64 = 0xC0FFEE
    var rejected = 0
    for k in 0..<2000 {
      let bytes = mutate(seeds[k % seeds.count], &state)
      guard let key = try? SSHPrivateKey(openSSH: armor(bytes, "OPENSSH PRIVATE KEY")) else {
        rejected += 1
        continue
      }
      #expect(dearmor(key.openSSHText()) == bytes, "accepted a non-canonical private key")
    }
    #expect(rejected > 1500)
  }

  @Test func publicKeyParserAcceptsOnlyCanonicalBlobs() throws {
    let seeds = try [Fixture.ed25519Public, Fixture.ecdsaPublic].map { try SSHPublicKey(authorizedKey: $0).blob }
    var state: UInt64 = 0xB10B
    for k in 0..<2000 {
      let bytes = mutate(seeds[k % seeds.count], &state)
      if let key = try? SSHPublicKey(blob: bytes) { #expect(key.blob == bytes) }
    }
  }

  @Test func allowedSignersParserNeverCrashes() {
    let seed = Array(
      """
      # comment
      a@x,*@corp namespaces="lineage,git",valid-after="20240101Z",valid-before="202501011200" \(Fixture.ed25519Public)
      "b@x" cert-authority \(Fixture.ecdsaPublic)
      c@x ssh-rsa AAAAB3NzaC1yc2E
      """.utf8)
    var state: UInt64 = 0xA110
    var parsed = 0
    for _ in 0..<2000 {
      let text = String(decoding: mutate(seed, &state), as: UTF8.self)
      if let signers = try? AllowedSigners(text: text) {
        parsed += 1
        for e in signers.entries {
          if let a = e.validAfter, let b = e.validBefore { #expect(a < b) }
        }
      }
    }
    #expect(parsed > 0)
  }
}
