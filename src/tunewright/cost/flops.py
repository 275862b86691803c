"""The one FLOP function (STYLE.md #10): every estimate, MFU figure and benchmark calls this module.

Per token of a sequence of T tokens, with N = parameters of the decoder layers' projections (the matmuls),
N_head = hidden x vocab (the output head; the input embedding is a lookup, no FLOPs) and one forward pass

    forward     F = 2 (N + N_head) + 4 L T d_attn       d_attn = heads x head_dim; QK^T and AV, each 2 T d_attn
    full        3 F                                      backward = grads of inputs (F) + of weights (F)
    LoRA/QLoRA  2 F + 6 N_adapter (about 4N)             frozen weights get no weight gradient (and layer 0's
                                                         q/k/v no input gradient: the embedding is frozen)
    checkpoint  + F                                      each layer's forward runs again in backward

The attention term counts the full T x T score matrix, as torch's FlopCounterMode does; a causal kernel
(flash, sdpa is_causal) skips about half of it, which the MFU then absorbs. The attention backward
always needs both input gradients, so its share is 3x forward whatever the method.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunewright.cost.model_shape import ModelShape
from tunewright.training.methods import get_method



@dataclass
class Flops:
    forward: float  # per token
    train: float  # per token, forward + backward (+ recompute)

    def to_json(self) -> dict:
        return {"forward_per_token": self.forward, "train_per_token": self.train}


def forward_flops_per_token(shape: ModelShape, seq: int, n_adapter: int = 0) -> float:
    matmul = 2 * (shape.n_layer_linear + shape.hidden * shape.vocab + n_adapter)
    attention = 4 * shape.layers * seq * shape.heads * shape.head_dim
    return float(matmul + attention)


def training_flops_per_token(shape: ModelShape, seq: int, method: str = "lora", lora_r: int = 16,
                             checkpointing: bool = False) -> Flops:
    """FLOPs to train on one token (forward, backward and, with checkpointing, the recomputed forward)."""
    is_adapter = get_method(method).adapter
    adapter = shape.lora_params(lora_r) if is_adapter else 0
    fwd = forward_flops_per_token(shape, seq, adapter)
    if is_adapter:
        fwd_base = forward_flops_per_token(shape, seq)
        attention = 4 * shape.layers * seq * shape.heads * shape.head_dim
        # base matmuls: forward + input-gradient backward; attention and adapters: forward + both backward passes
        train = 2 * (fwd_base - attention) + 3 * attention + 3 * 2 * adapter
        # the embedding output needs no gradient, so layer 0's q/k/v (base and A) compute no input gradient
        qkv = [shape.linears[n] for n in ("q_proj", "k_proj", "v_proj") if n in shape.linears]
        train -= 2 * sum(i * o + lora_r * i for i, o in qkv)
    else:
        train = 3 * fwd
    if checkpointing:
        train += fwd
    return Flops(forward=fwd, train=float(train))


def model_flops_utilization(tokens_per_second: float, flops_per_token: float, peak_flops: float) -> float:
    """MFU: achieved training FLOP/s over the hardware's dense peak (recompute FLOPs not credited, as PaLM does)."""
    if peak_flops <= 0:
        raise ValueError("peak FLOP/s must be positive")
    return tokens_per_second * flops_per_token / peak_flops
