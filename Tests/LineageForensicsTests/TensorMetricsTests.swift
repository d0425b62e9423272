import Testing

@testable import LineageForensics

@Suite struct TensorMetricsTests {
  @Test func identicalScaledAndOppositeTensors() {
    let a: [Float] = [1, 2, 3, 4]
    let same = TensorMetrics.compare(a, a)
    #expect(abs(same.cosine - 1) < 1e-12 && abs(same.pearson - 1) < 1e-12 && same.relativeL2 == 0)
    let doubled = TensorMetrics.compare(a, a.map { $0 * 2 })
    #expect(abs(doubled.cosine - 1) < 1e-12)
    // ‖a − 2a‖ / ((‖a‖ + 2‖a‖) / 2) = 2/3.
    #expect(abs(doubled.relativeL2 - 2.0 / 3.0) < 1e-12)
    let opposite = TensorMetrics.compare(a, a.map { -$0 })
    #expect(abs(opposite.cosine + 1) < 1e-12 && abs(opposite.pearson + 1) < 1e-12)
  }

  /// Norm weights near 1 share a large mean: plain cosine says "identical", Pearson does not.
  @Test func pearsonSeesThroughASharedMean() {
    let a: [Float] = (0..<1000).map { 1 + 0.01 * Float(($0 * 7919) % 13) - 0.06 }
    let b: [Float] = (0..<1000).map { 1 + 0.01 * Float(($0 * 104_729) % 17) - 0.08 }
    let m = TensorMetrics.compare(a, b)
    #expect(m.cosine > 0.99)
    #expect(abs(m.pearson) < 0.1)
  }

  @Test func zerosAndNonFiniteValuesGiveNoMisleadingNumber() {
    let z = TensorMetrics.compare([0, 0], [0, 0])
    #expect(z.cosine == 0 && z.relativeL2 == 0)
    let n = TensorMetrics.compare([1, .infinity], [1, 2])
    #expect(n.cosine.isNaN && n.relativeL2.isNaN)
  }

  /// A difference far below float precision of the norms is still measured.
  @Test func nearIdenticalTensorsKeepTheirDifference() {
    let a: [Float] = (0..<4096).map { Float($0 % 97) - 48 }
    var b = a
    b[100] += 0.5
    let m = TensorMetrics.compare(a, b)
    let expected = 0.5 / ((m.normA + m.normB) / 2)
    #expect(abs(m.relativeL2 - expected) / expected < 1e-9)
  }
}
