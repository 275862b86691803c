"""Very long records and binary files are quarantined with a reason, never a crash or a silent loss; the
audit never modifies its input files."""

import hashlib
import json

import pytest

from helpers import chat, write_lines
from tunewright.config import load_config
from tunewright.data.audit import audit_data
from tunewright.records import MAX_RECORD_BYTES, NoUsableRecords, read_files


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_huge_record_and_binary_file_are_quarantined(tmp_path):
    huge = json.dumps(chat("x " * (MAX_RECORD_BYTES // 2 + 10), "y"))
    good = write_lines(tmp_path / "d.jsonl", [chat("what is the rate?", "five percent"), huge,
                                               chat("who lends?", "the bank")])
    binary = tmp_path / "image.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    before = {p: sha(p) for p in (good, binary)}
    cfg = load_config(None, [f"data.train_files=[{good}, {binary}]", "audit.min_usable_fraction=0.1",
                             "audit.gate.fail={}", "audit.gate.warn={}"])
    res = audit_data(cfg, tmp_path / "out")
    s = res.summary
    assert s["input_records"] == 4 and s["used"] == 2 and s["quarantined"] == 2
    assert s["reasons"]["record_too_large"] == 1 and s["reasons"]["binary_file"] == 1
    rows = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    by_reason = {r["reasons"][0]: r for r in rows}
    assert by_reason["record_too_large"]["source"] == f"{good}:2" and len(by_reason["record_too_large"]["raw"]) <= 200
    assert by_reason["binary_file"]["source"] == f"{binary}:1" and "NUL byte" in by_reason["binary_file"]["detail"]
    assert {p: sha(p) for p in (good, binary)} == before  # the audit read, never wrote


def test_csv_with_a_huge_field_keeps_the_other_rows(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("prompt,completion\nhello there,general kenobi\n" + "big," + "z" * (MAX_RECORD_BYTES + 5)
                 + "\nlast,row\n", encoding="utf-8")
    r = read_files([f])
    assert r.input_records == 3 and len(r.examples) == 2
    assert [x.reason for x in r.rejected] == ["record_too_large"]


def test_only_binary_input_is_a_clear_error(tmp_path):
    b = tmp_path / "blob.jsonl"
    b.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(NoUsableRecords, match="binary_file"):
        read_files([b])
    u16 = tmp_path / "u16.jsonl"  # UTF-16 is text (issue 16): read, not rejected
    u16.write_bytes(json.dumps(chat("a", "b")).encode("utf-16"))
    assert [e.answer() for e in read_files([u16]).examples] == ["b"]
