"""Lifecycle cost: ranges stay ordered, totals are sums, formulas match hand computation, config errors are clear."""

from pathlib import Path

import pytest

from tunewright.config import ConfigError, load_config
from tunewright.cost.estimate import estimate_cost, estimate_scenarios
from tunewright.cost.hardware import load_hardware
from tunewright.cost.lifecycle import labeling_cost
from tunewright.cost.pricing import HOURS_PER_MONTH, Span, serving_cost
from tunewright.reporting.cost_section import cost_html
from tunewright.cost.settings import CostSection, Range

ROOT = Path(__file__).resolve().parents[2]


def _ordered(s: dict) -> bool:
    return s["low"] <= s["expected"] <= s["high"]


@pytest.fixture(scope="module")
def seven_b():
    return estimate_scenarios(load_config(ROOT / "examples" / "cost-7b.yaml"))


def test_every_figure_is_an_ordered_range_and_totals_are_sums(seven_b):
    for sc in seven_b["scenarios"]:
        lc = sc["estimate"]["lifecycle"]
        cats = lc["categories_usd"]
        assert all(_ordered(v) for v in cats.values()) and _ordered(lc["total_usd"]) and _ordered(lc["gpu_hours"])
        for end in ("low", "expected", "high"):
            assert lc["total_usd"][end] == pytest.approx(sum(v[end] for v in cats.values()))
        assert _ordered(sc["estimate"]["time"]["run_hours"])


def test_scenarios_change_what_they_say(seven_b):
    base, big, manual = (s["estimate"] for s in seven_b["scenarios"])
    assert [s["name"] for s in seven_b["scenarios"]] == ["support-7b", "70B base", "manual labeling"]
    assert big["model"]["n_params"] > 9 * base["model"]["n_params"]
    c = lambda e, k: e["lifecycle"]["categories_usd"][k]["expected"]  # noqa: E731
    assert c(big, "compute: training runs") > 5 * c(base, "compute: training runs")
    assert c(manual, "labeling: review of programmatic labels") == 0
    assert c(manual, "labeling: manual") > 4 * c(base, "labeling: manual")
    assert c(manual, "people") == c(base, "people")


def test_labeling_by_hand():
    c = CostSection.model_validate({"labeling": {"items": 1000, "seconds_per_item": 36, "overlap": 2,
                                                 "hourly_rate_usd": [20, 30, 40], "programmatic_share": 0.5,
                                                 "review_share": 0.2}})
    manual, review = labeling_cost(c)
    # 500 items x 2 annotators x 36 s = 10 h; 100 reviews x 36 s = 1 h
    assert (manual.low, manual.expected, manual.high) == pytest.approx((200, 300, 400))
    assert (review.low, review.expected, review.high) == pytest.approx((20, 30, 40))


def test_serving_always_on_floor_and_bandwidth_bound():
    h100 = load_hardware().lookup("H100")
    idle = serving_cost(7_000_000_000, h100, 1, 100, 100, 32, Range(low=0.5, expected=0.5, high=0.5), True)
    assert idle.gpu_hours_per_month.expected == HOURS_PER_MONTH * idle.gpus_per_replica
    # decode at batch 32 is bandwidth-bound: 32 sequences / (14 GB / 3.35 TB/s)
    assert idle.decode_tokens_per_second == pytest.approx(32 / (14e9 / 3350e9), rel=1e-6)
    busy = serving_cost(7_000_000_000, h100, 10_000_000, 800, 200, 32, Range(low=0.3, expected=0.5, high=0.8), False)
    assert busy.usd_per_month.low <= busy.usd_per_month.expected <= busy.usd_per_month.high


def test_span_arithmetic():
    a = Span(1, 2, 3) + Span(1, 1, 1) * 2
    assert (a.low, a.expected, a.high) == (3, 4, 5)
    inv = Span(0.2, 0.4, 0.5).inverse()
    assert inv.low == 2 and inv.high == 5


def test_bad_ranges_name_the_key(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("cost:\n  contingency: [0.3, 0.2, 0.1]\n")
    with pytest.raises(ConfigError, match="cost.contingency"):
        load_config(f)
    f.write_text("cost:\n  labeling:\n    seconds_per_item: [1, 2]\n")
    with pytest.raises(ConfigError, match="cost.labeling.seconds_per_item"):
        load_config(f)
    f.write_text("cost:\n  gpu: V100\n  model: llama-2-7b\n  dataset_tokens: 1000\n")
    with pytest.raises(ValueError, match="known GPUs"):
        estimate_cost(load_config(f))
    f.write_text("cost:\n  model: llama-2-7b\n  dataset_tokens: 1000\n  scenarios:\n    - {name: x, set: {nope: 1}}\n")
    with pytest.raises(ValueError, match=r"cost.scenarios.0 \(x\)"):
        estimate_scenarios(load_config(f))


def test_report_section_is_escaped_and_has_both_plots(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("project: {name: '<script>x</script>'}\ncost:\n  model: tinyllama-1.1b\n  dataset_tokens: 100000\n")
    parts = "".join(cost_html(estimate_scenarios(load_config(f))))
    assert "<script>" not in parts and "&lt;script&gt;" in parts
    assert parts.count("data:image/png;base64,") == 2 and "prices as of" in parts
    f.write_text("cost:\n  model: no/such/folder\n  dataset_tokens: 100\n")
    from tunewright.reporting.cost_section import report_cost_section

    assert "no/such/folder" in report_cost_section(load_config(f))["error"]
    assert cost_html({"error": "no <model>"}) == ["<h2>Cost</h2>", "<p class='warn'>Cost estimate unavailable: "
                                                  "no &lt;model&gt;</p>"]
