/// Where a tensor sits in a model: its layer (block) index and its module, from its name.
public struct TensorGroup: Equatable, Hashable, Sendable {
  /// The block index, or nil for tensors outside the repeated blocks (embeddings, final norm, head).
  public var layer: Int?
  /// The module within the block (`self_attn.q_proj`, `mlp.up_proj`), or the tensor's own name
  /// without `.weight`/`.bias` outside blocks.
  public var module: String

  public init(layer: Int?, module: String) {
    self.layer = layer
    self.module = module
  }
}

/// Architecture-aware parsing of tensor names into layers and modules (Docs/Forensics.md).
public enum Grouping: String, CaseIterable, Sendable {
  /// The convention most names match.
  case auto
  /// Hugging Face llama/mistral/qwen: `model.layers.N.…`.
  case llama
  /// GPT-2: `transformer.h.N.…` / `h.N.…`.
  case gpt2
  /// BERT/RoBERTa: `….encoder.layer.N.…`.
  case bert
  /// ViT: `….encoder.layer.N.…` (Hugging Face) or `blocks.N.…` (timm).
  case vit
  /// llama.cpp GGUF: `blk.N.…`.
  case gguf
  /// No layers: every tensor is its own module.
  case none

  /// The path component that precedes the layer index.
  var markers: [String] {
    switch self {
    case .auto: []
    case .llama: ["layers"]
    case .gpt2: ["h"]
    case .bert: ["layer"]
    case .vit: ["layer", "blocks"]
    case .gguf: ["blk"]
    case .none: []
    }
  }

  /// The layer and module of `name` under this convention (`auto` must be resolved first with
  /// `detect`; it behaves as `none` here).
  public func group(_ name: String) -> TensorGroup {
    var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    if let last = parts.last, last == "weight" || last == "bias", parts.count > 1 { parts.removeLast() }
    for i in 0..<max(parts.count - 1, 0) where markers.contains(parts[i]) {
      if let n = Int(parts[i + 1]), n >= 0, i + 2 < parts.count {
        return TensorGroup(layer: n, module: parts[(i + 2)...].joined(separator: "."))
      }
    }
    let prefixes: Set<String> = ["model", "transformer", "bert", "roberta", "vit", "encoder"]
    while parts.count > 1, let first = parts.first, prefixes.contains(first) { parts.removeFirst() }
    return TensorGroup(layer: nil, module: parts.joined(separator: "."))
  }

  /// The convention under which the most names have a layer (ties: the order of `allCases`);
  /// `none` when no name has one.
  public static func detect(_ names: [String]) -> Grouping {
    var best = Grouping.none
    var bestCount = 0
    for g in allCases where g != .auto && g != .none {
      let n = names.reduce(0) { $0 + (g.group($1).layer == nil ? 0 : 1) }
      if n > bestCount {
        best = g
        bestCount = n
      }
    }
    return best
  }

  /// The tensor pairs that share hidden units in a block's MLP: the input projection's rows and
  /// the output projection's columns (stored `[out, in]`) are the same units. Modules as
  /// `group(_:)` returns them.
  static let unitPairs: [(input: String, output: String)] = [
    ("mlp.up_proj", "mlp.down_proj"),  // llama and lineage's runtime
    ("mlp.gate_proj", "mlp.down_proj"),
    ("intermediate.dense", "output.dense"),  // bert, vit
    ("mlp.fc1", "mlp.fc2"),  // timm vit
  ]
}

/// One name per tensor across producers: llama.cpp's GGUF names map to Hugging Face llama names
/// (`blk.3.ffn_up.weight` → `model.layers.3.mlp.up_proj.weight`), so a GGUF file compares with
/// the safetensors model it was converted from. Other names are kept.
public enum TensorNames {
  static let ggufBlock: [String: String] = [
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
  ]
  static let ggufTop: [String: String] = ["token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"]

  /// The Hugging Face name of a GGUF llama tensor name, or the name itself.
  public static func canonical(_ name: String) -> String {
    let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return name }
    if parts.count == 2, let top = ggufTop[parts[0]] { return "\(top).\(suffix)" }
    if parts.count == 4, parts[0] == "blk", let n = Int(parts[1]), n >= 0, let module = ggufBlock[parts[2]] {
      return "model.layers.\(n).\(module).\(suffix)"
    }
    return name
  }
}
