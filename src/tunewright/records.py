"""The Example record and its readers and writers.

One record flows through every data stage (STYLE.md #2). Content comes in one of three shapes: a chat
``messages`` list, ``prompt``/``completion``, or ``text`` with ``label``. Readers never crash on a bad
record and never drop one silently: each bad line becomes a :class:`Rejected` with file, line and reason.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from tunewright.errors import InputError

ROLES = {"system", "user", "assistant"}
# A record over 10 MiB is no training example (a dumped document, a base64 blob): quarantined, not parsed.
MAX_RECORD_BYTES = 10 * 2**20


@dataclass
class Example:
    """One training or evaluation example: the record every data stage reads and yields.

    Exactly one content shape is set: ``messages`` (a chat ending in the assistant's answer), ``prompt`` with
    ``completion``, or ``text`` with ``label``. ``meta`` carries what a stage adds (choices, review, labels);
    ``source`` is the ``file:line`` it came from; ``id`` is the hash of the content (:meth:`content`), so it
    is stable across runs and is the key that pairs an example's rows (base vs tuned predictions, splits)."""

    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    completion: str | None = None
    text: str | None = None
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # "file:line"
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = content_hash(self.content())

    def content(self) -> dict[str, Any]:
        """The content fields only: what the id hashes and what duplicates are compared on."""
        if self.messages is not None:
            return {"messages": self.messages}
        if self.prompt is not None:
            return {"prompt": self.prompt, "completion": self.completion}
        return {"text": self.text, "label": self.label}

    def to_chat(self, system_prompt: str | None = None) -> list[dict[str, str]]:
        """The example as a chat whose last message is the assistant's answer.

        ``system_prompt`` replaces the example's own system message (or adds one), so that training and
        evaluation use one instruction for the whole dataset.
        """
        if self.messages is not None:
            msgs = [dict(m) for m in self.messages]
        elif self.prompt is not None:
            msgs = [{"role": "user", "content": self.prompt}, {"role": "assistant", "content": self.completion or ""}]
        else:
            msgs = [{"role": "user", "content": self.text or ""}, {"role": "assistant", "content": self.label or ""}]
        if system_prompt is not None:
            msgs = [m for m in msgs if m["role"] != "system"]
            msgs.insert(0, {"role": "system", "content": system_prompt})
        return msgs

    def input_key(self) -> str:
        """Hash of everything but the final answer: equal keys with different answers are a conflict."""
        msgs = self.to_chat()
        return content_hash({"input": [m for m in msgs[:-1] if m["role"] != "system"]})

    def answer(self) -> str:
        return self.to_chat()[-1]["content"]

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None}
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Example":
        return cls(**d)


@dataclass
class Rejected:
    """A record that could not be used, with where it came from and why."""

    source: str
    reason: str
    detail: str
    raw: str | None = None
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ReadResult:
    examples: list[Example] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    input_records: int = 0


class NoUsableRecords(InputError):
    """A file (or set of files) in which no record could be used."""


def content_hash(content: Any) -> str:
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def _validate_messages(msgs: Any) -> str | None:
    if not isinstance(msgs, list) or not msgs:
        return "field 'messages' must be a non-empty list"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return f"messages[{i}] must be an object"
        if m.get("role") not in ROLES:
            return f"messages[{i}].role must be one of {sorted(ROLES)}, got {m.get('role')!r}"
        if not isinstance(m.get("content"), str):
            return f"messages[{i}].content must be a string"
    return None


