"""`tunewright tune` end to end on a tiny random-init Llama (real tokenizer, real ner_finance records): trials are
sub-runs scored on validation and on a general slice disjoint from the final one, the choice is written as a
config `tunewright run` accepts, the chosen configuration is compared with the default on test, and a second
call resumes the study from its journal instead of redoing it."""

from __future__ import annotations

import json

import pytest

from tunewright.config import load_config
from tunewright.pipeline import load_demo_config
from tunewright.pipeline import new_run, stage_audit, stage_report, stage_split, stage_tune
from tunewright.project import read_json
from tiny_train import tiny_study_overrides

pytestmark = pytest.mark.slow


def _cfg(tmp_path, model_dir, extra=()):
    return load_demo_config(False, [
        *tiny_study_overrides(model_dir, tmp_path / "runs"),
        "tuning.trials=3", "tuning.rerun_top=1", "tuning.rerun_seeds=[7]", "tuning.general_paragraphs=2",
        "tuning.general_mmlu=3", "tuning.max_validation_examples=6",
        "tuning.space={training.learning_rate: {low: 0.0001, high: 0.01, log: true}, "
        "training.ewc_lambda: {choices: [0.0, 0.02]}}",
        *extra])


def test_tune_end_to_end_and_resume(tmp_path, tiny_model_dir):
    cfg = _cfg(tmp_path, tiny_model_dir)
    run = new_run(cfg)
    stage_audit(cfg, run, force=True)
    stage_split(cfg, run)
    out = stage_tune(cfg, run)
    res = read_json(run.path / "tuning" / "tuning.json")
    # 2 steps with a rung at step 1: every trial is scored there; a dominated one may stop
    assert res["rungs"] == [1] and len(res["trials"]) + len(res["pruned"]) == 3 and out.trials == len(res["trials"])
    assert all("rung_1" in t["rungs"] for t in res["trials"]) and all("rung_1" in t["rungs"] for t in res["pruned"])
    for t in res["pruned"]:
        assert read_json(run.path / "tuning" / f"trial-{t['number']:03d}" / "manifest.json")["status"] == "rung:1"
    for t in res["trials"]:
        m = read_json(run.path / "tuning" / f"trial-{t['number']:03d}" / "manifest.json")
        assert m["parent"] == run.id and m["want"]["eval_split"] == "validation" and m["status"] == "done"
        assert m["data_hashes"] == run.manifest()["data_hashes"] and m["split"] == run.manifest()["split"]
        # scored on validation items, not test
        rows = [json.loads(x) for x in open(run.path / "tuning" / f"trial-{t['number']:03d}" / "eval" / "tuned" /
                                            "predictions.jsonl")]
        val_ids = {json.loads(x)["id"] for x in open(run.data_dir / "validation.jsonl")}
        assert rows and {r["id"] for r in rows} <= val_ids
    # the tuning slice of the general suite is disjoint from the final evaluation's
    final = {json.loads(x)["source"] for x in open(run.eval_dir / "base" / "general_general_perplexity.jsonl")}
    trial0 = run.path / "tuning" / "trial-000" / "eval" / "tuned" / "general_general_perplexity.jsonl"
    assert not final & {json.loads(x)["source"] for x in open(trial0)}
    # trial 0 is the default configuration (scored on validation like the others)
    assert res["default_trial"] == 0
    t0 = ([t["overrides"] for t in res["trials"] if t["number"] == 0]
          + [p["overrides"] for p in res["pruned"] if p["number"] == 0])[0]
    assert "training.learning_rate=0.001" in t0 and "training.ewc_lambda=0.0" in t0
    # then the auto-mitigation arms the space holds (ewc 0.1 is not among its choices)
    assert res["started_from"] == {"1": "mitigation arm: ewc 0.02", "2": "mitigation arm: lr x0.25"}
    # the top trial was re-run with another seed and the choice follows the stated rule
    rerun = [t for t in res["trials"] if len(t["seed_metrics"]) == 2]
    assert len(rerun) == 1 and (run.path / "tuning" / f"trial-{rerun[0]['number']:03d}-seed7").is_dir()
    assert res["chosen"] is not None and out.chosen_trial == res["chosen"]["trial"]
    chosen = load_config(run.path / "tuning" / "chosen.yaml")
    lr = next(o for o in res["chosen"]["overrides"] if o.startswith("training.learning_rate="))
    assert chosen.training.learning_rate == pytest.approx(float(lr.split("=")[1]))
    assert chosen.general.perplexity_offset == 0  # the tuning slice does not leak into the chosen config
    assert set(res["test"]["default_vs_chosen"]) >= {"base_ci", "tuned_ci", "change_ci"}
    assert out.default_test is not None and out.chosen_test is not None
    # the report carries the tuning section
    h = stage_report(cfg, run)
    assert h.report["tuning"]["chosen"]["trial"] == out.chosen_trial
    assert "Tuning" in (run.path / "report.html").read_text()

    # a second call resumes: the journal already holds the trials, every sub-run is reused
    before = {p.name: p.stat().st_mtime for p in (run.path / "tuning").glob("trial-*/train_result.json")}
    again = stage_tune(cfg, run)
    assert again.trials == out.trials and again.chosen_trial == out.chosen_trial
    after = {p.name: p.stat().st_mtime for p in (run.path / "tuning").glob("trial-*/train_result.json")}
    assert before == after


