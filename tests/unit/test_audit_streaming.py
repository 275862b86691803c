"""The audit streams its input in batches: the verdicts do not depend on the batch size, a batch boundary
hides no duplicate, near-duplicate, conflict or label flip, and a file changed between the two passes is an
error, not a silent mismatch."""

import json
import random

import numpy as np
import pytest

from helpers import chat, write_lines
from tunewright.assets import resolve_path
from tunewright.config import load_config
from tunewright.data.audit import audit_data
from tunewright.data.neardup import NearDupParams, ReferenceIndex, find_near_duplicates
from tunewright.records import iter_files

NER = "pkg:evals/registry/data/ner_finance/samples.jsonl"


def _audit(tmp_path, name, files, *over):
    cfg = load_config(None, [f"data.train_files={json.dumps([str(f) for f in files])}", "audit.min_usable_fraction=0",
                             "general.enabled=false", *over])
    out = tmp_path / name
    res = audit_data(cfg, out)
    rows = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    clean = (out / "clean.jsonl").read_text()
    s = {k: v for k, v in res.summary.items() if k not in ("check_seconds", "audit_seconds", "batch_records")}
    return s, rows, clean


def _ner_with_cross_batch_problems(tmp_path):
    """ner_finance plus, far from their originals (other batches at batch_records=100): an exact copy, a
    conflicting copy, a near-duplicate and a bad line."""
    lines = resolve_path(NER).read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    copy = dict(recs[3])
    conflict = json.loads(lines[10])
    conflict["ideal"] = "Nothing - ORGANIZATION"
    near = json.loads(lines[20])
    near["input"][1]["content"] = near["input"][1]["content"].replace(" the ", " that ", 1)
    tail = [json.dumps(copy), json.dumps(conflict), "{not json", json.dumps(near)]
    return write_lines(tmp_path / "ner_plus.jsonl", lines + tail)


def test_batch_size_does_not_change_the_audit(tmp_path):
    f = _ner_with_cross_batch_problems(tmp_path)
    small = _audit(tmp_path, "small", [f], "audit.batch_records=100")
    whole = _audit(tmp_path, "whole", [f], "audit.batch_records=100000")
    assert small[0] == whole[0] and small[1] == whole[1] and small[2] == whole[2]
    s, rows = small[0], small[1]
    assert s["input_records"] == 1168 and s["used"] + s["quarantined"] == s["input_records"]
    by_line = {int(r["source"].rsplit(":", 1)[1]): r["reasons"] for r in rows}
    assert "exact_duplicate" in by_line[1165]  # a copy of line 4, 1,161 lines (12 batches) later
    assert "conflicting_duplicate" in by_line[11] and "conflicting_duplicate" in by_line[1166]
    assert by_line[1167] == ["bad_json"]
    assert "near_duplicate" in by_line[1168] or "near_duplicate" in by_line[21]
    # the sample clusters shown in the report carry their inputs, filled in by the second pass
    members = [m for c in s["near_duplicates"]["sample_clusters"] for m in c["members"]]
    assert members and all(m["input"] for m in members)


def test_label_noise_across_batches(tmp_path):
    from test_label_noise_gate import make_dataset

    examples, flipped = make_dataset(600, 30, seed=1)
    f = write_lines(tmp_path / "labels.jsonl", [{"text": ex.text, "label": ex.label} for ex in examples])
    small = _audit(tmp_path, "small", [f], "audit.batch_records=100", "audit.checks=[label_noise]")
    whole = _audit(tmp_path, "whole", [f], "audit.batch_records=100000", "audit.checks=[label_noise]")
    assert small == whole
    found = {int(r["source"].rsplit(":", 1)[1]) - 1 for r in small[1] if "label_issue" in r["reasons"]}
    tp = len(found & flipped)
    assert tp / len(flipped) >= 0.9 and tp / len(found) >= 0.8, (len(found), tp)


def test_format_and_language_across_batches(tmp_path):
    rng = random.Random(0)
    rows = [chat(f"Question {i} about the loan agreement and the borrower's duties, item {rng.random()}",
                 '{"answer": "yes"}') for i in range(300)]
    rows[250] = chat("Question 250 about the loan", "yes, plain text")  # not the dominant JSON format
    rows[120] = chat("Der Kreditnehmer verpflichtet sich, der Bank innerhalb von neunzig Tagen nach dem Ende jedes "
                     "Geschaeftsjahres einen geprueften Jahresabschluss vorzulegen.", '{"answer": "no"}')
    f = write_lines(tmp_path / "fmt.jsonl", rows)
    small = _audit(tmp_path, "small", [f], "audit.batch_records=100")
    whole = _audit(tmp_path, "whole", [f], "audit.batch_records=100000")
    assert small == whole
    by_line = {int(r["source"].rsplit(":", 1)[1]): r["reasons"] for r in small[1]}
    assert by_line[251] == ["format_inconsistent"] and by_line[121] == ["wrong_language"]