def example_from_record(rec: Any, source: str) -> Example:
    """Build an Example from one parsed JSON object; raise ValueError naming the field when it does not fit."""
    if not isinstance(rec, dict):
        raise ValueError(f"record must be a JSON object, got {type(rec).__name__}")
    meta = dict(rec["meta"]) if isinstance(rec.get("meta"), dict) else {}
    if "choices" in rec:  # multiple choice: the answer must be one of these
        ch = rec["choices"]
        if not isinstance(ch, list) or len(ch) < 2 or not all(isinstance(c, str) for c in ch):
            raise ValueError("field 'choices' must be a list of at least two strings")
        meta["choices"] = ch
    if "messages" in rec or "input" in rec:
        key = "messages" if "messages" in rec else "input"
        msgs = rec[key]
        if key == "input" and isinstance(msgs, str):
            msgs = [{"role": "user", "content": msgs}]
        err = _validate_messages(msgs)
        if err:
            raise ValueError(err.replace("'messages'", f"'{key}'").replace("messages[", f"{key}["))
        msgs = [{"role": m["role"], "content": m["content"]} for m in msgs]
        ideal = rec.get("ideal", rec.get("label"))
        if ideal is not None:
            if isinstance(ideal, list):
                if not ideal or not all(isinstance(x, str) for x in ideal):
                    raise ValueError("field 'ideal' must be a string or a non-empty list of strings")
                if len(ideal) > 1:
                    meta = {**meta, "alternatives": ideal[1:]}
                ideal = ideal[0]
            if not isinstance(ideal, str):
                raise ValueError(f"field 'ideal' must be a string, got {type(ideal).__name__}")
            if msgs[-1]["role"] == "assistant":
                raise ValueError("record has both a final assistant message and an 'ideal' answer")
            msgs.append({"role": "assistant", "content": ideal})
        if msgs[-1]["role"] != "assistant":
            raise ValueError(f"field '{key}': the last message must be the assistant's answer (or give 'ideal')")
        if not msgs[-1]["content"].strip():
            raise ValueError(f"field '{key}': the assistant's answer is empty")
        return Example(messages=msgs, meta=meta, source=source)
    if "prompt" in rec or "completion" in rec:
        for f in ("prompt", "completion"):
            if f not in rec:
                raise ValueError(f"missing field '{f}'")
            if not isinstance(rec[f], str):
                raise ValueError(f"field '{f}' must be a string, got {type(rec[f]).__name__}")
        if not rec["completion"].strip():
            raise ValueError("field 'completion' is empty")
        return Example(prompt=rec["prompt"], completion=rec["completion"], meta=meta, source=source)
    if "text" in rec:
        if not isinstance(rec["text"], str):
            raise ValueError(f"field 'text' must be a string, got {type(rec['text']).__name__}")
        label = rec.get("label")
        if label is None:
            raise ValueError("missing field 'label'")
        if not isinstance(label, (str, int)):
            raise ValueError(f"field 'label' must be a string, got {type(label).__name__}")
        return Example(text=rec["text"], label=str(label), meta=meta, source=source)
    raise ValueError("no content field: expected 'messages', 'input'+'ideal', 'prompt'+'completion' or 'text'+'label'")


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
    columns: dict[str, str] | None = None,
) -> Iterator[Example | Rejected]:
    """Every record of every file in order, as an Example or a Rejected; raise NoUsableRecords for a file
    with no usable record (after its records have been yielded) or when no file has one."""
    used = 0
    rejected_any: list[Rejected] = []
    for p in paths:
        path = Path(p)
        display = (display_names or {}).get(str(p), str(p))
        from tunewright.data.hf_datasets import dataset_kind, iter_dataset  # datasets folders, Parquet, Arrow, hub

        kind = dataset_kind(str(p))
        if kind is None and not path.exists():
            raise FileNotFoundError(f"{display}: data file not found")
        fmt = format
        if fmt == "auto":
            fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
        why = "" if kind else binary_reason(path)
        if why:  # one record stands for the whole file: counted, quarantined, never parsed
            r = Rejected(f"{display}:1", "binary_file", why)
            rejected_any.append(r)
            yield r
            continue
        if kind:
            it = iter_dataset(str(p), display, kind, prompt_column, completion_column, columns)
        else:
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


def write_jsonl(path: Path, rows: Iterable[Any]) -> int:
    """Atomic JSONL write of Examples, Rejecteds or dicts; returns the row count."""
    n = 0
    with jsonl_writer(path) as write:
        for r in rows:
            write(r)
            n += 1
    return n


@contextmanager
def jsonl_writer(path: Path) -> Iterator[Callable[[Any], None]]:
    """``with jsonl_writer(p) as write: write(row)``: rows (Examples, Rejecteds or dicts) streamed to an
    atomic JSONL file (see :func:`tunewright.project.atomic_file`)."""
    from tunewright.project import atomic_file

    with atomic_file(path, "w") as f:
        def write(r: Any) -> None:
            f.write(json.dumps(r.to_json() if hasattr(r, "to_json") else r, ensure_ascii=False) + "\n")

        yield write


def iter_examples(path: Path, batch: int = 10_000) -> Iterator[list[Example]]:
    """A run's own JSONL of Examples, ``batch`` at a time."""
    buf: list[Example] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                buf.append(Example.from_json(json.loads(line)))
                if len(buf) >= batch:
                    yield buf
                    buf = []
    if buf:
        yield buf


def read_examples(path: Path) -> list[Example]:
    """Read a JSONL of Examples written by :func:`write_jsonl` (a run's own data files)."""
    return [ex for batch in iter_examples(path) for ex in batch]


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Every row of a JSONL file of objects (a run's quarantine, its label suspects)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
