"""Base vs tuned on the same items: intervals, significance, and the forgetting gate.

"Ability change" puts every general task on one scale: the relative change of the metric, signed so that
negative always means worse (for perplexity, a rise is a loss of ability). The suite mean is the mean ability
change; the gate reads it and each task's paired interval.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tunewright.config import Config, ForgettingGate
from tunewright.evaluation.evaluate import read_predictions
from tunewright.evaluation.stats import STATISTICS, bootstrap_ci, mcnemar, paired_bootstrap_diff
from tunewright.evaluation.suites import item_statistic
from tunewright.evaluation.tasks import make_task


def paired_items(base_path: Path, tuned_path: Path, vector) -> tuple[np.ndarray, np.ndarray, list[dict], list[dict]]:
    b, t = read_predictions(base_path), read_predictions(tuned_path)
    if [r.get("source") for r in b] != [r.get("source") for r in t]:
        raise ValueError(f"{base_path} and {tuned_path} do not hold the same items in the same order")
    return np.array([vector(r) for r in b], float), np.array([vector(r) for r in t], float), b, t


def compare(base_path: Path, tuned_path: Path, stat_name: str, vector, cfg: Config, higher_is_better: bool) -> dict:
    """Base and tuned values with intervals, and the paired change (absolute and relative) with intervals."""
    s = cfg.stats
    stat = STATISTICS[stat_name]
    kw = dict(n_boot=s.bootstrap_samples, level=s.confidence, seed=s.seed)
    b, t, brows, trows = paired_items(base_path, tuned_path, vector)
    out = {
        "base_ci": bootstrap_ci(b, stat, **kw).to_json(),
        "tuned_ci": bootstrap_ci(t, stat, **kw).to_json(),
        "change_ci": paired_bootstrap_diff(b, t, stat, **kw).to_json(),
        "n": len(b),
    }
    rel = paired_bootstrap_diff(b, t, stat, relative=True, **kw)
    out["rel_change_ci"] = rel.to_json() if rel else None
    out["significant"] = bool(out["change_ci"]["low"] > 0 or out["change_ci"]["high"] < 0)
    out["ability_change"] = None
    if rel is not None:
        sign = 1.0 if higher_is_better else -1.0
        lo, hi = sorted((sign * rel.low, sign * rel.high))
        out["ability_change"] = {"value": sign * rel.value, "low": lo, "high": hi}
    if stat_name == "mean" and set(np.unique(b)) <= {0.0, 1.0} and set(np.unique(t)) <= {0.0, 1.0}:
        out["mcnemar"] = mcnemar(b[:, 0], t[:, 0])
    return out


def task_comparison(run_path: Path, cfg: Config) -> dict:
    task = make_task(cfg.task)
    e = run_path / "eval"
    return compare(e / "base" / "predictions.jsonl", e / "tuned" / "predictions.jsonl", task.statistic,
                   task.item_vector, cfg, higher_is_better=True)


def task_detail_comparisons(run_path: Path, cfg: Config) -> dict:
    """Every task number (precision, recall, lenient F1, accuracy...) with intervals and its paired change."""
    task = make_task(cfg.task)
    e = run_path / "eval"
    return {k: compare(e / "base" / "predictions.jsonl", e / "tuned" / "predictions.jsonl", stat, vector, cfg,
                       higher_is_better=True)
            for k, (stat, vector) in task.detail_statistics().items()}


def general_comparison(run_path: Path, cfg: Config, names: list[str], higher: dict[str, bool]) -> dict:
    e = run_path / "eval"
    out = {}
    for name in names:
        stat_name, vector = item_statistic(name, cfg.general)
        out[name] = compare(e / "base" / f"general_{name}.jsonl", e / "tuned" / f"general_{name}.jsonl", stat_name,
                            vector, cfg, higher[name])
    return out


def forgetting_verdict(per_task: dict[str, dict], gate: ForgettingGate) -> dict:
    """pass / warn / fail, with the reasons in words."""
    if not per_task:
        return {"verdict": "pass", "suite_mean_ability_change": None, "reasons": ["no general task was run"]}
    changes = {n: c["ability_change"] for n, c in per_task.items() if c["ability_change"] is not None}
    reasons, verdict = [], "pass"
    skipped = sorted(set(per_task) - set(changes))
    if skipped:
        reasons.append(f"no relative change for {', '.join(skipped)} (base value 0)")
    if not changes:
        return {"verdict": "pass", "suite_mean_ability_change": None, "reasons": reasons}
    mean = float(np.mean([c["value"] for c in changes.values()]))
    for n, c in changes.items():
        if c["value"] < -gate.fail_task_drop and c["high"] < 0:
            verdict = "fail"
            reasons.append(f"{n} lost {-c['value']:.1%} of its ability (interval {c['low']:+.1%} to {c['high']:+.1%} "
                           f"excludes zero; limit {gate.fail_task_drop:.0%})")
    if mean < -gate.fail_mean_drop:
        verdict = "fail"
        reasons.append(f"the suite mean fell {-mean:.1%} (limit {gate.fail_mean_drop:.0%})")
    elif mean < -gate.warn_mean_drop and verdict != "fail":
        verdict = "warn"
        reasons.append(f"the suite mean fell {-mean:.1%} (warning above {gate.warn_mean_drop:.0%})")
    if verdict == "pass":
        reasons.append(f"suite mean ability change {mean:+.1%}; no task lost more than {gate.fail_task_drop:.0%} "
                       "with an interval excluding zero")
    return {"verdict": verdict, "suite_mean_ability_change": mean, "reasons": reasons}

