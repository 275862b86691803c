"""Semantic near-duplicates: the same example in other words, found by MiniLM embedding cosine.

Optional (add ``semantic_duplicate`` to ``audit.checks``): embedding costs about a millisecond per example
on a CPU core. Pairs at or above ``semantic.flag_cosine`` (0.95) are joined into clusters (union-find);
pairs at or above ``semantic.duplicate_cosine`` (0.99) are duplicates, and all but the first member of such
a group is quarantined. Similarities are computed in row blocks, so memory is (block, n), never (n, n).
"""

from __future__ import annotations

import numpy as np

from tunewright.data.checks import BatchCheck, CheckContext, Verdict, register_check
from tunewright.records import Example


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the root is the earliest member


def similar_pairs(emb: np.ndarray, threshold: float, block: int = 1024) -> list[tuple[int, int, float]]:
    """(i, j, cosine) for i < j with cosine >= threshold; emb rows are L2-normalized (n, d)."""
    out = []
    n = emb.shape[0]
    for a in range(0, n, block):
        sims = emb[a:a + block] @ emb.T  # (block, n)
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist()):
            if c > a + r:
                out.append((a + r, c, float(sims[r, c])))
    return out


def example_text(ex: Example) -> str:
    return "\n".join(m["content"] for m in ex.to_chat() if m["role"] != "system")


@register_check("semantic_duplicate", order=100)  # opt-in: needs the embedding model
class SemanticDuplicateCheck(BatchCheck):
    """semantic_duplicate (cosine >= 0.99, all but the first) and semantic_near_duplicate (>= 0.95), clustered.

    Keeps one float32 embedding per example (1.5 kB); the pairs are found in ``finish``."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        from tunewright.data.embeddings import embed_texts

        self.parts.append(embed_texts([example_text(ex) for ex in batch], ctx.settings().semantic.batch_size))
        return []

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        s = ctx.settings().semantic
        if not self.parts:
            return []
        emb = np.concatenate(self.parts)
        self.parts = []
        pairs = similar_pairs(emb, s.flag_cosine)
        near, dup = UnionFind(len(emb)), UnionFind(len(emb))
        best: dict[int, tuple[float, int]] = {}
        for i, j, c in pairs:
            near.union(i, j)
            if c >= s.duplicate_cosine:
                dup.union(i, j)
            for a, b in ((i, j), (j, i)):
                if c > best.get(a, (0.0, -1))[0]:
                    best[a] = (c, b)
        out = []
        for i in sorted(best):
            c, other = best[i]
            cluster = near.find(i)
            if dup.find(i) != i:  # a later copy of an earlier example (in other words)
                out.append(Verdict(i, False, "semantic_duplicate", c,
                                   f"cosine {c:.3f} with {ctx.sources[dup.find(i)]}", cluster=cluster))
            elif c < s.duplicate_cosine:  # flagged for review; audit.keep_reasons keeps it by default
                out.append(Verdict(i, False, "semantic_near_duplicate", c,
                                   f"cosine {c:.3f} with {ctx.sources[other]}", cluster=cluster))
        return out
