"""Writers and readers of a run's own JSONL files (clean set, quarantine, splits): atomic writes."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from tunewright.records import Example


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
    from tunewright import project  # looked up at call time: tests make the disk fail here

    with project.atomic_file(path, "w") as f:
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
