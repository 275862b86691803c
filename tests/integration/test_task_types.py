"""Classification and generation projects end to end on the real model (tiny budgets): every task type
trains, evaluates base and tuned, and reports with intervals."""

import json

import pytest

from tunewright.assets import resolve_path
from tunewright.config import load_config
from tunewright.pipeline import run_all

pytestmark = pytest.mark.slow


def _sentences(n):
    rows = [json.loads(x) for x in resolve_path("pkg:evals/registry/data/ner_finance/samples.jsonl").read_text().splitlines()]
    return [(r["input"][1]["content"], r["ideal"]) for r in rows[:n]]


def _project(tmp_path, records, overrides):
    f = tmp_path / "data.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records))
    cfg = load_config(None, [f"data.train_files=[{f}]", f"project.runs_dir={tmp_path / 'runs'}",
                             "general.enabled=false", "training.max_steps=3", "training.batch_size=4",
                             "task.max_test_examples=8", "split.test_fraction=0.2", "split.validation_fraction=0.1",
                             *overrides])
    run, headline = run_all(cfg)
    return run, headline.report


def test_classification_project(tmp_path):
    records = [{"prompt": s, "completion": "none" if ideal.startswith("No entities") else "entities"}
               for s, ideal in _sentences(60)]
    run, r = _project(tmp_path, records, [
        "task.type=classification", "task.labels=[entities, none]", "task.max_new_tokens=4",
        "task.stop_strings=['\\n']",
        "data.system_prompt=Answer entities if the sentence names a person, organization or location, else none.",
    ])
    t = r["task"]
    assert t["metric"] == "macro_f1" and t["n"] == 8
    assert set(t["tuned_detail"]) == {"macro_f1", "micro_f1", "accuracy"}
    assert t["tuned_ci"]["low"] <= t["tuned"] <= t["tuned_ci"]["high"]
    rows = [json.loads(x) for x in open(run.path / "eval" / "tuned" / "predictions.jsonl")]
    assert all(row["gold_label"] in ("entities", "none") for row in rows)
    assert sum(row["correct"] for row in rows) / len(rows) == pytest.approx(t["tuned_detail"]["accuracy"])
    assert r["forgetting"]["verdict"] == "pass" and (run.path / "report.html").exists()


def test_generation_project(tmp_path):
    records = [{"prompt": s, "completion": s.split()[0]} for s, _ in _sentences(50)]
    run, r = _project(tmp_path, records, [
        "task.type=generation", "task.metric=exact_match", "task.max_new_tokens=8", "task.judge=helpers:nonempty_judge",
        "data.system_prompt=Repeat the first word of the sentence and nothing else.",
    ])
    t = r["task"]
    assert t["metric"] == "exact_match"
    rows = [json.loads(x) for x in open(run.path / "eval" / "tuned" / "predictions.jsonl")]
    assert t["tuned"] == pytest.approx(sum(row["exact_match"] for row in rows) / len(rows))
    assert set(t["tuned_detail"]) == {"exact_match", "token_f1", "rouge_l", "judge"}
    assert t["tuned_detail"]["judge"] == pytest.approx(sum(bool(row["output"].strip()) for row in rows) / len(rows))


def test_multiple_choice_project_with_user_general_tasks(tmp_path):
    records = [{"prompt": s, "completion": "none" if ideal.startswith("No entities") else "entities",
                "choices": ["entities", "none"]} for s, ideal in _sentences(40)]
    mmlu = [json.loads(x) for x in resolve_path("pkg:evals/registry/data/sandbagging/samples-all.jsonl")
            .read_text().splitlines()[:6]]
    (tmp_path / "mc.jsonl").write_text("".join(
        json.dumps({"question": q["question"], "choices": ["A", "B", "C", "D"], "answer": q["answer"]}) + "\n"
        for q in mmlu))
    (tmp_path / "gen.jsonl").write_text("".join(json.dumps({"prompt": p, "answer": a}) + "\n" for p, a in [
        ("The capital of France is", "Paris"), ("Two plus two equals", "four"), ("The opposite of hot is", "cold")]))
    run, r = _project(tmp_path, records, [
        "task.type=multiple_choice", "general.enabled=true", "general.perplexity_paragraphs=2",
        "general.mmlu_questions=4",
        f"general.tasks=[{{name: my_mc, file: {tmp_path / 'mc.jsonl'}}}, "
        f"{{name: my_gen, file: {tmp_path / 'gen.jsonl'}, type: generation, metric: token_f1, max_new_tokens: 6}}]",
        "data.system_prompt=Does the sentence name a person, organization or location? Answer entities or none.",
    ])
    t = r["task"]
    assert t["metric"] == "accuracy" and set(t["tuned_detail"]) == {"accuracy", "accuracy_norm"}
    rows = [json.loads(x) for x in open(run.path / "eval" / "tuned" / "predictions.jsonl")]
    assert all(row["output"] in ("entities", "none") and len(row["logprobs"]) == 2 for row in rows)
    assert t["tuned"] == pytest.approx(sum(row["correct"] for row in rows) / len(rows))
    assert set(r["general"]) == {"general_perplexity", "mmlu", "my_mc", "my_gen"}
    assert r["general"]["my_mc"]["n"] == 6 and r["general"]["my_gen"]["metric"] == "token_f1"
    assert "base_ci" in r["general"]["my_gen"] and r["forgetting"]["verdict"] in {"pass", "warn", "fail"}
