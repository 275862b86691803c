"""The report reads each eval artifact once and pairs base and tuned items by id, whatever the file order."""

from __future__ import annotations

import builtins
import io
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from tunewright.pipeline import load_demo_config
from tunewright.config import config_to_dict
from tunewright.evaluation.artifacts import EvalArtifacts, pair_by_id
from tunewright.evaluation.tasks import make_task
from tunewright.project import Run, write_json
from tunewright.reporting.report import build_report, write_report

TYPES = ["ORG", "PER", "LOC"]


def _entities(rng: random.Random, k: int) -> list[list[str]]:
    return [[f"name{rng.randrange(6)}", rng.choice(TYPES)] for _ in range(k)]


def _prediction(task, i: int, rng: random.Random, skill: float) -> dict:
    gold = _entities(rng, rng.randrange(1, 4))
    parsed = [e for e in gold if rng.random() < skill] + _entities(rng, rng.random() < 0.3)
    ok = rng.random() > 0.1
    return {"id": f"ex{i:03d}", "source": f"test.jsonl:{i + 1}", "output": json.dumps(parsed), "gold": "g",
            "gold_parsed": gold, "parsed": parsed if ok else None, "parse_ok": ok,
            **task.item_row([tuple(e) for e in parsed] if ok else None, [tuple(e) for e in gold])}


