"""Base vs tuned on the same items: intervals, significance, and the forgetting gate.

"Ability change" puts every general task on one scale: the relative change of the metric, signed so that
negative always means worse (for perplexity, a rise is a loss of ability). The suite mean is the mean ability
change; the gate reads it and each task's paired interval.
"""

from __future__ import annotations

import numpy as np

from tunewright.config import Config, ForgettingGate
from tunewright.evaluation.artifacts import EvalArtifacts, PairedRows
from tunewright.evaluation.stats import STATISTICS, mcnemar, paired_intervals
from tunewright.evaluation.suites import item_statistic
from tunewright.evaluation.tasks import make_task


def compare(pairs: PairedRows, stat_name: str, vector, cfg: Config, higher_is_better: bool) -> dict:
    """Base and tuned values with intervals, and the paired change (absolute and relative) with intervals,
    on the items both sides hold (``pairs``, joined by id); items on one side only are counted in ``unpaired``."""
    s = cfg.stats
    b = np.array([vector(r) for r in pairs.base], float)
    t = np.array([vector(r) for r in pairs.tuned], float)
    p = paired_intervals(b, t, STATISTICS[stat_name], n_boot=s.bootstrap_samples, level=s.confidence, seed=s.seed)
    out = {"base_ci": p.base.to_json(), "tuned_ci": p.tuned.to_json(), "change_ci": p.change.to_json(), "n": len(b)}
    out["rel_change_ci"] = p.rel_change.to_json() if p.rel_change else None
    out["significant"] = bool(out["change_ci"]["low"] > 0 or out["change_ci"]["high"] < 0)
    out["ability_change"] = None
    if p.rel_change is not None:
        sign = 1.0 if higher_is_better else -1.0
        lo, hi = sorted((sign * p.rel_change.low, sign * p.rel_change.high))
        out["ability_change"] = {"value": sign * p.rel_change.value, "low": lo, "high": hi}
    if stat_name == "mean" and set(np.unique(b)) <= {0.0, 1.0} and set(np.unique(t)) <= {0.0, 1.0}:
        out["mcnemar"] = mcnemar(b[:, 0], t[:, 0])
    if pairs.unpaired():
        out["unpaired"] = pairs.unpaired()
    return out


def task_comparisons(art: EvalArtifacts, cfg: Config) -> tuple[dict, dict[str, dict]]:
    """(headline comparison, every task number's comparison): precision, recall, lenient F1, accuracy... each
    with intervals and its paired change.

    The headline metric is one of the detail numbers, so each statistic is bootstrapped once."""
    task = make_task(cfg.task)
    pairs = art.task_pairs()
    stats = task.detail_statistics()
    details = {k: compare(pairs, stat, vector, cfg, higher_is_better=True) for k, (stat, vector) in stats.items()}
    headline = details.get(task.metric)
    if stats.get(task.metric, ("",))[0] != task.statistic:  # a task whose details leave out its headline
        headline = compare(pairs, task.statistic, task.item_vector, cfg, higher_is_better=True)
    return headline, details


def general_comparison(art: EvalArtifacts, cfg: Config, names: list[str], higher: dict[str, bool]) -> dict:
    out = {}
    for name in names:
        stat_name, vector = item_statistic(name, cfg.general)
        out[name] = compare(art.general_pairs(name), stat_name, vector, cfg, higher[name])
    return out


def gate_verdict(art: EvalArtifacts, cfg: Config) -> dict:
    """The forgetting gate's verdict of one evaluated run (every general task its tuned evaluation holds)."""
    names = list(art.metrics["tuned"]["general"])
    base = art.metrics["base"]["general"]
    return forgetting_verdict(general_comparison(art, cfg, names, {n: base[n]["higher_is_better"] for n in names}),
                              cfg.general.gate)


def paired_task_change(cfg: Config, first: list[dict], second: list[dict]) -> dict:
    """The task metric of ``second``'s predictions against ``first``'s on the same items (joined by id): both
    values with intervals and the paired change."""
    from tunewright.evaluation.artifacts import pair_by_id

    task = make_task(cfg.task)
    return compare(pair_by_id(first, second), task.statistic, task.item_vector, cfg, True)


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

