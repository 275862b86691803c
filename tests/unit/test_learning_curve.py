import numpy as np
import pytest

from tunewright.pipeline import load_demo_config
from tunewright.evaluation.learning_curve import fit_and_predict, fit_power_law, power_law


def test_fit_recovers_a_known_power_law():
    sizes = np.array([100, 200, 400, 800])
    values = power_law(sizes, 0.9, 3.0, 0.5)
    a, b, c = fit_power_law(sizes, values)
    assert power_law(1600, a, b, c) == pytest.approx(power_law(1600, 0.9, 3.0, 0.5), abs=1e-3)


def test_flat_points_give_a_flat_curve():
    assert fit_power_law(np.array([10, 20, 40]), np.array([0.0, 0.0, 0.0])) == (0.0, 0.0, 1.0)


def test_prediction_interval_brackets_the_prediction():
    rng = np.random.default_rng(0)
    cfg = load_demo_config(overrides=["stats.bootstrap_samples=200"])
    # accuracy items at three sizes, improving with saturation: 0.5, 0.65, 0.72
    mats = [(rng.random((300, 1)) < p).astype(float) for p in (0.5, 0.65, 0.72)]
    out = fit_and_predict([100, 200, 400], mats, "mean", cfg)
    for k in ("2x", "4x"):
        p = out["predictions"][k]
        assert p["low"] <= p["value"] <= p["high"]
    assert out["predictions"]["2x"]["size"] == 800 and out["predictions"]["4x"]["value"] >= out["values"][-1] - 1e-9


def test_bounded_metric_never_extrapolates_past_one_and_odd_curves_are_flagged():
    rng = np.random.default_rng(1)
    cfg = load_demo_config(overrides=["stats.bootstrap_samples=100"])
    # a curve that dips, then jumps (the demo's shape: collapse at 50%, then learning)
    mats = [(rng.random((200, 1)) < p).astype(float) for p in (0.05, 0.0, 0.6)]
    out = fit_and_predict([100, 200, 400], mats, "mean", cfg)
    assert all(p["high"] <= 1.0 + 1e-9 and p["value"] <= 1.0 + 1e-9 for p in out["predictions"].values())
    assert any("do not rise" in w for w in out["warnings"])
    smooth = fit_and_predict([100, 200, 400], [(rng.random((400, 1)) < p).astype(float) for p in (0.5, 0.62, 0.7)],
                             "mean", cfg)
    assert not any("do not rise" in w for w in smooth["warnings"])
