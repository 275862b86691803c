"""Write a Llama-architecture safetensors model as one GGUF file with the ``gguf`` package's writer.

No llama.cpp build: the tensor names, the Q/K permutation and the metadata keys follow llama.cpp's
``convert_hf_to_gguf.py`` (``LlamaModel``), with the tensor names taken from ``gguf.tensor_mapping`` rather
than typed out. The tokenizer (GPT-2 style BPE: tokens, token types, merges, special ids) and the chat
template go into the file's metadata, so the file alone is a servable model (llama.cpp, Ollama, transformers'
``gguf_file=`` loader).

Types written: ``f16``, ``bf16`` and ``q8_0`` for the 2-D weight matrices; 1-D tensors (the RMSNorm weights)
stay float32, as llama.cpp's converter keeps them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GGUF_TYPES = ("f16", "bf16", "q8_0")


@dataclass
class GGUFInfo:
    path: str
    dtype: str
    tensors: int
    bytes: int
    tokenizer_pre: str
    metadata: dict = field(default_factory=dict)


def _qtype(dtype: str):
    import gguf

    return {"f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
            "bf16": (gguf.GGMLQuantizationType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
            "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0)}[dtype]


def permute_qk(w: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """HF's rotate-half RoPE layout -> llama.cpp's interleaved one (convert_hf_to_gguf ``LlamaModel.permute``).

    Rows (n_head * head_dim) are viewed as (n_head, 2, head_dim/2) and the last two axes swapped, so the two
    halves of each head interleave; transformers' GGUF loader applies the inverse."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tokenizer_pre_of(gguf_path: str | None) -> str | None:
    """The BPE pre-tokenizer name (``tokenizer.ggml.pre``) of an existing GGUF file, if there is one."""
    if not gguf_path or not Path(gguf_path).is_file():
        return None
    from gguf import GGUFReader

    f = GGUFReader(gguf_path).fields.get("tokenizer.ggml.pre")
    return None if f is None else bytes(f.parts[f.data[0]]).decode("utf-8")


def _vocab(tokenizer, n_vocab: int) -> tuple[list[str], list[int]]:
    """Token strings by id and their types, as ``convert_hf_to_gguf`` ``get_vocab_base`` builds them."""
    import gguf

    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.get_added_vocab()
    special = set(tokenizer.all_special_tokens)
    tokens, types = [], []
    for i in range(n_vocab):
        tok = by_id.get(i)
        if tok is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif tok in added:
            tokens.append(tok)
            types.append(gguf.TokenType.CONTROL if tok in special or tokenizer.added_tokens_decoder[i].special
                         else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(tok)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def write_gguf(model_dir: Path, out_file: Path, dtype: str, tokenizer_pre: str | None = None,
               name: str = "tunewright-export", license_id: str | None = None) -> GGUFInfo:
    """``model_dir``: a merged safetensors folder (config.json, model*.safetensors, tokenizer files)."""
    import gguf
    import torch
    from safetensors import safe_open
    from transformers import AutoTokenizer

    if dtype not in GGUF_TYPES:
        raise ValueError(f"--gguf-type: {dtype!r} is not one of {', '.join(GGUF_TYPES)}")
    model_dir, out_file = Path(model_dir), Path(out_file)
    hp = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if hp.get("model_type") != "llama":
        raise ValueError(f"{model_dir}/config.json: model_type {hp.get('model_type')!r}; the GGUF export writes "
                         "Llama-architecture models only (use --format merged and llama.cpp's convert_hf_to_gguf.py)")
    tok = AutoTokenizer.from_pretrained(model_dir)
    n_vocab, n_layer = hp["vocab_size"], hp["num_hidden_layers"]
    n_head, n_kv = hp["num_attention_heads"], hp.get("num_key_value_heads", hp["num_attention_heads"])
    head_dim = hp.get("head_dim") or hp["hidden_size"] // n_head
    qtype, ftype = _qtype(dtype)
    pre = tokenizer_pre or "default"

    tmp = out_file.with_name(f".{out_file.name}.tmp")  # written beside the target, renamed when complete
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_type("model")
    w.add_name(name)
    if license_id:
        w.add_license(license_id)
    w.add_context_length(hp.get("max_position_embeddings", 2048))
    w.add_embedding_length(hp["hidden_size"])
    w.add_block_count(n_layer)
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(float((hp.get("rope_parameters") or {}).get("rope_theta") or hp.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(hp.get("rms_norm_eps", 1e-6)))
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(n_vocab)
    w.add_file_type(ftype)
    tokens, types = _vocab(tok, n_vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=n_vocab)
    if not special.merges:
        raise ValueError(f"{model_dir}: no BPE merges in tokenizer.json; the GGUF export needs a BPE tokenizer")
    special.chat_template = tok.chat_template  # transformers 5 keeps it in chat_template.jinja
    special.add_to_gguf(w, quiet=True)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layer)
    count = 0
    files = sorted(model_dir.glob("*.safetensors"))
    for f in files:
        with safe_open(f, framework="pt") as st:
            for key in st.keys():
                if key == "lm_head.weight" and hp.get("tie_word_embeddings"):
                    continue  # tied: llama.cpp reads the output matrix from token_embd
                target = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if target is None:
                    raise ValueError(f"{f.name}: tensor {key!r} has no GGUF name for the llama architecture")
                data = st.get_tensor(key).to(torch.float32).numpy()
                if key.endswith("q_proj.weight"):
                    data = permute_qk(data, n_head, n_head)
                elif key.endswith("k_proj.weight"):
                    data = permute_qk(data, n_head, n_kv)
                if data.ndim == 1:
                    w.add_tensor(target, data.astype(np.float32))
                elif dtype == "f16":
                    w.add_tensor(target, data.astype(np.float16))
                else:
                    w.add_tensor(target, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
                count += 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.rename(out_file)
    return GGUFInfo(str(out_file), dtype, count, out_file.stat().st_size, pre,
                    {"context_length": hp.get("max_position_embeddings"), "vocab_size": n_vocab,
                     "chat_template": bool(tok.chat_template), "merges": len(special.merges)})
