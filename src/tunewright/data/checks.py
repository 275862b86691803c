"""The Check interface: verdicts, the context checks share, per-example, comparing and text checks, the registry.

A check returns one :class:`Verdict` per example it has an opinion on: keep, or flag with a reason and a
score. The audit keeps every verdict, quarantines flagged examples with their reasons and counts reasons
(STYLE.md #3). New checks register by name (STYLE.md #7).

Checks see the data in batches, in input order, so that a million records never sit in memory at once:
``observe(batch, start, ctx)`` returns what can be judged from the batch (indices are global, ``start`` plus
the position in the batch) and keeps the compact state a comparison needs (64-bit keys, MinHash band keys,
class codes); ``finish(ctx)`` returns the verdicts that need every example. A per-example check
(:class:`Check`) only writes ``run`` over a batch; a comparing one (:class:`BatchCheck`) writes ``observe``
and ``finish``, and its ``run(examples, ctx)`` is both over one list; a :class:`TextCheck` only writes
``judge`` of one example's texts.

The registered checks live in their own modules: structure.py (schema, exact and conflicting duplicates),
token_length.py, dedup.py (near duplicates), leakage.py, normalize.py, quality.py, pii.py, outdated.py,
format.py, label_noise.py, semantic.py; the compact columns they keep are in columns.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from tunewright.data.columns import IndexedInts, Sources
from tunewright.records import Example
from tunewright.registry import Registry


@dataclass(slots=True)  # a million-record audit holds hundreds of thousands of these
class Verdict:
    index: int  # position in the examples list (ids are content hashes, so exact copies share one)
    keep: bool
    reason: str = ""
    score: float = 1.0
    detail: str = ""
    spans: list[dict[str, Any]] = field(default_factory=list)  # where in the example: {"turn", "start", "end", ...}
    cluster: int | None = None  # near-duplicate cluster id (the report shows a cluster's members side by side)


@dataclass
class CheckContext:
    """What checks may need beyond the examples: the chat instruction, a tokenizer, thresholds."""

    system_prompt: str | None = None
    tokenizer: Any = None
    max_seq_tokens: int = 1024
    drop_exact_duplicates: bool = True
    drop_conflicts: bool = True
    token_lengths: IndexedInts = field(default_factory=IndexedInts)  # tokens by index (token_length)
    audit: Any = None  # the config's AuditSection (thresholds of the newer checks); None means its defaults
    labels: list[str] = field(default_factory=list)  # the declared label set (task.labels), empty when none
    workers: int = 1
    artifacts: dict[str, Any] = field(default_factory=dict)  # extra outputs a check hands to the audit
    config: Any = None  # the whole Config, for checks with their own section (near_duplicate, leakage)
    test_examples: list[Example] = field(default_factory=list)  # held-out test files, for leakage
    report: dict[str, Any] = field(default_factory=dict)  # check name -> counts merged into audit.json
    sources: Sources = field(default_factory=Sources)  # "file:line" of every example seen, by index

    def settings(self):
        """The AuditSection in use (defaults when the context was built without a config)."""
        if self.audit is None:
            from tunewright.data.settings import AuditSection

            self.audit = AuditSection()
        return self.audit

    def see(self, batch: list[Example], start: int) -> None:
        """Record the sources of a batch (once, whoever calls first): checks name other examples by them."""
        if len(self.sources) == start:
            self.sources.extend(ex.source or f"example #{start + k}" for k, ex in enumerate(batch))


class Check:
    """A check that judges each example on its own: ``run`` over a batch gives its verdicts on that batch.
    ``poolable`` ones may run in worker processes (not those holding a tokenizer or a thread pool)."""

    name = ""
    per_example = True
    poolable = True

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        raise NotImplementedError

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        out = self.run(batch, ctx)
        for v in out:
            v.index += start
        return out

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        return []

    def revisit(self, batch: list[Example], start: int, ctx: CheckContext) -> None:
        """The audit's second pass over the data (after ``finish``): for report details that need the text
        of a few examples chosen in ``finish``, such as the near-duplicate clusters shown side by side."""


class BatchCheck(Check):
    """A check that compares examples: ``observe`` keeps what it needs per batch, ``finish`` judges."""

    per_example = False
    poolable = False

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        raise NotImplementedError

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        """Both steps over one list (a fresh instance per call: the state is per audit)."""
        ctx.see(examples, 0)
        out = self.observe(examples, 0, ctx) + self.finish(ctx)
        self.revisit(examples, 0, ctx)
        return out


def example_texts(ex: Example) -> list[str]:
    """Every text of the example as written (system messages included), in order: turn ``t`` of a verdict's
    spans is position ``t`` here."""
    if ex.messages is not None:
        return [m["content"] for m in ex.messages]
    if ex.prompt is not None:
        return [ex.prompt, ex.completion or ""]
    return [ex.text or "", ex.label or ""]


class TextCheck(Check):
    """A per-example check that judges an example from its texts: subclasses write ``judge`` (and
    ``prepare`` when they compile settings once per batch). ``memo(f)`` caches ``f(text)`` for the batch, so a
    system prompt shared by every example is looked at once, not once per example."""

    def prepare(self, ctx: CheckContext) -> Any:
        """What ``judge`` needs from the settings, built once per batch; ``None`` skips the batch (no rules)."""
        return ctx.settings()

    def judge(self, index: int, ex: Example, texts: list[str], state: Any) -> Iterable[Verdict]:
        raise NotImplementedError

    def memo(self, f: Callable[[str], Any]) -> Callable[[str], Any]:
        cache: dict[str, Any] = {}

        def cached(text: str):
            hit = cache.get(text)
            if hit is None:
                hit = cache[text] = f(text)
            return hit

        return cached

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        state = self.prepare(ctx)
        if state is None:
            return []
        out: list[Verdict] = []
        for i, ex in enumerate(examples):
            out.extend(self.judge(i, ex, example_texts(ex), state))
        return out


# Every module of tunewright.data may register checks; a new check is a class in one module of that package.
CHECKS = Registry("check", "audit.checks", packages=["tunewright.data"])


def register_check(name: str, *, default: bool = False, order: float | None = None):
    """Register a Check class under ``name`` (which also becomes its ``name`` attribute). ``default`` checks
    run when ``audit.checks`` is not set, in ``order``."""

    def deco(cls):
        cls.name = name
        return CHECKS.register(name, default=default, order=order)(cls)

    return deco
