"""Exact ground truth for near-duplicate benchmarks: every pair with Jaccard >= t, over all pairs.

All-pairs similarity join with prefix filtering (Bayardo et al., "Scaling up all pairs similarity search",
WWW 2007): order every record's shingles by global frequency, rarest first. If J(x, y) >= t then
|x & y| >= t * max(|x|, |y|), so x and y share a shingle among the first |x| - ceil(t|x|) + 1 of x and the
first |y| - ceil(t|y|) + 1 of y. Pairs that share a prefix shingle and pass the length filter
(min/max size >= t) are verified by exact Jaccard. Nothing is sampled: the result is exact.
"""

from __future__ import annotations

import numpy as np

from tunewright.data.minhash import Shingles, exact_jaccard, sorted_unique


def all_pairs_above(sh: Shingles, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(pairs (K, 2) int64 with i < j, their Jaccard) for every pair with exact Jaccard >= t."""
    sizes = sh.sizes()
    R = len(sh)
    rec = np.repeat(np.arange(R), sizes)
    o = np.argsort(sh.ids, kind="stable")  # token number and document frequency by sorting (see sorted_unique)
    new = np.concatenate([[True], sh.ids[o][1:] != sh.ids[o][:-1]]) if o.size else np.zeros(0, bool)
    tok = np.empty(o.size, np.int64)
    tok[o] = np.cumsum(new) - 1
    df = np.bincount(tok)
    rank = df[tok] * np.int64(2**32) + tok  # global order: rarest first, ties by token
    order = np.lexsort((rank, rec))  # by record, then rank
    pos_in_rec = np.arange(rec.size) - np.repeat(sh.off[:-1], sizes)
    prefix = sizes - np.ceil(t * sizes - 1e-9).astype(np.int64) + 1  # (R,)
    keep = pos_in_rec < prefix[rec]  # position in rank order (order sorted by record keeps offsets)
    p_rec = rec[order][keep]
    p_tok = tok[order][keep]
    o = np.lexsort((p_rec, p_tok))  # group prefix entries by token
    p_rec, p_tok = p_rec[o], p_tok[o]
    same = p_tok[1:] == p_tok[:-1]
    run = np.concatenate([[0], np.cumsum(~same)])
    out = []
    pos = np.flatnonzero(np.concatenate([same, [False]]))
    d = 1
    while pos.size:
        pos = pos[pos + d < p_rec.size]
        pos = pos[run[pos + d] == run[pos]]
        if pos.size:
            out.append(np.stack([p_rec[pos], p_rec[pos + d]], axis=1))
        d += 1
    if not out:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    pairs = np.sort(np.concatenate(out), axis=1)
    code = sorted_unique(pairs[:, 0] * np.int64(R) + pairs[:, 1])
    pairs = np.stack([code // R, code % R], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    a, b = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
    pairs = pairs[np.minimum(a, b) >= t * np.maximum(a, b) - 1e-9]
    jac = exact_jaccard(sh, pairs)
    ok = jac >= t
    return pairs[ok], jac[ok]
