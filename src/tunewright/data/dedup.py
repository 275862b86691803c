"""The near_duplicate check: one input of each near-duplicate cluster is kept, the others quarantined.

The engine (MinHash + LSH, exact Jaccard, clusters) is data/neardup.py, shared with the split and leakage.
"""

from __future__ import annotations

import numpy as np

from tunewright.data.checks import BatchCheck, CheckContext, Verdict, register_check
from tunewright.data.columns import Int64Parts
from tunewright.data.keys import key64, normalized_answer, normalized_input
from tunewright.data.neardup import NearDupIndex, NearDupParams, choose_kept, pair_jaccard, params_from_config
from tunewright.records import Example


def _snippet(ex: Example, n: int = 200) -> str:
    t = normalized_input(ex)
    return t if len(t) <= n else t[:n] + "…"


@register_check("near_duplicate", default=True, order=5)
class NearDuplicateCheck(BatchCheck):
    """Inputs that are near-duplicates of another input (word 5-gram Jaccard >= threshold; under ``short_words``
    words, at most ``short_edit_words`` word edits apart by character 5-grams and word sets, see
    :class:`NearDupParams`): one per cluster is kept by
    the configured rule, the others are flagged near_duplicate; a confirmed pair whose answers differ flags
    both members near_duplicate_conflict. Counts and a sample of clusters go to audit.json.

    Copies of one input are collapsed to their first occurrence (the representative) before hashing: exact
    copies belong to the exact-duplicate checks. Per distinct input it keeps a 64-bit key, its shingles and
    band keys (:class:`NearDupIndex`), its length and its answer's key."""

    def __init__(self) -> None:
        self.index: NearDupIndex | None = None
        self.seen = np.zeros(0, np.int64)  # sorted keys of the distinct inputs so far (8 bytes each)
        self.rep, self.lengths, self.answers = Int64Parts(), Int64Parts(), Int64Parts()
        self.snippets: dict[int, list[dict]] = {}  # example index -> sample members waiting for its text

    def _section(self, ctx: CheckContext):
        return ctx.config.audit.near_duplicates if ctx.config is not None else None

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        nd = self._section(ctx)
        if nd is not None and not nd.enabled:
            return []
        if self.index is None:
            self.index = NearDupIndex(params_from_config(nd) if nd is not None else NearDupParams())
        texts = [normalized_input(ex) for ex in batch]
        keys = np.array([key64(t) for t in texts], dtype=np.int64)
        _, first = np.unique(keys, return_index=True)  # the first of each input within the batch...
        first.sort()
        if self.seen.size:  # ...that no earlier batch had
            pos = np.minimum(np.searchsorted(self.seen, keys[first]), self.seen.size - 1)
            first = first[self.seen[pos] != keys[first]]
        self.seen = np.concatenate([self.seen, keys[first]])
        self.seen.sort(kind="stable")
        new = first.tolist()
        self.index.add([texts[k] for k in new])
        self.rep.add([start + k for k in new])
        self.lengths.add([len(texts[k]) for k in new])
        self.answers.add([key64(normalized_answer(batch[k])) for k in new])
        return []

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        if self.index is None:
            return []
        nd = self._section(ctx)
        params = self.index.params
        keep_rule = nd.keep if nd is not None else "first"
        drop, drop_conflicts = (nd.drop, nd.drop_conflicts) if nd is not None else (True, False)
        res = self.index.result(ctx.workers)
        self.index, self.seen = None, np.zeros(0, np.int64)
        rep, lengths, answers = self.rep.array(), self.lengths.array(), self.answers.array()
        src = ctx.sources
        out: list[Verdict] = []
        sample = []
        clusters = res.clusters()
        for members in clusters:
            kept = choose_kept(members, lengths, keep_rule)
            others = members[members != kept]
            jac = pair_jaccard(res.shingles, others, np.full_like(others, kept))
            kept_src = src[rep[kept]]
            for o, j in zip(others.tolist(), jac.tolist()):
                out.append(Verdict(int(rep[o]), not drop, "near_duplicate", round(j, 4),
                                   f"cluster of {members.size}; kept {kept_src} (rule '{keep_rule}'), "
                                   f"Jaccard {j:.2f} to it"))
            if len(sample) < 20:
                shown = [{"source": src[rep[m]], "input": ""} for m in members[:5]]
                for m, row in zip(members[:5].tolist(), shown):
                    self.snippets.setdefault(int(rep[m]), []).append(row)  # filled by revisit
                sample.append({"kept": kept_src, "members": shown})
        # near-duplicate pairs whose answers differ, per member: how many, the best Jaccard, the first 3 partners
        diff = answers[res.pairs[:, 0]] != answers[res.pairs[:, 1]] if len(res.pairs) else np.zeros(0, bool)
        cp, cj = res.pairs[diff], res.jaccard[diff]
        n_conflict_pairs = int(diff.sum())
        xs, ys = np.concatenate([cp[:, 0], cp[:, 1]]), np.concatenate([cp[:, 1], cp[:, 0]])
        js = np.concatenate([cj, cj])
        seq = np.concatenate([np.arange(len(cp)) * 2, np.arange(len(cp)) * 2 + 1])  # pair order, a before b
        order = np.lexsort((seq, xs))
        xs, ys, js = xs[order], ys[order], js[order]
        starts = np.flatnonzero(np.concatenate([[True], xs[1:] != xs[:-1]])) if xs.size else np.zeros(0, np.int64)
        ends = np.append(starts[1:], xs.size)
        for a, b in zip(starts.tolist(), ends.tolist()):
            x, best = int(xs[a]), float(js[a:b].max())
            ps = [f"{src[rep[y]]} (Jaccard {j:.2f})" for y, j in zip(ys[a:a + 3].tolist(), js[a:a + 3].tolist())]
            out.append(Verdict(int(rep[x]), not drop_conflicts, "near_duplicate_conflict", round(best, 4),
                               f"near-duplicate input with a different answer: {', '.join(ps)}"
                               + (f" and {b - a - 3} more" if b - a > 3 else "")))
        ctx.report["near_duplicates"] = {
            "threshold": params.threshold, "num_perm": params.num_perm, "ngram": params.ngram,
            "short_words": params.short_words, "short_min_words": params.short_min_words,
            "char_ngram": params.char_ngram,
            "short_threshold": params.short_threshold, "short_edit_words": params.short_edit_words,
            "short_edit_chars": params.short_edit_chars, "short": res.stats.get("short"),
            "bands": res.bands, "rows": res.rows, "distinct_inputs": int(rep.size),
            "candidate_pairs": res.candidates, "confirmed_pairs": int(len(res.pairs)),
            "clusters": len(clusters), "in_clusters": int(sum(m.size for m in clusters)),
            "flagged": int(sum(m.size - 1 for m in clusters)), "conflict_pairs": n_conflict_pairs,
            "conflict_examples": int(starts.size), "keep_rule": keep_rule, "sample_clusters": sample,
        }
        return out

    def revisit(self, batch: list[Example], start: int, ctx: CheckContext) -> None:
        """Second pass: the input text of the sample clusters' members, for the report."""
        for k, ex in enumerate(batch):
            for row in self.snippets.get(start + k, ()):
                row["input"] = _snippet(ex)
