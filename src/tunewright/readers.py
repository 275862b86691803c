"""Readers of a user's data files: every line becomes an Example or a Rejected with file, line and reason.

A bad line costs that line only. A file is "binary" (one Rejected stands for it) only when its content says
so: a known magic number (zip, gzip, Arrow, images, ...) or a large share of non-text bytes in its first
64 KiB; a Parquet file is read as Parquet whatever its name. Inside a text file a NUL byte, an invalid byte
sequence, JSON nested deeper than ``max_depth`` or a line over ``max_record_bytes`` rejects that line (the
over-long line is skipped without being held in memory). UTF-8 with or without a BOM, UTF-16/32 with a BOM
(or UTF-16 without one, told by its NUL pattern), Latin-1 or cp1252 when ``data.encoding`` says so, CRLF
line ends and a missing final newline are all read.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from tunewright.records import MAX_RECORD_BYTES, Example, NoUsableRecords, ReadResult, Rejected, example_from_record

MAX_JSON_DEPTH = 64  # evals and chat records nest 3-4 deep; far below Python's recursion limit
PROBE_BYTES = 65536
BINARY_SHARE = 0.30  # share of non-text bytes in the probe above which a file is binary (random bytes: ~0.45)
ENCODING_HINT = "set data.encoding (latin-1, cp1252, utf-16) if the file is not UTF-8"
_MARK = "\udcff"  # what an undecodable sequence becomes in a decoded stream: a lone surrogate, never valid text


def _mark_error(e: UnicodeError) -> tuple[str, int]:
    return _MARK, e.end  # type: ignore[attr-defined]


codecs.register_error("tunewright.mark", _mark_error)

# (magic, what it is): checked at offset 0. Parquet is read; the others are rejected with their name.
MAGIC: list[tuple[bytes, str]] = [
    (b"PAR1", "Parquet"),
    (b"PK\x03\x04", "zip archive (xlsx, docx, ...)"), (b"PK\x05\x06", "zip archive"),
    (b"\x1f\x8b", "gzip-compressed file: decompress it first"), (b"\x28\xb5\x2f\xfd", "zstd-compressed file"),
    (b"\xfd7zXZ\x00", "xz-compressed file"), (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"ARROW1", "Arrow IPC file"), (b"\xff\xff\xff\xff", "Arrow IPC stream"), (b"FEA1", "Feather file"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF8", "GIF image"),
    (b"%PDF-", "PDF document"), (b"SQLite format 3\x00", "SQLite database"), (b"\x7fELF", "executable"),
    (b"\x80\x04\x95", "Python pickle"), (b"\x80\x05\x95", "Python pickle"),
]
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\x0b\x0c\x1b") + b"\x7f"
BOMS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]
ENCODINGS = {"auto": None, "utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1", "cp1252": "cp1252"}


@dataclass(frozen=True)
class ReadLimits:
    """What one line may cost (config: data.max_record_bytes, data.max_json_depth, data.encoding)."""

    max_record_bytes: int = MAX_RECORD_BYTES
    max_depth: int = MAX_JSON_DEPTH
    encoding: str = "auto"


@dataclass(frozen=True)
class Sniff:
    """What the first bytes of a file say: ``kind`` text / parquet / binary, the codec for text, and why."""

    kind: str
    codec: str = "utf-8"
    reason: str = ""

    @property
    def byte_lines(self) -> bool:
        """Lines can be split on b"\\n" before decoding (every 8-bit codec and UTF-8), not UTF-16/32."""
        return not self.codec.startswith(("utf-16", "utf-32"))


def sniff(path: Path, encoding: str = "auto", probe: int = PROBE_BYTES) -> Sniff:
    """Decide from content alone whether ``path`` is text (and in which codec), Parquet or binary."""
    with open(path, "rb") as f:
        head = f.read(probe)
    for magic, what in MAGIC:
        if head.startswith(magic):
            if what == "Parquet":
                return Sniff("parquet")
            return Sniff("binary", reason=f"binary file ({what}{_nul_at(head)}), not JSONL, CSV or Parquet")
    codec = ENCODINGS.get(encoding, encoding) if encoding not in (None, "auto") else None
    if codec is None:
        for bom, c in BOMS:
            if head.startswith(bom):
                return Sniff("text", c)
    if codec in (None, "utf-16"):
        order = _utf16_order(head)
        if order:
            return Sniff("text", order)
        if codec == "utf-16" and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return Sniff("text", "utf-16-le")
    if codec is not None and codec.startswith(("utf-16", "utf-32")):
        return Sniff("text", codec)
    if not head:
        return Sniff("text", codec or "utf-8-sig")
    controls = len(head) - len(head.translate(None, _CONTROL))
    invalid = 0
    if codec in (None, "utf-8-sig"):  # bytes no UTF-8 sequence explains (an 8-bit codec decodes them all)
        invalid = sum(1 for ch in head.decode("utf-8", "surrogateescape") if "\udc80" <= ch <= "\udcff")
    share = (controls + invalid) / len(head)
    if share > BINARY_SHARE:
        return Sniff("binary", reason=f"binary file ({share:.0%} non-text bytes in the first {len(head):,} bytes"
                                      f"{_nul_at(head)}), not JSONL, CSV or Parquet")
    return Sniff("text", codec or "utf-8-sig")


def _nul_at(head: bytes) -> str:
    k = head.find(b"\x00")
    return f", NUL byte at offset {k}" if k >= 0 else ""


def _utf16_order(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the bytes look like UTF-16 without a BOM (mostly-ASCII text: every
    other byte NUL), else None."""
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    z_even, z_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if z_odd > 0.4 and z_even < 0.05:
        return "utf-16-le"
    if z_even > 0.4 and z_odd < 0.05:
        return "utf-16-be"
    return None


