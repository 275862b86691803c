"""Hugging Face ``datasets`` as input, beside JSONL and CSV: a folder written by ``save_to_disk``, Parquet or
Arrow files, or ``hf:owner/name[:split]`` (a hub id, when the hub is reachable).

Rows become Examples through the same record rules as JSONL (``messages``, ``input`` + ``ideal``,
``prompt`` + ``completion``, ``text`` + ``label``, optional ``choices``), after ``data.columns`` renames the
dataset's columns (``{question: prompt, answer: completion}``). Each record's source is ``FILE:ROW`` (row 1 is
the first row), so a quarantined row can be found again: ``dataset[ROW - 1]``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

from tunewright.records import MAX_RECORD_BYTES, Example, Rejected, example_from_record

HUB = "hf:"
SUFFIXES = {".parquet": "parquet", ".arrow": "arrow"}


def dataset_kind(path: str) -> str | None:
    """'hub', 'disk' (a save_to_disk folder), 'parquet' or 'arrow'; None for JSONL / CSV and anything else."""
    if path.startswith(HUB):
        return "hub"
    p = Path(path)
    if p.is_dir() and any((p / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        return "disk"
    return SUFFIXES.get(p.suffix.lower())


def load_dataset_source(path: str, kind: str):
    """The ``datasets.Dataset`` behind a source (the 'train' split of a DatasetDict)."""
    import datasets

    if kind == "hub":
        name, _, split = path[len(HUB):].partition(":")
        try:
            return datasets.load_dataset(name, split=split or "train")
        except Exception as e:  # offline, unknown id, gated: the message says which
            raise FileNotFoundError(f"{path}: could not load the dataset from the Hugging Face hub "
                                    f"({type(e).__name__}: {str(e)[:300]})") from None
    if kind == "disk":
        ds = datasets.load_from_disk(path)
        if isinstance(ds, datasets.DatasetDict):
            if "train" not in ds:
                raise ValueError(f"{path}: a DatasetDict without a 'train' split (splits: {list(ds)}); save the "
                                 "split you mean with save_to_disk")
            ds = ds["train"]
        return ds
    if kind == "parquet":
        return datasets.Dataset.from_parquet(path)
    return datasets.Dataset.from_file(path)  # an Arrow stream file as datasets writes it


def _record(row: dict[str, Any], columns: dict[str, str], prompt_column: str, completion_column: str) -> dict:
    rec = {columns.get(k, k): v for k, v in row.items()}
    for src, dst in ((prompt_column, "prompt"), (completion_column, "completion")):
        if src != dst and src in rec and dst not in rec:
            rec[dst] = rec.pop(src)
    meta = {k: v for k, v in rec.items() if k not in
            {"messages", "input", "ideal", "prompt", "completion", "text", "label", "choices", "meta"}}
    if meta and "meta" not in rec:
        rec["meta"] = {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool)) or v is None}
    if isinstance(rec.get("label"), int) and not isinstance(rec.get("label"), bool):
        rec["label"] = str(rec["label"])
    return rec


def iter_dataset(path: str, display: str, kind: str, prompt_column: str = "prompt",
                 completion_column: str = "completion", columns: dict[str, str] | None = None,
                 ) -> Iterator[tuple[int, Example | Rejected]]:
    """(row number, Example or Rejected) for each row; rows are read in batches from the memory-mapped table."""
    ds = load_dataset_source(path, kind)
    columns = columns or {}
    for start in range(0, len(ds), 1000):
        batch = ds[start:start + 1000]
        names = list(batch)
        for i in range(len(batch[names[0]]) if names else 0):
            n = start + i + 1
            src = f"{display}:{n}"
            row = {k: batch[k][i] for k in names}
            size = sum(len(v) for v in row.values() if isinstance(v, str))
            if size > MAX_RECORD_BYTES:
                yield n, Rejected(src, "record_too_large", f"{size:,} characters > {MAX_RECORD_BYTES:,}")
                continue
            try:
                yield n, example_from_record(_record(row, columns, prompt_column, completion_column), src)
            except ValueError as e:
                yield n, Rejected(src, "bad_record", f"{e} (columns: {names})", str(row)[:200])


def fingerprint(path: str) -> str:
    """A content hash for the manifest: the file's sha256, a folder's over its files, a hub id as given."""
    from tunewright.project import file_sha256

    if path.startswith(HUB):
        return f"hub:{path[len(HUB):]}"
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        h.update(str(f.relative_to(p)).encode() + b"\0" + file_sha256(f).encode())
    return h.hexdigest()
