"""Padding-free packed batches, an attention path that respects example boundaries, and logits only where
there are labels.

A batch of examples becomes ONE row: ``input_ids`` (1, T) with T = sum of the example lengths, no pad at all.
``position_ids`` restart at 0 for each example, and ``cu_seq_lens_q/k`` (the FlashAttention varlen
convention: cumulative lengths, int32, starting at 0) mark the boundaries. On GPU with FlashAttention those
kwargs give varlen attention directly. Everywhere else we register ``tw_varlen`` in transformers'
``AttentionInterface``: SDPA run per example with ``is_causal=True``, so no token attends across a boundary
and no (T x T) mask is built. Plain ``sdpa`` would also be correct (transformers derives a block-causal mask
from restarting position ids) but spends O(T^2) on masked-out pairs.

Loss positions: prediction at position i targets token i+1, so only positions whose *next* token carries a
label need vocabulary logits. ``logits_to_keep`` is a boolean (B, T) mask of those positions (transformers
slices hidden states before ``lm_head``, giving (K, hidden)), and ``shift_labels`` holds the K targets. The
last position of an example never targets the first token of the next one. For the demo this computes
logits on ~15% of positions instead of all of them: the (T x 49,152) logits tensor was the largest
allocation of a training step.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from tunewright.training.formats import IGNORE_INDEX, PadCollator

log = logging.getLogger(__name__)

VARLEN_ATTENTION = "tw_varlen"

# On CPU, bf16 weights but fp32 attention: torch's CPU flash-attention backward in bf16 took 304 ms against 93 ms
# in fp32 for one SmolLM2 LoRA step (issue 13's profile on an AMX Xeon), while q/k/v are small to cast.
CPU_ATTENTION_UPCAST = (torch.bfloat16, torch.float16)


def varlen_sdpa_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                          scaling: float | None = None, **kwargs):
    """Causal SDPA per packed example. query (1, H, T, D); key/value (1, Hkv, T, D); returns (1, T, H, D)."""
    cu = kwargs.get("cu_seq_lens_q")
    if cu is None:  # not a packed batch (generation, evaluation): plain causal SDPA over the row
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    # GQA without copying kv heads: SDPA maps each query head to its kv head itself (enable_gqa)
    gqa = {"enable_gqa": True} if getattr(module, "num_key_value_groups", 1) > 1 else {}
    dtype = query.dtype
    if query.device.type == "cpu" and dtype in CPU_ATTENTION_UPCAST:
        query, key, value = query.float(), key.float(), value.float()
    bounds = cu.tolist()
    outs = [
        F.scaled_dot_product_attention(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], is_causal=True,
                                       dropout_p=dropout if module.training else 0.0, scale=scaling, **gqa)
        for s, e in zip(bounds[:-1], bounds[1:])
    ]
    return torch.cat(outs, dim=2).transpose(1, 2).to(dtype).contiguous(), None


def _no_mask(*args, **kwargs):
    return None  # tw_varlen needs no mask tensor: boundaries come from cu_seq_lens


def register_varlen_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(VARLEN_ATTENTION, varlen_sdpa_attention)
    AttentionMaskInterface.register(VARLEN_ATTENTION, _no_mask)


def loss_positions(labels: torch.Tensor, starts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep, targets): keep[b, i] is True where labels[b, i+1] is a target; targets are those labels in order.

    ``starts`` (optional, bool (B, T)) marks the first token of each packed example: the position before it
    belongs to another example and must not predict it.
    """
    nxt = torch.full_like(labels, IGNORE_INDEX)
    nxt[:, :-1] = labels[:, 1:]
    if starts is not None:
        nxt[:, :-1][starts[:, 1:]] = IGNORE_INDEX
    keep = nxt != IGNORE_INDEX
    return keep, nxt[keep]


class PackedCollator:
    """All examples of a batch in one row, no pad; see the module docstring for the fields."""

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        cu = [0]
        for b in batch:
            n = len(b["input_ids"])
            ids += b["input_ids"]
            labels += b["labels"]
            pos += range(n)
            cu.append(cu[-1] + n)
        labels_t = torch.tensor([labels], dtype=torch.long)
        starts = torch.zeros_like(labels_t, dtype=torch.bool)
        starts[0, cu[:-1]] = True
        keep, targets = loss_positions(labels_t, starts)
        cu_t = torch.tensor(cu, dtype=torch.int32)
        longest = max(b - a for a, b in zip(cu[:-1], cu[1:]))
        return {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "position_ids": torch.tensor([pos], dtype=torch.long),
            "logits_to_keep": keep,
            "shift_labels": targets,
            "cu_seq_lens_q": cu_t, "cu_seq_lens_k": cu_t,
            "max_length_q": longest, "max_length_k": longest,
        }


class SelectivePadCollator(PadCollator):
    """Pad to the longest row (the fallback when packing is not correct for a model), logits only on targets."""

    def __call__(self, batch):
        out = super().__call__(batch)
        keep, targets = loss_positions(out.pop("labels"))
        out["logits_to_keep"] = keep
        out["shift_labels"] = targets
        return out


def supports_selective_logits(model) -> bool:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


@torch.no_grad()
def packing_is_exact(model, vocab_size: int, atol: float = 1e-4) -> tuple[bool, str]:
    """Check on this model that a packed row gives the same logits as its examples run one by one.

    Two short random examples (lengths 7 and 5) go through the model separately and packed; the kept logits
    must agree. A model whose attention ignores the boundaries fails here and training falls back to padding.
    """
    if not supports_selective_logits(model):
        return False, "model forward has no logits_to_keep"
    was_training = model.training
    model.eval()
    try:
        g = torch.Generator().manual_seed(0)
        rows = [torch.randint(0, vocab_size, (n,), generator=g).tolist() for n in (7, 5)]
        batch = PackedCollator()([{"input_ids": r, "labels": r} for r in rows])
        device = next(model.parameters()).device
        batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        batch.pop("shift_labels")
        packed = model(**batch).logits.float()
        separate = []
        for r in rows:
            t = torch.tensor([r], device=device)
            separate.append(model(input_ids=t).logits[0, :-1].float())  # positions whose next token is a target
        separate = torch.cat(separate)
        if packed.shape != separate.shape:
            return False, f"packed logits shape {tuple(packed.shape)} != {tuple(separate.shape)}"
        err = float((packed - separate).abs().max())
        if err > atol * max(1.0, float(separate.abs().max())):
            return False, f"packed logits differ from per-example logits by {err:.3g}"
        return True, "packed and per-example logits agree"
    finally:
        model.train(was_training)
