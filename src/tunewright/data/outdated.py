"""Outdated content: rules declared in config (``audit.outdated``), each flagging with its own name.

A rule is a regular expression over the example's text, a meta date field older than a cutoff, or a map
of superseded references to their replacements (a repealed regulation, a renamed API, an old rate).
"""

from __future__ import annotations

import re
from datetime import date

from tunewright.data.checks import CheckContext, TextCheck, Verdict, register_check
from tunewright.records import Example
from tunewright.errors import InputError


def _parse_date(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


class CompiledRule:
    def __init__(self, rule):
        self.name = rule.name
        self.pattern = re.compile(rule.pattern) if rule.pattern else None
        self.date_field = rule.date_field
        self.before = _parse_date(rule.before) if rule.before else None
        if rule.date_field and self.before is None:
            raise InputError(f"audit.outdated.{rule.name}: 'before' must be a YYYY-MM-DD date with date_field")
        self.superseded = dict(rule.superseded)
        self.refs = (re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k) for k in sorted(self.superseded, key=len,
                                                                                       reverse=True)) + r")(?!\w)")
                     if self.superseded else None)

    def why(self, ex: Example, texts: list[str]) -> str:
        """Why this rule flags the example, or ''."""
        for text in texts:
            if self.pattern is not None:
                m = self.pattern.search(text)
                if m:
                    return f"matches {m.group()[:60]!r}"
            if self.refs is not None:
                m = self.refs.search(text)
                if m:
                    return f"{m.group()!r} is superseded by {self.superseded[m.group()]!r}"
        if self.date_field:
            value = ex.meta.get(self.date_field)
            d = _parse_date(value) if value is not None else None
            if value is not None and d is None:
                return f"{self.date_field}={value!r} is not a date"
            if d is not None and d < self.before:
                return f"{self.date_field} {d} is before {self.before}"
        return ""


def replace_superseded(text: str, rules) -> str:
    """``text`` with every superseded reference replaced by its replacement (used by curate)."""
    for r in rules:
        if r.refs is not None:
            text = r.refs.sub(lambda m, r=r: r.superseded[m.group()], text)
    return text


@register_check("outdated", default=True, order=11)
class OutdatedCheck(TextCheck):
    """One verdict per rule that matches (reason 'outdated:<rule name>')."""

    def prepare(self, ctx: CheckContext):
        return [CompiledRule(r) for r in ctx.settings().outdated] or None  # no rules: nothing to check

    def judge(self, index: int, ex: Example, texts: list[str], rules) -> list[Verdict]:
        return [Verdict(index, False, f"outdated:{r.name}", 1.0, why) for r in rules if (why := r.why(ex, texts))]
