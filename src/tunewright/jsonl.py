"""The one reader of plain JSONL files: a run's artifacts (predictions, general-suite items, metrics.jsonl) and
the evaluation data files (general text, MMLU, a user's general tasks).

A line that is not JSON is an error naming ``file:line``, with one exception a caller opts into: a last line
with no newline that does not parse is a *torn* line, what a process killed in the middle of an append leaves
(``metrics.jsonl``), and is skipped. A file written atomically (:func:`tunewright.records.write_jsonl`)
cannot be torn, so its readers leave the option off and a truncated file is an error, not a lost item.
Blank lines are skipped. Training data files are read by :mod:`tunewright.records` instead, which turns a bad
line into a quarantined record rather than an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from tunewright.errors import InputError


class JsonlError(InputError):
    """A line of a JSONL file that is not JSON; the message starts with ``file:line``."""


def iter_jsonl(path: str | Path, *, tolerate_torn_last_line: bool = False, display: str | None = None,
               max_lines: int | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed value) for each non-blank line, lazily.

    ``max_lines`` reads only the file's first lines (what lies past them is not parsed); ``display`` names the
    file in errors (a config's relative path rather than the resolved one)."""
    name = display or str(path)
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if max_lines is not None and n > max_lines:
                return
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                if tolerate_torn_last_line and not line.endswith("\n"):
                    return  # the torn tail of an interrupted append: no line can follow it
                raise JsonlError(f"{name}:{n}: not valid JSON (column {e.colno}: {e.msg})") from None


def read_jsonl(path: str | Path, *, tolerate_torn_last_line: bool = False, display: str | None = None) -> list:
    """Every value of a JSONL file, in order (see :func:`iter_jsonl`)."""
    return [v for _, v in iter_jsonl(path, tolerate_torn_last_line=tolerate_torn_last_line, display=display)]
