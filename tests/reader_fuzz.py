"""Property-based fuzzing of the readers (issue 16): strategies that build messy files and the invariants every
reader must keep on them. Used by tests/unit/test_reader_fuzz.py (a bounded, seeded run) and by
benchmarks/reader_fuzz/run.py (a long run that counts its cases).

Invariants, on any bytes at all:
- no exception escapes but NoUsableRecords (the designed "nothing usable" error, raised after the records);
- every item names ``file:line``; line numbers rise strictly (a line is reported once);
- JSONL: every physical line up to the last non-blank one is reported (used or quarantined), none beyond;
  Parquet: every row of a readable footer is reported; a binary file is one Rejected at line 1;
- everything yielded can be written back as UTF-8 JSON (what the audit's second pass does).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from tunewright.readers import ReadLimits, iter_files, sniff
from tunewright.records import Example, NoUsableRecords, Rejected

LIMITS = ReadLimits(max_record_bytes=4096, max_depth=16)  # small, so that "huge" and "deep" are cheap to make
CODECS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"]

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False), text)
json_value = st.recursive(scalar, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(text, c, max_size=4)),
                          max_leaves=12)
role = st.sampled_from(["system", "user", "assistant", "robot", 3, None])
message = st.fixed_dictionaries({"role": role, "content": st.one_of(text, json_value)})
record = st.one_of(
    st.builds(lambda u, a: {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]},
              text, text),
    st.builds(lambda m: {"messages": m}, st.lists(message, max_size=4)),
    st.builds(lambda i, ideal: {"input": i, "ideal": ideal}, st.one_of(text, st.lists(message, max_size=3)),
              st.one_of(text, st.lists(text, max_size=3), json_value)),
    st.builds(lambda p, c: {"prompt": p, "completion": c}, st.one_of(text, json_value), st.one_of(text, json_value)),
    st.builds(lambda t, lab: {"text": t, "label": lab}, st.one_of(text, json_value), st.one_of(text, json_value)),
    st.dictionaries(text, json_value, max_size=4),
    json_value,
)


@st.composite
def jsonl_line(draw) -> str | bytes:
    kind = draw(st.sampled_from(["record", "record", "record", "dupkeys", "deep", "huge", "blank", "garbage",
                                 "surrogate", "nul", "foreign"]))
    if kind == "record":
        return json.dumps(draw(record), ensure_ascii=draw(st.booleans()))
    if kind == "dupkeys":  # duplicated keys: JSON allows them, the last one wins
        return '{"prompt": "a", "prompt": %s, "completion": "c", "completion": %s}' % (
            json.dumps(draw(json_value)), json.dumps(draw(json_value)))
    if kind == "deep":
        d = draw(st.sampled_from([LIMITS.max_depth - 1, LIMITS.max_depth + 1, 1200, 100_000]))
        return '{"prompt": "p", "completion": "c", "meta": {"x": ' + "[" * d + "]" * d + "}}"
    if kind == "huge":
        return json.dumps({"prompt": "x" * draw(st.integers(LIMITS.max_record_bytes - 40, 3 * LIMITS.max_record_bytes)),
                           "completion": "y"})
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t", "\r"]))
    if kind == "garbage":
        return draw(st.binary(max_size=60))
    if kind == "surrogate":
        return '{"prompt": "\\ud83d", "completion": "%s"}' % draw(st.sampled_from(["\\ude00", "x", "\\udfff"]))
    if kind == "nul":
        return json.dumps({"prompt": "a", "completion": "b"}).replace(": ", ":\x00", 1)
    return json.dumps(draw(record), ensure_ascii=False).encode(draw(st.sampled_from(["latin-1", "utf-16", "cp1252"])),
                                                                errors="replace")


def _encode(line: str | bytes, codec: str) -> bytes:
    if isinstance(line, bytes):
        return line
    return line.encode(codec.replace("-sig", "") if codec != "utf-16" else "utf-16-le", errors="replace")


@st.composite
def mutations(draw, data: bytes) -> bytes:
    """Random byte flips, insertions, deletions, then maybe a truncation."""
    b = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        if not b:
            break
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        at = draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[at] = draw(st.integers(0, 255))
        elif op == "insert":
            b[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del b[at:at + draw(st.integers(1, 8))]
    if b and draw(st.integers(0, 3)) == 0:
        b = b[:draw(st.integers(0, len(b)))]
    return bytes(b)


@st.composite
def jsonl_file(draw) -> bytes:
    codec = draw(st.sampled_from(CODECS))
    lines = draw(st.lists(jsonl_line(), min_size=0, max_size=12))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    body = _encode(nl, codec).join(_encode(x, codec) for x in lines)
    if lines and draw(st.booleans()):
        body += _encode(nl, codec)  # or no final newline
    if codec == "utf-16":
        body = b"\xff\xfe" + body
    elif codec == "utf-8-sig":
        body = b"\xef\xbb\xbf" + body
    elif codec == "utf-32":
        body = "\n".join(x if isinstance(x, str) else x.decode("latin-1") for x in lines).encode("utf-32")
    return draw(mutations(body)) if draw(st.booleans()) else body


@st.composite
def csv_file(draw) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    header = draw(st.sampled_from([["prompt", "completion"], ["prompt", "completion", "extra"], ["question", "answer"],
                                   ["prompt", "prompt", "completion"]]))  # duplicated column names too
    w.writerow(header)
    for _ in range(draw(st.integers(0, 10))):
        row = draw(st.lists(st.one_of(text, st.just("x" * (LIMITS.max_record_bytes + 1))), min_size=0, max_size=4))
        w.writerow(row)
    codec = draw(st.sampled_from(CODECS))
    body = buf.getvalue().encode(codec, errors="replace")
    return draw(mutations(body)) if draw(st.booleans()) else body


@st.composite
def parquet_file(draw) -> bytes:
    rows = draw(st.lists(st.one_of(
        st.builds(lambda p, c, m: {"prompt": p, "completion": c, "meta": m}, st.one_of(st.none(), text),
                  st.one_of(st.none(), text), st.one_of(st.none(), text, st.just('{"k": [1, 2]}'))),
    ), min_size=1, max_size=20))
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, row_group_size=draw(st.integers(1, 8)))
    body = buf.getvalue()
    return draw(mutations(body)) if draw(st.booleans()) else body


FORMATS = {"jsonl": (jsonl_file, ".jsonl"), "csv": (csv_file, ".csv"), "parquet": (parquet_file, ".parquet")}


def _line(item: Example | Rejected, path: Path) -> int:
    src = item.source
    assert src.startswith(f"{path}:"), src
    return int(src.rsplit(":", 1)[1])


def expected_jsonl_lines(path: Path) -> int:
    """How many lines a JSONL reader must report: up to the last non-blank physical line."""
    s = sniff(path, LIMITS.encoding)
    data = path.read_bytes()
    if s.byte_lines:
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        lines = data.split(b"\n")
    else:
        lines = data.decode(s.codec, "tunewright.mark").split("\n")
    last = 0
    for i, x in enumerate(lines, start=1):
        if x.strip():
            last = i
    return last


def check_reader(path: Path, fmt: str, limits: ReadLimits = LIMITS) -> dict[str, int]:
    """Read ``path`` and assert the invariants; returns counts (examples, rejected) for the run's tally."""
    items: list[Example | Rejected] = []
    try:
        for it in iter_files([path], limits=limits):
            items.append(it)
    except NoUsableRecords:
        pass
    lines = [_line(it, path) for it in items]
    assert lines == sorted(set(lines)), lines  # each line once, in order
    for it in items:
        assert isinstance(it, (Example, Rejected))
        json.dumps(it.to_json(), ensure_ascii=False).encode("utf-8")  # the audit can write it back
        if isinstance(it, Rejected):
            assert it.reason and it.detail is not None
    s = sniff(path, limits.encoding)
    if s.kind == "binary":
        assert len(items) == 1 and items[0].reason == "binary_file"
    elif fmt == "jsonl" and s.kind == "text":
        assert lines == list(range(1, expected_jsonl_lines(path) + 1)), (lines, expected_jsonl_lines(path))
    elif s.kind == "parquet":
        try:
            n = pq.ParquetFile(path).metadata.num_rows
        except Exception:  # footer unreadable: the whole file is one Rejected
            assert len(items) == 1 and items[0].reason == "bad_parquet"
        else:
            assert lines == list(range(1, n + 1)) or (len(items) == 1 and items[0].reason == "bad_parquet")
    n_ex = sum(isinstance(it, Example) for it in items)
    return {"examples": n_ex, "rejected": len(items) - n_ex}
