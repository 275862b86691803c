"""Benchmark: near-duplicate detection, tunewright vs datasketch (MinHash + MinHashLSH), one run, one core.

Data: synth.generate (100,000 realistic records, ~20% planted variants). Both arms get the same normalized
texts, the same word tokens (tunewright.data.minhash.words), word 5-grams, 128 permutations, threshold 0.8,
and both confirm their LSH candidates by exact Jaccard (datasketch on Python sets of the shingle strings).

- tunewright: ``find_near_duplicates`` (LSH bands/rows from false-negative weight 0.95: 16 x 8).
- datasketch (same bands): ``MinHash.generator`` (its bulk path, default "affine32" scheme, SHA-1 input hash)
  + ``update_batch``, MinHashLSH (query, then insert, per record) with
  ``weights=(0.05, 0.95)``, which gives the same 16 x 8; the speed ratio is against this arm.
- datasketch (default weights 0.5/0.5: 9 x 13), timed for its LSH only on the same MinHashes, for recall.

Ground truth: every pair with exact Jaccard >= 0.8 over all pairs (truth.py, prefix-filtered all-pairs
join on tunewright's 32-bit shingle sets; the script checks those sets have the same sizes as datasketch's
string sets). Peak memory: each arm runs in its own process; peak RSS growth during the arm (VmHWM reset
through /proc/self/clear_refs just before it starts, input texts already loaded).
``--memory-records 1000000`` also streams 1M generated texts through find_near_duplicates and records its
peak RSS. Writes results-<date>.json beside this file.

    PYTHONPATH=src python benchmarks/data_audit/neardup.py [--records 100000] [--memory-records 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

from synth import generate, iter_texts  # noqa: E402
from truth import all_pairs_above  # noqa: E402
from tunewright.data.neardup import NearDupParams, find_near_duplicates  # noqa: E402
from tunewright.data.minhash import Shingler, words  # noqa: E402
from tunewright.data.normalize import normalize_text  # noqa: E402

THRESHOLD, NUM_PERM, NGRAM, FN_WEIGHT = 0.8, 128, 5, 0.95
MEMORY_CHUNK = 20_000  # texts generated at a time in the memory run


def rss_mb() -> float:
    """Peak RSS (VmHWM) of this process in MiB since the last reset_peak()."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> float:
    """Reset VmHWM to the current RSS (Linux clear_refs 5) and return the current RSS in MiB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return current_rss_mb()


def shingle_strings(text: str) -> set[str]:
    w = words(text)
    if len(w) < NGRAM:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i : i + NGRAM]) for i in range(len(w) - NGRAM + 1)}


def arm_tunewright(texts: list[str], q) -> None:
    before = reset_peak()
    t0 = time.perf_counter()
    res = find_near_duplicates(texts, NearDupParams(THRESHOLD, NUM_PERM, NGRAM, FN_WEIGHT, short_words=0))  # word 5-grams only
    sec = time.perf_counter() - t0
    q.put({"seconds": sec, "peak_rss_growth_mb": rss_mb() - before, "bands": res.bands, "rows": res.rows,
           "candidates": res.candidates, "pairs": res.pairs.tolist()})


def arm_datasketch(texts: list[str], q) -> None:
    from datasketch import MinHash, MinHashLSH

    before = reset_peak()
    out = {}
    t0 = time.perf_counter()
    sets = [shingle_strings(t) for t in texts]
    # MinHash.generator is datasketch's bulk path: one initialised MinHash copied per record, update_batch
    mhs = list(MinHash.generator(([x.encode("utf-8") for x in s] for s in sets), num_perm=NUM_PERM))
    minhash_sec = time.perf_counter() - t0
    for name, weights in (("same_bands", (1 - FN_WEIGHT, FN_WEIGHT)), ("default_weights", (0.5, 0.5))):
        t1 = time.perf_counter()
        lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, weights=weights)
        cand = set()
        for i, m in enumerate(mhs):
            if not sets[i]:
                continue
            for j in lsh.query(m):
                cand.add((j, i))
            lsh.insert(i, m)
        confirmed = [(a, b) for a, b in cand if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= THRESHOLD]
        lsh_sec = time.perf_counter() - t1
        out[name] = {"seconds": minhash_sec + lsh_sec, "minhash_seconds": minhash_sec, "lsh_confirm_seconds": lsh_sec,
                     "bands": lsh.b, "rows": lsh.r, "candidates": len(cand), "pairs": sorted(confirmed)}
    out["peak_rss_growth_mb"] = rss_mb() - before
    out["set_sizes"] = [len(s) for s in sets]
    q.put(out)


def arm_memory(n: int, q) -> None:
    """Peak RSS of find_near_duplicates over n streamed texts, and of streaming the same texts alone (the
    generator's own buffers), so the stage's share can be told apart."""
    before = reset_peak()
    t0 = time.perf_counter()
    for _ in iter_texts(n, seed=1, chunk=MEMORY_CHUNK):
        pass
    gen_sec, gen_peak = time.perf_counter() - t0, rss_mb()
    before = reset_peak()
    t0 = time.perf_counter()
    texts = (normalize_text(t) for t in iter_texts(n, seed=1, chunk=MEMORY_CHUNK))
    res = find_near_duplicates(texts, NearDupParams(), total=n)
    q.put({"records": n, "seconds_including_generation": time.perf_counter() - t0, "generation_seconds": gen_sec,
           "peak_rss_mb": rss_mb(), "generator_alone_peak_rss_mb": gen_peak, "rss_before_mb": before,
           "confirmed_pairs": int(len(res.pairs)), "shingles": int(res.shingles.ids.size)})


def _guarded(target, args, q) -> None:
    try:
        target(*args, q)
    except BaseException as e:  # the parent must hear about it instead of waiting forever
        import traceback

        q.put({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})


def in_process(target, *args):
    """Run one arm in a fresh process (spawn, so its peak RSS is its own), return what it reports."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_guarded, args=(target, args, q))
    p.start()
    out = q.get()
    p.join()
    if "error" in out:
        raise RuntimeError(f"{target.__name__} failed:\n{out['traceback']}")
    return out


def score(found: set, truth: set, planted: set) -> dict:
    tp = len(found & truth)
    return {"found": len(found), "true_positives": tp, "recall": tp / len(truth) if truth else 1.0,
            "precision": tp / len(found) if found else 1.0,
            "planted_true_found": len(found & truth & planted), "planted_true": len(truth & planted)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--memory-records", type=int, default=0)
    ap.add_argument("--memory-only", action="store_true", help="only the memory run; merged into today's results")
    args = ap.parse_args()
    if args.memory_only:
        out = Path(__file__).parent / f"results-{dt.date.today().isoformat()}.json"
        result = json.loads(out.read_text())
        result["memory"] = in_process(arm_memory, args.memory_records)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print("memory", result["memory"])
        return
    data = generate(args.records, seed=0)
    texts = [normalize_text(t) for t in data.texts]
    tw = in_process(arm_tunewright, texts)
    print(f"tunewright {tw['seconds']:.1f}s", flush=True)
    ds = in_process(arm_datasketch, texts)
    print(f"datasketch {ds['same_bands']['seconds']:.1f}s", flush=True)

    sh = Shingler(NGRAM).shingles(texts)
    mismatched = int((sh.sizes() != np.array(ds["set_sizes"])).sum())
    t0 = time.perf_counter()
    tp, _ = all_pairs_above(sh, THRESHOLD)
    truth_sec = time.perf_counter() - t0
    truth = {tuple(p) for p in tp.tolist()}
    planted = {tuple(sorted(p)) for p in data.planted.tolist()}
    norm = lambda ps: {tuple(sorted(p)) for p in ps}  # noqa: E731

    n = len(texts)
    arms = {
        "tunewright": {"seconds": tw["seconds"], "records_per_second": n / tw["seconds"], "bands": tw["bands"],
                       "rows": tw["rows"], "candidates": tw["candidates"], "peak_rss_growth_mb": tw["peak_rss_growth_mb"],
                       **score(norm(tw["pairs"]), truth, planted)},
    }
    for name in ("same_bands", "default_weights"):
        a = ds[name]
        arms[f"datasketch_{name}"] = {
            "seconds": a["seconds"], "records_per_second": n / a["seconds"], "minhash_seconds": a["minhash_seconds"],
            "lsh_confirm_seconds": a["lsh_confirm_seconds"], "bands": a["bands"], "rows": a["rows"],
            "candidates": a["candidates"], "peak_rss_growth_mb": ds["peak_rss_growth_mb"],
            **score(norm(a["pairs"]), truth, planted)}
    result = {
        "benchmark": "data_audit/neardup", "date": dt.date.today().isoformat(),
        "baseline": "datasketch_same_bands", "datasketch": __import__("datasketch").__version__,
        "records": n, "planted_pairs": len(planted), "true_pairs": len(truth), "truth_seconds": truth_sec,
        "shingle_set_size_mismatches": mismatched, "threshold": THRESHOLD, "num_perm": NUM_PERM, "ngram": NGRAM,
        "mean_words": float(np.mean([len(words(t)) for t in texts])), "machine": platform.platform(),
        "cpu": f"{os.cpu_count()} cores, each arm single-process", "arms": arms,
        "speedup": arms["tunewright"]["records_per_second"] / arms["datasketch_same_bands"]["records_per_second"],
        "speedup_vs_default_weights": arms["tunewright"]["records_per_second"]
        / arms["datasketch_default_weights"]["records_per_second"],
    }
    if args.memory_records:
        result["memory"] = in_process(arm_memory, args.memory_records)
        print("memory", result["memory"], flush=True)
    out = Path(__file__).parent / f"results-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "arms"}, indent=1))
    for k, v in arms.items():
        print(k, {x: (round(y, 4) if isinstance(y, float) else y) for x, y in v.items()})
    print(f"speedup {result['speedup']:.2f}x -> {out}")


if __name__ == "__main__":
    main()
