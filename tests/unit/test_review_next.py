"""`tunewright review next`: after a run, the label model's uncertainty, function disagreement, the audit's
label-noise suspects and reviewer disagreement choose the next round of review items (real labeling of a
ner_finance subset, real SQLite store)."""

import json

from typer.testing import CliRunner

from review_helpers import ROOT
from tunewright.cli import app
from tunewright.config import load_config
from tunewright.labeling.stage import stage_review_init, stage_review_next, stage_training_labels
from tunewright.pipeline import new_run
from tunewright.records import read_examples


def test_next_round_comes_from_uncertainty_disagreement_and_audit_suspects(tmp_path):
    cfg = load_config(None, [f"labeling.functions_module={ROOT / 'examples/labeling/finance_lfs.py'}",
                             f"labeling.rules_file={ROOT / 'examples/labeling/finance_rules.yaml'}",
                             "data.max_records=80", f"project.runs_dir={tmp_path / 'runs'}", "review.budget=5",
                             "review.double_review_share=0", "review.gold_share=0", "labeling.keep_gold=false"])
    run = new_run(cfg)
    stage_training_labels(cfg, run)
    first = stage_review_init(cfg, run, ["ann"])
    assert first["queued"] == 5
    # the run's audit flagged one labeled example as a label-noise suspect: an example the first round missed
    queue = [json.loads(x) for x in (run.path / "labeling" / "queue.jsonl").read_text().splitlines()]
    last = queue[-1]["example_id"]  # the least valuable by the label model's own terms
    labeled = {e.meta.get("source_example_id", e.id): e for e in read_examples(run.data_dir / "labeled.jsonl")}
    (run.data_dir / "quarantine.jsonl").write_text(json.dumps(
        {"id": labeled[last].id, "reasons": ["label_issue"], "details": ["cleanlab: given label unlikely"]}) + "\n")
    res = stage_review_next(cfg, run, 10)
    assert res["added"] == 10 and res["items"] == 15
    chosen = [c["example_id"] for c in res["chosen"]]
    first_ids = {q["example_id"] for q in queue[:5]}
    assert not set(chosen) & first_ids  # nothing queued twice
    sus = next(c for c in res["chosen"] if c["example_id"] == last)
    assert sus["audit"] == 1.0 and "label_issue: cleanlab: given label unlikely" in sus["audit_reasons"]
    # the rest are the most uncertain / disputed examples not yet queued, best first
    values = [q["value"] for q in queue if q["example_id"] in set(chosen) - {last}]
    assert values == sorted(values, reverse=True)
    assert set(chosen) - {last} == {q["example_id"] for q in [q for q in queue[5:] if q["example_id"] != last][:9]}
    # the CLI: another round of 3
    r = CliRunner().invoke(app, ["review", "next", "--run", str(run.path), "--n", "3"])
    assert r.exit_code == 0 and "queued 3 items for review (18 in the store" in r.output, r.output
