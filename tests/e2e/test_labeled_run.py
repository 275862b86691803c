"""A labeled-from-scratch run (issue 17): `tunewright run` with labeling functions and a review store goes label ->
review -> audit -> split -> train -> eval on a tiny random-init Llama (real SmolLM2 tokenizer), and every
training label says where it came from."""

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from review_helpers import ROOT
from tunewright.pipeline import load_demo_config
from tunewright.cli import app
from tunewright.labeling.run import label_examples, load_functions, write_labeling
from tunewright.project import Run
from tunewright.records import read_examples, read_files
from tunewright.assets import resolve_path
from tunewright.review.service import init_review
from tunewright.review.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_train import tiny_llama  # noqa: E402

N = 60


def test_labeled_run_trains_on_labels_with_provenance(tmp_path, monkeypatch, smol_tokenizer):
    base = tmp_path / "tiny"
    tiny_llama(len(smol_tokenizer), seed=0).save_pretrained(base, safe_serialization=True)
    smol_tokenizer.save_pretrained(base)
    lab = [f"labeling.functions_module={ROOT / 'examples/labeling/finance_lfs.py'}",
           f"labeling.rules_file={ROOT / 'examples/labeling/finance_rules.yaml'}"]
    db = tmp_path / "review" / "review.db"
    # a review round made earlier: three items judged (one corrected to "no entities")
    cfg0 = load_demo_config(False, [*lab, f"data.max_records={N}", "review.budget=6", "review.double_review_share=0",
                              "review.gold_share=0"])
    examples = read_files([resolve_path(cfg0.data.train_files[0])], max_records=N).examples
    write_labeling(tmp_path / "review", examples, label_examples(cfg0, examples, load_functions(cfg0), progress=False))
    store = Store(f"sqlite:///{db}")
    init_review(cfg0, tmp_path / "review", examples, store)
    judged = store.items()[:3]
    store.record_judgment(judged[0].id, "ann", "correct", "No entities found", "k0")
    store.record_judgment(judged[1].id, "ann", "accept", judged[1].suggested, "k1")
    store.record_judgment(judged[2].id, "ann", "accept", judged[2].suggested, "k2")

    monkeypatch.chdir(tmp_path)
    overrides = [*lab, f"data.max_records={N}", f"model.name_or_path={base}", "model.gguf_file=null",
                 "general.enabled=false", "training.max_steps=2", "training.batch_size=4", "task.max_test_examples=6",
                 "task.max_new_tokens=8", "split.test_fraction=0.1", "split.validation_fraction=0.05",
                 "labeling.keep_gold=false", "labeling.min_confidence=0.5", f"review.db_url=sqlite:///{db}",
                 f"project.runs_dir={tmp_path / 'runs'}"]
    from tunewright.pipeline import DEMO_CONFIG

    r = CliRunner().invoke(app, ["run", "-c", str(DEMO_CONFIG), "--force", *sum((["--set", o] for o in overrides), [])])
    assert r.exit_code == 0, r.output
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    run = Run(run_dir)
    prov = json.loads((run_dir / "labeling" / "provenance.json").read_text())
    c = prov["counts"]
    assert c["review"] == 3 and c["gold"] == 0  # keep_gold=false: the data's answers only score
    assert c["test_gold"] == 6 and prov["test_labels"] == "gold (held out)"
    assert c["label_model"] + c["review"] + c["dropped_low_confidence"] + c["test_gold"] == N
    dropped = [json.loads(x) for x in (run_dir / "labeling" / "quarantine.jsonl").read_text().splitlines()]
    assert len(dropped) == c["dropped_low_confidence"]
    assert all(d["reasons"] == ["low_label_confidence"] and "< labeling.min_confidence" in d["details"][0]
               for d in dropped)
    labeled = read_examples(run_dir / "data" / "labeled.jsonl")
    by_src = {}
    for e in labeled:
        by_src.setdefault(e.meta["labeling"]["source"], []).append(e)
    for e in by_src["label_model"]:
        m = e.meta["labeling"]
        assert m["confidence"] >= 0.5 and isinstance(m["votes"], dict)
    corrected = [e for e in by_src["review"] if e.meta["source_example_id"] == judged[0].example_id]
    assert corrected[0].answer() == "No entities found"
    assert corrected[0].meta["labeling"]["reviewers"] == ["ann"] and corrected[0].meta["labeling"]["at"]
    # the test split is the held-out gold, never a programmatic label
    test = read_examples(run_dir / "data" / "test.jsonl")
    gold = {ex.id: ex.answer() for ex in examples}
    assert test and all(e.meta["labeling"]["source"] == "gold" and e.answer() == gold[e.id] for e in test)
    assert not {e.id for e in test} & {e.meta.get("source_example_id", e.id) for e in labeled}
    # it trained and evaluated, and the report says where the training labels came from
    report = json.loads((run_dir / "report.json").read_text())
    split = report["labeling"]["provenance"]["train_split"]
    train = read_examples(run_dir / "data" / "train.jsonl")
    assert sum(split.values()) == len(train) and split["review"] + split["label_model"] == len(train)
    assert "Where the training labels came from" in (run_dir / "report.html").read_text()
    assert (run_dir / "eval" / "tuned" / "predictions.jsonl").exists()
    assert run.manifest()["training_labels"]["review"] == 3
