"""Where the checks run: in this process, or per-example checks on batches in a process pool.

A check with ``per_example = True`` judges each example on its own, so its verdicts over a batch are its
verdicts over the whole list restricted to that batch; those run on batches of ``examples`` in
``workers`` forked processes. The examples reach the children through fork (copy-on-write), not pickling;
only batch bounds go out and verdicts come back. Checks that compare examples (duplicates, label noise,
dominant format) run once over everything in this process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

from tunewright.data.checks import CHECKS, CheckContext, Verdict

_SHARED: dict = {}  # set before the pool forks; read by _run_batch in the children


def _run_batch(names: list[str], start: int, stop: int) -> list[Verdict]:
    examples, ctx = _SHARED["examples"], _SHARED["ctx"]
    out = []
    for name in names:
        for v in CHECKS.lookup(name)().run(examples[start:stop], ctx):
            v.index += start
            out.append(v)
    return out


def run_all_checks(examples, ctx: CheckContext, names: list[str], workers: int = 1,
                   min_parallel: int = 5000) -> tuple[list[Verdict], dict[str, float]]:
    """Every verdict of the named checks (in check order) and the seconds each check took."""
    checks = [(n, CHECKS.lookup(n)) for n in names]
    pooled = [n for n, cls in checks if getattr(cls, "per_example", False)]
    use_pool = workers > 1 and len(examples) >= min_parallel and "fork" in mp.get_all_start_methods() and pooled
    verdicts: dict[str, list[Verdict]] = {}
    seconds: dict[str, float] = {}
    if use_pool:
        t0 = time.perf_counter()
        verdicts.update(_pooled(examples, ctx, pooled, workers))
        seconds["per_example_checks_pool"] = round(time.perf_counter() - t0, 3)
    bar = tqdm([n for n, _ in checks if not (use_pool and n in pooled)], desc="audit checks", unit="check",
               disable=None, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        verdicts[name] = CHECKS.lookup(name)().run(examples, ctx)
        seconds[name] = round(time.perf_counter() - t0, 3)
    return [v for n in names for v in verdicts.get(n, [])], seconds


def _pooled(examples, ctx: CheckContext, names: list[str], workers: int) -> dict[str, list[Verdict]]:
    # The tokenizer stays here: no per-example check needs it, and a forked Rust tokenizer can deadlock.
    _SHARED["examples"] = examples
    _SHARED["ctx"] = dataclasses.replace(ctx, tokenizer=None, token_lengths={}, artifacts={})
    n = len(examples)
    size = max(1000, -(-n // (workers * 8)))
    bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
    by_check: dict[str, list[Verdict]] = {name: [] for name in names}
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            futs = {pool.submit(_run_batch, [name], a, b): name for a, b in bounds for name in names}
            for f in tqdm(as_completed(futs), total=len(futs), desc="per-example checks", unit="batch",
                          disable=None, leave=False):
                by_check[futs[f]] += f.result()
    finally:
        _SHARED.clear()
    for vs in by_check.values():
        vs.sort(key=lambda v: v.index)  # batches finish in any order
    return by_check
