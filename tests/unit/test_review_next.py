"""`tunewright review next`: after a run, the label model's uncertainty, function disagreement, the audit's
label-noise suspects and reviewer disagreement choose the next round of review items (real labeling of a
ner_finance subset, real SQLite store)."""

import json

from typer.testing import CliRunner

from review_helpers import ROOT
from tunewright.cli import app
from tunewright.pipeline import load_demo_config
from tunewright.labeling.stage import stage_review_init, stage_review_next, stage_training_labels
from tunewright.pipeline import new_run
from tunewright.records import read_examples
from tunewright.review.store import Store


def test_next_round_comes_from_uncertainty_disagreement_and_audit_suspects(tmp_path):
    cfg = load_demo_config(False, [f"labeling.functions_module={ROOT / 'examples/labeling/finance_lfs.py'}",
                             f"labeling.rules_file={ROOT / 'examples/labeling/finance_rules.yaml'}",
                             "data.max_records=80", f"project.runs_dir={tmp_path / 'runs'}", "review.budget=5",
                             "review.double_review_share=0", "review.gold_share=0", "labeling.keep_gold=false"])
    run = new_run(cfg)
    stage_training_labels(cfg, run)
    first = stage_review_init(cfg, run, ["ann"])
    assert first.queued == 5
    # the run's audit flagged one labeled example as a label-noise suspect, one the next round would have missed
    queue = [json.loads(x) for x in (run.path / "labeling" / "queue.jsonl").read_text().splitlines()]
    labeled = {e.meta.get("source_example_id", e.id): e for e in read_examples(run.data_dir / "labeled.jsonl")}
    held_out = {e.id for e in read_examples(run.data_dir / "labeled_test.jsonl")}
    store = Store(f"sqlite:///{run.path / 'labeling' / 'review.db'}")
    first_ids = {it.example_id for it in store.items()}
    rest = [q for q in queue if q["example_id"] not in held_out | first_ids]  # gold test examples never queue
    cut = rest[9]["value"]
    late = [q for q in rest[10:] if q["value"] + 1.0 > cut]  # the audit term (weight 1) lifts it into the round
    assert late
    sus = late[-1]["example_id"]
    (run.data_dir / "quarantine.jsonl").write_text(json.dumps(
        {"id": labeled[sus].id, "reasons": ["label_issue"], "details": ["cleanlab: given label unlikely"]}) + "\n")
    res = stage_review_next(cfg, run, 10)
    assert res.added == 10 and res.items == 15
    chosen = [c["example_id"] for c in res.chosen]
    assert not set(chosen) & first_ids and not set(chosen) & held_out  # nothing queued twice, no test item
    got = next(c for c in res.chosen if c["example_id"] == sus)
    assert got["audit"] == 1.0 and "label_issue: cleanlab: given label unlikely" in got["audit_reasons"]
    # exactly the ten most valuable once the suspect's audit term is counted, best first
    boosted = sorted(rest, key=lambda q: (-(q["value"] + (q["example_id"] == sus)), q["index"]))
    assert chosen == [q["example_id"] for q in boosted[:10]]
    # the CLI: another round of 3
    r = CliRunner().invoke(app, ["review", "next", "--run", str(run.path), "--n", "3"])
    assert r.exit_code == 0 and "queued 3 items for review (18 in the store" in r.output, r.output
