"""Benchmark: near-duplicates among short records (issue 16), and the calibration of the short-text threshold.

Data, all real sentences shipped offline in the ``evals`` package: the ner_finance loan-agreement sentences
(which share heavy legal boilerplate) and the sentences of the schelling_point Wikipedia / OpenWebText
paragraphs, 8 to 40 words, normalized and deduplicated. A share of them get one of three boilerplate
prefixes (unrelated sentences that share a long common part). ``--planted`` base sentences get one variant
each with one or two word edits (substitution, deletion or insertion of a real word from the corpus).

Ground truth, exact over all pairs: every pair whose word-level edit distance is <= 2 (planted or natural).
The candidates for it are all pairs with word-set Jaccard >= 0.4 (truth.py's exact prefix-filtered join; two
sentences of u >= 5 distinct words within 2 edits share at least u - 2 of u + 2 words, >= 0.43), then the edit
distance is computed exactly. Also exact: every pair whose character 5-gram Jaccard is >= the threshold
(truth.py), against which the LSH's own recall is measured.

Arms at each short_threshold: ``find_near_duplicates`` with defaults (inputs of 6-49 words on character
5-grams) and the old word 5-gram engine (``short_words=0``, threshold 0.8). Precision and recall of the
confirmed pairs against the edit-distance truth. Writes short-neardup-<date>.json beside this file.

    PYTHONPATH=src python benchmarks/data_audit/short_neardup.py [--planted 1500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))



from truth import all_pairs_above  # noqa: E402
from tunewright.assets import resolve_path  # noqa: E402
from tunewright.data.neardup import NearDupParams, find_near_duplicates  # noqa: E402
from tunewright.data.keys import normalize_text  # noqa: E402
from tunewright.data.minhash import Shingler  # noqa: E402

BOILERPLATE = ["extract the named entities from the following sentence of the agreement:",
               "according to the terms of the credit agreement dated as of the closing date,",
               "please answer the question below based only on the text of the contract."]
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


def real_sentences() -> list[str]:
    out = []
    with open(resolve_path("pkg:evals/registry/data/ner_finance/samples.jsonl"), encoding="utf-8") as f:
        for line in f:
            out.append([m["content"] for m in json.loads(line)["input"] if m["role"] == "user"][-1])
    for name in ("wikipedia_5", "owt_5"):
        with open(resolve_path(f"pkg:evals/registry/data/schelling_point/{name}.jsonl"), encoding="utf-8") as f:
            for line in f:
                out += re.split(r"(?<=[.!?])\s+", json.loads(line)["0"])
    return out


def word_edit_distance(a: list[str], b: list[str], cap: int = 3) -> int:
    """Levenshtein distance over words, stopping at ``cap`` (banded: only |i - j| <= cap cells)."""
    if abs(len(a) - len(b)) > cap:
        return cap
    inf = cap + 1
    prev = {j: j for j in range(min(len(b), cap) + 1)}
    for i in range(1, len(a) + 1):
        cur = {}
        for j in range(max(0, i - cap), min(len(b), i + cap) + 1):
            best = prev.get(j, inf) + 1 if j <= len(b) else inf
            if j > 0:
                best = min(best, cur.get(j - 1, inf) + 1, prev.get(j - 1, inf) + (a[i - 1] != b[j - 1]))
            cur[j] = min(best, inf)
        prev = cur
        if min(prev.values()) >= cap:
            return cap
    return min(prev.get(len(b), inf), cap)


def build(planted: int, seed: int) -> tuple[list[str], set[tuple[int, int]]]:
    rng = random.Random(seed)
    base = list(dict.fromkeys(normalize_text(s) for s in real_sentences() if 8 <= len(s.split()) <= 40))
    base = [f"{rng.choice(BOILERPLATE)} {s}" if rng.random() < 0.3 else s for s in base]
    vocab = [w for s in base for w in s.split()]
    texts = list(base)
    plan = set()
    for i in rng.sample(range(len(base)), planted):
        w = base[i].split()
        for _ in range(rng.choice([1, 2])):
            op, at = rng.choice(["sub", "sub", "del", "ins"]), rng.randrange(len(w))
            if op == "sub":
                w[at] = rng.choice(vocab)
            elif op == "del":
                del w[at]
            else:
                w.insert(at, rng.choice(vocab))
        plan.add((i, len(texts)))
        texts.append(" ".join(w))
    return texts, plan


def edit_truth(texts: list[str]) -> set[tuple[int, int]]:
    toks = [t.split() for t in texts]
    bags = [Counter(t) for t in toks]
    cand, _ = all_pairs_above(Shingler(1).shingles(texts), 0.4)
    out = set()
    for a, b in cand.tolist():
        la, lb = len(toks[a]), len(toks[b])
        if abs(la - lb) > 2 or sum((bags[a] & bags[b]).values()) < max(la, lb) - 2:  # cannot be within 2 edits
            continue
        if texts[a] != texts[b] and word_edit_distance(toks[a], toks[b]) <= 2:
            out.add((int(a), int(b)))
    return out


def score(found: set, truth: set) -> dict:
    tp = len(found & truth)
    return {"found": len(found), "true_positives": tp, "recall": round(tp / max(len(truth), 1), 4),
            "precision": round(tp / max(len(found), 1), 4)}


def speed(texts: list[str], rounds: int) -> dict:
    """Records/s on one core, tunewright vs datasketch on the same character 5-gram sets with the same bands
    (the default short_threshold's), each confirming its candidates by exact Jaccard; arms alternated."""
    from datasketch import MinHash, MinHashLSH

    p = NearDupParams()
    fam = p.families()[1]
    b, r = fam.bands_rows()
    short = [t for t, f in zip(texts, p.family_of(texts).tolist()) if f == 1]
    got: dict[str, list[float]] = {"tunewright": [], "datasketch": []}
    pairs = {}
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = find_near_duplicates(short, fam)
        got["tunewright"].append(time.perf_counter() - t0)
        pairs["tunewright"] = {tuple(x) for x in res.pairs.tolist()}
        t0 = time.perf_counter()
        sets = [{t.encode()[i:i + 5] for i in range(max(len(t.encode()) - 4, 1))} for t in short]
        mhs = list(MinHash.generator(([x for x in st] for st in sets), num_perm=p.num_perm))
        lsh = MinHashLSH(num_perm=p.num_perm, params=(b, r))
        cand = set()
        for i, m in enumerate(mhs):
            cand.update((j, i) for j in lsh.query(m))
            lsh.insert(i, m)
        pairs["datasketch"] = {(a, c) for a, c in cand if len(sets[a] & sets[c]) / len(sets[a] | sets[c]) >= fam.threshold}
        got["datasketch"].append(time.perf_counter() - t0)
    tw, ds = sum(got["tunewright"]), sum(got["datasketch"])
    return {"records": len(short), "bands_rows": [b, r], "rounds": rounds,
            "tunewright_records_per_s": round(len(short) * rounds / tw, 1),
            "datasketch_records_per_s": round(len(short) * rounds / ds, 1), "ratio": round(ds / tw, 2),
            "seconds": {k: [round(x, 2) for x in v] for k, v in got.items()},
            "pairs_agree": len(pairs["tunewright"] & pairs["datasketch"]) / max(len(pairs["tunewright"] | pairs["datasketch"]), 1),
            "load_average": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--planted", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=2, help="speed rounds, arms alternated")
    args = ap.parse_args()
    texts, plan = build(args.planted, args.seed)
    t0 = time.perf_counter()
    truth = edit_truth(texts)
    out = {"date": dt.date.today().isoformat(), "records": len(texts), "planted_pairs": len(plan),
           "truth_pairs": len(truth), "planted_in_truth": len(plan & truth), "truth_seconds": round(time.perf_counter() - t0, 1),
           "words": {"min": min(len(t.split()) for t in texts), "max": max(len(t.split()) for t in texts)},
           "load_average": os.getloadavg(), "arms": {}}
    old = find_near_duplicates(texts, NearDupParams(short_words=0))
    out["arms"]["word 5-grams, threshold 0.8 (before)"] = score({tuple(p) for p in old.pairs.tolist()}, truth)
    char_sets = Shingler(5, unit="char").shingles(texts)
    for t in THRESHOLDS:
        p = NearDupParams(short_threshold=t)
        t1 = time.perf_counter()
        res = find_near_duplicates(texts, p)
        secs = time.perf_counter() - t1
        found = {tuple(x) for x in res.pairs.tolist()}
        exact, _ = all_pairs_above(char_sets, t)  # every pair at char Jaccard >= t: what the LSH should find
        exact = {tuple(x) for x in exact.tolist()}
        r = score(found, truth)
        r.update(lsh_recall_vs_exact_jaccard=round(len(found & exact) / max(len(exact), 1), 4),
                 exact_jaccard_pairs=len(exact), bands_rows=list(p.families()[1].bands_rows()), seconds=round(secs, 2))
        out["arms"][f"char 5-grams, short_threshold {t}"] = r
        print(t, r, flush=True)
    print("before:", out["arms"]["word 5-grams, threshold 0.8 (before)"])
    out["speed"] = speed(texts, args.rounds)
    print("speed:", out["speed"])
    path = Path(__file__).with_name(f"short-neardup-{out['date']}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "arms"}), "->", path)


if __name__ == "__main__":
    main()
