import LineageCore
import Testing

@Suite struct StrictJSONTests {
  @Test func parsesNestedDocument() throws {
    let v = try StrictJSONParser.parse(Array(#" {"a": [1, -2.5e3, true, null], "b": {"c": "d\u00e9\n"}} "#.utf8))
    #expect(v["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .null]))
    #expect(v["b"]?["c"] == .string("dé\n"))
  }

  @Test func decodesSurrogatePairs() throws {
    let v = try StrictJSONParser.parse(Array(#""\ud83d\ude00""#.utf8))
    #expect(v == .string("😀"))
  }

  @Test func rejectsDuplicateKeys() {
    #expect(throws: JSONError.duplicateKey(offset: 8, key: "a")) { try StrictJSONParser.parse(Array(#"{"a":1, "a":2}"#.utf8)) }
  }

  @Test func rejectsInvalidUTF8() {
    let bytes: [UInt8] = Array(#"{"a":""#.utf8) + [0xFF] + Array(#""}"#.utf8)
    #expect(throws: JSONError.invalidUTF8(offset: 6)) { try StrictJSONParser.parse(bytes) }
  }

  @Test func limitsDepth() {
    let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
    #expect(throws: JSONError.tooDeep(offset: 65, limit: 64)) { try StrictJSONParser.parse(Array(deep.utf8)) }
  }

  @Test(arguments: [
    "", "{", "{\"a\"}", "[1,]", "01", "1.", "-", "\"abc", "tru", "{} x", "\"\t\"", "\"\\x\"", "\"\\udc00\"",
  ])
  func rejectsMalformed(_ text: String) {
    #expect(throws: JSONError.self) { try StrictJSONParser.parse(Array(text.utf8)) }
  }
}

@Suite struct CanonicalJSONTests {
  @Test func sortsKeysAndEscapes() throws {
    let v: JSONValue = .object([("b", .string("x\"\\\n\u{01}é")), ("a", .array([.number("-3"), .bool(false), .null]))])
    let text = String(decoding: try CanonicalJSON.encode(v), as: UTF8.self)
    #expect(text == #"{"a":[-3,false,null],"b":"x\"\\\n\u0001é"}"#)
  }

  @Test func rejectsNonIntegers() {
    #expect(throws: CanonicalJSON.EncodingError.nonCanonicalNumber("1.5")) { try CanonicalJSON.encode(.number("1.5")) }
    #expect(throws: CanonicalJSON.EncodingError.nonCanonicalNumber("9007199254740992")) {
      try CanonicalJSON.encode(.number("9007199254740992"))
    }
    #expect(throws: CanonicalJSON.EncodingError.nonCanonicalNumber("01")) { try CanonicalJSON.encode(.number("01")) }
  }

  @Test func rejectsDuplicateKeys() {
    #expect(throws: CanonicalJSON.EncodingError.duplicateKey("a")) { try CanonicalJSON.encode(.object([("a", .null), ("a", .null)])) }
  }

  @Test func roundTripsThroughTheStrictParser() throws {
    let v: JSONValue = .object([("z", .object([("y", .string("ü"))])), ("k", .number("42"))])
    let bytes = try CanonicalJSON.encode(v)
    #expect(try CanonicalJSON.encode(StrictJSONParser.parse(bytes)) == bytes)
  }
}
