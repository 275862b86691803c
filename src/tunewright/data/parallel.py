"""Where the checks run on a batch: in this process, or poolable per-example checks in a process pool.

A per-example check judges each example on its own, so its verdicts over a slice of the batch are its
verdicts over the batch restricted to that slice; the ``poolable`` ones run on slices in ``workers`` forked
processes. The batch reaches the children through fork (copy-on-write), not pickling; only slice bounds go
out and verdicts come back. Checks that compare examples (duplicates, label noise, dominant format) and those
holding a tokenizer or a thread pool observe the batch in this process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from tunewright.data.checks import CHECKS, Check, CheckContext, Verdict
from tunewright.data.columns import IndexedInts, Sources

_SHARED: dict = {}  # set before the pool forks; read by _run_slice in the children


def _run_slice(pos: int, start: int, stop: int) -> list[Verdict]:
    batch, ctx, check = _SHARED["batch"], _SHARED["ctx"], _SHARED["checks"][pos]
    out = check.run(batch[start:stop], ctx)
    for v in out:
        v.index += start
    return out


def observe_batch(checks: list[Check], batch, start: int, ctx: CheckContext, workers: int = 1,
                  seconds: dict[str, float] | None = None, min_parallel: int = 5000) -> list[tuple[int, Verdict]]:
    """(position of the check in ``checks``, verdict) for every verdict the checks give on this batch, whose
    examples have global indices ``start``, ``start + 1``, ...; seconds per check are added to ``seconds``."""
    seconds = {} if seconds is None else seconds
    pooled = [k for k, c in enumerate(checks) if c.per_example and c.poolable]
    use_pool = workers > 1 and len(batch) >= min_parallel and "fork" in mp.get_all_start_methods() and pooled
    out: list[tuple[int, Verdict]] = []
    if use_pool:
        t0 = time.perf_counter()
        for k, vs in _pooled(checks, pooled, batch, ctx, workers).items():
            out += [(k, _shift(v, start)) for v in vs]
        seconds["per_example_checks_pool"] = round(seconds.get("per_example_checks_pool", 0.0)
                                                   + time.perf_counter() - t0, 3)
    for k, check in enumerate(checks):
        if use_pool and k in pooled:
            continue
        t0 = time.perf_counter()
        out += [(k, v) for v in check.observe(batch, start, ctx)]
        seconds[check.name] = round(seconds.get(check.name, 0.0) + time.perf_counter() - t0, 3)
    return out


def _shift(v: Verdict, start: int) -> Verdict:
    v.index += start
    return v


def _pooled(checks: list[Check], pooled: list[int], batch, ctx: CheckContext, workers: int) -> dict[int, list[Verdict]]:
    # The tokenizer stays here: no poolable check needs it, and a forked Rust tokenizer can deadlock.
    _SHARED.update(batch=batch, checks=checks,
                   ctx=dataclasses.replace(ctx, tokenizer=None, token_lengths=IndexedInts(), artifacts={},
                                               sources=Sources()))
    n = len(batch)
    size = max(1000, -(-n // (workers * 4)))
    bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
    by_check: dict[int, list[Verdict]] = {k: [] for k in pooled}
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            futs = {pool.submit(_run_slice, k, a, b): k for a, b in bounds for k in pooled}
            for f in as_completed(futs):
                by_check[futs[f]] += f.result()
    finally:
        _SHARED.clear()
    for vs in by_check.values():
        vs.sort(key=lambda v: v.index)  # slices finish in any order
    return by_check


def run_all_checks(examples, ctx: CheckContext, names: list[str], workers: int = 1,
                   min_parallel: int = 5000) -> tuple[list[Verdict], dict[str, float]]:
    """Every verdict of the named checks over one list (in check order) and the seconds each took."""
    checks = [CHECKS.lookup(n)() for n in names]
    ctx.see(examples, 0)
    seconds: dict[str, float] = {}
    got = observe_batch(checks, examples, 0, ctx, workers, seconds, min_parallel)
    for k, check in enumerate(checks):
        t0 = time.perf_counter()
        got += [(k, v) for v in check.finish(ctx)]
        seconds[check.name] = round(seconds.get(check.name, 0.0) + time.perf_counter() - t0, 3)
    got.sort(key=lambda kv: kv[0])  # stable: within a check, the order it gave
    return [v for _, v in got], seconds
