"""Where the checks run on a batch: in this process, or poolable per-example checks in a process pool.

A per-example check judges each example on its own, so its verdicts over a slice of the batch are its
verdicts over the batch restricted to that slice; the ``poolable`` ones run on slices in ``workers`` forked
processes (``workers - 1`` of them, while this process runs the rest at the same time). The batch reaches the
children through fork (copy-on-write), not pickling; only slice bounds go out and verdicts (and token_length's
lengths) come back. Checks that compare examples (duplicates, label noise, dominant format) and those holding
a thread pool of their own (language: lingua's) observe the batch in this process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

from tunewright.data.checks import CHECKS, Check, CheckContext, Verdict
from tunewright.data.columns import IndexedInts, Sources

_SHARED: dict = {}  # set before the pool forks; read by _run_slice in the children


def _child_init() -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # read by tokenizers at each call: one thread per worker


def _run_slice(pos: int, start: int, stop: int) -> tuple[list[Verdict], np.ndarray | None]:
    """A check's verdicts on batch[start:stop], and the token lengths it measured there (token_length)."""
    batch, ctx, check = _SHARED["batch"], _SHARED["ctx"], _SHARED["checks"][pos]
    ctx.token_lengths = IndexedInts()
    out = check.run(batch[start:stop], ctx)
    for v in out:
        v.index += start
    return out, (ctx.token_lengths.array(stop - start) if len(ctx.token_lengths) else None)


def observe_batch(checks: list[Check], batch, start: int, ctx: CheckContext, workers: int = 1,
                  seconds: dict[str, float] | None = None, min_parallel: int = 5000) -> list[tuple[int, Verdict]]:
    """(position of the check in ``checks``, verdict) for every verdict the checks give on this batch, whose
    examples have global indices ``start``, ``start + 1``, ...; seconds per check are added to ``seconds``.

    With ``workers`` > 1 the poolable checks run in ``workers - 1`` forked processes *while* this process runs
    the others (tokenizer, duplicates, language): the two halves overlap instead of taking turns."""
    seconds = {} if seconds is None else seconds
    pooled = [k for k, c in enumerate(checks) if c.per_example and c.poolable]
    use_pool = workers > 1 and len(batch) >= min_parallel and "fork" in mp.get_all_start_methods() and pooled
    out: list[tuple[int, Verdict]] = []
    pending = None
    if use_pool:
        t_pool = time.perf_counter()
        pending = _start_pool(checks, pooled, batch, ctx, max(1, workers - 1))
    try:
        for k, check in enumerate(checks):
            if use_pool and k in pooled:
                continue
            t0 = time.perf_counter()
            out += [(k, v) for v in check.observe(batch, start, ctx)]
            seconds[check.name] = round(seconds.get(check.name, 0.0) + time.perf_counter() - t0, 3)
    except BaseException:
        if pending is not None:
            _stop(pending[0])
        raise
    if pending is not None:
        got, lengths = _collect(*pending)
        for a, values in lengths:
            ctx.token_lengths.set(start + a, values)
        for k, vs in got.items():
            out += [(k, _shift(v, start)) for v in vs]
        # wall time from the fork to the last slice, overlapped with the checks above
        seconds["per_example_checks_pool"] = round(seconds.get("per_example_checks_pool", 0.0)
                                                   + time.perf_counter() - t_pool, 3)
    return out


def _shift(v: Verdict, start: int) -> Verdict:
    v.index += start
    return v


def _start_pool(checks: list[Check], pooled: list[int], batch, ctx: CheckContext, processes: int):
    """Fork ``processes`` workers over the batch and submit every (check, slice); returns (pool, futures, pooled)."""
    # The tokenizer goes along: tokenizers turns its thread pool off in a forked child once the parent has
    # used it (no deadlock), and TOKENIZERS_PARALLELISM=false keeps a child from starting one of its own (the
    # cores are busy with this process and the other workers).
    _SHARED.update(batch=batch, checks=checks,
                   ctx=dataclasses.replace(ctx, token_lengths=IndexedInts(), artifacts={}, sources=Sources()))
    n = len(batch)
    size = max(1000, -(-n // (processes * 4)))
    bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
    pool = ProcessPoolExecutor(processes, mp_context=mp.get_context("fork"), initializer=_child_init)
    try:
        # with fork, the first submit starts every worker: they copy _SHARED as it is now
        futs = {pool.submit(_run_slice, k, a, b): (k, a) for a, b in bounds for k in pooled}
    except BaseException:
        _stop(pool)
        raise
    return pool, futs, pooled


def _stop(pool: ProcessPoolExecutor) -> None:
    """Wait for the workers (cancelling slices not started) and drop what they were forked with."""
    pool.shutdown(wait=True, cancel_futures=True)
    _SHARED.clear()


def _collect(pool: ProcessPoolExecutor, futs: dict, pooled: list[int]):
    """({check position: verdicts in index order}, [(slice start, token lengths)])."""
    by_check: dict[int, list[Verdict]] = {k: [] for k in pooled}
    lengths = []
    try:
        for f in as_completed(futs):
            vs, lens = f.result()
            by_check[futs[f][0]] += vs
            if lens is not None:
                lengths.append((futs[f][1], lens))
    finally:
        _stop(pool)
    for vs in by_check.values():
        vs.sort(key=lambda v: v.index)  # slices finish in any order
    return by_check, lengths


def fork_map(fn, chunks: list, shared: dict, workers: int) -> list:
    """``[fn(shared, chunk) for chunk in chunks]``, in ``workers`` forked processes when there are several
    chunks and workers (``shared`` reaches them by fork, copy-on-write; only the chunks and results are
    pickled), else in this process. For a stage whose other processes would sit idle, such as the
    confirmation of near-duplicate candidates at the end of the audit's first pass."""
    if workers <= 1 or len(chunks) <= 1 or "fork" not in mp.get_all_start_methods():
        return [fn(shared, c) for c in chunks]
    _SHARED["fork_map"] = (fn, shared)
    try:
        with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=mp.get_context("fork")) as pool:
            return list(pool.map(_fork_map_one, chunks))
    finally:
        _SHARED.pop("fork_map", None)


def _fork_map_one(chunk):
    fn, shared = _SHARED["fork_map"]
    return fn(shared, chunk)


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
