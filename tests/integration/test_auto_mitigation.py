"""training.mitigation: auto on a tiny random-init Llama (real tokenizer, real ner_finance records), every sub-run
real. Whether a tiny random model forgets is arbitrary, so the gate's verdicts are set by path (the model as first
trained fails on test; arm 1 fails on validation; arm 2 passes): what is tested is the rule and the hand-over,
not a model's forgetting (docs/experiments.md measures that on three tasks)."""

from __future__ import annotations

import json

import pytest

from tunewright.pipeline import load_demo_config, new_run, stage_audit, stage_auto_mitigation, stage_eval, \
    stage_report, stage_split, stage_train
from tunewright.project import read_json
from tunewright.studies import auto_mitigation as am
from tiny_train import tiny_study_overrides

pytestmark = pytest.mark.slow


def _trained(cfg):
    """Audited, split, trained and evaluated (base and tuned), as run_all leaves a run before auto-mitigation."""
    run = new_run(cfg)
    stage_audit(cfg, run, force=True)
    stage_split(cfg, run)
    stage_eval(cfg, run, "base")
    stage_train(cfg, run)
    stage_eval(cfg, run, "tuned")
    return run


@pytest.fixture
def scripted_gate(monkeypatch):
    real = am._verdict

    def verdict(eval_dir, cfg):
        v = real(eval_dir, cfg)
        path = str(eval_dir)
        if "/mitigation_auto/" not in path or "arm1-validation" in path:
            v["verdict"] = "fail"  # the first model (test and validation), and arm 1 on validation
        else:
            v["verdict"] = "pass"
        return v
    monkeypatch.setattr(am, "_verdict", verdict)


def test_failed_gate_hands_over_the_first_arm_that_passes(tmp_path, tiny_model_dir, scripted_gate):
    cfg = load_demo_config(False, [*tiny_study_overrides(tiny_model_dir, tmp_path / "runs"),
                                   "tuning.general_paragraphs=2", "tuning.general_mmlu=3",
                                   "tuning.max_validation_examples=6"])
    assert cfg.training.mitigation == "auto"  # the default
    run = _trained(cfg)
    first_model = (run.model_dir / "adapter_model.safetensors").read_bytes()
    first_preds = (run.eval_dir / "tuned" / "predictions.jsonl").read_text()

    out = stage_auto_mitigation(cfg, run)
    assert [a["arm"] for a in out["arms"]] == ["arm1", "arm2"]
    a1, a2 = out["arms"]
    assert not a1["accepted"] and "test" not in a1  # failed on validation: never scored on test
    assert a2["accepted"] and a2["test"]["verdict"] == "pass"
    assert a2["overrides"] == [f"training.learning_rate={cfg.training.learning_rate * 0.25:.3g}"]
    assert out["handed_over"] == {"arm": "arm2", "label": "lr x0.25", "overrides": a2["overrides"],
                                  "path": "mitigation_auto/arm2-test"}
    # arms are scored on validation items and the tuning slice; the confirmation on test
    val_ids = {json.loads(x)["id"] for x in open(run.data_dir / "validation.jsonl")}
    rows = [json.loads(x) for x in open(run.path / "mitigation_auto" / "arm2-validation" / "eval" / "tuned" /
                                        "predictions.jsonl")]
    assert rows and {r["id"] for r in rows} <= val_ids
    final = {json.loads(x)["source"] for x in open(run.eval_dir / "base" / "general_general_perplexity.jsonl")}
    sl = run.path / "mitigation_auto" / "arm2-validation" / "eval" / "tuned" / "general_general_perplexity.jsonl"
    assert not final & {json.loads(x)["source"] for x in open(sl)}
    # hand-over: the run's model and tuned evaluation are arm 2's, the first ones are kept
    chosen = run.path / "mitigation_auto" / "arm2-test"
    assert (run.model_dir / "adapter_model.safetensors").read_bytes() == \
        (chosen / "model" / "adapter_model.safetensors").read_bytes()
    assert (run.eval_dir / "tuned" / "predictions.jsonl").read_text() == \
        (chosen / "eval" / "tuned" / "predictions.jsonl").read_text()
    keep = run.path / "mitigation_auto" / "unmitigated"
    assert (keep / "model" / "adapter_model.safetensors").read_bytes() == first_model
    assert (keep / "eval" / "tuned" / "predictions.jsonl").read_text() == first_preds
    assert read_json(run.manifest_path)["mitigation_auto"]["arm"] == "arm2"
    # the report says so
    h = stage_report(cfg, run)
    assert h.report["mitigation_auto"]["handed_over"]["arm"] == "arm2"
    page = (run.path / "report.html").read_text()
    assert "automatic mitigation" in page and "Handed over: <b>arm2 (lr x0.25)</b>" in page
    # a second call reuses the decision and trains nothing
    before = {p: p.stat().st_mtime for p in (run.path / "mitigation_auto").glob("*/train_result.json")}
    assert stage_auto_mitigation(cfg, run)["handed_over"]["arm"] == "arm2"
    assert before == {p: p.stat().st_mtime for p in (run.path / "mitigation_auto").glob("*/train_result.json")}


def test_a_passing_gate_runs_nothing_and_off_hands_over_as_trained(tmp_path, tiny_model_dir, monkeypatch):
    cfg = load_demo_config(False, [*tiny_study_overrides(tiny_model_dir, tmp_path / "runs")])
    run = _trained(cfg)
    real = am._verdict
    monkeypatch.setattr(am, "_verdict", lambda d, c: {**real(d, c), "verdict": "pass"})
    assert stage_auto_mitigation(cfg, run) is None and not (run.path / "mitigation_auto").exists()
    monkeypatch.setattr(am, "_verdict", lambda d, c: {**real(d, c), "verdict": "fail"})
    off = cfg.model_copy(update={"training": cfg.training.model_copy(update={"mitigation": "off"})})
    assert stage_auto_mitigation(off, run) is None and not (run.path / "mitigation_auto").exists()
