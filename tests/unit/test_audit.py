import json

from helpers import chat, write_lines
from tunewright.config import load_config
from tunewright.data.audit import audit_data


def test_audit_quarantines_with_reasons_and_loses_nothing(tmp_path, toy_tokenizer):
    f = write_lines(tmp_path / "d.jsonl", [
        chat("a b c", "x"),
        chat("a b c", "x"),            # exact duplicate of line 1
        chat("d e", "y"),
        chat("d e", "z"),              # conflicts with line 3
        chat("long " * 50, "w"),       # too long
        "{broken",                     # unreadable
        chat("g h", "ok"),
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q"},
                                 {"role": "assistant", "content": "a"}]}),  # two user turns
    ])
    cfg = load_config(None, [f"data.train_files=[{f}]", "audit.max_seq_tokens=40", "audit.min_usable_fraction=0.1",
                             "data.system_prompt=null", "audit.gate.fail={}"])  # only the usable share gates here
    res = audit_data(cfg, tmp_path / "out", get_tokenizer=lambda: toy_tokenizer)
    s = res.summary
    assert s["input_records"] == 8 and s["used"] == 2 and s["quarantined"] == 6
    # the too-long line is also a repeated phrase with a trailing space: every reason is kept
    assert s["reasons"] == {"bad_json": 1, "exact_duplicate": 1, "conflicting_duplicate": 2, "too_long": 1,
                            "schema": 1, "repetition": 1, "normalize_whitespace": 1}
    q = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert len(q) == 6
    by_line = {row["source"].rsplit(":", 1)[1]: row for row in q}
    assert by_line["2"]["reasons"] == ["exact_duplicate"] and f"{f}:1" in by_line["2"]["details"][0]
    assert by_line["6"]["reasons"] == ["bad_json"]
    clean = (tmp_path / "out" / "clean.jsonl").read_text().splitlines()
    assert [json.loads(x)["source"] for x in clean] == [f"{f}:1", f"{f}:7"]
    assert s["token_lengths"]["count"] == 2 and s["gate"]["passed"]


def test_gate_fails_when_too_little_is_usable(tmp_path, toy_tokenizer):
    f = write_lines(tmp_path / "d.jsonl", [chat("a", "x"), chat("a", "x"), chat("a", "x"), chat("b", "y")])
    cfg = load_config(None, [f"data.train_files=[{f}]", "audit.min_usable_fraction=0.9"])
    res = audit_data(cfg, tmp_path / "out", get_tokenizer=lambda: toy_tokenizer)
    assert not res.passed and res.summary["gate"]["used_fraction"] == 0.5


def test_system_prompt_override_makes_copies_duplicates(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [chat("a", "x", system="one"), chat("a", "x", system="two")])
    keep = load_config(None, [f"data.train_files=[{f}]", "data.system_prompt=null"])
    assert audit_data(keep, tmp_path / "o1").summary["used"] == 2
    override = load_config(None, [f"data.train_files=[{f}]", "data.system_prompt=same"])
    assert audit_data(override, tmp_path / "o2").summary["used"] == 1


def test_unknown_check_names_the_config_key(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [chat("a", "x")])
    import pytest

    # the config itself refuses it, before any data is read
    with pytest.raises(ValueError, match="audit.checks: unknown check 'spellcheck'"):
        load_config(None, [f"data.train_files=[{f}]", "audit.checks=[schema, spellcheck]"])
