import LineageCore
import Testing

@Suite struct ObjectIDTests {
  // Expected values from coreutils: printf 'chunk 3\0abc' | sha256sum
  @Test func matchesSha256sumOfTheCanonicalEncoding() {
    #expect(ObjectID.of(.chunk, content: Array("abc".utf8)).hex == "ada203fc3bdbffd43c38aae4e8af47e642b35cf6d7985e81a29483c746db3309")
    #expect(ObjectID.of(.tensor, content: []).hex == "727751cc818b2810a5c90d756a4975d9600e0717b6e270a87f32a8d0b04e18db")
  }

  @Test func parsesHexAndOrders() throws {
    let a = try #require(ObjectID(hex: String(repeating: "0", count: 63) + "1"))
    let b = try #require(ObjectID(hex: "1" + String(repeating: "0", count: 63)))
    #expect(a < b)
    #expect(ObjectID(hex: "abc") == nil)
    #expect(ObjectID(hex: String(repeating: "g", count: 64)) == nil)
    #expect(a.bytes.count == 32 && ObjectID(bytes: a.bytes) == a)
  }
}

@Suite struct ObjectEncodingTests {
  let chunk = ObjectID.of(.chunk, content: [1, 2, 3])

  var tensor: TensorObject {
    TensorObject(dtype: .bf16, shape: [2, 3], byteLength: 12, chunks: [ChunkRef(id: chunk, length: 8), ChunkRef(id: chunk, length: 4)])
  }

  @Test func tensorRoundTrips() throws {
    #expect(try TensorObject.decode(tensor.encoded()) == tensor)
  }

  @Test func tensorRejectsEveryTruncation() {
    let bytes = tensor.encoded()
    for n in 0..<bytes.count {
      #expect(throws: DecodeError.self) { try TensorObject.decode(Array(bytes.prefix(n))) }
    }
  }

  @Test func tensorRejectsTrailingBytes() {
    #expect(throws: DecodeError.trailingBytes(offset: tensor.encoded().count, count: 1)) {
      try TensorObject.decode(tensor.encoded() + [0])
    }
  }

  @Test func tensorRejectsLengthThatDisagreesWithShape() {
    var t = tensor
    t.shape = [2, 2]
    #expect(throws: DecodeError.invalidValue(field: "tensor.byteLength", reason: "12 ≠ shape × width")) { try TensorObject.decode(t.encoded()) }
  }

  @Test func tensorRejectsChunksThatDoNotSumToTheLength() {
    var t = tensor
    t.chunks.removeLast()
    #expect(throws: DecodeError.invalidValue(field: "tensor.chunks", reason: "chunks sum to 8, expected 12")) { try TensorObject.decode(t.encoded()) }
  }

  @Test func tensorRejectsUnknownVersionAndDType() {
    var bytes = tensor.encoded()
    bytes[0] = 2
    #expect(throws: DecodeError.unsupportedVersion(field: "tensor.version", version: 2)) { try TensorObject.decode(bytes) }
    var w = ByteWriter()
    w.u8(1)
    w.string("Q9_9")
    #expect(throws: DecodeError.invalidValue(field: "tensor.dtype", reason: "unknown dtype Q9_9")) { try TensorObject.decode(w.bytes) }
  }

  @Test func fileRoundTripsAndRejectsTruncation() throws {
    let tid = ObjectID.of(.tensor, content: tensor.encoded())
    let f = FileObject(
      format: "safetensors", size: 20, sha256: [UInt8](repeating: 7, count: 32),
      segments: [.bytes([ChunkRef(id: chunk, length: 8)]), .tensor(name: "w", id: tid)])
    #expect(try FileObject.decode(f.encoded()) == f)
    let bytes = f.encoded()
    for n in 0..<bytes.count { #expect(throws: DecodeError.self) { try FileObject.decode(Array(bytes.prefix(n))) } }
  }

  @Test func fileRejectsUnknownSegmentKind() {
    var w = ByteWriter()
    w.u8(1)
    w.string("opaque")
    w.u64(0)
    w.raw([UInt8](repeating: 0, count: 32))
    w.u32(1)
    w.u8(9)
    w.u32(0)
    #expect(throws: DecodeError.invalidValue(field: "file.segment.kind", reason: "unknown kind 9")) { try FileObject.decode(w.bytes) }
  }

  @Test func treeSortsAndRoundTrips() throws {
    let t = try TreeObject(entries: [TreeEntry(path: "b/x", mode: TreeEntry.regular, file: chunk), TreeEntry(path: "a", mode: TreeEntry.executable, file: chunk)])
    #expect(t.entries.map(\.path) == ["a", "b/x"])
    #expect(try TreeObject.decode(t.encoded()) == t)
  }

  @Test(arguments: ["", "/abs", "a/../b", "./a", "a//b", "a\\b", "a/", ".."])
  func treeRejectsBadPaths(_ path: String) {
    #expect(throws: DecodeError.self) { try TreeObject(entries: [TreeEntry(path: path, mode: TreeEntry.regular, file: chunk)]) }
  }

  @Test func treeRejectsDuplicatesFileDirectoryClashesAndModes() {
    let f = TreeEntry(path: "a", mode: TreeEntry.regular, file: chunk)
    #expect(throws: DecodeError.invalidValue(field: "tree.path", reason: "duplicate path a")) { try TreeObject(entries: [f, f]) }
    #expect(throws: DecodeError.invalidValue(field: "tree.path", reason: "a is both a file and a directory")) {
      try TreeObject(entries: [f, TreeEntry(path: "a/b", mode: TreeEntry.regular, file: chunk)])
    }
    #expect(throws: DecodeError.self) { try TreeObject(entries: [TreeEntry(path: "x", mode: 0o120000, file: chunk)]) }
  }

  @Test func treeDecodeRejectsUnsortedEntries() {
    var w = ByteWriter()
    w.u8(1)
    w.u32(2)
    for p in ["b", "a"] {
      w.string(p)
      w.u32(TreeEntry.regular)
      w.id(chunk)
    }
    #expect(throws: DecodeError.invalidValue(field: "tree.path", reason: "entries not strictly sorted at a")) { try TreeObject.decode(w.bytes) }
  }
}

