"""A bounded load test of a running endpoint: N concurrent clients, each reply checked against a reference.

First every prompt is sent once by a single client (the reference replies, greedy decoding); then ``clients``
clients send the same prompts concurrently, ``rounds`` times each in a shuffled order. A reply that differs
from its reference (dropped, mixed up with another request, or cut) is counted and listed. Bounded: at most
``clients * rounds`` requests, each with ``max_tokens`` and a per-request timeout.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class LoadResult:
    clients: int
    requests: int
    failed: int
    mismatched: int
    p50_s: float
    p95_s: float
    wall_s: float
    completion_tokens: int
    tokens_per_s: float
    single_client_p50_s: float
    examples_of_mismatch: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


async def _ask(client, url: str, model: str, prompt: str, max_tokens: int, headers: dict) -> tuple[str, int, float]:
    t0 = time.perf_counter()
    r = await client.post(f"{url}/chat/completions", headers=headers, json={
        "model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
        "temperature": 0})
    r.raise_for_status()
    body = r.json()
    return body["choices"][0]["message"]["content"], body["usage"]["completion_tokens"], time.perf_counter() - t0


async def run_load(url: str, prompts: list[str], clients: int = 8, rounds: int = 2, models: tuple[str, ...] =
                   ("specialist", "generalist"), max_tokens: int = 16, api_key: str | None = None,
                   timeout_s: float = 120.0, seed: int = 0) -> LoadResult:
    """``url``: the endpoint's /v1 base. Each (prompt, model) pair is a distinct job."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    jobs = [(p, m) for p in prompts for m in models]
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        reference, single = {}, []
        for p, m in jobs:
            text, _, dt = await _ask(client, url, m, p, max_tokens, headers)
            reference[(p, m)] = text
            single.append(dt)
        rng = random.Random(seed)
        latencies, tokens, failed, mismatched, examples = [], 0, 0, 0, []

        async def one_client(k: int):
            nonlocal tokens, failed, mismatched
            order = [jobs[(k + i) % len(jobs)] for i in range(rounds)]
            rng.shuffle(order)
            for p, m in order:
                try:
                    text, n, dt = await _ask(client, url, m, p, max_tokens, headers)
                except Exception as e:  # noqa: BLE001 - a failed request is counted, not fatal
                    failed += 1
                    examples.append({"prompt": p[:80], "model": m, "error": repr(e)[:200]})
                    continue
                latencies.append(dt)
                tokens += n
                if text != reference[(p, m)]:
                    mismatched += 1
                    examples.append({"prompt": p[:80], "model": m, "got": text[:80], "expected": reference[(p, m)][:80]})

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client(k) for k in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) if latencies else np.array([float("nan")])
    return LoadResult(clients, clients * rounds, failed, mismatched, float(np.percentile(lat, 50)),
                      float(np.percentile(lat, 95)), round(wall, 3), tokens, round(tokens / wall, 2) if wall else 0.0,
                      float(np.median(single)), examples[:5])