def make_run(tmp_path: Path, n: int = 40, shuffle_tuned: bool = False) -> Run:
    """A run directory with everything the report reads, from a seeded toy evaluation (no model)."""
    cfg = load_demo_config()  # the extraction task on ner_finance
    cfg.stats.bootstrap_samples = 200
    task = make_task(cfg.task)
    run = Run(tmp_path / "run")
    run.eval_dir.mkdir(parents=True)
    audit = {"input_records": n + 5, "used": n, "quarantined": 5, "reasons": {"exact_duplicate": 5},
             "token_lengths": {"p50": 30, "max": 90}}
    write_json(run.manifest_path, {"config": config_to_dict(cfg), "config_dir": str(tmp_path), "timings": {},
                                   "audit": audit, "split": {"train": 5, "validation": 0, "test": n}})
    general_names = {"general_perplexity": ("perplexity", False), "mmlu": ("accuracy", True)}
    for which, skill in (("base", 0.4), ("tuned", 0.8)):
        rng = random.Random(which)
        d = run.eval_dir / which
        d.mkdir()
        preds = [_prediction(task, i, random.Random(f"{which}{i}"), skill) for i in range(n)]
        ppl = [{"source": f"wiki.jsonl:{i + 1}", "mean_nll": 2 + rng.random(), "tokens": 20 + i} for i in range(12)]
        mmlu = [{"source": f"mmlu.jsonl:{i + 1}", "answer": "A", "pred": p, "correct": p == "A"}
                for i, p in enumerate(rng.choice("AB") for _ in range(16))]
        if which == "tuned" and shuffle_tuned:
            for rows in (preds, ppl, mmlu):
                random.Random(7).shuffle(rows)
        for name, rows in (("predictions", preds), ("general_general_perplexity", ppl), ("general_mmlu", mmlu)):
            (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        general = {name: {"metric": metric, "value": 1.0, "n": 1, "higher_is_better": hib}
                   for name, (metric, hib) in general_names.items()}
        write_json(d / "metrics.json", {"which": which, "task": {}, "heldout": None, "general": general})
    write_json(run.path / "train_result.json", {
        "method": "lora", "trainable_params": 10, "total_params": 1000, "train_tokens": 100, "trained_tokens": 100,
        "tokens_per_second": 1.0, "steps": 2, "seconds": 1.0, "final_loss": 1.0, "train_examples": 5,
        "replay_examples": 0, "truncated_examples": 0, "dropped_examples": 0, "peak_memory_bytes": None})
    run.log_metric({"stage": "train", "step": 1, "loss": 2.0})
    return run


@pytest.fixture(autouse=True)
def no_cost_section(monkeypatch):
    # the cost section reads the model's shape through transformers (a minute on a busy machine), not the run's
    # artifacts; it has its own tests (test_cost_*.py)
    import tunewright.reporting.report as report

    monkeypatch.setattr(report, "_cost", lambda cfg, manifest: {"error": "not under test"})


@pytest.fixture
def opened(monkeypatch):
    """Counts every open() of a file for reading, through builtins.open or io.open (which Path.read_text uses)."""
    counts: Counter[str] = Counter()
    real = io.open

    def counting(file, *a, **kw):
        mode = a[0] if a else kw.get("mode", "r")
        if isinstance(file, (str, Path)) and not set(mode) & set("wax+"):
            counts[str(Path(file).resolve())] += 1
        return real(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    return counts


def test_the_report_reads_each_eval_artifact_once(tmp_path, opened):
    run = make_run(tmp_path)
    write_report(run)  # build report.json and render report.html
    under_run = {Path(p).relative_to(run.path.resolve()).as_posix(): c for p, c in opened.items()
                 if Path(p).is_relative_to(run.path.resolve())}
    artifacts = [f"eval/{w}/{f}" for w in ("base", "tuned") for f in
                 ("predictions.jsonl", "general_general_perplexity.jsonl", "general_mmlu.jsonl", "metrics.json")]
    artifacts += ["metrics.jsonl", "train_result.json"]
    assert {a: under_run.get(a) for a in artifacts} == {a: 1 for a in artifacts}


def test_a_reordered_tuned_file_gives_the_same_comparison(tmp_path):
    a = build_report(make_run(tmp_path / "a"))
    b = build_report(make_run(tmp_path / "b", shuffle_tuned=True))
    for key in ("task", "general", "forgetting", "regressions", "headline"):
        assert a[key] == b[key], key
    assert a["task"]["n"] == 40 and "unpaired" not in a["task"]
    assert a["task"]["change_ci"]["value"] > 0  # the toy tuned model finds more entities: pairing matters


def test_items_on_one_side_only_are_reported_not_dropped(tmp_path):
    run = make_run(tmp_path)
    path = run.eval_dir / "tuned" / "predictions.jsonl"
    rows = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(rows[3:]) + "\n", encoding="utf-8")  # the tuned eval lost three items
    report = build_report(run)
    assert report["task"]["n"] == 37
    assert report["task"]["unpaired"] == {"base_only": 3, "tuned_only": 0,
                                          "base_only_ids": ["ex000", "ex001", "ex002"], "tuned_only_ids": []}
    assert all(d["unpaired"]["base_only"] == 3 for d in report["task"]["details"].values())
    html = (write_report(run), (run.path / "report.html").read_text(encoding="utf-8"))[1]
    assert "3 only in base, 0 only in tuned" in html


def test_pair_by_id_keeps_duplicates_in_order():
    base = [{"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "a", "v": 3}]
    tuned = [{"id": "a", "v": 10}, {"id": "a", "v": 30}, {"id": "c", "v": 0}]
    p = pair_by_id(base, tuned)
    assert [(b["v"], t["v"]) for b, t in zip(p.base, p.tuned)] == [(1, 10), (3, 30)]
    assert (p.base_only, p.tuned_only) == (["b"], ["c"])
    general = pair_by_id([{"source": "f:1"}, {"source": "f:2"}], [{"source": "f:2"}, {"source": "f:1"}])
    assert [r["source"] for r in general.tuned] == ["f:1", "f:2"] and general.unpaired() is None


def test_a_missing_general_file_is_an_error_naming_it(tmp_path):
    run = make_run(tmp_path)
    (run.eval_dir / "base" / "general_mmlu.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="base/general_mmlu.jsonl: missing"):
        EvalArtifacts.load(run.eval_dir).general_pairs("mmlu")
