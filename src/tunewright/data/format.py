"""Format consistency: required fields, the declared label set, and answers whose format differs from the
dataset's dominant one (JSON vs text, list syntax, label casing).

Role order and empty turns are the ``schema`` check (checks.py). The dominant format is only enforced when
it is really dominant (``audit.format_min_share`` of the answers), so a dataset that mixes formats on
purpose is not flagged wholesale.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from tunewright.data.checks import CheckContext, Verdict, register_check
from tunewright.data.sufficiency import dataset_classes
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


def _dominant(values: list[str], min_share: float) -> tuple[str | None, float]:
    if not values:
        return None, 0.0
    value, n = Counter(values).most_common(1)[0]
    share = n / len(values)
    return (value, share) if share >= min_share else (None, share)


@register_check("format")
class FormatCheck:
    """missing_field, label_not_in_set, format_inconsistent (with the dominant format in the detail)."""

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        a = ctx.settings()
        out: list[Verdict] = []
        labels = set(ctx.labels)
        folded = {lab.casefold(): lab for lab in ctx.labels}
        answers = [ex.answer().strip() for ex in examples]
        for i, ex in enumerate(examples):
            missing = [f for f in a.required_fields if ex.meta.get(f) in (None, "")]
            if missing:
                out.append(Verdict(i, False, "missing_field", 1.0, f"missing required field(s) {missing}"))
            if labels and answers[i] not in labels:
                hint = folded.get(answers[i].casefold())
                extra = f" (did you mean {hint!r}?)" if hint else ""
                out.append(Verdict(i, False, "label_not_in_set", 1.0,
                                   f"label {answers[i][:80]!r} is not one of {sorted(labels)[:10]}{extra}"))
        # label casing only means something when the answers are labels
        is_labels = dataset_classes(examples, a, declared=bool(ctx.labels)) is not None
        out += self._consistency(answers, ctx, a.format_min_share, a.label_noise.max_answer_words if is_labels else 0)
        return out

    def _consistency(self, answers: list[str], ctx: CheckContext, min_share: float, short_words: int) -> list[Verdict]:
        out = []
        structures = [structure_of(s) for s in answers]
        dom, share = _dominant(structures, min_share)
        # A frequent exact answer ("No entities found") is a class of its own, not a format slip.
        counts = Counter(answers)
        frequent = {s for s, n in counts.items() if n >= max(3, 0.01 * len(answers))}
        if dom is not None:
            for i, st in enumerate(structures):
                if st != dom and answers[i] not in frequent:
                    out.append(Verdict(i, False, "format_inconsistent", 1.0 - share,
                                       f"answer is {st}; the dataset's dominant format is {dom} ({share:.0%})"))
        short = [i for i, s in enumerate(answers) if structures[i] == "text" and 0 < len(s.split()) <= short_words
                 and any(c.isalpha() for c in s)]
        casings = {i: casing_of(answers[i]) for i in short}
        # casing is judged over distinct labels, so one huge class does not decide it alone
        distinct = {answers[i]: casings[i] for i in short}
        dom_case, case_share = _dominant(list(distinct.values()), min_share)
        if dom_case is not None and len(distinct) >= 3:
            for i in short:
                if casings[i] != dom_case:
                    out.append(Verdict(i, False, "format_inconsistent", 1.0 - case_share,
                                       f"label casing is {casings[i]}; the dataset's dominant casing is {dom_case} "
                                       f"({case_share:.0%} of distinct labels)"))
        return out
