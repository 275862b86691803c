"""Cheap screening for ``tunewright select``: predict each candidate's full-data metric from nested subsets
and drop the clearly dominated ones before their full fine-tune.

The rectified scaling law of Lin et al. (ICML 2024, arXiv 2402.02314) models fine-tuning loss on D examples as

    L(D) = B / (D_l + D^beta) + E

where D_l is the "pre-learned data size": how much of the task the pre-trained model already knows, which
bends the curve flat at small D (their "pre-power phase") before the power law. We fit it to the validation
*error* (1 - the task metric, all of which lie in [0, 1]) rather than the loss, because the metric is what is
selected on; the functional form is the same. Each candidate trains on nested shares of the training split
(steps scale with the share), is scored on the same validation items, and the law is fitted by bounded least
squares from several starts. The interval of the prediction at the full training split comes from resampling
the validation items (the same resample for every share, so the shares stay paired) and refitting.

A candidate is dropped when another one at no higher estimated serving cost has a predicted interval whose
low end lies above its high end (plus ``margin``): clearly worse and not cheaper.
"""

from __future__ import annotations

import warnings

import numpy as np


def rectified_law(d, b, d_l, beta, e):
    return b / (d_l + np.power(d, beta)) + e


def fit_rectified(sizes, errors, start=None) -> tuple[float, float, float, float]:
    """(B, D_l, beta, E) by bounded least squares, flat (B = 0) when the errors are. From ``start`` alone when
    given (a bootstrap refit starts from the point fit), else from a grid of starts, stopping at the first
    exact fit (with 3 or 4 subsets and 4 parameters there usually is one)."""
    from scipy.optimize import least_squares

    d, y = np.asarray(sizes, float), np.asarray(errors, float)
    if np.ptp(y) < 1e-12:
        return 0.0, 0.0, 1.0, float(y.mean())
    lo, hi = [0.0, 0.0, 0.05, 0.0], [1e9, 1e7, 3.0, 1.0]
    e = max(0.0, float(y.min()) - 0.05)
    grid = [[max(1e-6, float(y[0] - e) * (d_l + d[0] ** beta)), d_l, beta, e]
            for beta in (0.7, 0.3, 1.2) for d_l in (0.0, d[0], d[-1])]
    starts = [list(start)] if start is not None else grid
    best = None
    for x0 in starts:
        x0 = np.clip(x0, lo, hi)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = least_squares(lambda p: rectified_law(d, *p) - y, x0, bounds=(lo, hi),
                              x_scale=[max(x0[0], 1e-3), max(x0[1], 1.0), 1.0, 0.1], max_nfev=200)
        if best is None or r.cost < best.cost:
            best = r
        if best.cost < 1e-12:
            break
    return tuple(float(x) for x in best.x)  # type: ignore[return-value]


def predict_full(sizes: list[int], item_matrices: list[np.ndarray], stat, target: int, n_boot: int = 200,
                 level: float = 0.95, seed: int = 0) -> dict:
    """The metric predicted at ``target`` examples with its bootstrap interval over validation items."""
    values = np.array([float(stat(m)) for m in item_matrices])
    fit = fit_rectified(sizes, 1 - values)
    value = 1 - float(rectified_law(target, *fit))
    rng = np.random.default_rng(seed)
    n = item_matrices[0].shape[0]
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        v = np.array([float(stat(m[idx])) for m in item_matrices])
        boots.append(1 - float(rectified_law(target, *fit_rectified(sizes, 1 - v, start=fit))))
    a = (1 - level) / 2
    return {"sizes": list(sizes), "values": values.tolist(), "target": target,
            "fit": dict(zip(("B", "D_l", "beta", "E"), fit)), "value": value,
            "low": float(np.quantile(boots, a)), "high": float(np.quantile(boots, 1 - a)), "level": level}


def dominated(predictions: dict[str, dict], cost: dict[str, tuple], margin: float = 0.0) -> dict[str, str]:
    """name -> why it is dropped: another candidate, no costlier to serve (``cost`` tuples compare), whose
    predicted low end exceeds this one's high end by more than ``margin``."""
    out = {}
    for x, px in predictions.items():
        for y, py in predictions.items():
            if y != x and cost[y] <= cost[x] and py["low"] > px["high"] + margin:
                out[x] = (f"predicted {px['value']:.3f} [{px['low']:.3f}, {px['high']:.3f}] is below {y}'s "
                          f"{py['value']:.3f} [{py['low']:.3f}, {py['high']:.3f}], which is no costlier to serve")
                break
    return out
