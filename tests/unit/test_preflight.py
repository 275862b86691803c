"""'tunewright run' checks the config against the data before any compute, and says what to change."""

import json

import pytest

from helpers import chat, write_lines
from tunewright.config import load_config
from tunewright.data.preflight import PreflightFailed, check_config_against_data, enforce_preflight


def _checks(tmp_path, rows, *overrides):
    f = write_lines(tmp_path / "d.jsonl", rows)
    res = check_config_against_data(load_config(None, [f"data.train_files=[{f}]", *overrides]))
    return res, {x.check: x for x in res.findings}


def test_extraction_configured_but_answers_never_parse(tmp_path):
    rows = [chat(f"is {i} good?", "yes" if i % 2 else "no") for i in range(20)]
    res, by = _checks(tmp_path, rows, "task.type=extraction", "task.entity_types=[PERSON]")
    f = by["extraction_unparsed"]
    assert f.level == "stop" and "none of 20 answers parse" in f.message and "d.jsonl:1: 'no'" in f.message
    with pytest.raises(PreflightFailed, match="does not fit the data"):
        enforce_preflight(res)
    enforce_preflight(res, force=True)  # --force goes on


def test_labels_in_data_missing_from_task_labels(tmp_path):
    rows = [chat(f"ticket {i}", ["billing", "bug", "refund"][i % 3]) for i in range(30)]
    _, by = _checks(tmp_path, rows, "task.type=classification", "task.labels=[billing, bug]")
    f = by["labels_missing"]
    assert f.level == "stop" and "10 of 30 answers" in f.message and "'refund' (10)" in f.message
    assert "first at" in f.message and "d.jsonl:3" in f.message
    _, ok = _checks(tmp_path, rows, "task.type=classification", "task.labels=[billing, bug, Refund]")
    assert "labels_missing" not in ok  # matched case-insensitively, as the task scores them


def test_answers_far_longer_than_max_new_tokens(tmp_path):
    long = " ".join(["clause"] * 60)  # ~90 estimated tokens
    _, by = _checks(tmp_path, [chat(f"summarise {i}", long) for i in range(12)], "task.max_new_tokens=16")
    assert by["answers_too_long"].level == "stop" and "raise task.max_new_tokens" in by["answers_too_long"].message
    rows = [chat(f"q{i}", "short answer") for i in range(16)] + [chat(f"l{i}", long) for i in range(4)]
    _, by = _checks(tmp_path, rows, "task.max_new_tokens=16")
    assert by["answers_too_long"].level == "warn"
    _, by = _checks(tmp_path, rows, "task.max_new_tokens=128")
    assert "answers_too_long" not in by


def test_system_prompt_that_replaces_the_datas_own(tmp_path):
    rows = [chat(f"q{i}", f"answer {i}", system="You are a contracts lawyer.") for i in range(10)]
    _, by = _checks(tmp_path, rows, "data.system_prompt=Answer briefly.")
    f = by["system_prompt_replaced"]
    assert f.level == "warn" and "10 of 10 records" in f.message and "data.system_prompt: null" in f.message
    _, by = _checks(tmp_path, rows)
    assert not by  # neutral defaults: nothing to say


def test_multiple_choice_without_choices_and_empty_data(tmp_path):
    rows = [chat("Pick one:\nA. yes\nB. no", "A") for _ in range(10)]
    _, by = _checks(tmp_path, rows, "task.type=multiple_choice")
    assert by["choices_missing"].level == "stop" and "data.choices_from_prompt: true" in by["choices_missing"].message
    _, by = _checks(tmp_path, rows, "task.type=multiple_choice", "data.choices_from_prompt=true")
    assert "choices_missing" not in by
    res = check_config_against_data(load_config(None))
    assert res.stops[0].check == "no_data" and "tunewright init --data" in res.stops[0].message


def test_content_in_system_messages_is_named(tmp_path):
    rows = [{"input": [{"role": "system", "content": "Decide the case."}, {"role": "system", "content": f"case {i}"},
                       {"role": "user", "content": "Trespass"}], "ideal": "Positive" if i % 2 else "Negative"}
            for i in range(12)]
    _, by = _checks(tmp_path, [json.dumps(r) for r in rows], "task.type=classification",
                    "task.labels=[Positive, Negative]")
    assert by["input_in_system_message"].level == "warn" and "move the content" in by["input_in_system_message"].message


def test_audit_without_data_says_how_to_start(tmp_path):
    from tunewright.config import ConfigError
    from tunewright.pipeline import new_run, stage_audit

    cfg = load_config(None, [f"project.runs_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="data.train_files is empty.*tunewright init --data FILE"):
        stage_audit(cfg, new_run(cfg))
