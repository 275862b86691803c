"""The full audit and curation of ner_finance (offline data from the evals package): every input record is
used or quarantined with a reason, the outputs agree with each other, and the input is left untouched."""

import hashlib
import json

import pytest

from tunewright.assets import resolve_path
from tunewright.pipeline import load_demo_config
from tunewright.data.curate import curate_data, read_parquet
from tunewright.records import read_examples
from tunewright.reporting.audit_section import write_audit_html

NER = "pkg:evals/registry/data/ner_finance/samples.jsonl"


def _check_accounting(out, s):
    assert s["input_records"] == 1164
    assert s["used"] + s["quarantined"] == s["input_records"]
    rows = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    dropped = [r for r in rows if r["action"] == "dropped"]
    assert len(dropped) == s["quarantined"] and all(r["reasons"] for r in rows)
    clean = read_examples(out / "clean.jsonl")
    assert len(clean) == s["used"]
    # every input line is in exactly one place: the clean set or the dropped quarantine
    lines = {ex.source for ex in clean} | {r["source"] for r in dropped}
    assert len(lines) == s["input_records"]
    return rows


def test_ner_finance_every_record_used_or_quarantined(tmp_path):
    path = resolve_path(NER)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg = load_demo_config(overrides=[f"project.runs_dir={tmp_path}"])
    res = curate_data(cfg, tmp_path / "data")
    s = res.audit.summary
    _check_accounting(tmp_path / "data", s)
    # what the audit finds in ner_finance (with the demo's system prompt applied to every example)
    # the phone numbers and e-mail addresses are real contact lines of the agreements, written tokenized
    # ("( 212 ) 688 - 5994", "MMoretti @ svb . com"); PII only flags, and any PII makes the gate warn
    # duplicates compare normalized text (39 exact, 21 of them byte-identical). Most inputs are short sentences,
    # compared on character 5-grams (word 5-grams alone found 10 near-duplicates). Since 2026-12-02 short inputs
    # are near-duplicates within 2 word edits (word sets and a length-aware character Jaccard, issue 16); against
    # Jaccard 0.7 alone that adds 14 pairs (template lines and headings one name or number apart: '" svb " is
    # defined in the preamble hereof .' vs '" borrower " ...', "6 . 6 further assurances ." vs "6 . 9 ...") and
    # removes 12 clause pairs 3-6 words apart ("specified by bank" vs "specified from time to time by bank"):
    # 36 near-duplicates dropped (was 37); near-duplicate pairs with different answers flag both members (12
    # records, was 20), the dropped copies carry it too
    assert s["reasons"] == {"exact_duplicate": 39, "conflicting_duplicate": 2, "near_duplicate": 36,
                            "near_duplicate_conflict": 12, "pii_phone": 9, "pii_email": 4}
    assert s["dropped_reasons"] == {"exact_duplicate": 39, "conflicting_duplicate": 2, "near_duplicate": 36,
                                    "near_duplicate_conflict": 7}
    assert s["used"] == 1087 and s["flagged_kept"] == 18
    assert s["gate"]["verdict"] == "warn" and s["gate"]["warnings"] == ["pii_*: 13 records (1.1%) > 0.0%"]
    assert s["label_noise"].get("skipped")
    curated = read_examples(tmp_path / "data" / "curated.jsonl")
    assert [e.to_json() for e in read_parquet(tmp_path / "data" / "curated.parquet")] == [e.to_json() for e in curated]
    assert len(curated) == s["used"]
    html_page = write_audit_html(tmp_path / "data").read_text()
    assert "exact_duplicate" in html_page and "Data gate" in html_page
    assert "Near-duplicates of" in html_page and "<mark>" in html_page  # pairs side by side, edited words marked
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # the audit never writes its input


@pytest.mark.slow
def test_ner_finance_with_the_target_tokenizer(tmp_path, smol_tokenizer):
    cfg = load_demo_config(overrides=[f"project.runs_dir={tmp_path}", "audit.workers=2"])
    from tunewright.data.audit import audit_data

    res = audit_data(cfg, tmp_path / "data", get_tokenizer=lambda: smol_tokenizer)
    s = res.summary
    _check_accounting(tmp_path / "data", s)
    assert s["token_lengths"]["count"] == s["used"] and s["token_lengths"]["max"] <= cfg.audit.max_seq_tokens
    assert sum(s["length_histograms"]["used"]["counts"]) == s["used"]
