"""Format consistency: required fields, the declared label set, and answers whose format differs from the
dataset's dominant one (JSON vs text, list syntax, label casing).

Role order and empty turns are the ``schema`` check (checks.py). The dominant format is only enforced when
it is really dominant (``audit.format_min_share`` of the answers), so a dataset that mixes formats on
purpose is not flagged wholesale.
"""

from __future__ import annotations

import json
import re

import numpy as np

from tunewright.data.checks import BatchCheck, CheckContext, Verdict, register_check
from tunewright.data.columns import Int64Parts
from tunewright.data.keys import key64
from tunewright.data.sufficiency import ClassTally
from tunewright.records import Example

_BULLET = re.compile(r"^\s*[-*\u2022] \S", re.MULTILINE)
_NUMBERED = re.compile(r"^\s*\d+[.)] \S", re.MULTILINE)


def structure_of(answer: str) -> str:
    """json, bracket_list ('[a, b]'), bullet_list, numbered_list or text."""
    s = answer.strip()
    if s[:1] in "[{" and s[-1:] in "]}":
        try:
            json.loads(s)
            return "json"
        except ValueError:
            return "bracket_list" if s[0] == "[" else "text"
    if len(_BULLET.findall(s)) >= 2:
        return "bullet_list"
    if len(_NUMBERED.findall(s)) >= 2:
        return "numbered_list"
    return "text"


def casing_of(answer: str) -> str:
    """Casing of a short answer: lower, upper, capitalized (first letter only), title or mixed."""
    s = answer.strip()
    if s.islower():
        return "lower"
    if s.isupper():
        return "upper"
    if s == s[:1].upper() + s[1:].lower():
        return "capitalized"
    if s.istitle():
        return "title"
    return "mixed"


STRUCTURES = ("text", "json", "bracket_list", "bullet_list", "numbered_list")
CASINGS = ("lower", "upper", "capitalized", "title", "mixed")


def _dominant_code(counts: np.ndarray, names: tuple[str, ...], min_share: float) -> tuple[int, str | None, float]:
    """(code, name, share) of the most frequent code; name is None when its share is below min_share."""
    total = int(counts.sum())
    if not total:
        return -1, None, 0.0
    k = int(counts.argmax())
    share = counts[k] / total
    return (k, names[k], share) if share >= min_share else (k, None, share)


@register_check("format", default=True, order=1)
class FormatCheck(BatchCheck):
    """missing_field, label_not_in_set, format_inconsistent (with the dominant format in the detail).

    Per example it keeps the answer's structure, its casing when it is a short answer, and a 64-bit key of
    the answer; the dominant format is judged in ``finish``."""

    def __init__(self) -> None:
        self.structure, self.casing, self.answer_key = Int64Parts(), Int64Parts(), Int64Parts()
        self.tally: ClassTally | None = None

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        a = ctx.settings()
        if self.tally is None:
            self.tally = ClassTally(a.label_noise.max_answer_words)
        self.tally.add(batch)
        out: list[Verdict] = []
        labels = set(ctx.labels)
        folded = {lab.casefold(): lab for lab in ctx.labels}
        answers = [ex.answer().strip() for ex in batch]
        st = [STRUCTURES.index(structure_of(s)) for s in answers]
        self.structure.add(st)
        self.answer_key.add([key64(s) for s in answers])
        short = a.label_noise.max_answer_words  # casing is only judged in finish, when the answers are labels
        self.casing.add([CASINGS.index(casing_of(s)) if st[k] == 0 and 0 < len(s.split()) <= short
                         and any(c.isalpha() for c in s) else -1 for k, s in enumerate(answers)])
        for k, ex in enumerate(batch):
            i = start + k
            missing = [f for f in a.required_fields if ex.meta.get(f) in (None, "")]
            if missing:
                out.append(Verdict(i, False, "missing_field", 1.0, f"missing required field(s) {missing}"))
            if labels and answers[k] not in labels:
                hint = folded.get(answers[k].casefold())
                extra = f" (did you mean {hint!r}?)" if hint else ""
                out.append(Verdict(i, False, "label_not_in_set", 1.0,
                                   f"label {answers[k][:80]!r} is not one of {sorted(labels)[:10]}{extra}"))
        return out

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        a = ctx.settings()
        if self.tally is None:
            return []
        # label casing only means something when the answers are labels
        is_labels = self.tally.is_classification(a, declared=bool(ctx.labels))
        return self._consistency(self.structure.array(), self.casing.array() if is_labels else None,
                                 self.answer_key.array(), a.format_min_share)

    def _consistency(self, structures: np.ndarray, casings: np.ndarray | None, keys: np.ndarray,
                     min_share: float) -> list[Verdict]:
        out = []
        n = structures.size
        dom, dom_name, share = _dominant_code(np.bincount(structures, minlength=len(STRUCTURES)), STRUCTURES,
                                              min_share)
        # A frequent exact answer ("No entities found") is a class of its own, not a format slip.
        uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        frequent = counts[inverse] >= max(3, 0.01 * n)
        if dom_name is not None:
            for i in np.flatnonzero((structures != dom) & ~frequent).tolist():
                out.append(Verdict(i, False, "format_inconsistent", 1.0 - share,
                                   f"answer is {STRUCTURES[structures[i]]}; the dataset's dominant format is "
                                   f"{dom_name} ({share:.0%})"))
        if casings is None:
            return out
        short = np.flatnonzero(casings >= 0)
        # casing is judged over distinct labels, so one huge class does not decide it alone
        _, first = np.unique(keys[short], return_index=True)
        distinct = casings[short[first]]
        if distinct.size < 3:
            return out
        dom_case, case_name, case_share = _dominant_code(np.bincount(distinct, minlength=len(CASINGS)), CASINGS,
                                                         min_share)
        if case_name is not None:
            for i in short[casings[short] != dom_case].tolist():
                out.append(Verdict(i, False, "format_inconsistent", 1.0 - case_share,
                                   f"label casing is {CASINGS[casings[i]]}; the dataset's dominant casing is "
                                   f"{case_name} ({case_share:.0%} of distinct labels)"))
        return out
