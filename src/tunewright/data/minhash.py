"""Word and character n-gram shingles, MinHash signatures and LSH candidate pairs, vectorized over many records at once.

Why not datasketch: it hashes each shingle with SHA-1 in Python and permutes one record at a time; the
arithmetic is the same here but done for thousands of records per numpy call (benchmarks/data_audit measures
the difference in one run).

- A word is hashed once (xxh64, cached by word). A shingle's 64-bit hash is ``sum_k C_k * w[i+k] mod 2**64``
  over its n words (random odd C_k); its top 32 bits are the shingle's identity everywhere below: the set a
  MinHash estimates and the set whose exact Jaccard confirms a candidate are the same set of 32-bit values.
  (Two distinct shingles of one pair collide with probability ~|A u B|**2 / 2**33, ~5e-6 for 100-word texts.)
- Permutation p is ``(a_p * x + b_p) mod 2**32`` of the 32-bit key x, a_p odd: a bijection on 32-bit
  values (so it adds no collisions), one multiply and one add per value in uint32, where the wraparound is
  the modulo (datasketch 2's "affine32" scheme too; uint32 runs ~1.7x faster than a uint64 multiply-shift
  here and ~10x faster than ``(a*x+b) mod (2**61-1)``, which needs 128-bit products). The family is
  2-universal, not provably min-wise independent, so its accuracy is checked empirically: estimates of J are
  unbiased with the ideal standard error sqrt(J(1-J)/num_perm) (tests/unit/test_minhash.py), and recall
  against exact ground truth is measured in benchmarks/data_audit. The keys are already well mixed (top bits
  of a random linear combination of xxh64 word hashes), which is what datasketch's fmix pre-mix provides.
- Banding: b bands of r rows; a pair with Jaccard s shares at least one band with probability
  ``1 - (1 - s**r)**b``. (b, r) minimise the weighted false-positive plus false-negative probability mass
  around the threshold, as datasketch's ``_optimal_param`` does; since every candidate is confirmed by exact
  Jaccard, false negatives are weighted more by default (a false positive costs one set intersection, a false
  negative is a missed duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

import numpy as np
from scipy.integrate import quad

_U64 = np.uint64
_SEED = 0x7475_6E65  # "tune"


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique by sort: numpy 2's hash-based np.unique is ~10x slower on millions of uint64."""
    a = np.sort(a)
    if a.size == 0:
        return a
    return a[np.concatenate([[True], a[1:] != a[:-1]])]


