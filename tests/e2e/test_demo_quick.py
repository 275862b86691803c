"""`tunewright demo --quick` end to end on the real model, and the report checked against the saved files."""

import json
import math
import re
import subprocess
import sys

import pytest

from tunewright.config import Config
from tunewright.evaluation.evaluate import score_predictions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    proc = subprocess.run([sys.executable, "-m", "tunewright", "demo", "--quick", "--runs-dir", str(runs)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dirs = [p for p in runs.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1
    return run_dirs[0], proc.stdout


def test_headline_printed(demo_run):
    run, stdout = demo_run
    assert re.search(r"entity_f1: base \d\.\d{3} -> tuned \d\.\d{3}", stdout)
    assert re.search(r"forgetting gate: (PASS|WARN|FAIL)", stdout)
    assert "general_perplexity" in stdout and "mmlu" in stdout and "trainable:" in stdout
    assert str(run / "report.html") in stdout.replace("\n", "")


def test_report_json_shape(demo_run):
    run, _ = demo_run
    r = json.loads((run / "report.json").read_text())
    assert set(r["task"]) >= {"name", "metric", "base", "tuned", "n"}
    assert r["task"]["metric"] == "entity_f1" and r["task"]["n"] == 24
    for name in ("general_perplexity", "mmlu"):
        assert set(r["general"][name]) >= {"metric", "base", "tuned"}
    assert set(r["training"]) >= {"method", "trainable_params", "total_params", "train_tokens", "tokens_per_second"}
    assert 0 < r["training"]["trainable_params"] < 0.1 * r["training"]["total_params"]
    assert r["training"]["steps"] == 12
    d = r["data"]
    assert d["input_records"] == d["used"] + d["quarantined"] == 1164
    assert d["reasons"]["exact_duplicate"] > 0
    assert set(r["timings"]) >= {"audit", "split", "eval_base", "train", "eval_tuned"}
    t = r["task"]
    for key in ("base_ci", "tuned_ci", "change_ci"):
        assert t[key]["low"] <= t[key]["value"] <= t[key]["high"]
    assert t["significant"] == (t["change_ci"]["low"] > 0 or t["change_ci"]["high"] < 0)
    assert r["forgetting"]["verdict"] in {"pass", "warn", "fail"} and r["forgetting"]["reasons"]
    assert "mcnemar" in r["general"]["mmlu"]
    m = json.loads((run / "manifest.json").read_text())
    assert m["seeds"]["training"] == 42 and m["packages"]["torch"] and len(m["data_hashes"]) == 1
    # quarantine.jsonl also lists flagged examples that were kept ("action": "flagged")
    assert sum(json.loads(x)["action"] == "dropped" for x in open(run / "data" / "quarantine.jsonl")) == d["quarantined"]


def test_report_numbers_equal_saved_predictions(demo_run):
    run, _ = demo_run
    r = json.loads((run / "report.json").read_text())
    cfg = Config.model_validate(r["config"])
    for which in ("base", "tuned"):
        rows = [json.loads(x) for x in open(run / "eval" / which / "predictions.jsonl")]
        assert len(rows) == r["task"]["n"]
        tp = sum(x["tp"] for x in rows)
        pred = sum(x["n_predicted"] for x in rows)
        gold = sum(x["n_gold"] for x in rows)
        p = tp / pred if pred else (1.0 if gold == 0 else 0.0)
        rec = tp / gold if gold else (1.0 if pred == 0 else 0.0)
        f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
        assert r["task"][which] == pytest.approx(f1)
        assert r["task"][which] == pytest.approx(score_predictions(cfg, run / "eval" / which / "predictions.jsonl")["value"])
        assert r["task"]["unparseable"][which] == sum(not x["parse_ok"] for x in rows)
        mmlu = [json.loads(x) for x in open(run / "eval" / which / "general_mmlu.jsonl")]
        assert r["general"]["mmlu"][which] == pytest.approx(sum(x["correct"] for x in mmlu) / len(mmlu))
        ppl = [json.loads(x) for x in open(run / "eval" / which / "general_general_perplexity.jsonl")]
        nll = sum(x["mean_nll"] * x["tokens"] for x in ppl) / sum(x["tokens"] for x in ppl)
        assert r["general"]["general_perplexity"][which] == pytest.approx(math.exp(nll), rel=1e-6)


def test_tuned_model_has_lower_heldout_loss(demo_run):
    run, _ = demo_run
    h = json.loads((run / "report.json").read_text())["heldout"]
    assert h["n"] > 0 and h["tuned"] < h["base"]


def test_html_is_self_contained_and_escaped(demo_run):
    run, _ = demo_run
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert not re.search(r"<(img|script|link)[^>]+(src|href)=\"?(https?:|//|file:)", html)
    assert "<script" not in html  # model outputs and data are escaped text, never markup
    assert (run / "model" / "adapter_model.safetensors").exists()
    assert not list((run / "model").glob("*.bin"))


def test_a_failed_gate_is_mitigated_or_still_fails(demo_run):
    """training.mitigation: auto (the default) runs exactly when the first model fails the gate; what it hands over
    is what the report's headline and gate describe."""
    run, stdout = demo_run
    r = json.loads((run / "report.json").read_text())
    auto = r.get("mitigation_auto")
    if auto is None:
        assert r["forgetting"]["verdict"] != "fail" and not (run / "mitigation_auto").exists()
        return
    assert auto["first"]["test"]["verdict"] == "fail" and auto["arms"]
    assert "mitigation arms (training.mitigation: auto)" in stdout
    for a in auto["arms"]:  # scored on validation first; only an accepted arm reaches test
        assert ("test" in a) == a["accepted"]
    if auto["handed_over"]:
        last = auto["arms"][-1]
        assert last["arm"] == auto["handed_over"]["arm"] and last["test"]["verdict"] != "fail"
        assert r["forgetting"]["verdict"] == last["test"]["verdict"]
        assert r["task"]["tuned"] == pytest.approx(last["test"]["task"])
        chosen = run / auto["handed_over"]["path"]
        assert (run / "model" / "adapter_model.safetensors").read_bytes() == \
            (chosen / "model" / "adapter_model.safetensors").read_bytes()
        assert (run / "mitigation_auto" / "unmitigated" / "model" / "adapter_model.safetensors").exists()
    else:
        assert r["forgetting"]["verdict"] == "fail" and not auto["arms"][-1].get("test", {}).get("verdict") == "pass"


def test_compare_mitigation_trains_replay_and_ewc_arms_against_the_same_base(demo_run):
    run, _ = demo_run
    proc = subprocess.run([sys.executable, "-m", "tunewright", "eval", "compare-mitigation", "--run", str(run),
                           "--set", "general.mitigation_study.ewc_lambda=5",
                           # the arms' training is what is checked, not its quality: 4 steps, not the quick demo's 12
                           "--set", "training.max_steps=4"],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for arm in ("none", "replay", "ewc"):
        assert re.search(rf"{arm}: entity_f1 \d\.\d{{4}} \[", proc.stdout), proc.stdout
    mit = json.loads((run / "mitigation.json").read_text())
    arms = mit["arms"]
    assert set(arms) == {"none", "replay", "ewc"}
    auto = json.loads((run / "report.json").read_text()).get("mitigation_auto")
    if auto and auto["handed_over"]:  # "none" is the model as first trained, not the one auto handed over
        assert arms["none"]["task"]["tuned_ci"]["value"] == pytest.approx(auto["first"]["test"]["task"])
    assert arms["replay"]["training"]["replay_examples"] > 0 and arms["replay"]["training"]["penalties"] == []
    assert arms["ewc"]["training"]["penalties"] == ["ewc"] and arms["ewc"]["training"]["replay_examples"] == 0
    n = {a["task"]["n"] for a in arms.values()}
    assert len(n) == 1  # every arm scored on the same test items
    for a in arms.values():
        assert set(a["general"]) == {"general_perplexity", "mmlu"}
        assert a["forgetting"]["verdict"] in ("pass", "warn", "fail")
    # the arms' base is the parent's base, item for item
    base = (run / "eval" / "base" / "predictions.jsonl").read_text()
    assert (run / "mitigation" / "ewc" / "eval" / "base" / "predictions.jsonl").read_text() == base
    rep = subprocess.run([sys.executable, "-m", "tunewright", "report", "--run", str(run)],
                         capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr[-2000:]
    page = (run / "report.html").read_text()
    assert "Forgetting mitigation: no mitigation vs replay vs EWC" in page and 'alt="mitigation"' in page
