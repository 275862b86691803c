"""'tunewright init --data' on real evals files: the task, labels, types and prompt it infers, and the short
config it writes (which loads, keeps the data's own system prompt and never overwrites a file)."""

import json
import shutil

import pytest
import yaml

from tunewright.assets import resolve_path
from tunewright.config import Config, load_config
from tunewright.data.audit import read_inputs
from tunewright.starter import write_starter_config


def _evals(tmp_path, name):
    src = resolve_path(f"pkg:evals/registry/data/{name}/samples.jsonl")
    dst = tmp_path / f"{name}.jsonl"
    shutil.copy(src, dst)
    return dst


def _init(tmp_path, name, **kw):
    data = _evals(tmp_path, name)
    res = write_starter_config([str(data)], tmp_path / "tunewright.yaml", **kw)
    return res, yaml.safe_load(res.path.read_text()), load_config(res.path)


def test_extraction_ner_finance_financial(tmp_path):
    res, raw, cfg = _init(tmp_path, "ner_finance")
    assert cfg.task.type == "extraction"
    assert cfg.task.entity_types == ["PERSON", "ORGANIZATION", "LOCATION"]  # most frequent first
    assert cfg.task.empty_answer == "No entities found" and "empty_answer" not in raw["task"]  # the default already
    assert cfg.data.system_prompt is None and "system_prompt" not in raw["data"]  # the data's own prompt is kept
    assert cfg.data.train_files == ["ner_finance.jsonl"] and cfg.data.format == "chat"
    assert 48 <= cfg.task.max_new_tokens <= 128  # answers are lists of a few entities
    why = {f.key: f.why for f in res.findings}
    assert "513 of 1164 answers are [NAME - TYPE, ...] lists and 651 are 'No entities found'" in why["task.type"]
    assert "same system message" in why["data.system_prompt"]


def test_classification_illinois_law_legal(tmp_path):
    res, raw, cfg = _init(tmp_path, "illinois-law")
    assert cfg.task.type == "classification" and cfg.task.labels == ["Positive", "Negative"]
    assert cfg.task.max_new_tokens <= 16
    assert "Positive (77), Negative (36)" in {f.key: f.why for f in res.findings}["task.labels"]


def test_multiple_choice_medmcqa_medical_from_prompt_options(tmp_path):
    res, raw, cfg = _init(tmp_path, "medmcqa")
    assert cfg.task.type == "multiple_choice" and cfg.data.choices_from_prompt is True
    assert "max_new_tokens" not in raw["task"]  # scored by likelihood, nothing is generated
    ex = read_inputs(cfg, cfg.data.train_files).examples
    assert len(ex) == 300
    first = ex[0]
    assert first.meta["choices"] == ["a) Hyperplasia", "b) Hyperophy", "c) Atrophy", "d) Dyplasia"]
    assert all(e.answer() in e.meta["choices"] for e in ex)


def test_multiple_choice_letters_us_tort_law_and_choices_field(tmp_path):
    _, _, cfg = _init(tmp_path, "us_tort_law")
    assert cfg.task.type == "multiple_choice"
    ex = read_inputs(cfg, cfg.data.train_files).examples
    assert ex[0].meta["choices"] == ["A", "B", "C", "D"] and ex[0].answer() in "ABCD"
    # records that carry their own 'choices' field need no prompt parsing
    f = tmp_path / "own" / "mc.jsonl"
    f.parent.mkdir()
    f.write_text("".join(json.dumps({"prompt": f"question {i}?", "completion": "yes", "choices": ["yes", "no"]}) + "\n"
                         for i in range(10)))
    res = write_starter_config([str(f)], f.parent / "tunewright.yaml")
    c = load_config(res.path)
    assert c.task.type == "multiple_choice" and not c.data.choices_from_prompt
    assert c.data.format == "prompt_completion" and c.data.train_files == ["mc.jsonl"]


def test_generation_medication_dose_medical(tmp_path):
    res, raw, cfg = _init(tmp_path, "medication_dose", test=None)
    assert cfg.task.type == "generation" and cfg.task.metric == "exact_match"  # one-word drug names
    assert "100 distinct answers in 100 records" in {f.key: f.why for f in res.findings}["task.type"]


def test_test_file_model_and_no_overwrite(tmp_path):
    data, test = _evals(tmp_path, "illinois-law"), _evals(tmp_path, "us_tort_law")
    res = write_starter_config([str(data)], tmp_path / "tunewright.yaml", test=[str(test)], model="org/model")
    cfg = load_config(res.path)
    assert cfg.data.test_files == ["us_tort_law.jsonl"]
    assert cfg.model.name_or_path == "org/model" and cfg.model.gguf_file is None
    text = res.path.read_text()
    assert "tunewright config --full" in text and len(text.splitlines()) < 25
    with pytest.raises(FileExistsError, match="does not overwrite"):
        write_starter_config([str(data)], tmp_path / "tunewright.yaml")
    assert res.path.read_text() == text


def test_only_non_defaults_are_written(tmp_path):
    _, raw, cfg = _init(tmp_path, "illinois-law")
    defaults = Config()
    for section, values in raw.items():
        for key, value in values.items():
            assert getattr(getattr(defaults, section), key) != value, f"{section}.{key} is a default"


def test_cli_init_prints_why_and_config_full_lists_every_field(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tunewright.cli import app

    monkeypatch.chdir(tmp_path)
    _evals(tmp_path, "illinois-law")
    cli = CliRunner()
    r = cli.invoke(app, ["init", "--data", "illinois-law.jsonl"])
    assert r.exit_code == 0, r.output
    assert "task.type: classification  - 113 answers take only 2 distinct values" in r.output
    assert 'task.labels: ["Positive", "Negative"]' in r.output and "wrote tunewright.yaml" in r.output
    again = cli.invoke(app, ["init", "--data", "illinois-law.jsonl"])
    assert again.exit_code == 2 and "does not overwrite" in again.output
    assert "give your training data" in cli.invoke(app, ["init"]).output
    full = cli.invoke(app, ["config", "--full"])
    assert full.exit_code == 0 and "# LoRA rank." in full.output and "report_to: []" in full.output
    resolved = cli.invoke(app, ["config"])  # ./tunewright.yaml, resolved with every default
    assert "labels:\n  - Positive\n  - Negative" in resolved.output and "lora_r: 16" in resolved.output
