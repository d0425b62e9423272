import LineageCore
import LineageStore
import LineageTensor
import LineageTestSupport
import Testing

/// Seeded mutation fuzzing of the chunk codecs' decoders (pack payloads are untrusted bytes):
/// thousands of corrupted payloads of codecs 2, 4 and 5 must each decode to exactly the chunk's
/// length or be refused with a `CodecFailure`; never a crash or an out-of-bounds access. (Run
/// under `swift test -Xswiftc -sanitize=address` for memory checking.)
@Suite struct CodecMutationTests {
  /// Lies as 4-byte little-endian lengths (the planes' and the bit stream's stored lengths).
  let mutator = ByteMutator(interestingBytes: [0, 1, 2, 4, 8, 23, 0x7F, 0xFF], lies: [0, 1, nil, 0xFFFF_FFFF], lieWidth: 4)

  @Test(arguments: [Codec.planes, .subDelta, .ulpBits])
  func mutatedPayloadsDecodeToTheChunkLengthOrAreRefused(_ codec: Codec) throws {
    // A bf16-like and an f32-like chunk a small step from their bases, so every plane kind and
    // both stream kinds (raw and zstd) occur in the seeds.
    var seeds: [(payload: [UInt8], base: [UInt8])] = []
    for (width, mantissa) in [(2, 7), (4, 23)] {
      // Weights N(0, 0.02²) (their exponent planes compress, so codec 2 applies).
      var rng = Xoshiro(seed: UInt64(width))
      let base = SubDeltaTests.bytes(
        (0..<2048).map { _ in
          let bits = UInt64((0.02 * rng.normalPair().0).bitPattern)
          return width == 4 ? bits : bits >> 16
        }, width: width)
      var child = base
      let steps = seededBytes(base.count, seed: UInt64(width) + 50)
      for k in stride(from: 0, to: child.count, by: width) { child[k] &+= steps[k] & 15 }
      let encoded = try #require(
        child.withUnsafeBytes { c in
          base.withUnsafeBytes { b -> EncodedObject? in
            if codec == .planes { return ChunkCodec.encode(c, width: width) }
            return ChunkCodec.encodeDelta(
              c, base: b, baseID: ObjectID.of(.chunk, content: base), baseDepth: 0, width: width, limit: .max, codec: codec,
              mantissa: mantissa)
          }
        })
      #expect(encoded.codec == codec)
      #expect(try ChunkCodec.decode(codec: codec, payload: encoded.payload, rawLength: child.count, base: base) == child)
      seeds.append((encoded.payload, base))
    }
    var state: UInt64 = 0xC0DEC + UInt64(codec.rawValue)
    var refused = 0
    for k in 0..<3000 {
      let seed = seeds[k % seeds.count]
      let payload = mutator.mutate(seed.payload, &state)
      do {
        let out = try ChunkCodec.decode(codec: codec, payload: payload, rawLength: seed.base.count, base: seed.base)
        #expect(out.count == seed.base.count, "decoded \(out.count) bytes, the chunk has \(seed.base.count)")
      } catch is CodecFailure {
        refused += 1
      }
    }
    #expect(refused > 1000, "only \(refused) of 3000 mutated payloads refused")
  }
}
