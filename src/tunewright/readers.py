"""Readers of a user's data files: every line becomes an Example or a Rejected with file, line and reason.

Readers never crash on a bad record and never drop one silently.
"""

from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from tunewright.records import MAX_RECORD_BYTES, Example, NoUsableRecords, ReadResult, Rejected, example_from_record


def iter_jsonl(path: Path, display: str) -> Iterator[tuple[int, Example | Rejected]]:
    """Yield (line number, Example or Rejected) for each line; blank lines at the very end are ignored.

    The file is read line by line, so memory holds one record at a time however large the file is."""
    blanks: list[int] = []  # blank lines seen since the last record: rejected only if a record follows
    with open(path, "rb") as fh:
        for n, bline in enumerate(fh, start=1):
            if bline.endswith(b"\n"):
                bline = bline[:-1]
            if not bline.strip():
                blanks.append(n)
                continue
            for b in blanks:
                yield b, Rejected(f"{display}:{b}", "empty_line", "blank line between records", "")
            blanks.clear()
            yield n, parse_jsonl_line(bline, f"{display}:{n}")


def parse_jsonl_line(bline: bytes, src: str) -> Example | Rejected:
    excerpt = bline[:200].decode("utf-8", errors="replace")
    if len(bline) > MAX_RECORD_BYTES:
        return Rejected(src, "record_too_large", f"{len(bline):,} bytes > {MAX_RECORD_BYTES:,}", excerpt)
    try:
        line = bline.decode("utf-8")
    except UnicodeDecodeError as e:
        return Rejected(src, "invalid_utf8", f"byte {e.start}: {e.reason}", excerpt)
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        return Rejected(src, "bad_json", f"column {e.colno}: {e.msg}", excerpt)
    try:
        return example_from_record(rec, src)
    except ValueError as e:
        return Rejected(src, "bad_record", str(e), excerpt)


def iter_csv(path: Path, display: str, prompt_column: str, completion_column: str) -> Iterator[tuple[int, Example | Rejected]]:
    bad = utf8_error(path)
    if bad:  # the whole file is one rejected record: a CSV row cannot be trusted past a decoding error
        line, offset, reason = bad
        yield line, Rejected(f"{display}:{line}", "invalid_utf8", f"byte {offset}: {reason}")
        return
    with open(path, encoding="utf-8-sig", newline="") as fh:  # streamed: one row in memory at a time
        yield from _csv_rows(fh, display, prompt_column, completion_column)


def utf8_error(path: Path, chunk: int = 1 << 20) -> tuple[int, int, str] | None:
    """(line, byte offset, reason) of the first invalid UTF-8 in the file, or None; reads it in chunks."""
    dec = codecs.getincrementaldecoder("utf-8")()
    pos, lines = 0, 1
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk)
            try:
                dec.decode(data, final=not data)
            except UnicodeDecodeError as e:
                k = max(e.start - (len(e.object) - len(data)), 0)  # the decoder may prepend a partial character
                return lines + data[:k].count(b"\n"), pos + k, e.reason
            if not data:
                return None
            lines += data.count(b"\n")
            pos += len(data)


def _csv_rows(fh, display: str, prompt_column: str, completion_column: str) -> Iterator[tuple[int, Example | Rejected]]:
    csv.field_size_limit(2**31 - 1)  # oversized rows are judged (and quarantined) below, not by the csv module
    reader = csv.DictReader(fh)
    header = reader.fieldnames or []
    for col in (prompt_column, completion_column):
        if col not in header:
            yield 1, Rejected(f"{display}:1", "bad_header", f"missing column '{col}' (columns: {header})")
            return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # a field over the limit, a NUL byte: this row is lost, the next ones are not
            n = reader.line_num
            yield n, Rejected(f"{display}:{n}", "bad_record", f"unreadable CSV row: {e}")
            continue
        n = reader.line_num  # physical line where this row ends
        src = f"{display}:{n}"
        size = sum(len(v) for v in row.values() if isinstance(v, str))
        if size > MAX_RECORD_BYTES:
            yield n, Rejected(src, "record_too_large", f"{size:,} characters > {MAX_RECORD_BYTES:,}")
            continue
        if None in row:
            yield n, Rejected(src, "bad_record", f"{len(row[None]) + len(header)} fields, header has {len(header)}")
            continue
        p, c = row.get(prompt_column), row.get(completion_column)
        if p is None or c is None:
            yield n, Rejected(src, "bad_record", f"row has fewer fields than the header ({len(header)})")
            continue
        if not c.strip():
            yield n, Rejected(src, "bad_record", f"field '{completion_column}' is empty")
            continue
        meta = {k: v for k, v in row.items() if k not in (prompt_column, completion_column)}
        yield n, Example(prompt=p, completion=c, meta=meta, source=src)


def iter_files(
    paths: Iterable[str | Path],
    *,
    format: str = "auto",
    prompt_column: str = "prompt",
    completion_column: str = "completion",
    max_records: int | None = None,
    display_names: dict[str, str] | None = None,
) -> Iterator[Example | Rejected]:
    """Every record of every file in order, as an Example or a Rejected; raise NoUsableRecords for a file
    with no usable record (after its records have been yielded) or when no file has one."""
    used = 0
    rejected_any: list[Rejected] = []
    for p in paths:
        path = Path(p)
        display = (display_names or {}).get(str(p), str(p))
        if not path.exists():
            raise FileNotFoundError(f"{display}: data file not found")
        fmt = format
        if fmt == "auto":
            fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
        why = binary_reason(path)
        if why:  # one record stands for the whole file: counted, quarantined, never parsed
            r = Rejected(f"{display}:1", "binary_file", why)
            rejected_any.append(r)
            yield r
            continue
        it = iter_csv(path, display, prompt_column, completion_column) if fmt == "csv" else iter_jsonl(path, display)
        used_before, first_rejected = used, []
        for _, item in it:
            if max_records is not None and used >= max_records:
                break
            if isinstance(item, Example):
                used += 1
            elif len(first_rejected) < 5:
                first_rejected.append(item)
            yield item
        rejected_any += first_rejected[: 5 - len(rejected_any)]
        if used == used_before and (max_records is None or used_before < max_records):
            reasons = [f"  {r.source}: {r.reason}: {r.detail}" for r in first_rejected]
            raise NoUsableRecords(f"{display}: no usable record\n" + "\n".join(reasons or ["  (file is empty)"]))
    if not used and rejected_any:
        raise NoUsableRecords("no usable record in any file\n" + "\n".join(
            f"  {r.source}: {r.reason}: {r.detail}" for r in rejected_any[:5]))


def read_files(paths: Iterable[str | Path], **kw: Any) -> ReadResult:
    """Read every file into Examples; bad lines go to ``rejected`` (see :func:`iter_files`)."""
    return collect(iter_files(paths, **kw))


def collect(items: Iterable[Example | Rejected]) -> ReadResult:
    """Records from :func:`iter_files` gathered into a ReadResult."""
    result = ReadResult()
    for item in items:
        result.input_records += 1
        (result.examples if isinstance(item, Example) else result.rejected).append(item)
    return result


def binary_reason(path: Path, probe: int = 8192) -> str:
    """Why the file is not text (NUL bytes near its start), or ''."""
    with open(path, "rb") as f:
        head = f.read(probe)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text: save the file as UTF-8"
    k = head.find(b"\x00")
    if k >= 0:
        return f"binary file (NUL byte at offset {k}), not JSONL or CSV text"
    return ""
