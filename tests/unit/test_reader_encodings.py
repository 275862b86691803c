"""A bad line costs that line only (issue 16): NUL bytes, invalid byte sequences, deep nesting and huge lines
are quarantined with file:line and a reason; encodings, BOMs, CRLF and a missing final newline are read;
"binary" is decided by content."""

import gzip
import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import chat, write_lines
from tunewright.config import load_config
from tunewright.data.audit import audit_data
from tunewright.readers import ReadLimits, read_files, sniff

GOOD = [chat("what is the rate?", "five percent"), chat("who lends?", "the bank"), chat("when?", "in May")]


def _by_line(r):
    return {int(x.source.rsplit(":", 1)[1]): x for x in [*r.examples, *r.rejected]}


def test_nul_bytes_cost_their_lines_only_and_the_audit_keeps_the_rest(tmp_path):
    bad = json.dumps(chat("a\u0000b", "x")).replace("\\u0000", "\x00").encode()  # a raw NUL inside a string
    f = write_lines(tmp_path / "export.jsonl", [GOOD[0], bad, GOOD[1], b"\x00\x00\x00", GOOD[2]])
    r = read_files([f])
    got = _by_line(r)
    assert r.input_records == 5 and len(r.examples) == 3
    assert got[2].reason == "nul_byte" and got[4].reason == "nul_byte" and "byte 0" in got[4].detail
    cfg = load_config(None, [f"data.train_files=[{f}]", "audit.min_usable_fraction=0.1", "audit.gate.fail={}",
                             "general.enabled=false"])
    s = audit_data(cfg, tmp_path / "out").summary
    assert s["input_records"] == 5 and s["used"] == 3 and s["reasons"]["nul_byte"] == 2
    rows = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert sorted(r["source"] for r in rows) == [f"{f}:2", f"{f}:4"]


def test_deep_nesting_never_raises_recursion_error(tmp_path):
    deep = '{"messages": ' + "[" * 50_000 + "]" * 50_000 + "}"  # past the JSON parser's recursion limit
    mid = json.dumps({**chat("q", "a"), "meta": {"x": json.loads("[" * 80 + "]" * 80)}})  # parses, too deep
    f = write_lines(tmp_path / "d.jsonl", [GOOD[0], deep, mid, GOOD[1]])
    got = _by_line(read_files([f]))
    assert got[2].reason == "too_deep" and got[3].reason == "too_deep" and "data.max_json_depth" in got[3].detail
    assert got[1].answer() == "five percent" and got[4].answer() == "the bank"
    assert _by_line(read_files([f], limits=ReadLimits(max_depth=100)))[3].answer() == "a"  # the limit is a setting


def test_invalid_bytes_and_lone_surrogates_cost_their_lines(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [GOOD[0], b'{"prompt": "caf\xe9", "completion": "x"}',
                                           '{"prompt": "\\ud800", "completion": "x"}', GOOD[1]])
    got = _by_line(read_files([f]))
    assert got[2].reason == "invalid_utf8" and "data.encoding" in got[2].detail
    assert got[3].reason == "invalid_unicode"
    assert len(read_files([f]).examples) == 2


def test_over_large_line_is_skipped_not_held(tmp_path):
    big = json.dumps(chat("x" * 5000, "y"))
    f = write_lines(tmp_path / "d.jsonl", [GOOD[0], big, GOOD[1]])
    got = _by_line(read_files([f], limits=ReadLimits(max_record_bytes=1000)))
    assert got[2].reason == "record_too_large" and f"{len(big):,} bytes" in got[2].detail
    assert got[2].raw.startswith('{"messages"') and len(got[2].raw) <= 200
    assert got[3].answer() == "the bank"
    cfg = load_config(None, ["data.max_record_bytes=1000", "data.max_json_depth=8", "data.encoding=latin-1"])
    assert (cfg.data.max_record_bytes, cfg.data.max_json_depth, cfg.data.encoding) == (1000, 8, "latin-1")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-32"])
def test_unicode_encodings_with_and_without_bom(tmp_path, codec):
    text = "\n".join(json.dumps(x, ensure_ascii=False) for x in [chat("Zürich ñ ü", "été"), *GOOD[1:]]) + "\n"
    f = tmp_path / "d.jsonl"
    f.write_bytes(text.encode(codec))
    r = read_files([f])
    assert not r.rejected and [e.answer() for e in r.examples] == ["été", "the bank", "in May"], sniff(f)
    assert r.examples[2].source == f"{f}:3"


