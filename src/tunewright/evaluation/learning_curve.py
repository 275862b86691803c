"""Learning curve: how much would more labeled data help?

Train on growing shares of the training split with the same budget per example (steps scale with the
share), score the task on the same test items, fit a saturating power law

    metric(n) = a - b * n^(-c),      b >= 0, c > 0

and predict the metric at 2x and 4x the data. The interval comes from the test set: the test items are
resampled (the same resample for every size, so the sizes stay paired), the curve is refitted on each
resample and the predictions' percentiles are reported. It captures evaluation noise, not the variance
between training runs, which would need several seeds per size.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from tunewright.config import Config
from tunewright.evaluation.stats import STATISTICS
from tunewright.evaluation.tasks import make_task
from tunewright.project import Run, read_json, write_json

FRACTIONS = (0.25, 0.5, 1.0)


def power_law(n, a, b, c):
    return a - b * np.power(n, -c)


def fit_power_law(sizes: np.ndarray, values: np.ndarray, ceiling: float = np.inf) -> tuple[float, float, float]:
    """Least-squares fit of a - b n^-c (a <= ceiling: 1.0 for a bounded metric); flat when the points are."""
    from scipy.optimize import curve_fit

    sizes, values = np.asarray(sizes, float), np.asarray(values, float)
    if np.ptp(values) < 1e-12:
        return float(values[-1]), 0.0, 1.0
    p0 = (min(float(values.max()) + 0.1, ceiling - 1e-6), float(np.ptp(values)) * float(sizes[0]) ** 0.5, 0.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(power_law, sizes, values, p0=p0, bounds=([-np.inf, 0, 1e-3], [ceiling, np.inf, 5]),
                                maxfev=20000)
        return tuple(float(x) for x in popt)  # type: ignore[return-value]
    except (RuntimeError, ValueError):
        return float(values[-1]), 0.0, 1.0


def fit_warnings(values: np.ndarray, c: float) -> list[str]:
    out = []
    if np.any(np.diff(values) < 0):
        out.append("the measured points do not rise with the data (a smaller share did better than a larger one, "
                   "e.g. a collapse onto the majority answer): a power law describes this poorly")
    if c <= 1.01e-3:
        out.append("the fitted exponent sits at its lower bound: the curve is not saturating within the measured "
                   "range, so the extrapolation is close to a straight line in log(data)")
    return out


def fit_and_predict(sizes: list[int], item_matrices: list[np.ndarray], statistic: str, cfg: Config,
                    multiples=(2, 4), ceiling: float = 1.0) -> dict:
    """Fit on the measured sizes and predict at multiples of the largest; ceiling bounds the asymptote."""
    stat = STATISTICS[statistic]
    values = np.array([float(stat(m)) for m in item_matrices])
    a, b, c = fit_power_law(np.array(sizes), values, ceiling)
    n_max = sizes[-1]
    pred = {f"{k}x": float(power_law(k * n_max, a, b, c)) for k in multiples}
    rng = np.random.default_rng(cfg.stats.seed)
    n_items = item_matrices[0].shape[0]
    boots = {k: [] for k in pred}
    for _ in range(min(cfg.stats.bootstrap_samples, 300)):  # each resample is a curve fit: keep it bounded
        idx = rng.integers(0, n_items, n_items)
        v = np.array([float(stat(m[idx])) for m in item_matrices])
        ba, bb, bc = fit_power_law(np.array(sizes), v, ceiling)
        for k in multiples:
            boots[f"{k}x"].append(float(power_law(k * n_max, ba, bb, bc)))
    lo_q, hi_q = (1 - cfg.stats.confidence) / 2, 1 - (1 - cfg.stats.confidence) / 2
    return {
        "sizes": sizes, "values": values.tolist(), "fit": {"a": a, "b": b, "c": c},
        "predictions": {k: {"size": int(k[:-1]) * n_max, "value": v, "low": float(np.quantile(boots[k], lo_q)),
                            "high": float(np.quantile(boots[k], hi_q))} for k, v in pred.items()},
        "level": cfg.stats.confidence,
        "warnings": fit_warnings(values, c),
    }


def learning_curve(cfg: Config, run: Run, session, fractions=FRACTIONS) -> dict:
    """Train and evaluate at each share of the training split; write learning_curve.json into the run."""
    from tunewright.evaluation.evaluate import evaluate_model, read_predictions
    from tunewright.models import load_adapter_model, load_model
    from tunewright.pipeline import _load_split
    from tunewright.training.trainer import train_model

    train, test = _load_split(run, "train"), _load_split(run, "test")
    task = make_task(cfg.task)
    sizes, mats, points = [], [], []
    for frac in fractions:
        n = max(1, round(len(train) * frac))
        sub = cfg.model_copy(deep=True)
        sub.general.enabled = False
        if cfg.training.max_steps > 0:  # same budget per example: steps scale with the data
            sub.training.max_steps = max(1, math.ceil(cfg.training.max_steps * frac))
        sub_run = Run(run.path / "learning_curve" / f"{frac:g}")
        want = {"parent": run.id, "fraction": frac, "train_examples": n, "max_steps": sub.training.max_steps,
                "test_examples": len(test)}
        done = sub_run.manifest_path.exists() and read_json(sub_run.manifest_path).get("want") == want
        if not done:  # a finished share is reused when the command is run again (e.g. after an interruption)
            sub_run.path.mkdir(parents=True, exist_ok=True)
            write_json(sub_run.manifest_path, {"want": None, "status": "running"})  # "done" only once evaluated
            model = load_model(session.model_ref(), cfg.model)
            result = train_model(sub, sub_run, train[:n], model, session.tok())
            del model
            tuned = load_adapter_model(session.model_ref(), cfg.model, sub_run.model_dir)
            evaluate_model(sub, sub_run, "tuned", tuned, session.tok(), test, [], train=train)  # the run's cap
            del tuned
            write_json(sub_run.manifest_path, {"want": want, "steps": result.steps})
        rows = read_predictions(sub_run.eval_dir / "tuned" / "predictions.jsonl")
        sizes.append(n)
        mats.append(np.array([task.item_vector(r) for r in rows], float))
        points.append({"fraction": frac, "train_examples": n, "steps": read_json(sub_run.manifest_path)["steps"],
                       "value": float(STATISTICS[task.statistic](mats[-1]))})
    out = {"metric": task.metric, "points": points, **fit_and_predict(sizes, mats, task.statistic, cfg)}
    write_json(run.path / "learning_curve.json", out)
    return out
