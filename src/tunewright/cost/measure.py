"""Measure what autograd actually keeps for backward: the ground truth the activation estimate is checked against.

``torch.autograd.graph.saved_tensors_hooks`` sees every tensor an op saves for its backward. We count the
bytes of each *storage* once (a view and its base, or one tensor saved by two ops, share a storage), and
exclude the model's own parameters and buffers: autograd saves the weight of every linear layer, but that
memory is the "weights" line of the estimate, not activations. Under non-reentrant checkpointing the
checkpoint's own hooks take over inside each layer, so only what it really keeps (the layer inputs) is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SavedBytes:
    activations: int  # unique storages saved for backward, parameters and buffers excluded
    tensors: int  # how many saved tensors were seen (duplicates included)


def _storage_key(t: torch.Tensor) -> tuple[int, int]:
    s = t.untyped_storage()
    return s.data_ptr(), s.nbytes()


def measure_saved_bytes(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> SavedBytes:
    """Run one forward with loss (``batch`` holds input_ids and labels) and count the bytes saved for backward."""
    params = {_storage_key(p)[0] for p in model.parameters()} | {_storage_key(b)[0] for b in model.buffers()}
    seen: dict[int, int] = {}
    count = 0

    def pack(t: torch.Tensor):
        nonlocal count
        count += 1
        if t.device.type != "meta" and t.numel():
            ptr, nbytes = _storage_key(t)
            if ptr not in params:
                seen[ptr] = max(seen.get(ptr, 0), nbytes)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(**batch)
    out.loss.backward()  # proves the graph is a training graph; gradients are not counted here
    return SavedBytes(activations=sum(seen.values()), tensors=count)


TINY_ARCHS = ("llama", "qwen2", "qwen3")


def tiny_model(arch: str, attn: str, seed: int = 0, layers: int = 3):
    """A random-initialised small decoder of a real transformers architecture (runs in well under a second)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if arch not in TINY_ARCHS:
        raise ValueError(f"arch {arch!r}: one of {TINY_ARCHS}")
    config = AutoConfig.for_model(arch, hidden_size=64, intermediate_size=176, num_hidden_layers=layers,
                                  num_attention_heads=4, num_key_value_heads=2, vocab_size=512,
                                  head_dim=16, max_position_embeddings=1024, attn_implementation=attn)
    torch.manual_seed(seed)
    return config, AutoModelForCausalLM.from_config(config)


def compare_activations(arch: str, method: str, seq: int, checkpointing: bool, attn: str = "sdpa",
                        micro_batch: int = 2, lora_r: int = 8, dtype: str = "fp32", autocast: bool = False) -> dict:
    """Estimated vs measured bytes saved for backward for one tiny model on CPU (fp32, or bf16 with or
    without torch.autocast, the two ways a bf16 run is set up)."""
    import contextlib
    import warnings

    from tunewright.cost.activations import estimate_activations
    from tunewright.cost.model_shape import shape_from_hf_config

    config, model = tiny_model(arch, attn)
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.train()
    if checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        with warnings.catch_warnings():  # transformers 5 renamed it; the old name warns
            warnings.simplefilter("ignore")
            enable()
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=lora_r, target_modules="all-linear"))
    ids = torch.randint(0, config.vocab_size, (micro_batch, seq))
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with amp:
        measured = measure_saved_bytes(model, {"input_ids": ids, "labels": ids}).activations
    est = estimate_activations(shape_from_hf_config(config, arch), micro_batch, seq, method, dtype, attn,
                               checkpointing, lora_r, autocast=autocast).saved
    return {"arch": arch, "method": method, "seq": seq, "micro_batch": micro_batch, "checkpointing": checkpointing,
            "attn": attn, "dtype": dtype, "autocast": autocast, "measured_bytes": measured, "estimated_bytes": est, "error": est / measured - 1}