@Suite struct CommitRecordTests {
  let tree = ObjectID.of(.tree, content: [1])

  @Test func roundTripsCanonicallyAndKeepsUnknownKeys() throws {
    let r = CommitRecord(
      tree: tree, parents: [ParentRef(id: tree)], author: "A <a@b>", time: 1_767_322_800, message: "ünïcode\nline",
      extra: [("x-future", .object([("k", .number("1"))]))])
    let bytes = try r.encoded()
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(text.hasPrefix(#"{"author":"A <a@b>","message":"ünïcode\nline","parents":[{"id":""#))
    #expect(text.contains(#""time":"2026-01-02T03:00:00Z""#))
    let back = try CommitRecord.decode(bytes)
    #expect(back == r)
    #expect(try back.encoded() == bytes)
  }

  @Test func rejectsNonCanonicalBytes() throws {
    let bytes = try CommitRecord(tree: tree, parents: [], author: "a", time: 0, message: "m").encoded()
    let spaced = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: ",", with: ", ").utf8)
    #expect(throws: DecodeError.invalidValue(field: "commit", reason: "not in canonical form")) { try CommitRecord.decode(spaced) }
  }

  @Test(arguments: [
    (#"{"type":"other"}"#, "commit.type"),
    (#"{"type":"lineage.commit","version":3}"#, "commit.version"),
    (#"{"type":"lineage.commit","version":1,"tree":"zz"}"#, "commit.tree"),
  ])
  func rejectsWrongFields(_ json: String, _ field: String) {
    #expect {
      try CommitRecord.decode(Array(json.utf8))
    } throws: { error in
      switch error as? DecodeError {
      case .invalidValue(let f, _), .unsupportedVersion(let f, _): return f == field
      default: return false
      }
    }
  }

  @Test func rfc3339RoundTripsAndRejectsOtherForms() {
    for t: Int64 in [0, 951_782_400, 1_767_322_800, 4_102_444_799] {
      #expect(RFC3339.parse(RFC3339.format(t)) == t)
    }
    #expect(RFC3339.format(951_782_400) == "2000-02-29T00:00:00Z")
    for bad in ["2026-02-30T00:00:00Z", "2026-01-01T00:00:00+01:00", "2026-1-01T00:00:00Z", "2026-01-01 00:00:00Z"] {
      #expect(RFC3339.parse(bad) == nil)
    }
  }

  func v2(_ edit: (inout CommitRecord) -> Void = { _ in }) -> CommitRecord {
    var r = CommitRecord(
      tree: tree, parents: [ParentRef(id: tree, role: "base", relation: .finetune)], author: "A <a@b>", time: 1_767_322_800,
      message: "fine-tune")
    r.data = [DataRef(uri: "file:///d", role: "train", digest: "sha256:" + String(repeating: "ab", count: 32), files: 2, bytes: 10)]
    r.environment = EnvironmentRef(
      digest: "sha256:" + String(repeating: "cd", count: 32), object: ObjectID.of(.chunk, content: [2]),
      summary: .object([("os", .string("Debian"))]))
    r.code = .object([("commit", .string("abc")), ("dirty", .bool(false))])
    r.command = "python train.py"
    r.params = .object([("lr", .string("3e-4")), ("epochs", .number("3"))])
    r.metrics = .object([("loss", .string("0.41"))])
    edit(&r)
    return r
  }

  @Test func versionTwoRoundTripsEveryMember() throws {
    var r = v2()
    r.signature = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
    let bytes = try r.encoded()
    let back = try CommitRecord.decode(bytes)
    #expect(try back.encoded() == bytes)
    #expect(back.parents == [ParentRef(id: tree, role: "base", relation: .finetune)])
    #expect(back.data == r.data && back.environment == r.environment && back.command == "python train.py")
    #expect(back.signature == r.signature)
    // The payload is the record without its signature, and it is what an unsigned record encodes to.
    var unsigned = r
    unsigned.signature = nil
    #expect(try r.payload() == unsigned.encoded())
    #expect(!String(decoding: try r.payload(), as: UTF8.self).contains("signature"))
  }

  @Test func versionOneRecordsStillDecodeAndKeepTheirBytes() throws {
    let text = #"{"author":"a","message":"m","parents":[{"id":"\#(tree.hex)"}],"time":"1970-01-01T00:00:00Z","tree":"\#(tree.hex)","type":"lineage.commit","version":1}"#
    let r = try CommitRecord.decode(Array(text.utf8))
    #expect(r.version == 1 && r.parents[0].relation == nil)
    #expect(try r.encoded() == Array(text.utf8))
  }

  @Test(arguments: [
    ("relation", #""relation":"finetune""#, #""relation":"retrain""#),
    ("role", #""role":"base""#, #""role":"Base""#),
    ("data digest", #""digest":"sha256:abab"#, #""digest":"md5:abab"#),
    ("data files", #""files":2"#, #""files":-2"#),
    ("environment object", #""object":""#, #""object":"x"#),
    ("metrics", #""metrics":{"loss":"0.41"}"#, #""metrics":["0.41"]"#),
    ("command", #""command":"python train.py""#, #""command":7"#),
    ("code", #""code":{"commit":"abc","dirty":false}"#, #""code":{"dirty":false}"#),
  ])
  func versionTwoRejectsMalformedMembers(_ what: String, _ good: String, _ bad: String) throws {
    let text = String(decoding: try v2().encoded(), as: UTF8.self)
    #expect(text.contains(good), "fixture lacks \(what)")
    let broken = Array(text.replacingOccurrences(of: good, with: bad).utf8)
    #expect(throws: DecodeError.self) { try CommitRecord.decode(broken) }
  }

  @Test func rolesAndRelationsAreChecked() {
    #expect(ParentRef.isValidRole("teacher") && ParentRef.isValidRole("lora-a_1"))
    #expect(!ParentRef.isValidRole("") && !ParentRef.isValidRole("Base") && !ParentRef.isValidRole("1x") && !ParentRef.isValidRole(String(repeating: "a", count: 33)))
    #expect(ParentRelation.lora.huggingFace == "adapter" && ParentRelation.quantize.huggingFace == "quantized" && ParentRelation.prune.huggingFace == nil)
    #expect(DataRef.isValidDigest("sha256:" + String(repeating: "0", count: 64)))
    #expect(!DataRef.isValidDigest("sha256:" + String(repeating: "A", count: 64)) && !DataRef.isValidDigest("sha256:00"))
  }
}
