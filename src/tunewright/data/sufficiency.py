"""Sufficiency: is there enough clean data, per class and per task, to fine-tune on?

Counts are taken on the clean set, i.e. after deduplication and quarantine, which is the effective size a
run trains on. A class is the label (text+label records) or a short answer (``label_noise.max_answer_words``
words) when the answers look like classes; a task is ``meta['task']`` when records carry it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tunewright.data.columns import Int64Parts
from tunewright.records import Example


def class_of(ex: Example, max_words: int) -> str | None:
    if ex.label is not None:
        return ex.label
    a = ex.answer().strip()
    return a if 0 < len(a.split()) <= max_words else None


class ClassTally:
    """The class of every example (``class_of``), as int codes grown batch by batch: what the class-aware
    checks keep instead of the examples. Code -1 is "no class"."""

    def __init__(self, max_words: int) -> None:
        self.max_words = max_words
        self.codes = Int64Parts()
        self.names: list[str] = []
        self._code: dict[str, int] = {}
        self.all_labeled = True
        self.n = 0

    def add(self, batch: list[Example]) -> list[int]:
        codes = []
        for ex in batch:
            self.all_labeled &= ex.label is not None
            c = class_of(ex, self.max_words)
            if c is None:
                codes.append(-1)
                continue
            k = self._code.get(c)
            if k is None:
                k = self._code[c] = len(self.names)
                self.names.append(c)
            codes.append(k)
        self.codes.add(codes)
        self.n += len(batch)
        return codes

    def counts(self) -> Counter:
        codes = self.codes.array()
        n = np.bincount(codes[codes >= 0], minlength=len(self.names))
        return Counter({self.names[k]: int(v) for k, v in enumerate(n) if v})

    def is_classification(self, audit_cfg, declared: bool = False) -> bool:
        """Whether the dataset is a classification one: the records carry labels or a label set is declared;
        otherwise the answers are short, few (at most ``label_noise.max_classes`` distinct, and at most one
        per 10 examples) and cover 90% of the examples. Entity lists or first words of sentences are short
        answers too, but there are many of them."""
        if not self.n:
            return False
        if declared or self.all_labeled:
            return True
        counts = self.counts()
        if not counts or len(counts) > audit_cfg.label_noise.max_classes or len(counts) > 0.1 * self.n:
            return False
        return sum(counts.values()) >= 0.9 * self.n


def assess_sufficiency(clean: list[Example], input_records: int, audit_cfg, declared: bool = False) -> dict:
    tally = ClassTally(audit_cfg.label_noise.max_answer_words)
    tally.add(clean)
    tasks = Counter(str(ex.meta["task"]) for ex in clean if "task" in ex.meta)
    return sufficiency_summary(tally, tasks, input_records, audit_cfg, declared)


def sufficiency_summary(tally: ClassTally, tasks: Counter, input_records: int, audit_cfg, declared: bool = False) -> dict:
    """Sufficiency of the clean set, from its class tally and its count of examples per ``meta['task']``."""
    s = audit_cfg.sufficiency
    n = tally.n
    out: dict = {"effective_examples": n, "input_records": input_records, "warnings": []}
    if n < s.min_examples:
        out["warnings"].append(f"only {n} usable examples after curation (min {s.min_examples})")
    if tasks:
        out["per_task"] = dict(tasks.most_common())
        for t, k in tasks.items():
            if k < s.min_per_class:
                out["warnings"].append(f"task {t!r}: {k} examples (min {s.min_per_class})")
    counts = tally.counts() if tally.is_classification(audit_cfg, declared) else Counter()
    if counts:
        out["per_class"] = dict(counts.most_common())
        hi, lo = max(counts.values()), min(counts.values())
        out["imbalance"] = round(hi / lo, 2)
        for c, k in counts.items():
            if k < s.min_per_class:
                out["warnings"].append(f"class {c!r}: {k} examples (min {s.min_per_class})")
        if hi / lo > s.max_imbalance:
            out["warnings"].append(f"class imbalance {hi / lo:.1f}x (max {s.max_imbalance:g}x)")
    return out