def binary_reason(path: Path, probe: int = PROBE_BYTES) -> str:
    """Why the file is not text nor Parquet, or ''."""
    s = sniff(path, probe=probe)
    return s.reason if s.kind == "binary" else ""


# ---------------------------------------------------------------------------------------------------- lines


def _lines(fh, limit: int) -> Iterator[tuple[int, Any, int, Any]]:
    """(line number, the line without its line end or None when it is over ``limit``, its size, its first
    200 units) for a binary file (bytes) or a decoded stream (str, sizes in characters).

    An over-long line is read past in 1 MiB pieces, never held whole."""
    n = 0
    while True:
        chunk = fh.readline(limit + 2)  # the line, its "\r\n", and one unit to tell "over the limit"
        if not chunk:
            return
        nl, cr = ("\n", "\r") if isinstance(chunk, str) else (b"\n", b"\r")
        n += 1
        ended = chunk.endswith(nl)
        line = chunk[:-1] if ended else chunk
        if line.endswith(cr):
            line = line[:-1]
        if len(line) <= limit:
            yield n, line, len(line), None
            continue
        size, head = len(line), line[:200]
        del line, chunk
        while not ended:
            chunk = fh.readline(1 << 20)
            if not chunk:
                break
            ended = chunk.endswith(nl)
            size += len(chunk) - ended
        yield n, None, size, head


def _open_text(path: Path, codec: str, newline: str = "\n") -> io.TextIOWrapper:
    """Decoded, with each undecodable sequence marked; lines end at "\n" only ("" for the csv module)."""
    return open(path, encoding=codec, errors="tunewright.mark", newline=newline)


