"""Realistic synthetic SFT records with planted near-duplicates, for the data-audit benchmarks.

Vocabulary and word order come from real text shipped offline in the ``evals`` package (ARCHITECTURE.md,
"Offline assets"): the ner_finance loan-agreement sentences and the original paragraphs of the
schelling_point Wikipedia and OpenWebText files. A first-order word Markov chain over that text generates
the records, so word frequencies are Zipfian and function words repeat as in real prose, while two
independent records share almost no 5-grams. Lengths are log-normal (median ~60 words, 8 to 400).

Planted near-duplicates: a share of the records are originals that get 1 to 3 variants each; every word of
a variant is edited with probability ``rate`` (a substitution, deletion or insertion, equally likely), with
``rate`` drawn from ``EDIT_RATES``. The planted pairs are returned, but ground truth for a benchmark is the
exact Jaccard of the shingle sets, not the plan: a 10% edit rate usually falls below a 0.8 threshold.

    from synth import generate, iter_texts, chat_records
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np

from tunewright.assets import resolve_path

EDIT_RATES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.1)
_TOKEN = re.compile(r"\S+")


@lru_cache(maxsize=1)
def corpus() -> tuple[list[str], list[str]]:
    """(texts, answers): real sentences/paragraphs, and ner_finance's entity-list answers."""
    base = "pkg:evals/registry/data/"
    texts, answers = [], []
    with open(resolve_path(base + "ner_finance/samples.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            texts.append(rec["input"][-1]["content"])
            ideal = rec["ideal"]
            answers.append(ideal[0] if isinstance(ideal, list) else ideal)
    for name in ("wikipedia_5", "owt_5"):
        with open(resolve_path(base + f"schelling_point/{name}.jsonl"), encoding="utf-8") as f:
            texts += [json.loads(line)["0"] for line in f]
    return texts, answers


@lru_cache(maxsize=1)
def markov_chain() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vocab, successors, offsets, starts): successors of word w are ``succ[off[w]:off[w+1]]`` with
    repetition (so sampling uniformly from them follows the bigram frequencies); ``starts`` are first words."""
    texts, _ = corpus()
    vocab: dict[str, int] = {}
    pairs, starts = [], []
    for t in texts:
        ids = [vocab.setdefault(w, len(vocab)) for w in _TOKEN.findall(t)]
        if ids:
            starts.append(ids[0])
        pairs += list(zip(ids[:-1], ids[1:]))
    p = np.array(pairs, dtype=np.int64)
    order = np.argsort(p[:, 0], kind="stable")
    p = p[order]
    off = np.searchsorted(p[:, 0], np.arange(len(vocab) + 1))
    words = np.array(list(vocab), dtype=object)
    return words, p[:, 1].copy(), off, np.array(starts, dtype=np.int64)


def sample_texts(n: int, rng: np.random.Generator) -> list[list[int]]:
    """n word-id sequences from the chain, all advanced together one word per step (vectorized)."""
    words, succ, off, starts = markov_chain()
    lengths = np.clip(np.round(rng.lognormal(np.log(60), 0.6, n)), 8, 400).astype(np.int64)
    state = starts[rng.integers(0, starts.size, n)]
    out = np.zeros((n, int(lengths.max())), dtype=np.int64)
    for step in range(out.shape[1]):
        out[:, step] = state
        deg = off[state + 1] - off[state]
        dead = deg == 0  # a word only ever seen last: start a new sentence
        nxt = succ[np.minimum(off[state] + (rng.random(n) * np.maximum(deg, 1)).astype(np.int64), succ.size - 1)]
        state = np.where(dead, starts[rng.integers(0, starts.size, n)], nxt)
    return [row[:k].tolist() for row, k in zip(out, lengths)]


def edit(ids: list[int], rate: float, rng: np.random.Generator, vocab_size: int) -> list[int]:
    out = []
    for w in ids:
        if rng.random() >= rate:
            out.append(w)
            continue
        op = rng.integers(3)
        if op == 0:
            out.append(int(rng.integers(vocab_size)))  # substitution
        elif op == 2:
            out += [w, int(rng.integers(vocab_size))]  # insertion after w
        # op == 1: deletion
    return out or ids[:1]


@dataclass
class SynthData:
    texts: list[str]
    planted: np.ndarray  # (K, 2) int64 (original, variant)
    planted_rate: np.ndarray  # (K,) edit rate of each planted pair


def generate(n: int = 100_000, seed: int = 0, dup_share: float = 0.2) -> SynthData:
    """n texts of which about ``dup_share`` are planted variants of earlier originals, shuffled."""
    rng = np.random.default_rng(seed)
    words, *_ = markov_chain()
    n_var = int(n * dup_share)
    n_base = n - n_var
    base = sample_texts(n_base, rng)
    seqs = list(base)
    planted, rates = [], []
    origins = rng.choice(n_base, size=max(n_var // 2, 1), replace=False)
    k = 0
    while len(seqs) < n:
        o = int(origins[k % origins.size])
        k += 1
        for _ in range(int(rng.integers(1, 4))):
            if len(seqs) >= n:
                break
            r = float(rng.choice(EDIT_RATES))
            planted.append((o, len(seqs)))
            rates.append(r)
            seqs.append(edit(base[o], r, rng, len(words)))
    perm = rng.permutation(n)  # new position of each sequence
    texts: list[str] = [""] * n
    for i, s in enumerate(seqs):
        texts[perm[i]] = " ".join(words[s])
    pl = perm[np.array(planted, dtype=np.int64)] if planted else np.zeros((0, 2), np.int64)
    return SynthData(texts, pl, np.array(rates))


def iter_texts(n: int, seed: int = 0, chunk: int = 100_000) -> Iterator[str]:
    """n texts streamed in independently generated chunks (planted duplicates stay within a chunk), so a
    memory benchmark never holds more than one chunk of text."""
    for c in range(0, n, chunk):
        yield from generate(min(chunk, n - c), seed=seed + c).texts


def chat_records(data: SynthData, seed: int = 0) -> Iterator[dict]:
    """Each text as a chat record with a ner_finance-style answer (planted variants keep their original's
    answer), for a full-audit benchmark."""
    _, answers = corpus()
    rng = np.random.default_rng(seed)
    answer = rng.integers(0, len(answers), len(data.texts))
    answer[data.planted[:, 1]] = answer[data.planted[:, 0]]
    for t, a in zip(data.texts, answer):
        yield {"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": answers[a]}]}
