"""Bytes that autograd saves for backward in one forward pass of a Llama-family decoder (Llama, Mistral, Qwen2/3).

The count follows what each op of the transformers implementation saves (checked op by op with
``tunewright.cost.measure``), per token and per layer, for h = hidden, i = intermediate, n_q = heads x
head_dim, n_kv = kv heads x head_dim, b = bytes of the compute dtype, r = LoRA rank:

    RMSNorm       4h + 4          input upcast to fp32 (saved by pow and mul) and the fp32 rsqrt (B, T, 1)
                  + b h           the normalised input, only when the norm weight trains (full fine-tuning)
    projections   b h             the norm output, saved once by q/k/v (or gate/up) when they train, or by
                                  LoRA A in fp32; in bf16, peft's fp32 adapters get an input cast per
                                  projection and autocast saves that bf16 copy: b x in for each adapted one
    sdpa / flash  b (n_q + 2 n_kv + n_q) + 4 heads     q, k, v after RoPE, the output, fp32 logsumexp
    eager         b (4 n_q) + 4 heads T (+ b heads T in bf16)   q and k, v repeated to all heads, the
                                  o_proj input copy, the fp32 softmax (and its bf16 copy)
    q/k norm      4 (n_q + n_kv) + 4 (heads + kv heads) (+ b (n_q + n_kv) when the norms train): Qwen3 only
    MLP           4 b i           gate output (SiLU input), SiLU output, up output, their product
    LoRA          b r per adapted projection   (A's output, saved by B); under autocast, the bf16 copies
                                  of the fp32 adapter weights (token-independent)

Outside the layers: RoPE cos and sin (T x head_dim, shared by all layers and the batch), the final norm,
the fp32 log-softmax of the logits (4 V per token, the "logits and loss" line) and int64 token ids.
Gradient checkpointing keeps only each layer's input (b h per token) and recomputes one layer at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunewright.cost.model_shape import ModelShape
from tunewright.training.methods import get_method

DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass
class Activations:
    layers: int  # saved inside the decoder layers (all of them)
    head_and_loss: int  # final norm, fp32 log-softmax of the logits, token ids
    rope: int  # cos/sin tables, shared
    recompute: int  # one layer's activations while it is recomputed (checkpointing only; a peak, not saved)
    weight_casts: int = 0  # autocast's bf16 copies of fp32 adapter weights, saved by their matmuls

    @property
    def saved(self) -> int:
        return self.layers + self.head_and_loss + self.rope + self.weight_casts


def _norm(h: int, needs_input_grad: bool, weight_trains: bool, b: int) -> int:
    """RMSNorm: fp32 input copy + rsqrt when the input needs a gradient; the normalised input for the weight."""
    return (4 * h + 4 if needs_input_grad else 0) + (b * h if weight_trains else 0)


def layer_bytes_per_token(shape: ModelShape, seq: int, method: str, dtype: str, attn: str, lora_r: int,
                          first_layer: bool = False, autocast: bool = True) -> int:
    b = DTYPE_BYTES[dtype]
    h, i = shape.hidden, shape.intermediate
    n_q, n_kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    spec = get_method(method)
    full = not spec.adapter
    adapter = spec.adapter
    # peft keeps adapters in fp32; with a bf16 base each adapted projection saves its own cast input copy
    cast_copy = adapter and b != 4
    # the saved copy is bf16 when autocast re-casts it for the matmul, fp32 (peft's cast) without autocast
    copy_b = b if autocast else 4
    lin_in = shape.linears

    def proj_inputs(names: tuple[str, ...], shared_width: int) -> int:
        if cast_copy:
            return sum(copy_b * lin_in[n][0] for n in names if n in lin_in)
        return b * shared_width  # one tensor, saved by every consumer

    total = _norm(h, not (adapter and first_layer), full, b)
    total += proj_inputs(("q_proj", "k_proj", "v_proj"), h)
    if shape.qk_norm:  # Qwen3: RMSNorm over head_dim on q and k before RoPE (per head: fp32 rsqrt)
        total += 4 * (n_q + n_kv) + 4 * (shape.heads + shape.kv_heads) + (b * (n_q + n_kv) if full else 0)
    if attn == "eager":
        total += b * 3 * n_q + 4 * shape.heads * seq + (b * shape.heads * seq if b != 4 else 0)
        total += proj_inputs(("o_proj",), n_q)  # the transpose(1, 2).contiguous() copy
    else:  # sdpa (flash / memory-efficient kernels) and flash_attention_2 keep q, k, v, out and logsumexp
        total += b * (2 * n_q + 2 * n_kv) + 4 * shape.heads
        if cast_copy:
            total += proj_inputs(("o_proj",), n_q)  # the sdpa output is o_proj's input, shared otherwise
    total += _norm(h, True, full, b)
    total += proj_inputs(("gate_proj", "up_proj"), h)
    total += 3 * b * i + proj_inputs(("down_proj",), i)
    if adapter:
        total += (copy_b if cast_copy else b) * lora_r * len(lin_in)
        if spec.keeps_base_output:  # DoRA rescales the base output by magnitude / ||W + BA||: keeps that output
            total += b * sum(o for _, o in lin_in.values())
    return total


def estimate_activations(shape: ModelShape, micro_batch: int, seq: int, method: str = "lora", dtype: str = "bf16",
                         attn: str = "sdpa", checkpointing: bool = False, lora_r: int = 16,
                         autocast: bool = True) -> Activations:
    """``autocast``: bf16 training under torch.autocast (as the Trainer's bf16=True runs it); False is a plain
    bf16 model, where peft's fp32 adapters keep fp32 copies of their inputs (~25% more for LoRA)."""
    tokens = micro_batch * seq
    b = DTYPE_BYTES[dtype]
    full = not get_method(method).adapter
    per_layer = layer_bytes_per_token(shape, seq, method, dtype, attn, lora_r, autocast=autocast)
    first = layer_bytes_per_token(shape, seq, method, dtype, attn, lora_r, first_layer=True, autocast=autocast)
    head = _norm(shape.hidden, True, full, b) + (b * shape.hidden if full else 0)  # final norm; lm_head input
    head += 4 * shape.vocab + 8 + (8 if full else 0)  # fp32 log-softmax, int64 labels, int64 ids (embedding)
    rope = 2 * b * seq * shape.head_dim
    casts = 0
    # every adapter weight but layer 0's q/k/v A (no input gradient there); inside checkpoints they are recast
    if not full and b != 4 and autocast and not checkpointing:
        qkv_a = sum(lora_r * shape.linears[n][0] for n in ("q_proj", "k_proj", "v_proj") if n in shape.linears)
        casts = b * (shape.lora_params(lora_r) - qkv_a)
    if checkpointing:
        return Activations(layers=shape.layers * b * shape.hidden * tokens, head_and_loss=head * tokens, rope=rope,
                           recompute=per_layer * tokens, weight_casts=casts)
    return Activations(layers=(first + (shape.layers - 1) * per_layer) * tokens, head_and_loss=head * tokens,
                       rope=rope, recompute=0, weight_casts=casts)
