"""Serving speed measured on this machine: generation tokens/s and latency at batch 1 and at a batch that
fills the cores, peak memory, and the machine's memory bandwidth (what decode is bound by).

Every generation is greedy and produces exactly ``new_tokens`` tokens (``min_new_tokens`` suppresses EOS),
so tokens/s do not depend on what the model says. At batch 1 each prompt is generated twice, once for one
token (time to first token: prefill) and once for all of them; decode tokens/s is (N - 1) / (t_N - t_1), the
steps after the first. Batched: ``batch`` rows (the prompts repeated), left-padded, one generate call per
round; each request waits for the whole batch, so its latency is the call's wall time.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch


def cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class PeakMemory:
    """Peak memory while the block runs: CUDA allocated bytes on a GPU, else the process RSS sampled every 5 ms
    by a thread (``peak`` minus ``start``: what the block added)."""

    def __init__(self, device: torch.device | None = None, interval_s: float = 0.005):
        self.cuda = device is not None and device.type == "cuda"
        self.interval = interval_s
        self.start = self.peak = 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        import psutil

        return psutil.Process().memory_info().rss

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self):
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            self.start = self.peak = self._rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._rss())
        return False

    @property
    def added(self) -> int:
        return self.peak - self.start


def measure_bandwidth(mib: int = 256, repeats: int = 5, device: torch.device | None = None) -> float:
    """Memory bandwidth of ``device`` (default CPU) in bytes/s: the best of ``repeats`` copies of a ``mib`` MiB
    float32 tensor with torch's threads (a STREAM-style copy: each byte is read once and written once)."""
    a = torch.ones(mib * 2**20 // 4, dtype=torch.float32, device=device)
    b = torch.empty_like(a)
    b.copy_(a)  # touch the pages first
    cuda = a.device.type == "cuda"
    best = float("inf")
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        b.copy_(a)
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    del a, b
    return 2 * mib * 2**20 / best


@dataclass
class SpeedResult:
    device: str
    threads: int
    new_tokens: int
    prompt_tokens_mean: float
    batch1_tokens_per_second: float  # new tokens / latency, median over prompts (prefill included)
    batch1_decode_tokens_per_second: float  # steps after the first, median over prompts
    batch1_ttft_s: float  # time to first token, median
    batch1_latency_p50_s: float
    batch1_latency_p95_s: float
    batch: int
    batched_tokens_per_second: float  # all rows' new tokens / wall time, median over rounds
    batched_latency_p50_s: float
    batched_latency_p95_s: float

    def to_json(self) -> dict:
        return asdict(self)


def _generate(model, tok, rows: list[list[int]], n: int) -> float:
    """Wall seconds of one greedy generate of exactly ``n`` new tokens for ``rows`` (left-padded)."""
    device = next(model.parameters()).device
    width = max(map(len, rows))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    kw = dict(do_sample=False, temperature=None, top_p=None, top_k=None, max_new_tokens=n, min_new_tokens=n,
              pad_token_id=pad)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, **kw)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    assert out.shape[1] == width + n, f"generated {out.shape[1] - width} tokens, expected {n}"
    return dt


def measure_generation(model, tok, prompts: list[list[int]], new_tokens: int, batch: int | None = None,
                       rounds: int = 2) -> SpeedResult:
    """Time generation of ``new_tokens`` from each prompt (token ids) at batch 1 and at ``batch`` (default: the
    cores this process may use)."""
    device = next(model.parameters()).device
    batch = batch or cores()
    _generate(model, tok, prompts[:1], 2)  # warm-up: first-call allocations and kernel selection
    ttft, lat = [], []
    for p in prompts:
        ttft.append(_generate(model, tok, [p], 1))
        lat.append(_generate(model, tok, [p], new_tokens))
    ttft_a, lat_a = np.array(ttft), np.array(lat)
    decode = (new_tokens - 1) / np.maximum(lat_a - ttft_a, 1e-9)
    rows = [prompts[i % len(prompts)] for i in range(batch)]
    walls = np.array([_generate(model, tok, rows, new_tokens) for _ in range(rounds)])
    return SpeedResult(
        device=str(device), threads=torch.get_num_threads(), new_tokens=new_tokens,
        prompt_tokens_mean=float(np.mean([len(p) for p in prompts])),
        batch1_tokens_per_second=float(np.median(new_tokens / lat_a)),
        batch1_decode_tokens_per_second=float(np.median(decode)), batch1_ttft_s=float(np.median(ttft_a)),
        batch1_latency_p50_s=float(np.percentile(lat_a, 50)), batch1_latency_p95_s=float(np.percentile(lat_a, 95)),
        batch=batch, batched_tokens_per_second=float(np.median(batch * new_tokens / walls)),
        batched_latency_p50_s=float(np.percentile(walls, 50)), batched_latency_p95_s=float(np.percentile(walls, 95)))
