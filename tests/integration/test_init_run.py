"""A config written by 'tunewright init --data' runs end to end: medmcqa (medical multiple choice, options read
from the prompts) on a tiny random-init Llama with the real SmolLM2 tokenizer, few steps."""

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_train import tiny_model_dir  # noqa: E402

from tunewright.assets import resolve_path  # noqa: E402
from tunewright.config import load_config  # noqa: E402
from tunewright.pipeline import run_all  # noqa: E402
from tunewright.starter import write_starter_config  # noqa: E402

SMALL = ["training.max_steps=2", "training.batch_size=4", "task.max_test_examples=12", "general.perplexity_paragraphs=2",
         "general.mmlu_questions=4", "audit.checks=[schema, format, exact_duplicate, conflicting_duplicate, token_length]",
         "training.mitigation=off"]  # a tiny model's gate verdict is arbitrary (auto: tests/integration/test_auto_mitigation.py)


def test_init_config_runs_end_to_end(tmp_path, smol_tokenizer):
    shutil.copy(resolve_path("pkg:evals/registry/data/medmcqa/samples.jsonl"), tmp_path / "medmcqa.jsonl")
    model = tiny_model_dir(tmp_path, smol_tokenizer)
    res = write_starter_config([str(tmp_path / "medmcqa.jsonl")], tmp_path / "tunewright.yaml", model=str(model))
    cfg = load_config(res.path, SMALL)
    run, headline = run_all(cfg)
    report = headline.report
    t = report["task"]
    assert t["metric"] == "accuracy" and t["n"] == 12
    assert t["tuned_ci"]["low"] <= t["tuned"] <= t["tuned_ci"]["high"]
    rows = [json.loads(x) for x in open(run.path / "eval" / "tuned" / "predictions.jsonl")]
    assert all(len(r["choices"]) == 4 and r["choices"][0].startswith("a) ") for r in rows)
    assert report["data"]["input_records"] == 300 and (run.path / "report.html").exists()