def test_input_changed_between_passes_is_an_error(tmp_path, monkeypatch):
    import tunewright.data.audit as audit_mod

    f = write_lines(tmp_path / "d.jsonl", [chat(f"question {i}", f"answer {i}") for i in range(10)])
    real = audit_mod.input_items
    calls = []

    def changing(cfg, files):
        opener = real(cfg, files)

        def open_items():
            calls.append(1)
            if len(calls) == 2:  # the second pass sees one record fewer
                f.write_text("\n".join(f.read_text().splitlines()[1:]) + "\n")
            return opener()
        return open_items

    monkeypatch.setattr(audit_mod, "input_items", changing)
    cfg = load_config(None, [f"data.train_files=[{f}]", "audit.min_usable_fraction=0", "general.enabled=false"])
    with pytest.raises(RuntimeError, match="changed while it was being audited"):
        audit_data(cfg, tmp_path / "out")
    assert not (tmp_path / "out" / "clean.jsonl").exists()  # no half-written clean set


def test_reader_streams_and_keeps_accounting(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [chat("a", "b"), "", chat("c", "d"), "", ""])
    items = list(iter_files([f]))
    assert [type(x).__name__ for x in items] == ["Example", "Rejected", "Example"]  # trailing blanks: not records
    assert items[1].source.endswith(":2") and items[1].reason == "empty_line"


def test_reference_index_finds_what_the_full_engine_finds():
    rng = random.Random(3)
    vocab = [f"w{k}" for k in range(400)]
    test = [" ".join(rng.choice(vocab) for _ in range(100)) for _ in range(60)]
    train = []
    for k in range(300):
        if k % 5 == 0:  # a lightly edited copy of a test text
            ws = test[k % 60].split()
            ws[rng.randrange(len(ws))] = "edited"
            train.append(" ".join(ws))
        else:
            train.append(" ".join(rng.choice(vocab) for _ in range(100)))
    params = NearDupParams()
    res = find_near_duplicates(train + test, params)
    want = {}
    for (a, b), j in zip(res.pairs.tolist(), res.jaccard.tolist()):
        if a < len(train) <= b and j > want.get(a, (0.0, -1))[0]:
            want[a] = (j, b - len(train))
    best, best_j = ReferenceIndex(test, params).best_matches(train)
    got = {i: (float(best_j[i]), int(best[i])) for i in np.flatnonzero(best >= 0).tolist()}
    assert len(want) >= 50 and set(got) == set(want)
    assert all(abs(got[i][0] - want[i][0]) < 1e-12 for i in got)


def test_utf8_scan_across_chunk_boundaries(tmp_path):
    from tunewright.records import utf8_error

    f = tmp_path / "d.csv"
    f.write_bytes("prompt,completion\ncafé,é\n".encode("utf-8"))
    assert all(utf8_error(f, chunk=c) is None for c in (1, 2, 3, 4, 7))  # 'é' split between chunks is fine
    raw = "prompt,completion\nab,cd\n".encode("utf-8") + b"x\xff,y\n"
    f.write_bytes(raw)
    for c in (1, 2, 5, 1 << 20):
        assert utf8_error(f, chunk=c)[:2] == (3, raw.index(b"\xff")), c


def test_sources_and_lengths_are_compact_but_exact():
    from tunewright.data.columns import IndexedInts, Sources

    got = ["data/a.jsonl:1", "data/a.jsonl:2", "x:007", "example #3", "data/b.csv:10", "c:d:5", ":4", "data/a.jsonl:9"]
    s = Sources()
    s.extend(got[:3])
    s.extend(got[3:])
    assert [s[i] for i in range(len(s))] == got and s.files == ["data/a.jsonl", "data/b.csv", "c:d"]  # "x:007", ":4": kept whole
    t = IndexedInts()
    t.set(0, [5, 6])
    t.set(2, [7])
    assert 2 in t and 3 not in t and t[2] == 7 and t.array(4).tolist() == [5, 6, 7, -1]
