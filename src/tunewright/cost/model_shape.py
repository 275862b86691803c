"""The shape of a decoder-only model: what every FLOP and memory estimate is computed from.

A shape comes from a Hugging Face config (a preset below, a local folder with config.json, or the demo's
GGUF). Parameter counts are taken from the real transformers model class built on the meta device, so no
weights are read or allocated and the count is exact for that architecture (tied embeddings, biases, norms).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tunewright.errors import InputError

# Named presets, since there is no hub at run time. Shapes copied from the public config.json files.
PRESETS: dict[str, dict] = {
    "tinyllama-1.1b": dict(model_type="llama", hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                           num_attention_heads=32, num_key_value_heads=4, vocab_size=32000,
                           max_position_embeddings=2048, tie_word_embeddings=False),
    "llama-2-7b": dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                       max_position_embeddings=4096, tie_word_embeddings=False),
    "llama-2-13b": dict(model_type="llama", hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                        num_attention_heads=40, num_key_value_heads=40, vocab_size=32000,
                        max_position_embeddings=4096, tie_word_embeddings=False),
    "llama-2-70b": dict(model_type="llama", hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                        num_attention_heads=64, num_key_value_heads=8, vocab_size=32000,
                        max_position_embeddings=4096, tie_word_embeddings=False),
    "llama-3-8b": dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                       max_position_embeddings=8192, tie_word_embeddings=False),
    "qwen2.5-7b": dict(model_type="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                       num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
                       max_position_embeddings=32768, tie_word_embeddings=False),
    "qwen3-8b": dict(model_type="qwen3", hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                     num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936,
                     max_position_embeddings=40960, tie_word_embeddings=False),
    "smollm2-135m": dict(model_type="llama", hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, head_dim=64, vocab_size=49152,
                         max_position_embeddings=8192, tie_word_embeddings=True),
}

# Projections peft's "all-linear" adapts in a Llama-family layer (the output head is never adapted).
LLAMA_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Architectures whose layers run the op sequence tunewright.cost.activations counts (RMSNorm, RoPE, gated
# SiLU MLP, these seven projections; Qwen3 adds q/k norms); checked against saved tensors for llama, qwen2 and
# qwen3; mistral runs the same code as llama.
SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "qwen3")


@dataclass
class ModelShape:
    name: str
    model_type: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    n_params: int  # every parameter once (a tied head is counted once)
    n_embedding: int  # input embedding (+ output head when untied)
    linears: dict[str, tuple[int, int]] = field(default_factory=dict)  # per layer: name -> (in, out)
    qk_norm: bool = False  # RMSNorm on q and k per head (Qwen3)

    @property
    def n_layer_linear(self) -> int:
        """Parameters in the decoder layers' projections: the N of the 6N rule, without embeddings."""
        return self.layers * sum(i * o for i, o in self.linears.values())

    def lora_params(self, r: int, targets: tuple[str, ...] | None = None) -> int:
        """A (r x in) plus B (out x r) for each adapted projection of each layer."""
        names = targets or tuple(self.linears)
        return self.layers * sum(r * (i + o) for n, (i, o) in self.linears.items() if n in names)

    def to_json(self) -> dict:
        return asdict(self)


def unique_parameters(model) -> int:
    """Parameters of a model counted once (tied embeddings and shared tensors are one tensor)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def shape_from_hf_config(config, name: str, require_supported: bool = True) -> ModelShape:
    """Build the model on the meta device (no memory, no weights) and read the exact parameter counts.

    ``require_supported=False`` accepts any decoder whose layers hold these projections (Gemma, say): its
    FLOPs are right, but the activation-memory formula has not been checked against it."""
    from transformers import AutoModelForCausalLM

    if require_supported and config.model_type not in SUPPORTED_TYPES:
        raise InputError(f"{name}: model type {config.model_type!r} is not supported by the cost estimate yet; "
                         f"supported: {', '.join(SUPPORTED_TYPES)} (Llama-family decoders)")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    total = unique_parameters(model)
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    n_emb = emb.numel() + (0 if head is None or head.weight is emb else head.weight.numel())
    layer0 = model.model.layers[0]
    linears = {n.rsplit(".", 1)[-1]: (m.in_features, m.out_features)
               for n, m in layer0.named_modules() if isinstance(m, torch.nn.Linear)}
    heads = config.num_attention_heads
    return ModelShape(
        name=name, model_type=config.model_type, hidden=config.hidden_size,
        intermediate=config.intermediate_size, layers=config.num_hidden_layers, heads=heads,
        kv_heads=getattr(config, "num_key_value_heads", None) or heads,
        head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads, vocab=config.vocab_size,
        tied_embeddings=head is not None and head.weight is emb, n_params=total, n_embedding=n_emb,
        linears=linears, qk_norm=hasattr(layer0.self_attn, "q_norm"),
    )


def preset_config(name: str):
    from transformers import AutoConfig

    if name not in PRESETS:
        raise InputError(f"unknown model preset {name!r}; known: {sorted(PRESETS)} (or a folder with config.json)")
    kw = dict(PRESETS[name])
    return AutoConfig.for_model(kw.pop("model_type"), **kw)


def load_shape(model: str, gguf_file: str | None = None, cache_dir: str | None = None) -> ModelShape:
    """A preset name, a local folder with config.json, 'pkg:...' or a GGUF file inside a folder."""
    from transformers import AutoConfig

    if model in PRESETS:
        return shape_from_hf_config(preset_config(model), model)
    from tunewright.assets import resolve_path

    folder = resolve_path(model)
    if gguf_file:
        cached = _cached_conversion(folder / gguf_file, cache_dir)
        if cached is not None:  # the demo's converted copy: its config.json reads in milliseconds
            return shape_from_hf_config(AutoConfig.from_pretrained(cached), model)
        return shape_from_hf_config(AutoConfig.from_pretrained(folder, gguf_file=gguf_file), model)
    if not (folder / "config.json").exists():
        raise InputError(f"{model}: not a preset ({sorted(PRESETS)}) and no config.json in {folder}")
    return shape_from_hf_config(AutoConfig.from_pretrained(folder), model)


def _cached_conversion(gguf_path: Path, cache_dir: str | None) -> Path | None:
    if cache_dir is None or not gguf_path.exists():
        return None
    from tunewright.project import file_sha256

    target = Path(cache_dir).expanduser() / f"{gguf_path.stem}-{file_sha256(gguf_path)[:16]}"
    return target if (target / "config.json").exists() else None
