"""Uncertainty of every reported number: bootstrap confidence intervals, paired for base vs tuned.

Each metric is written as a function of per-item sufficient statistics (an (n, k) array), so one resampler
serves them all: entity F1 from per-example (tp, predicted, gold) counts, accuracy from 0/1 correctness,
corpus perplexity from per-paragraph (summed NLL, tokens). Paired: base and tuned rows are resampled with the
same indices, so the interval is for the change on the same items, which is much tighter than two separate
intervals.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from tunewright.registry import Registry

Statistic = Callable[[np.ndarray], np.ndarray]  # (B, n, k) -> (B,) ; also (n, k) -> scalar via the same code


@dataclass
class Interval:
    value: float
    low: float
    high: float
    level: float = 0.95

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_json(self) -> dict:
        return asdict(self)


def _sums(x: np.ndarray) -> np.ndarray:
    return x.sum(axis=-2)  # sum over items: (..., n, k) -> (..., k)


def micro_f1_stat(x: np.ndarray) -> np.ndarray:
    """x[..., :] = (tp, predicted, gold) per item; micro F1 = 2 tp / (predicted + gold), 1.0 when both are 0."""
    s = _sums(x)
    tp, pred, gold = s[..., 0], s[..., 1], s[..., 2]
    denom = pred + gold
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 1.0)


def micro_precision_stat(x: np.ndarray) -> np.ndarray:
    """(tp, predicted, gold) items; tp / predicted, and with nothing predicted 1.0 only if nothing was to find."""
    s = _sums(x)
    tp, pred, gold = s[..., 0], s[..., 1], s[..., 2]
    return np.where(pred > 0, tp / np.maximum(pred, 1e-12), np.where(gold > 0, 0.0, 1.0))


def micro_recall_stat(x: np.ndarray) -> np.ndarray:
    s = _sums(x)
    tp, pred, gold = s[..., 0], s[..., 1], s[..., 2]
    return np.where(gold > 0, tp / np.maximum(gold, 1e-12), np.where(pred > 0, 0.0, 1.0))


def class_micro_f1_stat(x: np.ndarray) -> np.ndarray:
    """Per-class (tp, fp, fn) triples, pooled over classes: 2 TP / (2 TP + FP + FN)."""
    s = _sums(x)
    s = s.reshape(*s.shape[:-1], -1, 3).sum(axis=-2)
    denom = 2 * s[..., 0] + s[..., 1] + s[..., 2]
    return np.where(denom > 0, 2 * s[..., 0] / np.maximum(denom, 1e-12), 0.0)


def mean_stat(x: np.ndarray) -> np.ndarray:
    return x[..., 0].mean(axis=-1)


def perplexity_stat(x: np.ndarray) -> np.ndarray:
    """x[..., :] = (summed NLL, tokens) per paragraph; token-weighted corpus perplexity."""
    s = _sums(x)
    return np.exp(s[..., 0] / s[..., 1])


def macro_f1_stat(x: np.ndarray) -> np.ndarray:
    """x[..., :] = per-class (tp, fp, fn) triples per item; macro F1 = mean over classes of 2tp / (2tp + fp + fn)."""
    s = _sums(x)
    s = s.reshape(*s.shape[:-1], -1, 3)  # (..., classes, 3)
    tp, fp, fn = s[..., 0], s[..., 1], s[..., 2]
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0).mean(axis=-1)


# Bootstrap statistics by name: a task or suite names the one its headline uses (Task.statistic).
STATISTICS = Registry("bootstrap statistic", "statistic")
for _name, _fn in {
    "micro_f1": micro_f1_stat, "micro_precision": micro_precision_stat, "micro_recall": micro_recall_stat,
    "mean": mean_stat, "perplexity": perplexity_stat, "macro_f1": macro_f1_stat, "class_micro_f1": class_micro_f1_stat,
}.items():
    STATISTICS.register(_name)(_fn)


def _resample(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))  # (B, n)


def _interval(value: float, boots: np.ndarray, level: float) -> Interval:
    a = (1 - level) / 2
    return Interval(value, float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a)), level)


def _as_items(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[:, None] if x.ndim == 1 else x


def _change(b, t, relative: bool):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (t - b) / np.abs(b) if relative else t - b


def bootstrap_ci(items: np.ndarray, stat: Statistic, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> Interval:
    """Percentile bootstrap interval of stat over items (n, k)."""
    items = _as_items(items)
    value = float(stat(items))
    if len(items) < 2:
        return Interval(value, value, value, level)
    return _interval(value, stat(items[_resample(len(items), n_boot, seed)]), level)  # boots: (B,)


def paired_bootstrap_diff(base: np.ndarray, tuned: np.ndarray, stat: Statistic, n_boot: int = 1000,
                          level: float = 0.95, seed: int = 0, relative: bool = False) -> Interval | None:
    """Interval of stat(tuned) - stat(base) (or the relative change) resampling the same items for both.

    None for a relative change from a base of zero, which has no relative change.
    """
    p = paired_intervals(base, tuned, stat, n_boot, level, seed)
    if relative:
        return p.rel_change
    return p.change if math.isfinite(p.change.value) else None


@dataclass
class PairedIntervals:
    """Every interval of one statistic on paired base/tuned items, from one set of resamples."""

    base: Interval
    tuned: Interval
    change: Interval
    rel_change: Interval | None  # None when the base value is 0 (no relative change)


def paired_intervals(base: np.ndarray, tuned: np.ndarray, stat: Statistic, n_boot: int = 1000,
                     level: float = 0.95, seed: int = 0) -> PairedIntervals:
    """Base and tuned intervals and the paired change, absolute and relative, bootstrapping the statistic once.

    The resample indices (B, n) depend only on n and the seed, so stat(base[idx]) and stat(tuned[idx]) serve all
    four intervals: each equals what :func:`bootstrap_ci` and :func:`paired_bootstrap_diff` give alone.
    """
    base, tuned = _as_items(base), _as_items(tuned)
    if base.shape[0] != tuned.shape[0]:
        raise ValueError(f"paired bootstrap needs the same items: {base.shape[0]} base vs {tuned.shape[0]} tuned")
    vb, vt = stat(base), stat(tuned)
    change, rel = float(_change(vb, vt, False)), float(_change(vb, vt, True))
    if len(base) < 2:
        same = lambda v: Interval(v, v, v, level)  # noqa: E731
        return PairedIntervals(same(float(vb)), same(float(vt)), same(change),
                               same(rel) if math.isfinite(rel) else None)
    idx = _resample(len(base), n_boot, seed)
    bb, bt = stat(base[idx]), stat(tuned[idx])  # (B,) each
    rel_boots = _change(bb, bt, True)
    rel_boots = rel_boots[np.isfinite(rel_boots)]  # resamples whose base is 0 have no relative change
    abs_boots = _change(bb, bt, False)
    return PairedIntervals(_interval(float(vb), bb, level), _interval(float(vt), bt, level),
                           _interval(change, abs_boots[np.isfinite(abs_boots)], level),
                           _interval(rel, rel_boots, level) if math.isfinite(rel) else None)


def mcnemar(base_correct: np.ndarray, tuned_correct: np.ndarray) -> dict:
    """Exact McNemar test on paired 0/1 outcomes: a binomial test on the discordant pairs."""
    from scipy.stats import binomtest

    b = np.asarray(base_correct, dtype=bool)
    t = np.asarray(tuned_correct, dtype=bool)
    only_base = int((b & ~t).sum())
    only_tuned = int((~b & t).sum())
    n = only_base + only_tuned
    p = 1.0 if n == 0 else float(binomtest(only_tuned, n, 0.5).pvalue)
    return {"only_base_correct": only_base, "only_tuned_correct": only_tuned, "p_value": p}


def relative(base: float, tuned: float) -> float | None:
    if base == 0 or not math.isfinite(base):
        return None
    return (tuned - base) / abs(base)
