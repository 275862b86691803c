"""What a reviewer may store as a label: checked against the sentence, re-serialised, explained in words.

A reviewer's correction is untrusted input. Only a label that passes :func:`label_checker` reaches the store,
and it is stored in its canonical form (``[NAME - TYPE, NAME - TYPE]`` with single spaces, or the empty
answer), so every stored label reads back, exports to Label Studio / Argilla and trains. The checks:

- length first (``MAX_LABEL_CHARS``), before any parsing: no request can make the parser work for long;
- one pair of brackets around the whole answer, nothing outside them ("I think maybe [...] lol" is refused);
- every item ``NAME - TYPE`` with a configured type (the linear-time reader of the extraction task);
- every NAME occurs in the sentence as a whole word (copied exactly: case and spacing count);
- no control characters, no U+FFFD (what undecodable bytes become).

Classification labels must be one of the classes (matched without regard to case, stored as configured).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

MAX_LABEL_CHARS = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


@dataclass(frozen=True)
class Checked:
    label: str | None  # the canonical label to store, None when refused
    error: str | None = None  # why it was refused, in words for the reviewer


def find_name(text: str, name: str, start: int = 0) -> re.Match | None:
    """``name`` in ``text`` as a whole word (not inside a longer word), from ``start``."""
    return re.compile(rf"(?<!\w){re.escape(name)}(?!\w)").search(text, start)


def _short(s: str, n: int = 60) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _common(label: str) -> str | None:
    if len(label) > MAX_LABEL_CHARS:
        return f"The label is {len(label):,} characters long; the limit is {MAX_LABEL_CHARS:,}."
    if _CONTROL.search(label):
        return "The label contains characters that are not text (control characters or undecodable bytes)."
    return None


def extraction_checker(cfg) -> Callable[[str, str], Checked]:
    from tunewright.evaluation.tasks import make_task

    task = make_task(cfg.task)
    empty = cfg.task.empty_answer
    types = ", ".join(cfg.task.entity_types)
    how = f"Write [NAME - TYPE, NAME - TYPE] with TYPE one of {types}, or '{empty}' when there is none."

    def check(label: str, sentence: str) -> Checked:
        problem = _common(label)
        if problem:
            return Checked(None, problem)
        t = label.strip()
        if t.casefold() == empty.casefold() or t == "[]":
            return Checked(empty)
        if not t:
            return Checked(None, "The label is empty. " + how)
        if "[" not in t or "]" not in t:
            return Checked(None, f"Cannot read {_short(t)!r}: the entities go inside square brackets. " + how)
        if not (t.startswith("[") and t.endswith("]")):
            outside = (t[: t.index("[")] + " " + t[t.rindex("]") + 1:]).strip()
            return Checked(None, f"There is text outside the brackets ({_short(outside)!r}); write only the "
                                 "bracketed list. " + how)
        inner = t[1:-1]
        if "[" in inner or "]" in inner:
            return Checked(None, "Use one pair of square brackets around the whole list. " + how)
        content = inner.strip()
        ents, stopped = task.read_items(content)
        if stopped is not None:
            return Checked(None, f"Cannot read the part {_short(content[stopped:].strip())!r}. " + how)
        for name, etype in ents:
            if not name:
                return Checked(None, f"An entity of type {etype} has no name. " + how)
            if find_name(sentence, name) is None:
                return Checked(None, f"{_short(name)!r} does not occur in the sentence; copy names exactly as "
                                     "written there (capitals and spaces count).")
        return Checked("[" + ", ".join(f"{n} - {t}" for n, t in ents) + "]")

    return check


def class_checker(classes: list[str]) -> Callable[[str, str], Checked]:
    by_key = {c.casefold(): c for c in classes}

    def check(label: str, sentence: str) -> Checked:
        problem = _common(label)
        if problem:
            return Checked(None, problem)
        t = label.strip()
        if not classes:
            return Checked(t) if t else Checked(None, "The label is empty.")
        if t.casefold() in by_key:
            return Checked(by_key[t.casefold()])
        return Checked(None, f"{_short(t)!r} is not one of the labels: {', '.join(classes)}.")

    return check


def label_checker(cfg) -> Callable[[str, str], Checked]:
    """``check(label, sentence) -> Checked`` for the task's answer format (entity spans or one class)."""
    from tunewright.evaluation.tasks import task_type

    if task_type(cfg.task).label_kind == "span":
        return extraction_checker(cfg)
    return class_checker(list(cfg.labeling.classes or cfg.task.labels))
