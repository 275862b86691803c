"""Serving a model on a GPU, estimated from memory bandwidth: tokens/s per stream, batched, and dollars.

Decode is memory-bandwidth bound: each step reads every weight once (for the whole batch) and each sequence's
KV cache, and computes 2 FLOPs per weight per sequence. With W the weight bytes read per step (every
parameter but an untied input embedding, of which a step reads one row), K(c) the KV-cache bytes one sequence
reads at context c, C sequences decoded together, BW the bandwidth, u the achieved share of it and P the
peak FLOP/s:

    per stream (C = 1)   tokens/s <= u BW / (W + K(c))
    batched (C)          step = max((W + C K(c)) / (u BW),  C 2N / (P x PREFILL_MFU));   tokens/s = C / step
    prefill              tokens/s = P x PREFILL_MFU / 2N                              (compute bound)

c is the mean context while an answer is decoded (prompt + answer / 2). K sums, over layers, 2 (K and V) x
KV heads x head dim x bytes x min(c, the layer's attention window). A replica spans the fewest GPUs whose
memory (90%, vLLM's default share) holds the weights plus C full-length KV caches; bandwidth and FLOP/s scale
with them. GPU-hours per month = busy hours / traffic utilisation, at least the always-on floor; dollars use
the hardware table's price range. An unmerged LoRA adapter multiplies decode throughput by a factor (< 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from tunewright.cost.hardware import GPU
from tunewright.cost.model_shape import unique_parameters
from tunewright.cost.pricing import HOURS_PER_MONTH, PREFILL_MFU, ZERO, Span, price_per_hour

MEMORY_SHARE = 0.9  # of GPU memory a serving engine allocates (vLLM gpu_memory_utilization default)


@dataclass(frozen=True)
class DecodeShape:
    """What decode reads: parameters and the KV cache per position, per layer window."""

    n_params: int  # every parameter once
    read_params: int  # parameters read per decode step: all but an untied input embedding
    layers: int
    kv_heads: int
    head_dim: int
    windows: tuple[int | None, ...] = ()  # per layer: attention window (None: full context); empty: all full

    def kv_values(self, context: int) -> int:
        """KV-cache elements one sequence reads per decode step at ``context`` tokens."""
        per_layer = 2 * self.kv_heads * self.head_dim
        windows = self.windows or (None,) * self.layers
        return sum(per_layer * (context if w is None else min(context, w)) for w in windows)

    def to_json(self) -> dict:
        return asdict(self)


def decode_shape(model) -> DecodeShape:
    """The shape of a loaded transformers causal LM (parameters counted once; Gemma's sliding windows read)."""
    cfg = model.config
    cfg = getattr(cfg, "text_config", None) or cfg
    total = unique_parameters(model)
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    untied = head is not None and head.weight is not emb
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    windows: tuple[int | None, ...] = ()
    types = getattr(cfg, "layer_types", None)
    window = getattr(cfg, "sliding_window", None)
    if types and window:
        windows = tuple(window if t == "sliding_attention" else None for t in types)
    return DecodeShape(total, total - (emb.numel() if untied else 0), cfg.num_hidden_layers,
                       getattr(cfg, "num_key_value_heads", None) or heads, head_dim, windows)


@dataclass(frozen=True)
class Traffic:
    requests_per_month: int
    prompt_tokens: int
    answer_tokens: int
    concurrent: int
    utilization: Span  # share of the serving GPUs' throughput real traffic uses
    always_on: bool

    @property
    def decode_context(self) -> int:
        return self.prompt_tokens + self.answer_tokens // 2

    def to_json(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "utilization"},
                "utilization": self.utilization.to_json(), "decode_context": self.decode_context}


@dataclass
class GpuServing:
    gpu: str
    gpus_per_replica: int
    weight_bytes: float  # read per decode step
    kv_bytes_per_stream: float  # read per decode step by one sequence at the mean context
    stream_tokens_per_second: float  # one sequence alone
    batched_tokens_per_second: float  # C sequences together, all of them
    batch_bound: str  # what limits the batched step: "bandwidth" or "compute"
    prefill_tokens_per_second: float
    request_latency_s: float  # prefill + answer at concurrency C
    gpu_hours_per_month: Span
    usd_per_month: Span
    usd_per_million_tokens: Span  # busy GPU-hours only (no always-on floor): the marginal price
    unmerged_usd_per_month: Span
    unmerged_usd_per_million_tokens: Span

    def to_json(self) -> dict:
        return {k: (v.to_json() if isinstance(v, Span) else v) for k, v in self.__dict__.items()}


def _dollars(busy_hours: float, n: int, gpu: GPU, t: Traffic) -> tuple[Span, Span, Span]:
    hours = t.utilization.inverse() * busy_hours
    marginal = hours * price_per_hour(gpu)
    if t.always_on:
        floor = n * HOURS_PER_MONTH
        hours = Span(max(hours.low, floor), max(hours.expected, floor), max(hours.high, floor))
    tokens = t.requests_per_month * (t.prompt_tokens + t.answer_tokens)
    per_million = marginal * (1e6 / tokens) if tokens else ZERO
    return hours, hours * price_per_hour(gpu), per_million


def estimate_gpu_serving(shape: DecodeShape, gpu: GPU, traffic: Traffic, bandwidth_utilization: float,
                         weight_bytes_per_param: float = 2.0, kv_bytes_per_value: float = 2.0,
                         unmerged_throughput: float = 1.0) -> GpuServing:
    """Serving ``shape`` on ``gpu`` at ``traffic`` (module docstring for the model and its assumptions)."""
    t, u = traffic, bandwidth_utilization
    w = shape.read_params * weight_bytes_per_param
    kv = shape.kv_values(t.decode_context) * kv_bytes_per_value
    need = shape.n_params * weight_bytes_per_param \
        + t.concurrent * shape.kv_values(t.prompt_tokens + t.answer_tokens) * kv_bytes_per_value
    n = max(1, math.ceil(need / (MEMORY_SHARE * gpu.memory_bytes)))
    bw, peak = n * gpu.bandwidth_gbs * 1e9, n * gpu.peak_flops
    stream = u * bw / (w + kv)
    mem_step = (w + t.concurrent * kv) / (u * bw)
    compute_step = t.concurrent * 2 * shape.read_params / (peak * PREFILL_MFU)
    step = max(mem_step, compute_step)
    batched = t.concurrent / step
    prefill = peak * PREFILL_MFU / (2 * shape.read_params)
    latency = t.prompt_tokens / prefill + t.answer_tokens * step

    def busy(decode_tps: float) -> float:
        r = t.requests_per_month
        return (r * t.prompt_tokens / prefill + r * t.answer_tokens / decode_tps) / 3600 * n

    hours, usd, per_m = _dollars(busy(batched), n, gpu, t)
    _, usd_u, per_m_u = _dollars(busy(batched * unmerged_throughput), n, gpu, t)
    return GpuServing(gpu.name, n, w, kv, stream, batched, "bandwidth" if mem_step >= compute_step else "compute",
                      prefill, latency, hours, usd, per_m, usd_u, per_m_u)


def bandwidth_utilization(decode_tokens_per_second: float, bytes_per_token: float, bandwidth_bytes_s: float) -> float:
    """The measured share of a memory bandwidth: achieved decode tokens/s over its bound bandwidth / bytes."""
    return decode_tokens_per_second * bytes_per_token / bandwidth_bytes_s
