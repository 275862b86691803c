"""Money from hardware: ranges (low / expected / high), GPU-hour prices, training runs and serving tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunewright.cost.hardware import GPU
from tunewright.cost.settings import Range

HOURS_PER_MONTH = 730
PREFILL_MFU = 0.4  # share of peak a serving engine reaches on prompt tokens (large matmuls); an assumption
KV_AND_RUNTIME = 1.3  # serving memory = weights x this (KV cache, activations, CUDA runtime)


@dataclass(frozen=True)
class Span:
    """low <= expected <= high, closed under + and under x with non-negative factors."""

    low: float
    expected: float
    high: float

    @classmethod
    def of(cls, r: Range | float) -> "Span":
        return cls(r, r, r) if isinstance(r, (int, float)) else cls(r.low, r.expected, r.high)

    def __add__(self, o: "Span") -> "Span":
        return Span(self.low + o.low, self.expected + o.expected, self.high + o.high)

    def __mul__(self, o: "Span | float") -> "Span":
        o = o if isinstance(o, Span) else Span(o, o, o)
        return Span(self.low * o.low, self.expected * o.expected, self.high * o.high)

    __rmul__ = __mul__

    def inverse(self) -> "Span":
        """1/x: the low end comes from the high input (a fast GPU makes the cheap end)."""
        return Span(1 / self.high, 1 / self.expected, 1 / self.low)

    def to_json(self) -> dict:
        return {"low": self.low, "expected": self.expected, "high": self.high}


ZERO = Span(0.0, 0.0, 0.0)


def price_per_hour(gpu: GPU) -> Span:
    return Span(gpu.price_low, (gpu.price_low + gpu.price_high) / 2, gpu.price_high)


def run_hours(tokens: float, flops_per_token: float, gpu: GPU, n_gpus: int, mfu: Range) -> Span:
    """Wall-clock hours of one training run: tokens x FLOPs per token / (GPUs x peak x MFU)."""
    seconds_at_full_mfu = tokens * flops_per_token / (n_gpus * gpu.peak_flops)
    return Span.of(mfu).inverse() * (seconds_at_full_mfu / 3600)


@dataclass
class Serving:
    gpus_per_replica: int
    prefill_tokens_per_second: float
    decode_tokens_per_second: float
    gpu_hours_per_month: Span
    usd_per_month: Span
    usd_per_million_tokens: Span

    def to_json(self) -> dict:
        return {k: (v.to_json() if isinstance(v, Span) else v) for k, v in self.__dict__.items()}


def serving_cost(n_params: int, gpu: GPU, requests_per_month: int, prompt_tokens: int, answer_tokens: int,
                 concurrent: int, utilization: Range, always_on: bool) -> Serving:
    """Serving a bf16 model (LoRA merged). Decode reads every weight once per step for all sequences in the
    batch, so a step takes max(weights / bandwidth, batch x 2N / peak); prefill is compute-bound. KV-cache
    reads are left out, so long contexts cost more than this."""
    weight_bytes = 2 * n_params
    n = max(1, math.ceil(weight_bytes * KV_AND_RUNTIME / gpu.memory_bytes))
    step = max(weight_bytes / (n * gpu.bandwidth_gbs * 1e9), concurrent * 2 * n_params / (n * gpu.peak_flops))
    decode_tps = concurrent / step
    prefill_tps = n * gpu.peak_flops * PREFILL_MFU / (2 * n_params)
    busy_hours = (requests_per_month * prompt_tokens / prefill_tps
                  + requests_per_month * answer_tokens / decode_tps) / 3600 * n
    hours = Span.of(utilization).inverse() * busy_hours
    if always_on:
        floor = n * HOURS_PER_MONTH
        hours = Span(max(hours.low, floor), max(hours.expected, floor), max(hours.high, floor))
    usd = hours * price_per_hour(gpu)
    tokens = requests_per_month * (prompt_tokens + answer_tokens)
    per_million = usd * (1e6 / tokens) if tokens else ZERO
    return Serving(n, prefill_tps, decode_tps, hours, usd, per_million)