def iter_jsonl(path: Path, display: str, limits: ReadLimits = ReadLimits(),
               sniffed: Sniff | None = None) -> Iterator[tuple[int, Example | Rejected]]:
    """Yield (line number, Example or Rejected) for each line; blank lines at the very end are ignored.

    The file is read line by line, so memory holds one record at a time however large the file is."""
    s = sniffed or sniff(path, limits.encoding)
    blanks: list[int] = []  # blank lines seen since the last record: rejected only if a record follows
    with (open(path, "rb") if s.byte_lines else _open_text(path, s.codec)) as fh:
        for n, line, size, head in _lines(fh, limits.max_record_bytes):
            src = f"{display}:{n}"
            if line is not None:
                if n == 1 and s.codec == "utf-8-sig" and line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8):]
                if not line.strip():
                    blanks.append(n)
                    continue
            for b in blanks:
                yield b, Rejected(f"{display}:{b}", "empty_line", "blank line between records", "")
            blanks.clear()
            if line is None:
                unit = "bytes" if s.byte_lines else "characters"
                yield n, Rejected(src, "record_too_large", f"{size:,} {unit} > {limits.max_record_bytes:,} "
                                  "(data.max_record_bytes)", _excerpt(head, s.codec))
            else:
                yield n, parse_jsonl_line(line, src, limits, s.codec)


def decode_line(line: bytes | str, codec: str) -> tuple[str | None, Rejected | None]:
    """The line as text, or why it cannot be (a NUL byte, an invalid byte sequence). ``src`` is filled by
    the caller; the Rejected carries reason and detail only."""
    if isinstance(line, bytes):
        k = line.find(b"\x00")
        if k >= 0:
            return None, Rejected("", "nul_byte", f"NUL byte at byte {k} of the line")
        try:
            line = line.decode("utf-8" if codec == "utf-8-sig" else codec)
        except UnicodeDecodeError as e:
            return None, Rejected("", _invalid(codec), f"byte {e.start}: {e.reason} ({_name(codec)}); {ENCODING_HINT}")
        return line, None
    k = line.find("\x00")
    if k >= 0:
        return None, Rejected("", "nul_byte", f"NUL character at column {k + 1}")
    k = line.find(_MARK)
    if k >= 0:
        return None, Rejected("", _invalid(codec), f"column {k + 1}: invalid {_name(codec)} sequence; {ENCODING_HINT}")
    return line, None


def _invalid(codec: str) -> str:
    return "invalid_utf8" if codec.startswith("utf-8") else "invalid_encoding"


def _name(codec: str) -> str:
    return codec.removesuffix("-sig")


def _excerpt(line: bytes | str, codec: str) -> str:
    if isinstance(line, bytes):
        return line[:200].decode("utf-8" if codec.startswith("utf-8") else codec, errors="replace")
    return line[:200].replace(_MARK, "\ufffd")


