"""Benchmark: near-duplicates among short records (issue 16), and the calibration of the short-text rule.

Data, all real sentences shipped offline in the ``evals`` package, in two sets that share nothing:
``finance-wiki`` (calibration: the rule and its parameters were chosen on it) holds the ner_finance
loan-agreement sentences (heavy legal boilerplate) and the sentences of the schelling_point Wikipedia /
OpenWebText paragraphs; ``law-med`` (validation: only reported) holds the sentences of the us_tort_law
questions and answer options, the illinois-law court claims and the medmcqa question stems. Sentences of 8
to 40 words, normalized and deduplicated; 30% get one of three boilerplate prefixes of their set (unrelated
sentences that share a long common part). ``--planted`` base sentences (1,500 and 700) get one variant each
with one or two word edits (substitution, deletion or insertion of a real word from the set).

Ground truth, exact over all pairs: every pair of distinct texts whose word-level edit distance is <= 2
(planted or natural). The candidates for it are all pairs with word-set Jaccard >= 0.4 (truth.py's exact
prefix-filtered join; two sentences of u >= 5 distinct words within 2 edits share at least u - 2 of u + 2
words, >= 0.43), then the edit distance is computed exactly. Identical texts are neither truth nor found:
the audit collapses exact copies before the near-duplicate check (a planted edit can replace a word by
itself; before 2026-12-02 those 13 pairs counted as false positives).

Two tables per set. ``rules``: candidate rules evaluated exactly (no LSH) on a pool of pairs, every pair with
character 5-gram Jaccard >= 0.4 (truth.py) plus the truth: fixed character n-gram thresholds (n = 3, 4, 5),
the length-aware threshold J >= max(floor, (S - D) / (S + D)) alone, and with the word budget (the default:
see NearDupParams). ``engine``: ``find_near_duplicates`` end to end (LSH included) for the default, the
previous default (character Jaccard >= 0.7) and the word 5-gram engine, with the LSH's recall against the
same rule computed exactly on the pool. Note on circularity: the word budget (at most k distinct words of
either text missing from the other) is a necessary condition of the truth, so on its own it would find
little but truth; it is not the truth (word order, repeated words), and the character signal and LSH decide
the recall. Hence the second set. Writes short-neardup-<date>.json beside this file.

    PYTHONPATH=src python benchmarks/data_audit/short_neardup.py [--planted 1.0] [--rounds 2]
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

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))



from truth import all_pairs_above  # noqa: E402
from tunewright.assets import resolve_path  # noqa: E402
from tunewright.data.neardup import WORDS_PER_EDIT, NearDupParams, find_near_duplicates  # noqa: E402
from tunewright.data.keys import normalize_text  # noqa: E402
from tunewright.data.minhash import Shingler, exact_jaccard  # noqa: E402

BOILERPLATE = {  # unrelated sentences that share a long common part; each corpus has its own
    "finance-wiki": ["extract the named entities from the following sentence of the agreement:",
                     "according to the terms of the credit agreement dated as of the closing date,",
                     "please answer the question below based only on the text of the contract."],
    "law-med": ["the following is a fact from a court claim; decide whether the charge is proven:",
                "you are a highly intelligent doctor who answers the following question correctly.",
                "under the law of the state where the events took place, consider this statement:"],
}
PLANTED = {"finance-wiki": 1500, "law-med": 700}


def real_sentences(corpus: str = "finance-wiki") -> list[str]:
    """Real sentences, offline. ``finance-wiki`` (calibration): ner_finance loan-agreement inputs and the
    schelling_point Wikipedia / OpenWebText paragraphs. ``law-med`` (validation, never used to pick a rule or
    a parameter): US tort law questions, Illinois court claims and medmcqa question stems."""
    out = []
    if corpus == "law-med":
        for name in ("us_tort_law", "illinois-law", "medmcqa"):
            with open(resolve_path(f"pkg:evals/registry/data/{name}/samples.jsonl"), encoding="utf-8") as f:
                for line in f:
                    msgs = json.loads(line)["input"]  # illinois-law puts its claim in a second system turn
                    text = " ".join(m["content"] for m in msgs if m["role"] == "user" or len(m["content"]) > 400)
                    out += re.split(r"(?<=[.!?])\s+|\n+", text)
        return out
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


def build(planted: int, seed: int, corpus: str = "finance-wiki") -> tuple[list[str], set[tuple[int, int]]]:
    rng = random.Random(seed)
    base = list(dict.fromkeys(normalize_text(s) for s in real_sentences(corpus) if 8 <= len(s.split()) <= 40))
    base = [f"{rng.choice(BOILERPLATE[corpus])} {s}" if rng.random() < 0.3 else s for s in base]
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


def pool_features(texts: list[str], truth: set, p: NearDupParams) -> dict:
    """Every pair of distinct texts with character 5-gram Jaccard >= 0.4, plus the truth, with what the rules
    read."""
    sh = {n: Shingler(n, unit="char").shingles(texts) for n in (3, 4, 5)}
    pool, _ = all_pairs_above(sh[5], 0.4)
    pairs = np.array(sorted({tuple(x) for x in pool.tolist() if texts[x[0]] != texts[x[1]]} | truth), np.int64)
    a, b = pairs[:, 0], pairs[:, 1]
    f = {"pairs": pairs, "short": (p.family_of(texts)[a] == 1) & (p.family_of(texts)[b] == 1)}
    for n in (3, 4, 5):
        f[f"j{n}"] = exact_jaccard(sh[n], pairs)
        f[f"S{n}"] = np.minimum(sh[n].sizes()[a], sh[n].sizes()[b]).astype(np.float64)
    w = Shingler(1).shingles(texts)
    wj, wa, wb = exact_jaccard(w, pairs), w.sizes()[a], w.sizes()[b]
    shared = np.rint(wj * (wa + wb) / (1 + wj))
    f["word_diff"] = np.maximum(wa - shared, wb - shared)  # distinct words of one missing from the other
    f["words"] = np.minimum(*(np.array([len(texts[i].split()) for i in x]) for x in (a, b)))
    return f


def rule_table(f: dict, truth: set) -> dict[str, np.ndarray]:
    """Rule name -> (K,) bool over the pool; every rule applies to pairs of short inputs only (as the engine)."""
    out = {}
    for n in (3, 4, 5):
        for t in (0.55, 0.6, 0.65, 0.7):
            out[f"char {n}-grams, J >= {t}"] = f[f"j{n}"] >= t
    for n, D in ((3, 14), (4, 18), (4, 20), (5, 18), (5, 20), (5, 22), (5, 24)):
        S = f[f"S{n}"]
        out[f"char {n}-grams, J >= max(0.5, (S - {D}) / (S + {D}))"] = f[f"j{n}"] >= np.maximum(0.5, (S - D) / (S + D))
    S = f["S5"]
    for fl, D in ((0.4, 1e9), (0.5, 1e9), (0.5, 20), (0.5, 22), (0.55, 20)):
        need = np.maximum(fl, (S - D) / (S + D))
        char = f"J >= {fl}" if D > 1e8 else f"J >= max({fl}, (S - {D}) / (S + {D}))"
        out[f"char 5-grams {char}, word budget 2"] = (f["j5"] >= need) & (f["word_diff"] <= 2)
        k = np.minimum(2, f["words"] // WORDS_PER_EDIT)
        out[f"char 5-grams {char}, word budget min(2, words // {WORDS_PER_EDIT})"] = (f["j5"] >= need) & (f["word_diff"] <= k)
    return {k: v & f["short"] for k, v in out.items()}


def speed(texts: list[str], rounds: int) -> dict:
    """Records/s on one core, tunewright vs datasketch on the same character 5-gram sets with the same bands
    (the default short_threshold's), each confirming its candidates by the default rule (datasketch's arm
    in Python: exact set Jaccard, the length-aware threshold, the word budget); arms alternated."""
    from datasketch import MinHash, MinHashLSH

    p = NearDupParams()
    fam = p.families()[1]
    b, r = fam.bands_rows()
    D = fam.edit_budget()
    short = [t for t, f in zip(texts, p.family_of(texts).tolist()) if f == 1]
    got: dict[str, list[float]] = {"tunewright": [], "datasketch": []}
    pairs = {}

    def near(x: int, y: int, sets: list[set], words: list[set], counts: list[int]) -> bool:
        A, B = sets[x], sets[y]
        S = min(len(A), len(B))
        k = min(p.short_edit_words, min(counts[x], counts[y]) // WORDS_PER_EDIT)
        if len(words[x] - words[y]) > k or len(words[y] - words[x]) > k:
            return False
        return len(A & B) / len(A | B) >= max(fam.threshold, (S - D) / (S + D))

    for _ in range(rounds):
        t0 = time.perf_counter()
        res = find_near_duplicates(short, fam)
        got["tunewright"].append(time.perf_counter() - t0)
        pairs["tunewright"] = {tuple(x) for x in res.pairs.tolist()}
        t0 = time.perf_counter()
        sets = [{t.encode()[i:i + 5] for i in range(max(len(t.encode()) - 4, 1))} for t in short]
        words = [set(t.split()) for t in short]
        counts = [len(t.split()) for t in short]
        mhs = list(MinHash.generator(([x for x in st] for st in sets), num_perm=p.num_perm))
        lsh = MinHashLSH(num_perm=p.num_perm, params=(b, r))
        cand = set()
        for i, m in enumerate(mhs):
            cand.update((j, i) for j in lsh.query(m))
            lsh.insert(i, m)
        pairs["datasketch"] = {(a, c) for a, c in cand if near(a, c, sets, words, counts)}
        got["datasketch"].append(time.perf_counter() - t0)
    tw, ds = sum(got["tunewright"]), sum(got["datasketch"])
    return {"records": len(short), "bands_rows": [b, r], "rounds": rounds, "candidate_pairs": res.candidates,
            "tunewright_records_per_s": round(len(short) * rounds / tw, 1),
            "datasketch_records_per_s": round(len(short) * rounds / ds, 1), "ratio": round(ds / tw, 2),
            "seconds": {k: [round(x, 2) for x in v] for k, v in got.items()},
            "pairs_agree": len(pairs["tunewright"] & pairs["datasketch"]) / max(len(pairs["tunewright"] | pairs["datasketch"]), 1),
            "load_average": os.getloadavg()}


def run_set(corpus: str, planted: int, seed: int) -> tuple[dict, list[str]]:
    texts, plan = build(planted, seed, corpus)
    t0 = time.perf_counter()
    truth = edit_truth(texts)
    out = {"records": len(texts), "planted_pairs": len(plan), "truth_pairs": len(truth),
           "planted_in_truth": len(plan & truth), "truth_seconds": round(time.perf_counter() - t0, 1),
           "words": {"min": min(len(t.split()) for t in texts), "max": max(len(t.split()) for t in texts)}}
    f = pool_features(texts, truth, NearDupParams())
    keys = [tuple(x) for x in f["pairs"].tolist()]
    rules = rule_table(f, truth)
    out["pool_pairs"] = len(keys)
    out["rules"] = {name: score({k for k, ok in zip(keys, sel.tolist()) if ok}, truth) for name, sel in rules.items()}
    exact_default = {k for k, ok in zip(keys, rules["char 5-grams J >= max(0.5, (S - 20) / (S + 20)), word budget "
                                                   f"min(2, words // {WORDS_PER_EDIT})"].tolist()) if ok}
    exact_07 = {k for k, ok in zip(keys, rules["char 5-grams, J >= 0.7"].tolist()) if ok}
    out["engine"] = {}
    for name, p, exact in (("default (2026-12-02): within 2 word edits by word sets and length-aware char 5-grams",
                            NearDupParams(), exact_default),
                           ("char 5-grams, J >= 0.7 (default 2026-12-01)",
                            NearDupParams(short_edit_words=0, short_threshold=0.7), exact_07),
                           ("word 5-grams, J >= 0.8 (before 2026-12-01)", NearDupParams(short_words=0), None)):
        t1 = time.perf_counter()
        res = find_near_duplicates(texts, p)
        secs = time.perf_counter() - t1
        found = {tuple(x) for x in res.pairs.tolist() if texts[x[0]] != texts[x[1]]}
        r = score(found, truth)
        if exact is not None:
            r["lsh_recall_vs_same_rule_exact"] = round(len(found & exact) / max(len(exact), 1), 4)
        r.update(candidate_pairs=res.candidates, seconds_shared_machine=round(secs, 2))
        out["engine"][name] = r
        print(corpus, name, r, flush=True)
    return out, texts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--planted", type=float, default=1.0, help="scale of the planted pairs (1: 1,500 and 700)")
    ap.add_argument("--rounds", type=int, default=2, help="speed rounds, arms alternated")
    args = ap.parse_args()
    out = {"date": dt.date.today().isoformat(), "load_average": os.getloadavg(), "sets": {}}
    texts = None
    for corpus in ("finance-wiki", "law-med"):
        out["sets"][corpus], t = run_set(corpus, round(PLANTED[corpus] * args.planted), args.seed)
        texts = texts or t
        for name, r in out["sets"][corpus]["rules"].items():
            print(f"  {corpus:12s} {name:80s} recall {r['recall']:.4f} precision {r['precision']:.4f}")
    out["speed"] = speed(texts, args.rounds)  # on the calibration set
    print("speed:", out["speed"])
    path = Path(__file__).with_name(f"short-neardup-{out['date']}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print("->", path)


if __name__ == "__main__":
    main()