def test_a_trial_that_fails_the_gate_is_never_chosen():
    from tunewright.studies.tune import TrialRecord, choose, pareto_front

    a = TrialRecord(0, ["x=1"], 0.9, -0.5, 10, 0.1, "fail", "")
    b = TrialRecord(1, ["x=2"], 0.6, -0.01, 20, 0.1, "pass", "")
    c = TrialRecord(2, ["x=3"], 0.603, 0.0, 5, 0.1, "pass", "")
    assert choose([a, b, c]).number == 2  # b and c tie within 0.005: the cheaper one
    assert choose([a]) is None
    assert set(pareto_front([a, b, c])) == {0, 2}
    c.seed_metrics = [0.603, 0.2]  # a lucky seed: its mean loses to b
    assert choose([a, b, c]).number == 1


def test_pareto_successive_halving_keeps_the_best_layers():
    from tunewright.studies.tune import keep_at_rung, pareto_layers

    pts = {0: (0.9, -0.2), 1: (0.5, 0.0), 2: (0.4, -0.1), 3: (0.3, -0.3), 4: (0.85, -0.25)}
    assert pareto_layers(pts) == [[0, 1], [2, 4], [3]]
    keep = {k for k in pts if keep_at_rung(pts, k, 0.5, 3)}
    assert keep == {0, 1, 2, 4}  # quota ceil(2.5)=3: the front (2) plus the whole second layer
    assert {k for k in pts if keep_at_rung(pts, k, 0.2, 3)} == {0, 1}
    assert keep_at_rung({0: (0.0, -1.0), 1: (1.0, 0.0)}, 0, 0.5, 3)  # too few peers: nobody is pruned


def test_tpe_startup_trials_come_from_the_config():
    from tunewright.studies.tune import _sampler

    assert _sampler(load_demo_config(True))._n_startup_trials == 10  # null: Optuna's default
    cfg = load_demo_config(True, ["tuning.n_startup_trials=2"])
    assert _sampler(cfg)._n_startup_trials == 2
    with pytest.raises(Exception, match="n_startup_trials"):
        load_demo_config(True, ["tuning.n_startup_trials=-1"])


def test_a_fresh_study_starts_from_the_default_and_the_mitigation_arms():
    from tunewright.studies.tune import starting_points

    cfg = load_demo_config(True)  # default space: lr [3e-5, 2e-3] log, ewc choices [0, 0.005, 0.02, 0.1], ...
    pts = starting_points(cfg, cfg.tuning.space)
    assert [label for _, label in pts] == ["default", "mitigation arm: ewc 0.02", "mitigation arm: lr x0.25",
                                          "mitigation arm: ewc 0.1, lr x0.25"]
    lr = cfg.training.learning_rate
    assert pts[0][0]["training.ewc_lambda"] == 0 and pts[1][0]["training.ewc_lambda"] == 0.02
    assert pts[1][0]["training.learning_rate"] == lr and pts[2][0]["training.learning_rate"] == float(f"{lr * 0.25:.3g}")
    # an arm whose key the space does not search, or whose value it does not hold, is left out
    narrow = load_demo_config(True, ["tuning.space={training.learning_rate: {low: 1e-4, high: 2e-3, log: true}}"])
    assert [label for _, label in starting_points(narrow, narrow.tuning.space)] == ["default", "mitigation arm: lr x0.25"]
    off = load_demo_config(True, ["tuning.start_from_mitigation_arms=false"])
    assert len(starting_points(off, off.tuning.space)) == 1