def parse_jsonl_line(bline: bytes | str, src: str, limits: ReadLimits = ReadLimits(),
                     codec: str = "utf-8") -> Example | Rejected:
    """One JSONL line (without its line end) as an Example, or a Rejected naming the reason."""
    excerpt = _excerpt(bline, codec)
    if len(bline) > limits.max_record_bytes:
        return Rejected(src, "record_too_large", f"{len(bline):,} bytes > {limits.max_record_bytes:,} "
                        "(data.max_record_bytes)", excerpt)
    line, bad = decode_line(bline, codec)
    if bad is not None:
        return Rejected(src, bad.reason, bad.detail, excerpt)
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        return Rejected(src, "bad_json", f"column {e.colno}: {e.msg}", excerpt)
    except RecursionError:
        return Rejected(src, "too_deep", f"JSON nested deeper than the parser can follow (limit "
                        f"data.max_json_depth={limits.max_depth})", excerpt)
    if line.count("[") + line.count("{") > limits.max_depth:  # only then can the nesting exceed it
        d = json_depth(rec, limits.max_depth)
        if d > limits.max_depth:
            return Rejected(src, "too_deep", f"JSON nested more than {limits.max_depth} levels "
                            "(data.max_json_depth)", excerpt)
    if "\\u" in line and ("\\ud" in line or "\\uD" in line):  # an escaped lone surrogate cannot be written back
        try:
            json.dumps(rec, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            return Rejected(src, "invalid_unicode", f"lone surrogate {e.object[e.start]!r} in a string", excerpt)
    return record_example(rec, src, excerpt)


def record_example(rec: Any, src: str, excerpt: str | None = None) -> Example | Rejected:
    try:
        return example_from_record(rec, src)
    except (ValueError, TypeError) as e:
        return Rejected(src, "bad_record", str(e), excerpt)


def json_depth(obj: Any, stop: int) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1), walked without recursion; stops
    counting once past ``stop``."""
    depth, level = 0, [obj]
    while level and depth <= stop:
        nxt = []
        for o in level:
            if isinstance(o, dict):
                nxt.extend(o.values())
            elif isinstance(o, list):
                nxt.extend(o)
        if not any(isinstance(o, (dict, list)) for o in level):
            break
        depth += 1
        level = nxt
    return depth


# ------------------------------------------------------------------------------------------------------ CSV


def iter_csv(path: Path, display: str, prompt_column: str, completion_column: str,
             limits: ReadLimits = ReadLimits(), sniffed: Sniff | None = None) -> Iterator[tuple[int, Example | Rejected]]:
    """Rows of a CSV file; a row with an undecodable sequence or a NUL costs that row only."""
    s = sniffed or sniff(path, limits.encoding)
    with _open_text(path, s.codec, newline="") as fh:  # streamed: one row in memory at a time
        yield from _csv_rows(fh, display, prompt_column, completion_column, limits, s.codec)


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


def _csv_rows(fh, display: str, prompt_column: str, completion_column: str, limits: ReadLimits = ReadLimits(),
              codec: str = "utf-8") -> Iterator[tuple[int, Example | Rejected]]:
    csv.field_size_limit(2**31 - 1)  # oversized rows are judged (and quarantined) below, not by the csv module
    reader = csv.DictReader(fh)
    try:
        header = reader.fieldnames or []
    except csv.Error as e:
        yield 1, Rejected(f"{display}:1", "bad_header", f"unreadable CSV header: {e}")
        return
    bad_header = [h for h in header if _MARK in h or "\x00" in h]
    for col in (prompt_column, completion_column):
        if col not in header:
            why = f"; {ENCODING_HINT}" if bad_header else ""
            yield 1, Rejected(f"{display}:1", "bad_header", f"missing column '{col}' (columns: {header}){why}")
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
        values = [v for v in row.values() if isinstance(v, str)] + [x for x in row.get(None) or [] if isinstance(x, str)]
        size = sum(len(v) for v in values)
        if size > limits.max_record_bytes:
            yield n, Rejected(src, "record_too_large", f"{size:,} characters > {limits.max_record_bytes:,} "
                              "(data.max_record_bytes)")
            continue
        bad = next((r for r in (decode_line(v, codec)[1] for v in values) if r is not None), None)
        if bad is not None:
            yield n, Rejected(src, bad.reason, bad.detail)
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


# -------------------------------------------------------------------------------------------------- Parquet


def iter_parquet(path: Path, display: str, limits: ReadLimits = ReadLimits()) -> Iterator[tuple[int, Example | Rejected]]:
    """Rows of a Parquet file (row numbers from 1 stand for lines), one row group in memory at a time. Columns
    are the JSONL fields; a ``meta`` column may hold a JSON string (what ``data curate`` writes). A row group
    that cannot be decoded rejects each of its rows; a file whose footer cannot be read is one Rejected."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        groups = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
    except (pa.ArrowException, OSError, ValueError, IndexError) as e:
        yield 1, Rejected(f"{display}:1", "bad_parquet", f"unreadable Parquet file: {e}")
        return
    row = 0
    for g, count in enumerate(groups):
        try:
            rows = pf.read_row_group(g).to_pylist()
        except (pa.ArrowException, OSError, ValueError, IndexError) as e:
            for k in range(1, count + 1):
                yield row + k, Rejected(f"{display}:{row + k}", "bad_parquet", f"row group {g} unreadable: {e}")
            row += count
            continue
        for r in rows:
            row += 1
            yield row, parquet_row_example(r, f"{display}:{row}", limits)


