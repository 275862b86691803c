"""Apply labeling functions to examples and lay their votes out as one matrix for the label model.

Class functions vote per example. Span functions vote per *candidate*: every name any span function proposed
for an example is one row (example, name), and each function votes the TYPE it gave that name, ``O`` (not an
entity), or abstains when it did not mention the name. The label model then types or rejects each candidate,
and :func:`place_entities` writes the accepted names back as the task's ``NAME - TYPE`` answer, in order of
appearance with repeats, like the gold answers.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from tunewright.labeling.functions import ABSTAIN, NOT_ENTITY, LabelingFunction, example_text
from tunewright.records import Example
from tunewright.errors import InputError

Entity = tuple[str, str]


@dataclass
class Votes:
    """``matrix`` (n_items, n_functions) of class indices, -1 = abstain; item i is ``items[i]``."""

    kind: str
    functions: list[str]
    classes: list[str]
    items: list[tuple[int, str]]  # (example index, candidate name or "")
    matrix: np.ndarray
    raw: list[dict[str, object]] = field(default_factory=list)  # per example: function -> its raw output

    def as_labels(self, row: int) -> dict[str, str]:
        """Function name -> class voted on item ``row`` (abstentions left out): the review app's evidence."""
        return {f: self.classes[v] for f, v in zip(self.functions, self.matrix[row]) if v >= 0}


def apply_functions(examples: list[Example], fns: list[LabelingFunction], classes: list[str],
                    progress: bool = True) -> Votes:
    kinds = {f.kind for f in fns}
    if len(kinds) != 1:
        raise InputError(f"labeling functions mix kinds {sorted(kinds)}; use all 'class' or all 'span'")
    kind = kinds.pop()
    index = {c: i for i, c in enumerate(classes)}
    raw: list[dict[str, object]] = []
    for ex in tqdm(examples, desc="labeling functions", disable=not progress, unit="ex"):
        text = example_text(ex)
        raw.append({f.name: f(text) for f in fns})
    items: list[tuple[int, str]] = []
    rows: list[list[int]] = []

    def idx(label: str, fname: str) -> int:
        if label not in index:
            raise InputError(f"labeling function {fname} voted {label!r}, which is not one of {classes}")
        return index[label]

    for i, out in enumerate(raw):
        if kind == "class":
            items.append((i, ""))
            rows.append([-1 if out[f.name] is ABSTAIN else idx(out[f.name], f.name) for f in fns])
            continue
        per_fn: dict[str, dict[str, str]] = {}
        names: list[str] = []
        for f in fns:
            ents = out[f.name] or []
            types: dict[str, Counter] = {}
            for name, t in ents:
                types.setdefault(name, Counter())[t] += 1
                if name not in names:
                    names.append(name)
            per_fn[f.name] = {n: c.most_common(1)[0][0] for n, c in types.items()}
        for name in names:
            items.append((i, name))
            rows.append([idx(per_fn[f.name][name], f.name) if name in per_fn[f.name] else -1 for f in fns])
    matrix = np.array(rows, dtype=int).reshape(len(rows), len(fns))
    return Votes(kind, [f.name for f in fns], classes, items, matrix, raw)


def place_entities(text: str, typed: dict[str, str]) -> list[Entity]:
    """Every occurrence of each accepted name in ``text``, longest names first without overlap, in text order.

    "SILICON VALLEY BANK" claims its span before "BANK" can, so a nested name is not counted twice.
    """
    claimed: list[tuple[int, int, str, str]] = []
    for name in sorted(typed, key=len, reverse=True):
        if typed[name] == NOT_ENTITY:
            continue
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text):
            s, e = m.span()
            if all(e <= cs or s >= ce for cs, ce, _, _ in claimed):
                claimed.append((s, e, name, typed[name]))
    return [(n, t) for _, _, n, t in sorted(claimed)]


def entities_from_items(examples: list[Example], votes: Votes, pred: np.ndarray) -> list[list[Entity]]:
    """Per example, the entity answer implied by one class index per candidate item (``pred`` (n_items,))."""
    typed: list[dict[str, str]] = [{} for _ in examples]
    for (i, name), c in zip(votes.items, pred):
        if c >= 0:
            typed[i][name] = votes.classes[c]
    return [place_entities(example_text(ex), t) for ex, t in zip(examples, typed)]


def function_entities(examples: list[Example], votes: Votes, fname: str) -> list[list[Entity]]:
    """What one span function alone answers for each example (its names placed like the label model's)."""
    j = votes.functions.index(fname)
    return entities_from_items(examples, votes, votes.matrix[:, j])


def candidate_gold(votes: Votes, golds: list[list[Entity] | None]) -> np.ndarray:
    """Gold class per candidate item: the name's gold TYPE, ``O`` when the gold answer lacks it, -1 if no gold."""
    out = np.full(len(votes.items), -1, dtype=int)
    index = {c: i for i, c in enumerate(votes.classes)}
    gold_types = [None if g is None else {n: Counter(t for m, t in g if m == n).most_common(1)[0][0] for n, _ in g}
                  for g in golds]
    for r, (i, name) in enumerate(votes.items):
        if gold_types[i] is not None:
            out[r] = index.get(gold_types[i].get(name, NOT_ENTITY), -1)
    return out
