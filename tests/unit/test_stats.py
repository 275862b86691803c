import math

import numpy as np
import pytest
from scipy import stats as sps

from tunewright.config import ForgettingGate
from tunewright.evaluation.forgetting import forgetting_verdict
from tunewright.evaluation.metrics import entity_f1
from tunewright.evaluation.stats import (bootstrap_ci, mcnemar, mean_stat, micro_f1_stat, paired_bootstrap_diff,
                                         perplexity_stat)


def test_mean_interval_matches_scipy_bootstrap_and_normal_theory():
    rng = np.random.default_rng(1)
    x = (rng.random(400) < 0.3).astype(float)
    ours = bootstrap_ci(x, mean_stat, n_boot=4000, seed=3)
    ref = sps.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", random_state=3).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=0.01) and ours.high == pytest.approx(ref.high, abs=0.01)
    half = 1.96 * math.sqrt(x.mean() * (1 - x.mean()) / len(x))
    assert (ours.high - ours.low) / 2 == pytest.approx(half, rel=0.15)
    assert ours.low < x.mean() < ours.high


@pytest.mark.parametrize("seed", range(5))
def test_micro_f1_statistic_equals_entity_f1(seed):
    rng = np.random.default_rng(seed)
    types = ["PERSON", "ORGANIZATION"]
    golds, preds = [], []
    for _ in range(30):
        g = [(f"e{rng.integers(5)}", types[rng.integers(2)]) for _ in range(rng.integers(0, 4))]
        p = [(f"e{rng.integers(5)}", types[rng.integers(2)]) for _ in range(rng.integers(0, 4))]
        golds.append(g)
        preds.append(p)
    from tunewright.evaluation.metrics import entity_counts

    items = np.array([entity_counts(p, g) for p, g in zip(preds, golds)], float)
    assert float(micro_f1_stat(items)) == pytest.approx(entity_f1(preds, golds)["f1"])


def test_perplexity_statistic_is_token_weighted():
    items = np.array([[2.0 * 10, 10], [3.0 * 30, 30]])
    assert float(perplexity_stat(items)) == pytest.approx(math.exp((20 + 90) / 40))


def test_paired_interval_is_zero_for_identical_and_excludes_zero_for_a_real_gain():
    rng = np.random.default_rng(0)
    base = (rng.random(300) < 0.5).astype(float)
    same = paired_bootstrap_diff(base, base.copy(), mean_stat)
    assert same.value == same.low == same.high == 0.0
    tuned = base.copy()
    flip = np.where(base == 0)[0][:45]  # 45 of 300 items newly right, none newly wrong
    tuned[flip] = 1
    gain = paired_bootstrap_diff(base, tuned, mean_stat)
    assert gain.value == pytest.approx(0.15) and gain.excludes_zero()
    # pairing: tighter than the difference of two independent intervals
    b, t = bootstrap_ci(base, mean_stat), bootstrap_ci(tuned, mean_stat)
    assert gain.high - gain.low < (b.high - b.low) + (t.high - t.low)


def test_relative_change_from_zero_is_none():
    assert paired_bootstrap_diff(np.zeros(10), np.ones(10), mean_stat, relative=True) is None
    r = paired_bootstrap_diff(np.full(10, 0.5), np.full(10, 0.6), mean_stat, relative=True)
    assert r.value == pytest.approx(0.2)


def test_mcnemar_exact_textbook_value():
    base = np.array([1] * 1 + [0] * 9 + [1] * 20, bool)   # 1 only-base-correct
    tuned = np.array([0] * 1 + [1] * 9 + [1] * 20, bool)  # 9 only-tuned-correct
    m = mcnemar(base, tuned)
    assert (m["only_base_correct"], m["only_tuned_correct"]) == (1, 9)
    assert m["p_value"] == pytest.approx(2 * 11 / 1024)


def _task(value, low, high):
    return {"ability_change": {"value": value, "low": low, "high": high}}


def test_forgetting_verdicts():
    gate = ForgettingGate()
    assert forgetting_verdict({"a": _task(-0.02, -0.05, 0.01), "b": _task(0.01, -0.02, 0.03)}, gate)["verdict"] == "pass"
    warn = forgetting_verdict({"a": _task(-0.07, -0.2, 0.05), "b": _task(-0.06, -0.2, 0.05)}, gate)
    assert warn["verdict"] == "warn" and "suite mean fell 6.5%" in warn["reasons"][0]
    # one task drops 14% with an interval that excludes zero: fail even though the mean is fine
    fail = forgetting_verdict({"ppl": _task(-0.14, -0.16, -0.12), "mmlu": _task(0.2, -0.2, 0.9)}, gate)
    assert fail["verdict"] == "fail" and "ppl lost 14.0%" in fail["reasons"][0]
    # the same drop with an interval that crosses zero is noise, not a failure
    assert forgetting_verdict({"ppl": _task(-0.14, -0.3, 0.02), "x": _task(0.1, 0, 0.2)}, gate)["verdict"] == "pass"
    assert forgetting_verdict({"a": _task(-0.2, -0.5, 0.1), "b": _task(-0.1, -0.3, 0.1)}, gate)["verdict"] == "fail"


def test_enforce_gates_raises_only_on_fail():
    from tunewright.pipeline import GateFailed, enforce_gates

    enforce_gates("warn", ["x"])
    with pytest.raises(GateFailed, match="forgetting gate failed: ppl lost"):
        enforce_gates("fail", ["ppl lost 14%"])


@pytest.mark.parametrize("seed", range(4))
def test_precision_recall_statistics_match_prf(seed):
    from tunewright.evaluation.metrics import prf
    from tunewright.evaluation.stats import micro_precision_stat, micro_recall_stat

    rng = np.random.default_rng(seed)
    items = rng.integers(0, 3, size=(20, 3)).astype(float)
    items[:, 0] = np.minimum(items[:, 0], items[:, 1:].min(axis=1))  # tp <= predicted, gold
    tp, pred, gold = items.sum(axis=0)
    ref = prf(int(tp), int(pred), int(gold))
    assert float(micro_precision_stat(items)) == pytest.approx(ref["precision"])
    assert float(micro_recall_stat(items)) == pytest.approx(ref["recall"])
    assert float(micro_precision_stat(np.zeros((3, 3)))) == 1.0  # nothing predicted, nothing to find


def test_paired_intervals_bootstrap_once_and_match_the_separate_intervals():
    from tunewright.evaluation.stats import micro_f1_stat, paired_intervals

    rng = np.random.default_rng(5)
    base = rng.integers(0, 4, size=(60, 3)).astype(float)
    tuned = base + rng.integers(0, 2, size=(60, 3))
    calls = []

    def counted(x):
        calls.append(x.shape)
        return micro_f1_stat(x)

    p = paired_intervals(base, tuned, counted, n_boot=300, seed=2)
    assert sorted(calls) == sorted([(60, 3), (60, 3), (300, 60, 3), (300, 60, 3)])  # one resample per side
    assert p.base == bootstrap_ci(base, micro_f1_stat, n_boot=300, seed=2)
    assert p.tuned == bootstrap_ci(tuned, micro_f1_stat, n_boot=300, seed=2)
    idx = np.random.default_rng(2).integers(0, 60, size=(300, 60))  # the resamples, written out
    diffs = micro_f1_stat(tuned[idx]) - micro_f1_stat(base[idx])
    assert (p.change.low, p.change.high) == (float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975)))
    assert p.rel_change.value == pytest.approx(p.change.value / micro_f1_stat(base))