def parquet_row_example(r: dict[str, Any], src: str, limits: ReadLimits = ReadLimits()) -> Example | Rejected:
    """A Parquet row as a JSON record (nulls dropped, ``meta`` parsed when it is a JSON string, values a JSON
    file could not hold written as strings), then the same rules as a JSONL line."""
    rec = {k: v for k, v in r.items() if v is not None}
    if isinstance(rec.get("meta"), str):
        try:
            rec["meta"] = json.loads(rec["meta"])
        except (json.JSONDecodeError, RecursionError):
            return Rejected(src, "bad_record", "column 'meta' is not a JSON object")
    try:
        blob = json.dumps(rec, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError) as e:
        return Rejected(src, "bad_record", f"row cannot be written as JSON: {e}")
    if len(blob) > limits.max_record_bytes:
        return Rejected(src, "record_too_large", f"{len(blob):,} characters > {limits.max_record_bytes:,} "
                        "(data.max_record_bytes)", blob[:200])
    return parse_jsonl_line(blob, src, limits, "utf-8")


# ---------------------------------------------------------------------------------------------------- files


def file_format(path: Path, format: str, s: Sniff) -> str:
    """'jsonl', 'csv' or 'parquet' for a file: the configured format, else its content, else its extension."""
    if format == "parquet" or s.kind == "parquet":
        return "parquet"
    if format == "csv":
        return "csv"
    if format == "auto" and path.suffix.lower() == ".csv":
        return "csv"
    if format == "auto" and path.suffix.lower() == ".parquet":
        return "parquet"
    return "jsonl"


def iter_files(
    paths: Iterable[str | Path],
    *,
    format: str = "auto",
    prompt_column: str = "prompt",
    completion_column: str = "completion",
    max_records: int | None = None,
    display_names: dict[str, str] | None = None,
    limits: ReadLimits = ReadLimits(),
    columns: dict[str, str] | None = None,
) -> Iterator[Example | Rejected]:
    """Every record of every file in order, as an Example or a Rejected; raise NoUsableRecords for a file
    with no usable record (after its records have been yielded) or when no file has one.

    A Hugging Face dataset (a ``save_to_disk`` folder, an Arrow file, ``hf:owner/name``; a Parquet file when
    ``columns`` maps its columns) is read through ``datasets`` (data/hf_datasets.py)."""
    from tunewright.data.hf_datasets import dataset_kind, iter_dataset

    used = 0
    rejected_any: list[Rejected] = []
    for p in paths:
        path = Path(p)
        display = (display_names or {}).get(str(p), str(p))
        kind = dataset_kind(str(p))
        if kind == "parquet" and not columns:
            kind = None  # plain Parquet with record fields as columns: the Parquet reader below
        if kind is None and not path.exists():
            raise FileNotFoundError(f"{display}: data file not found")
        s = None if kind else sniff(path, limits.encoding)
        if s is not None and s.kind == "binary":  # one record stands for the whole file: quarantined, never parsed
            r = Rejected(f"{display}:1", "binary_file", s.reason)
            rejected_any.append(r)
            yield r
            continue
        fmt = "dataset" if kind else file_format(path, format, s)
        if fmt == "dataset":
            it = iter_dataset(str(p), display, kind, prompt_column, completion_column, columns)
        elif fmt == "parquet":
            it = iter_parquet(path, display, limits)
        elif fmt == "csv":
            it = iter_csv(path, display, prompt_column, completion_column, limits, s)
        else:
            it = iter_jsonl(path, display, limits, s)
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