def words(text: str) -> list[str]:
    """Word tokens of an already normalized text: whitespace-separated, punctuation kept as written (a regex
    for letter runs costs ~5x more and this is the hottest Python line of the stage)."""
    return text.split()


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising fp_weight * FP + fn_weight * FN, where FP is the
    integral of the candidate probability below the threshold and FN of its complement above it."""

    def prob(s: float, b: int, r: int) -> float:
        return 1.0 - (1.0 - s ** float(r)) ** float(b)

    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = quad(lambda s: prob(s, b, r), 0.0, threshold)[0]
            fn = quad(lambda s: 1 - prob(s, b, r), threshold, 1.0)[0]
            err = fp_weight * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


@dataclass
class Shingles:
    """Sorted unique 32-bit shingle ids of many records, concatenated: record k owns ``ids[off[k]:off[k+1]]``."""

    ids: np.ndarray  # (S,) uint32
    off: np.ndarray  # (R + 1,) int64

    def __len__(self) -> int:
        return len(self.off) - 1

    def sizes(self) -> np.ndarray:
        return np.diff(self.off)

    @staticmethod
    def concat(parts: list["Shingles"]) -> "Shingles":
        if not parts:
            return Shingles(np.zeros(0, np.uint32), np.zeros(1, np.int64))
        ids = np.concatenate([p.ids for p in parts])
        sizes = np.concatenate([p.sizes() for p in parts])
        return Shingles(ids, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))


_SPACE_BYTES = np.zeros(256, dtype=bool)  # ASCII whitespace; no UTF-8 continuation byte is below 0x80
_SPACE_BYTES[[0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]] = True
_M1, _M2 = _U64(0xFF51AFD7ED558CCD), _U64(0xC4CEB9FE1A85EC53)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection that spreads every input bit over the output)."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> _U64(33))
        h = h * _M1
        h ^= h >> _U64(33)
        h *= _M2
        h ^= h >> _U64(33)
    return h


class Shingler:
    """Turns normalized texts into word (or character) n-gram shingle sets, with no Python loop over words.

    Words are hashed in numpy from the UTF-8 bytes of a whole batch (see word_hashes). Words are the
    runs between ASCII whitespace bytes, which on normalize_text output (whitespace collapsed to ' ', turns
    joined by newlines) are exactly ``str.split()``'s words (``words`` below; the tests check it).
    """

    def __init__(self, ngram: int = 5, seed: int = _SEED, unit: str = "word"):
        if unit not in ("word", "char"):
            raise ValueError(f"shingle unit must be 'word' or 'char', got {unit!r}")
        self.ngram = ngram
        self.seed = seed
        self.unit = unit
        rng = np.random.default_rng(seed)
        self.coef = rng.integers(0, 2**63, ngram, dtype=np.uint64) * _U64(2) + _U64(1)  # (n,) odd
        self.base = int(rng.integers(0, 2**63)) * 2 + 1  # G: odd, so invertible mod 2**64
        self.base_inv = pow(self.base, -1, 2**64)
        self._pw = self._ipw = np.zeros(0, np.uint64)

    def _powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """G**(i+1) and G**-(i+1) mod 2**64 for i < n (cached; grown when a longer batch arrives)."""
        if self._pw.size < n:
            m = max(n, 2 * self._pw.size, 1 << 20)  # batches vary in size: grow with headroom
            with np.errstate(over="ignore"):
                self._pw = np.cumprod(np.full(m, self.base, dtype=np.uint64))
                self._ipw = np.cumprod(np.full(m, self.base_inv, dtype=np.uint64))
        return self._pw[:n], self._ipw[:n]

    def word_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(W,) uint64 hash of every word, records back to back, and (R,) words per record.

        A word's hash is fmix64 of its polynomial ``sum_j G**j * byte_j mod 2**64`` (G random and odd, so
        invertible mod 2**64): one prefix sum of ``G**(i+1) * byte_i`` over the whole batch gives every word
        as a difference of two prefix values times G**-(s+1), s its first byte, with no loop over words."""
        enc = [t.encode("utf-8") for t in texts]
        blen = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc)) + 1  # + the separator
        buf = np.frombuffer(b"\n".join(enc) + b"\n", dtype=np.uint8)  # (B,)
        is_word = ~_SPACE_BYTES[buf]
        edge = np.diff(is_word.view(np.int8), prepend=np.int8(0))  # +1 at a word's first byte, -1 after its last
        starts = np.flatnonzero(edge == 1)  # (W,)
        ends = np.flatnonzero(edge == -1) - 1  # (W,) last byte; the buffer ends with a separator
        rec_start = np.concatenate([[0], np.cumsum(blen)[:-1]])
        per_rec = np.diff(np.concatenate([np.searchsorted(starts, rec_start), [starts.size]]))
        if starts.size == 0:
            return np.zeros(0, np.uint64), per_rec
        pw, ipw = self._powers(buf.size)
        with np.errstate(over="ignore"):
            S = np.cumsum(pw * buf, dtype=np.uint64)  # (B,) prefix sums mod 2**64
            before = np.where(starts > 0, S[np.maximum(starts - 1, 0)], _U64(0))
            poly = (S[ends] - before) * ipw[starts]
        return fmix64(poly), per_rec

    def char_hashes64(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Character n-grams (``unit="char"``): every window of n bytes of each text's UTF-8 (the same as
        character n-grams on ASCII text; a non-ASCII character counts its 2-4 bytes), hashed as
        ``fmix64(sum_k C_k * byte[i+k])``; a text shorter than n bytes is one shingle; a text of whitespace
        only has none. Returns (S,) uint64 hashes and (S,) record index, like :meth:`hashes64`."""
        n = self.ngram
        enc = [t.encode("utf-8") if t.strip() else b"" for t in texts]
        L = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))  # (R,) bytes per record
        if not L.sum():
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        buf = np.frombuffer(b"".join(enc) + bytes(n), dtype=np.uint8).astype(np.uint64)  # (B + n,)
        starts = np.concatenate([[0], np.cumsum(L)[:-1]])
        count = np.where(L >= n, L - n + 1, np.minimum(L, 1))  # windows per record
        rec = np.repeat(np.arange(len(L)), count)  # (S,)
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        pos = starts[rec] + (np.arange(rec.size) - first[rec])  # (S,) first byte of each window
        B = int(L.sum())
        win = np.zeros(B, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(n):
                win += buf[k : k + B] * self.coef[k]
            h = win[pos]
            short = np.flatnonzero(L[rec] < n)  # a record shorter than n: its one window stops at its end
            end = (starts + L)[rec]
            for k in range(1, n):
                at = pos[short] + k
                spill = at >= end[short]
                h[short[spill]] -= buf[at[spill]] * self.coef[k]
        return fmix64(h), rec

    def hashes64(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """All shingle hashes (S,) uint64 in record order (duplicates kept) and their record index (S,).

        Words: a text with fewer than n words is one shingle of all its words; a text with none has no
        shingle. ``unit="char"``: see :meth:`char_hashes64`.
        """
        if self.unit == "char":
            return self.char_hashes64(list(texts))
        w, lens = self.word_hashes(list(texts))  # (W,) word hashes, records back to back
        L = np.array(lens, dtype=np.int64)  # (R,)
        starts = np.concatenate([[0], np.cumsum(L)[:-1]]) if len(L) else np.zeros(0, np.int64)
        n = self.ngram
        if w.size == 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        count = np.where(L >= n, L - n + 1, np.minimum(L, 1))  # shingles per record
        rec = np.repeat(np.arange(len(L)), count)  # (S,)
        first = np.concatenate([[0], np.cumsum(count)[:-1]]) if len(L) else np.zeros(0, np.int64)
        pos = starts[rec] + (np.arange(rec.size) - first[rec])  # (S,) first word of each shingle
        end = (starts + L)[rec]
        # Window sums at every word position from contiguous slices (no per-shingle gather): padded with n
        # zeros, the window at p is sum_k C_k w[p+k]; a short record's one window must stop at its end, so
        # the words of the next record are subtracted back out for those few.
        wp = np.concatenate([w, np.zeros(n, np.uint64)])
        win = np.zeros(w.size, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(n):
                win += wp[k : k + w.size] * self.coef[k]
            h = win[pos]
            short = np.flatnonzero(L[rec] < n)
            for k in range(1, n):
                at = pos[short] + k
                spill = at >= end[short]
                h[short[spill]] -= wp[at[spill]] * self.coef[k]
        return h, rec

    def shingles(self, texts: Iterable[str]) -> Shingles:
        """Sorted unique 32-bit shingle ids per record."""
        texts = list(texts)
        h, rec = self.hashes64(texts)
        key = (rec.astype(np.uint64) << _U64(32)) | (h >> _U64(32))  # sort by record, then shingle id
        key = sorted_unique(key)
        rec_u = (key >> _U64(32)).astype(np.int64)
        ids = (key & _U64(0xFFFFFFFF)).astype(np.uint32)
        off = np.searchsorted(rec_u, np.arange(len(texts) + 1)).astype(np.int64)
        return Shingles(ids, off)


class MinHasher:
    """num_perm affine permutations of 32-bit keys; signatures of many records per call."""

    def __init__(self, num_perm: int = 128, seed: int = _SEED, chunk_shingles: int = 4096):
        rng = np.random.default_rng(seed + 1)
        self.num_perm = num_perm
        self.a = (rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1))[:, None]  # (P, 1)
        self.b = rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32)[:, None]  # (P, 1)
        self.chunk = chunk_shingles  # a (P, chunk) uint32 block stays in cache: 4096 * 128 * 4 B = 2 MiB

    def signatures(self, sh: Shingles) -> np.ndarray:
        """(P, R) uint32 minima; a record without shingles gets all 0xFFFFFFFF (and must not be banded)."""
        R = len(sh)
        sig = np.full((self.num_perm, R), 0xFFFFFFFF, dtype=np.uint32)
        sizes = sh.sizes()
        nonempty = np.flatnonzero(sizes > 0)
        k = 0
        while k < nonempty.size:
            # records nonempty[k:j] whose shingles fit one chunk (a single huge record gets its own chunk)
            lo = sh.off[nonempty[k]]
            j = int(np.searchsorted(sh.off[nonempty + 1], lo + self.chunk, side="right"))
            j = max(j, k + 1)
            recs = nonempty[k:j]
            hi = sh.off[recs[-1] + 1]
            H = self.a * sh.ids[None, lo:hi]  # (P, S_chunk) uint32, wraps mod 2**32
            H += self.b
            sig[:, recs] = np.minimum.reduceat(H, sh.off[recs] - lo, axis=1)  # (P, len(recs))
            k = j
        return sig


def band_keys(sig: np.ndarray, bands: int, rows: int, seed: int = _SEED) -> np.ndarray:
    """(bands, R) uint64: one key per band per record; equal keys put two records in one bucket.

    The key is a random linear combination of the band's r values mod 2**64; two different bands collide with
    probability about 2**-32, which only adds a candidate that exact Jaccard then rejects."""
    rng = np.random.default_rng(seed + 2)
    coef = rng.integers(0, 2**63, (bands, rows), dtype=np.uint64) * _U64(2) + _U64(1)
    keys = np.zeros((bands, sig.shape[1]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(rows):
            keys += sig[j::rows][:bands].astype(np.uint64) * coef[:, j : j + 1]
    return keys


def band_pair_codes(keys: np.ndarray, members: np.ndarray, max_bucket_pairs: int = 64,
                    n: int | None = None) -> Iterator[np.ndarray]:
    """Per band, the sorted unique codes ``i * n + j`` (i < j) of the pairs of ``members`` that share that
    band's key (``n`` > every member). A band at a time, so a caller can drop the pairs it has seen before
    instead of holding every band's pairs at once.

    Within a bucket every member is paired with up to ``max_bucket_pairs`` members after it (in index order),
    so a degenerate bucket of m near-identical records costs O(m * max_bucket_pairs), not O(m**2); union-find
    still joins them into one cluster through the overlapping windows."""
    n = np.int64(n if n is not None else (int(members.max()) + 1 if members.size else 1))
    for band in keys:
        k = band[members]
        order = np.lexsort((members, k))
        ks, ms = k[order], members[order]
        del k, order
        same_next = ks[1:] == ks[:-1]
        if not same_next.any():
            continue
        run_id = np.concatenate([[0], np.cumsum(~same_next)])
        pos = np.flatnonzero(np.concatenate([same_next, [False]]))  # has at least one partner after it
        out = []
        for d in range(1, max_bucket_pairs + 1):
            pos = pos[pos + d < ks.size]
            pos = pos[run_id[pos + d] == run_id[pos]]
            if pos.size == 0:
                break
            a, b = ms[pos].astype(np.int64), ms[pos + d].astype(np.int64)
            out.append(np.minimum(a, b) * n + np.maximum(a, b))
        yield sorted_unique(np.concatenate(out))


def gather(sh: Shingles, recs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated shingle ids of ``recs`` (uint32) and, for each id, its position in ``recs``."""
    lo, sizes = sh.off[recs], sh.sizes()[recs]
    owner = np.repeat(np.arange(recs.size), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    idx = np.arange(owner.size, dtype=np.int64) + np.repeat(lo - first, sizes)  # lo[owner] + rank within record
    return sh.ids[idx], owner


def exact_jaccard(sh: Shingles, pairs: np.ndarray, batch: int = 2048) -> np.ndarray:
    """Exact Jaccard of the shingle sets of each pair (K,) float64, without a Python loop over pairs.

    For a batch of pairs, each side's ids are tagged with the pair number (pair << 32 | id). A record's ids are
    sorted and unique (:meth:`Shingler.shingles`), so each side's tagged array is sorted, and a shared shingle
    of a pair is a value of the second side found in the first: one ``searchsorted`` of sorted keys, which
    NumPy walks forward from the previous hit. That was 1.4-1.6x faster than sorting both sides together (the
    earlier method; measured on a shared machine), which stays as the fallback for ids that are not sorted."""
    out = np.zeros(len(pairs), dtype=np.float64)
    sizes = sh.sizes()
    for s in range(0, len(pairs), batch):
        p = pairs[s : s + batch]
        ia, oa = gather(sh, p[:, 0])
        ib, ob = gather(sh, p[:, 1])
        ta = (oa.astype(np.uint64) << _U64(32)) | ia.astype(np.uint64)
        tb = (ob.astype(np.uint64) << _U64(32)) | ib.astype(np.uint64)
        if ta.size and tb.size and bool(np.all(ta[1:] > ta[:-1])) and bool(np.all(tb[1:] > tb[:-1])):
            at = np.minimum(np.searchsorted(ta, tb), ta.size - 1)
            inter = np.bincount(ob[ta[at] == tb], minlength=len(p))
        else:
            tagged = np.sort(np.concatenate([ta, tb]))
            dup = tagged[1:][tagged[1:] == tagged[:-1]]
            inter = np.bincount((dup >> _U64(32)).astype(np.int64), minlength=len(p))
        union = sizes[p[:, 0]] + sizes[p[:, 1]] - inter
        out[s : s + len(p)] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out


def batched(it: Iterable[str], size: int) -> Iterator[list[str]]:
    buf: list[str] = []
    for x in it:
        buf.append(x)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf
