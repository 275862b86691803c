"""Near-duplicate detection: MinHash + LSH candidates, confirmed by exact Jaccard, clustered by union-find.

``find_near_duplicates`` is the engine the near_duplicate check (dedup.py), the leakage check and the split
use; the check decides what to keep. Texts stream through in batches: memory holds each record's unique
32-bit shingle ids (for the exact confirmation) and its band keys, never its signature or its text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

from tunewright.data.keys import normalized_input
from tunewright.data.minhash import (MinHasher, Shingler, Shingles, band_keys, band_pair_codes, batched, exact_jaccard,
                                     gather, optimal_bands)
from tunewright.records import Example

PROGRESS_MIN_RECORDS = 20_000  # below this the whole stage takes about a second: no bar
WORDS_PER_EDIT = 4  # the word budget is at most one edit per 4 words of the shorter text: 2 from 8 words on


@dataclass(frozen=True)
class NearDupParams:
    """Shingles fit the text's length: inputs of ``short_min_words`` to ``short_words`` - 1 words are compared
    on character ``char_ngram``-grams, the others on word ``ngram``-grams at ``threshold`` (under 6 words a
    one-word edit makes another text: "pay 12" is not "pay 13"). The two families are indexed apart, each
    with its own LSH bands; a pair across the boundary is never compared.

    Short inputs are near-duplicates when they are at most k = ``short_edit_words`` word edits apart (one
    per 4 words of the shorter text at most) by two signals (:func:`confirm_pairs`): at most k distinct words
    of either are missing from the other, and their character n-gram Jaccard is at least what k edits leave.
    One edit of a w-byte word changes about w + n - 1 of a text's S character n-grams, so k edits of
    ``short_edit_chars``-byte words leave J >= (S - D) / (S + D), D = k * (short_edit_chars + n - 1) (20 with
    the defaults): the floor ``short_threshold`` (0.5) up to ~10 words, 0.84 at 40. The LSH bands are derived
    from ``short_threshold``. ``short_edit_words=0``: a plain Jaccard threshold ``short_threshold``.
    (Calibrated on one set of real sentences, reported on another: benchmarks/data_audit/short_neardup.py.)"""

    threshold: float = 0.8
    num_perm: int = 128
    ngram: int = 5
    fn_weight: float = 0.95  # weight of false negatives in the (bands, rows) choice; false positives get 1 - it
    batch_records: int = 2048  # texts per numpy batch: ~20 MB of temporaries, as fast as larger batches
    max_bucket_pairs: int = 64
    seed: int = 0x7475_6E65
    unit: str = "word"
    short_words: int = 50  # 0: word n-grams for every length
    short_min_words: int = 6  # below this a one-word edit is another text ("pay 12" vs "pay 13"): word n-grams
    char_ngram: int = 5
    short_threshold: float = 0.5
    short_edit_words: int = 2  # 0: character Jaccard >= short_threshold only
    short_edit_chars: int = 6  # bytes of an edited word with its separator: 5 bytes per word on average, 7 at p75
    short_band_threshold: float | None = 0.6  # the short family's LSH bands (None: short_threshold)
    band_threshold: float | None = None  # this family's LSH bands are derived from it (None: threshold)

    def bands_rows(self) -> tuple[int, int]:
        t = self.band_threshold if self.band_threshold is not None else self.threshold
        return optimal_bands(t, self.num_perm, 1.0 - self.fn_weight, self.fn_weight)

    def families(self) -> list["NearDupParams"]:
        """[word family] or [word family, character family] (index 1 = short inputs)."""
        word = replace(self, short_words=0)
        if self.unit != "word" or self.short_words <= 0:
            return [word]
        return [word, replace(word, unit="char", ngram=self.char_ngram, threshold=self.short_threshold,
                              band_threshold=self.short_band_threshold)]

    def edit_budget(self) -> int:
        """D: character n-grams that ``short_edit_words`` edits change in one text (0: no budget)."""
        if self.unit != "char" or self.short_edit_words <= 0:
            return 0
        return self.short_edit_words * (self.short_edit_chars + self.ngram - 1)

    def family_of(self, texts: list[str]) -> np.ndarray:
        """(R,) int: 1 for texts of ``short_min_words`` to ``short_words`` - 1 words (character n-grams), else 0."""
        if self.unit != "word" or self.short_words <= 0:
            return np.zeros(len(texts), np.int64)
        lo, hi = self.short_min_words, self.short_words
        return np.fromiter((lo <= len(t.split()) < hi for t in texts), dtype=np.int64, count=len(texts))


@dataclass
class NearDupResult:
    pairs: np.ndarray  # (K, 2) int64, i < j, confirmed: exact Jaccard >= threshold
    jaccard: np.ndarray  # (K,) float64
    labels: np.ndarray  # (R,) int64 cluster id per record; singletons have their own id
    shingles: Shingles
    candidates: int = 0  # LSH candidate pairs before confirmation
    bands: int = 0
    rows: int = 0
    stats: dict = field(default_factory=dict)

    def clusters(self) -> list[np.ndarray]:
        """Members (sorted indices) of every cluster with more than one record."""
        order = np.argsort(self.labels, kind="stable")
        lab = self.labels[order]
        cuts = np.flatnonzero(np.diff(lab)) + 1
        return [g for g in np.split(order, cuts) if g.size > 1]


def union_find_labels(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of the pair graph (what a union-find over the pairs yields), done by scipy."""
    if len(pairs) == 0:
        return np.arange(n, dtype=np.int64)
    g = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(g, directed=False)[1].astype(np.int64)


def confirm_pairs(params: NearDupParams, sh: Shingles, wsh: Shingles | None, n_words: np.ndarray | None,
                  pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ok (K,) bool, Jaccard (K,)) for candidate pairs (K, 2) of one family under its ``params``. Word
    family or no edit budget: exact Jaccard >= threshold. Otherwise both signals of a k-edit difference,
    k = min(short_edit_words, words // WORDS_PER_EDIT) for the pair's shorter text (``n_words``; 6-7 words get
    one edit: two would change a third of them): at most k distinct words (``wsh``, word 1-grams) of either
    text missing from the other, and character Jaccard J >= max(threshold, (S - D) / (S + D)), S the smaller
    n-gram count of the pair and D = :meth:`NearDupParams.edit_budget`. Cheapest test first: the length
    bound J <= S / max, then the word sets (~20 ids a text), then the character sets (~100); a pair that
    fails early gets Jaccard 0."""
    D = params.edit_budget()
    if D == 0 or wsh is None or n_words is None or len(pairs) == 0:
        jac = exact_jaccard(sh, pairs)
        return jac >= params.threshold, jac
    sizes = sh.sizes()
    sa, sb = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
    S = np.minimum(sa, sb).astype(np.float64)
    need = np.maximum(params.threshold, (S - D) / (S + D))  # (K,) the pair's character Jaccard threshold
    k = np.minimum(params.short_edit_words,
                   np.minimum(n_words[pairs[:, 0]], n_words[pairs[:, 1]]) // WORDS_PER_EDIT)  # (K,) word budget
    at = np.flatnonzero(S >= need * np.maximum(sa, sb))
    w = wsh.sizes()
    wa, wb = w[pairs[at, 0]], w[pairs[at, 1]]
    at = at[np.abs(wa - wb) <= k[at]]
    wa, wb = w[pairs[at, 0]], w[pairs[at, 1]]
    wj = exact_jaccard(wsh, pairs[at])
    shared = np.rint(wj * (wa + wb) / (1.0 + wj))  # |A & B| from J = I / (|A| + |B| - I)
    at = at[np.maximum(wa - shared, wb - shared) <= k[at]]
    jac = np.zeros(len(pairs))
    jac[at] = exact_jaccard(sh, pairs[at])
    return jac >= need, jac


class _FamilyIndex:
    """The engine for one shingle family, fed batch by batch: per text it keeps the unique 32-bit shingle ids
    (for the exact confirmation) and the LSH band keys, never the signature or the text."""

    def __init__(self, params: NearDupParams = NearDupParams()) -> None:
        self.params = params
        self.bands, self.rows = params.bands_rows()
        self.shingler = Shingler(params.ngram, params.seed, params.unit)
        self.hasher = MinHasher(params.num_perm, params.seed)
        self.words = Shingler(1, params.seed) if params.edit_budget() else None  # the edit budget's word sets
        self.sh_parts: list[Shingles] = []
        self.word_parts: list[Shingles] = []
        self.count_parts: list[np.ndarray] = []  # (B,) words per text, for the word budget
        self.key_parts: list[np.ndarray] = []

    def add(self, texts: list[str]) -> None:
        for batch in batched(texts, self.params.batch_records):
            sh = self.shingler.shingles(batch)
            sig = self.hasher.signatures(sh)  # (P, B) uint32, dropped after banding
            self.key_parts.append(band_keys(sig, self.bands, self.rows, self.params.seed))
            self.sh_parts.append(sh)
            if self.words is not None:
                self.word_parts.append(self.words.shingles(batch))
                self.count_parts.append(_word_counts(batch))

    def result(self, workers: int = 1) -> NearDupResult:
        """Every pair whose shingle sets have Jaccard >= threshold (character family: that passes
        :func:`confirm_pairs`), found with high probability (see minhash.py for the S-curve), and the
        clusters they form. Consumes the index.

        The bands' candidates are collected band by band, each dropping those an earlier band found: memory
        holds the codes of the candidates (8 bytes each), never every band's pairs at once. They are then
        confirmed in chunks, in ``workers`` forked processes (data/parallel.py:fork_map)."""
        from tunewright.data.parallel import fork_map

        sh = _concat_consuming(self.sh_parts)
        wsh = _concat_consuming(self.word_parts) if self.words is not None else None
        n_words = np.concatenate(self.count_parts) if self.count_parts else None
        keys = _stack_consuming(self.key_parts, self.bands)
        n = max(len(sh), 1)
        members = np.flatnonzero(sh.sizes() > 0)  # a text without words is no one's near-duplicate
        seen = np.zeros(0, np.int64)
        for codes in band_pair_codes(keys, members, self.params.max_bucket_pairs, n):
            if seen.size:
                pos = np.minimum(np.searchsorted(seen, codes), seen.size - 1)
                codes = codes[seen[pos] != codes]
            if codes.size:
                seen = np.concatenate([seen, codes])
                seen.sort(kind="stable")  # two sorted runs: a linear merge
        del keys
        shared = {"params": self.params, "sh": sh, "wsh": wsh, "n_words": n_words, "n": n}
        chunk = max(CONFIRM_CHUNK, -(-seen.size // (4 * max(1, workers))))  # a few chunks per worker: balance
        parts = fork_map(_confirm_chunk, [seen[a:a + chunk] for a in range(0, seen.size, chunk)], shared, workers)
        code = np.concatenate([c for c, _ in parts]) if parts else np.zeros(0, np.int64)
        jac = np.concatenate([j for _, j in parts]) if parts else np.zeros(0)
        pairs = np.stack([code // n, code % n], axis=1) if code.size else np.zeros((0, 2), np.int64)
        labels = union_find_labels(len(sh), pairs)
        return NearDupResult(pairs, jac, labels, sh, candidates=int(seen.size), bands=self.bands, rows=self.rows,
                             stats={"records": len(sh), "shingles": int(sh.ids.size)})


CONFIRM_CHUNK = 200_000  # candidate pairs per confirmation call: temporaries stay ~100 MB


def _confirm_chunk(shared: dict, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confirmed codes, their Jaccard) of sorted candidate codes ``i * n + j``, in pieces of CONFIRM_CHUNK."""
    n, out_c, out_j = shared["n"], [], []
    for a in range(0, codes.size, CONFIRM_CHUNK):
        c = codes[a:a + CONFIRM_CHUNK]
        ok, jac = confirm_pairs(shared["params"], shared["sh"], shared["wsh"], shared["n_words"],
                                np.stack([c // n, c % n], axis=1))
        out_c.append(c[ok])
        out_j.append(jac[ok])
    return np.concatenate(out_c), np.concatenate(out_j)


class NearDupIndex:
    """The near-duplicate engine, fed batch by batch: texts go to the family their length picks
    (:meth:`NearDupParams.families`); the result maps every family's pairs back to input order."""

    def __init__(self, params: NearDupParams = NearDupParams()) -> None:
        self.params = params
        self.fams = [_FamilyIndex(p) for p in params.families()]
        self.bands, self.rows = self.fams[0].bands, self.fams[0].rows
        self.which: list[np.ndarray] = []

    def add(self, texts: list[str]) -> None:
        fam = self.params.family_of(texts)
        self.which.append(fam)
        for f, index in enumerate(self.fams):
            index.add([t for t, k in zip(texts, fam.tolist()) if k == f])

    def result(self, workers: int = 1) -> NearDupResult:
        """Every pair whose shingle sets have Jaccard >= their family's threshold, and the clusters they form.
        Consumes the index. ``workers``: processes that confirm the candidates."""
        which = np.concatenate(self.which) if self.which else np.zeros(0, np.int64)
        parts = [index.result(workers) for index in self.fams]
        glob = [np.flatnonzero(which == f) for f in range(len(parts))]  # family-local -> input position
        pairs = np.concatenate([g[r.pairs] for g, r in zip(glob, parts)]) if len(which) else np.zeros((0, 2), np.int64)
        jac = np.concatenate([r.jaccard for r in parts])
        order = np.lexsort((pairs[:, 1], pairs[:, 0])) if len(pairs) else np.zeros(0, np.int64)
        pairs, jac = pairs[order].reshape(-1, 2), jac[order]
        sh = _merge_shingles([r.shingles for r in parts], glob, len(which))
        stats = {"records": len(which), "shingles": int(sh.ids.size)}
        if len(parts) > 1:
            r = parts[1]
            stats["short"] = {"records": r.stats["records"], "bands": r.bands, "rows": r.rows,
                              "candidate_pairs": r.candidates, "confirmed_pairs": int(len(r.pairs))}
        return NearDupResult(pairs, jac, union_find_labels(len(which), pairs), sh,
                             candidates=sum(r.candidates for r in parts), bands=parts[0].bands, rows=parts[0].rows,
                             stats=stats)


def _word_counts(texts: list[str]) -> np.ndarray:
    return np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))


def _merge_shingles(parts: list[Shingles], glob: list[np.ndarray], n: int) -> Shingles:
    """One Shingles in input order from per-family ones (``glob[f][k]``: input position of family f's k-th)."""
    if len(parts) == 1:
        return parts[0]
    sizes = np.zeros(n, np.int64)
    for sh, g in zip(parts, glob):
        sizes[g] = sh.sizes()
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = np.empty(int(off[-1]), np.uint32)
    for sh, g in zip(parts, glob):
        if g.size:
            idx, owner = gather(sh, np.arange(len(sh)))
            ids[off[g][owner] + (np.arange(owner.size) - sh.off[:-1][owner])] = idx
    return Shingles(ids, off)


def _concat_consuming(parts: list[Shingles]) -> Shingles:
    """Shingles.concat that frees each part once copied: the peak is the result plus one part, not twice."""
    sizes = np.concatenate([p.sizes() for p in parts]) if parts else np.zeros(0, np.int64)
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = np.empty(int(off[-1]), np.uint32)
    at = 0
    while parts:
        p = parts.pop(0)
        ids[at:at + p.ids.size] = p.ids
        at += p.ids.size
    return Shingles(ids, off)


def _stack_consuming(parts: list[np.ndarray], bands: int) -> np.ndarray:
    keys = np.empty((bands, sum(p.shape[1] for p in parts)), np.uint64)
    at = 0
    while parts:
        p = parts.pop(0)
        keys[:, at:at + p.shape[1]] = p
        at += p.shape[1]
    return keys


def find_near_duplicates(
    texts: Iterable[str], params: NearDupParams = NearDupParams(), total: int | None = None, desc: str = "near-duplicates"
) -> NearDupResult:
    """Every pair of ``texts`` (already normalized) that are near-duplicates, and their clusters
    (:class:`NearDupIndex` over all of them)."""
    index = NearDupIndex(params)
    show = total is not None and total >= PROGRESS_MIN_RECORDS
    with tqdm(total=total, desc=desc, unit="rec", disable=not show, file=sys.stderr) as bar:
        for batch in batched(texts, params.batch_records):
            index.add(batch)
            bar.update(len(batch))
    return index.result()


class _FamilyReferenceIndex:
    """One shingle family's near-duplicates of a fixed set of reference texts (a test set's inputs) among texts streamed past it:
    the references' shingles and band keys are kept, the streamed texts are hashed and forgotten batch by
    batch. Same engine and parameters as :class:`NearDupIndex`, so a pair is found by one iff by the other."""

    def __init__(self, refs: list[str], params: NearDupParams = NearDupParams()) -> None:
        self.params = params
        self.bands, self.rows = params.bands_rows()
        self.shingler = Shingler(params.ngram, params.seed, params.unit)
        self.hasher = MinHasher(params.num_perm, params.seed)
        self.sh = Shingles.concat([self.shingler.shingles(b) for b in batched(refs, params.batch_records)])
        self.words = Shingler(1, params.seed) if params.edit_budget() else None
        self.wsh = self.words.shingles(refs) if self.words is not None else None
        self.n_words = _word_counts(refs)
        self.sorted_keys, self.owners = [], []
        if not refs:
            return
        keys = self._keys(self.sh)
        live = np.flatnonzero(self.sh.sizes() > 0)  # a text without words is no one's near-duplicate
        for band in keys:
            order = np.argsort(band[live], kind="stable")
            self.sorted_keys.append(band[live][order])
            self.owners.append(live[order])

    def _keys(self, sh: Shingles) -> np.ndarray:
        return band_keys(self.hasher.signatures(sh), self.bands, self.rows, self.params.seed)

    def best_matches(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per text: the reference it is most similar to among its near-duplicates (Jaccard >= threshold,
        :func:`confirm_pairs`; -1: none), and that Jaccard (0.0: none)."""
        n = len(texts)
        best, best_j = np.full(n, -1, np.int64), np.zeros(n)
        if n == 0 or not self.sorted_keys:
            return best, best_j
        sh = self.shingler.shingles(texts)
        keys = self._keys(sh)
        live = sh.sizes() > 0
        parts = []
        for band, sk, own in zip(keys, self.sorted_keys, self.owners):
            lo, hi = np.searchsorted(sk, band, "left"), np.searchsorted(sk, band, "right")
            cnt = np.where(live, hi - lo, 0)
            if not cnt.any():
                continue
            rows = np.repeat(np.arange(n), cnt)
            step = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            parts.append(np.stack([rows, own[np.repeat(lo, cnt) + step]], axis=1))
        if not parts:
            return best, best_j
        cand = np.unique(np.concatenate(parts), axis=0)
        both = Shingles.concat([sh, self.sh])
        wboth = Shingles.concat([self.words.shingles(texts), self.wsh]) if self.words is not None else None
        glued = np.stack([cand[:, 0], cand[:, 1] + n], axis=1).astype(np.int64)  # (K, 2) into ``both``
        ok, jac = confirm_pairs(self.params, both, wboth, np.concatenate([_word_counts(texts), self.n_words]), glued)
        # best per text: sort by (text, -jaccard, reference) and take each text's first
        c, j = cand[ok], jac[ok]
        order = np.lexsort((c[:, 1], -j, c[:, 0]))
        c, j = c[order], j[order]
        first = np.concatenate([[True], c[1:, 0] != c[:-1, 0]]) if len(c) else np.zeros(0, bool)
        best[c[first, 0]], best_j[c[first, 0]] = c[first, 1], j[first]
        return best, best_j


class ReferenceIndex:
    """Near-duplicates of a fixed set of reference texts (a test set's inputs) among texts streamed past it:
    the references' shingles and band keys are kept, the streamed texts are hashed and forgotten batch by
    batch. Same engine, families and parameters as :class:`NearDupIndex`, so a pair is found by one iff by
    the other."""

    def __init__(self, refs: list[str], params: NearDupParams = NearDupParams()) -> None:
        self.params = params
        fam = params.family_of(refs)
        self.glob = [np.flatnonzero(fam == f) for f in range(len(params.families()))]
        self.fams = [_FamilyReferenceIndex([refs[k] for k in g.tolist()], p)
                     for g, p in zip(self.glob, params.families())]

    def best_matches(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per text: the reference it is most similar to among those at Jaccard >= its family's threshold
        (-1: none), and that Jaccard (0.0: none)."""
        n = len(texts)
        best, best_j = np.full(n, -1, np.int64), np.zeros(n)
        fam = self.params.family_of(texts)
        for f, (index, g) in enumerate(zip(self.fams, self.glob)):
            at = np.flatnonzero(fam == f)
            if not at.size:
                continue
            b, j = index.best_matches([texts[k] for k in at.tolist()])
            hit = b >= 0
            best[at[hit]], best_j[at[hit]] = g[b[hit]], j[hit]
        return best, best_j


KEEP_RULES = ("first", "longest", "shortest")


def choose_kept(members: np.ndarray, lengths: np.ndarray, rule: str) -> int:
    """The member a cluster keeps: the first in input order, or the longest/shortest (ties: the first)."""
    if rule == "first":
        return int(members.min())
    ms = np.sort(members)
    ln = lengths[ms]
    return int(ms[np.argmax(ln)] if rule == "longest" else ms[np.argmin(ln)])


def pair_jaccard(sh: Shingles, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.size == 0:
        return np.zeros(0)
    return exact_jaccard(sh, np.stack([a, b], axis=1).astype(np.int64))


def params_from_config(section) -> NearDupParams:
    """NearDupParams from an ``audit.near_duplicates`` config section."""
    return NearDupParams(threshold=section.threshold, num_perm=section.num_perm, ngram=section.ngram,
                         fn_weight=section.lsh_false_negative_weight, short_words=section.short_words,
                         short_min_words=section.short_min_words, char_ngram=section.char_ngram,
                         short_threshold=section.short_threshold, short_edit_words=section.short_edit_words,
                         short_edit_chars=section.short_edit_chars, short_band_threshold=section.short_band_threshold)


@dataclass
class InputClusters:
    """Near-duplicate clusters over examples' normalized inputs. Copies of one input are collapsed to their
    first occurrence (the representative) before hashing: exact copies belong to the exact-duplicate checks."""

    rep: np.ndarray  # (U,) example index of each distinct input
    result: NearDupResult  # over the U distinct inputs
    example_labels: np.ndarray  # (N,) cluster id per example; copies share their representative's


def cluster_inputs(examples: list[Example], params: NearDupParams, desc: str = "near-duplicates") -> InputClusters:
    first_of: dict[str, int] = {}
    rep_of = np.empty(len(examples), dtype=np.int64)  # example -> position among distinct inputs
    rep: list[int] = []
    texts: list[str] = []
    for i, ex in enumerate(examples):
        t = normalized_input(ex)
        u = first_of.get(t)
        if u is None:
            u = first_of[t] = len(rep)
            rep.append(i)
            texts.append(t)
        rep_of[i] = u
    res = find_near_duplicates(texts, params, total=len(texts), desc=desc)
    return InputClusters(np.array(rep, dtype=np.int64), res, res.labels[rep_of] if len(examples) else rep_of)
