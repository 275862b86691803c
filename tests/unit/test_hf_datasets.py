"""Hugging Face datasets as input: a save_to_disk folder, Parquet and Arrow files with column mapping, every
row accounted for with its FILE:ROW source; a hub id that cannot be reached says so."""

import json

import pytest
from datasets import Dataset, DatasetDict

from tunewright.config import load_config
from tunewright.data.audit import read_inputs
from tunewright.pipeline import new_run, stage_audit
from tunewright.starter import write_starter_config

ROWS = {"question": [f"Is clause {i} enforceable?" for i in range(30)],
        "answer": ["yes" if i % 3 else "no" for i in range(30)], "court": ["state"] * 30}


def _sources(tmp_path):
    ds = Dataset.from_dict({**ROWS, "answer": ROWS["answer"][:7] + [""] + ROWS["answer"][8:]})  # row 8: empty answer
    ds.save_to_disk(str(tmp_path / "disk"))
    DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "dict"))
    ds.to_parquet(str(tmp_path / "d.parquet"))
    arrow = next((tmp_path / "disk").glob("*.arrow"))
    return {"disk": tmp_path / "disk", "dict": tmp_path / "dict", "parquet": tmp_path / "d.parquet", "arrow": arrow}


@pytest.mark.parametrize("kind", ["disk", "dict", "parquet", "arrow"])
def test_dataset_sources_with_column_mapping(tmp_path, kind):
    src = _sources(tmp_path)[kind]
    cfg = load_config(None, [f"data.train_files=[{src}]", "data.columns={question: prompt, answer: completion}"])
    res = read_inputs(cfg, cfg.data.train_files)
    assert res.input_records == 30 and len(res.examples) == 29
    first = res.examples[0]
    assert first.prompt == "Is clause 0 enforceable?" and first.completion == "no" and first.meta == {"court": "state"}
    assert first.source == f"{src}:1"
    (bad,) = res.rejected
    assert bad.source == f"{src}:8" and bad.reason == "bad_record" and "completion" in bad.detail


def test_prompt_completion_columns_and_audit_of_a_folder(tmp_path, toy_tokenizer):
    src = _sources(tmp_path)["disk"]
    cfg = load_config(None, [f"data.train_files=[{src}]", "data.prompt_column=question",
                             "data.completion_column=answer", f"project.runs_dir={tmp_path / 'runs'}",
                             "audit.checks=[schema, exact_duplicate]", "audit.min_usable_fraction=0.5"])
    run = new_run(cfg)
    result = stage_audit(cfg, run, force=True)
    assert result.summary["input_records"] == 30 and result.summary["used"] == 29
    q = [json.loads(x) for x in (run.data_dir / "quarantine.jsonl").read_text().splitlines()]
    assert [r["source"] for r in q] == [f"{src}:8"]
    assert len(run.manifest()["data_hashes"][str(src)]) == 64  # the folder's content hash


def test_init_infers_from_a_dataset_folder(tmp_path):
    Dataset.from_dict({"prompt": ROWS["question"], "completion": ROWS["answer"]}).save_to_disk(str(tmp_path / "ds"))
    res = write_starter_config([str(tmp_path / "ds")], tmp_path / "tunewright.yaml")
    cfg = load_config(res.path)
    assert cfg.task.type == "classification" and cfg.task.labels == ["yes", "no"] and cfg.data.format == "auto"
    assert cfg.data.train_files == ["ds"]


def test_unreachable_hub_id_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = load_config(None, ["data.train_files=['hf:no-such-owner/no-such-dataset:train']"])
    with pytest.raises(FileNotFoundError, match="hf:no-such-owner/no-such-dataset:train: could not load"):
        read_inputs(cfg, cfg.data.train_files)