def test_latin1_needs_the_flag_and_then_reads(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_bytes(("\n".join(json.dumps(x, ensure_ascii=False) for x in [chat("café", "oui"), GOOD[1]])
                   + "\n").encode("latin-1"))
    r = read_files([f])
    assert [x.reason for x in r.rejected] == ["invalid_utf8"] and len(r.examples) == 1  # costs one line
    r = read_files([f], limits=ReadLimits(encoding="latin-1"))
    assert not r.rejected and r.examples[0].messages[0]["content"] == "café"
    c = tmp_path / "d.csv"
    c.write_bytes("prompt,completion\r\ncafé,oui\r\nthé,non\r\ntea,no\r\n".encode("latin-1"))
    assert [x.reason for x in read_files([c]).rejected] == ["invalid_utf8"] * 2
    assert [e.prompt for e in read_files([c], limits=ReadLimits(encoding="cp1252")).examples] == ["café", "thé", "tea"]


def test_crlf_and_missing_final_newline(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_bytes(b"\r\n".join(json.dumps(x).encode() for x in GOOD))  # no final newline
    r = read_files([f])
    assert not r.rejected and [e.source for e in r.examples] == [f"{f}:1", f"{f}:2", f"{f}:3"]
    c = tmp_path / "d.csv"
    c.write_bytes(b"\xef\xbb\xbfprompt,completion\r\n\"two\r\nlines\",a\r\nq,b")  # BOM, CRLF, no final newline
    r = read_files([c])
    assert [(e.prompt, e.completion) for e in r.examples] == [("two\r\nlines", "a"), ("q", "b")]


def test_csv_row_with_bad_bytes_or_nul_costs_that_row(tmp_path):
    c = tmp_path / "d.csv"
    c.write_bytes(b"prompt,completion\nok,fine\nbad \xff\xfe,x\nnul\x00here,y\nlast,row\n")
    r = read_files([c])
    assert [e.prompt for e in r.examples] == ["ok", "last"]
    assert [(x.source.rsplit(":", 1)[1], x.reason) for x in r.rejected] == [("3", "invalid_utf8"), ("4", "nul_byte")]


def test_binary_is_decided_by_content(tmp_path):
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("d.jsonl", json.dumps(GOOD[0]))
    cases = {"gz.jsonl": gzip.compress(json.dumps(GOOD[0]).encode()), "z.jsonl": z.getvalue(),
             "random.jsonl": bytes((i * 2654435761 >> 7) & 255 for i in range(20000))}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert sniff(tmp_path / name).kind == "binary", name
    assert "gzip" in sniff(tmp_path / "gz.jsonl").reason and "zip" in sniff(tmp_path / "z.jsonl").reason
    # a few NULs in a large text file do not make it binary
    t = write_lines(tmp_path / "t.jsonl", [*GOOD * 50, b"\x00" * 20])
    assert sniff(t).kind == "text"


def test_parquet_is_read_by_content_and_rows_are_lines(tmp_path):
    rows = [{"prompt": "p1", "completion": "c1", "meta": json.dumps({"k": 1})},
            {"prompt": "p2", "completion": None, "meta": None},  # no completion: rejected, the others kept
            {"prompt": "p3", "completion": "c3", "meta": "{not json"}]
    f = tmp_path / "export.jsonl"  # misnamed: the content says Parquet
    pq.write_table(pa.Table.from_pylist(rows), f, row_group_size=2)
    r = read_files([f])
    got = _by_line(r)
    assert got[1].completion == "c1" and got[1].meta == {"k": 1}
    assert got[2].reason == "bad_record" and got[3].reason == "bad_record" and r.input_records == 3
    chats = tmp_path / "chats.parquet"
    pq.write_table(pa.Table.from_pylist([{"messages": GOOD[0]["messages"]}]), chats)
    assert read_files([chats]).examples[0].answer() == "five percent"
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(f.read_bytes()[:60])  # magic, then a truncated body: no footer
    with pytest.raises(Exception, match="bad_parquet"):
        read_files([broken])


def test_curated_parquet_reads_back_through_the_reader(tmp_path):
    from tunewright.data.curate import write_parquet
    from tunewright.records import Example

    exs = [Example(messages=GOOD[0]["messages"], meta={"a": [1, 2]}), Example(prompt="p", completion="c")]
    write_parquet(tmp_path / "c.parquet", [exs])
    got = read_files([tmp_path / "c.parquet"]).examples
    assert [e.id for e in got] == [e.id for e in exs] and got[0].meta == {"a": [1, 2]}
