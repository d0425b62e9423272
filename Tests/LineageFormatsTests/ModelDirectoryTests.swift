import LineageCore
import LineageTensor
import LineageTestSupport
import Testing

@testable import LineageFormats

@Suite struct ModelDirectoryTests {
  func shard(_ names: [String]) throws -> any TensorSource {
    try SafetensorsSource(MemoryBytes(SafetensorsBytes.valid(names.map { ($0, [2]) })))
  }

  @Test func shardsMergeWhenTheIndexAgrees() throws {
    let index = try ShardIndex.parse(
      Array(#"{"metadata": {"total_size": 16}, "weight_map": {"a": "s1.safetensors", "b": "s2.safetensors", "c": "s2.safetensors"}}"#.utf8),
      path: "model.safetensors.index.json")
    #expect(index.totalSize == 16)
    let merged = try ModelAssembly.merge(
      files: [("s1.safetensors", try shard(["a"])), ("s2.safetensors", try shard(["b", "c"]))], index: ("i.json", index))
    #expect(merged.map(\.entry.name) == ["a", "b", "c"])
    #expect(merged.map(\.file) == ["s1.safetensors", "s2.safetensors", "s2.safetensors"])
  }

  @Test func aLyingIndexOrADuplicateIsRefusedByName() throws {
    let index = ShardIndex(weightMap: [("a", "s1"), ("b", "s1")], totalSize: nil)
    #expect(throws: ModelDirectoryError.tensorNotInShard(tensor: "b", shard: "s1")) {
      try ModelAssembly.merge(files: [("s1", try shard(["a"])), ("s2", try shard(["b"]))], index: ("i", index))
    }
    #expect(throws: ModelDirectoryError.missingShard(index: "i", shard: "s1")) {
      try ModelAssembly.merge(files: [("s2", try shard(["a"]))], index: ("i", index))
    }
    #expect(throws: ModelDirectoryError.tensorNotInIndex(tensor: "z", shard: "s1")) {
      try ModelAssembly.merge(files: [("s1", try shard(["a", "b", "z"]))], index: ("i", index))
    }
    #expect(throws: ModelDirectoryError.duplicateTensor(tensor: "a", first: "s1", second: "s2")) {
      try ModelAssembly.merge(files: [("s1", try shard(["a"])), ("s2", try shard(["a"]))], index: nil)
    }
    #expect(throws: ModelDirectoryError.invalidIndex(path: "x", reason: "no weight_map object")) {
      try ShardIndex.parse(Array("{}".utf8), path: "x")
    }
    #expect(throws: ModelDirectoryError.invalidIndex(path: "x", reason: "tensor 'a' maps to an invalid shard name")) {
      try ShardIndex.parse(Array(#"{"weight_map": {"a": "../evil.safetensors"}}"#.utf8), path: "x")
    }
  }
}
