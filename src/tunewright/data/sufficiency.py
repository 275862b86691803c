"""Sufficiency: is there enough clean data, per class and per task, to fine-tune on?

Counts are taken on the clean set, i.e. after deduplication and quarantine, which is the effective size a
run trains on. A class is the label (text+label records) or a short answer (``label_noise.max_answer_words``
words) when the answers look like classes; a task is ``meta['task']`` when records carry it.
"""

from __future__ import annotations

from collections import Counter

from tunewright.records import Example


def class_of(ex: Example, max_words: int) -> str | None:
    if ex.label is not None:
        return ex.label
    a = ex.answer().strip()
    return a if 0 < len(a.split()) <= max_words else None


def dataset_classes(examples: list[Example], audit_cfg, declared: bool = False) -> list[str | None] | None:
    """The class of each example when the dataset is a classification one, else None.

    It is when the records carry labels or a label set is declared; otherwise when the answers are short,
    few (at most ``label_noise.max_classes`` distinct, and at most one per 10 examples) and cover 90% of the
    examples. Entity lists or first words of sentences are short answers too, but there are many of them.
    """
    if not examples:
        return None
    cfg = audit_cfg.label_noise
    classes = [class_of(ex, cfg.max_answer_words) for ex in examples]
    if declared or all(ex.label is not None for ex in examples):
        return classes
    counts = Counter(c for c in classes if c is not None)
    if not counts or len(counts) > cfg.max_classes or len(counts) > 0.1 * len(examples):
        return None
    return classes if sum(counts.values()) >= 0.9 * len(examples) else None


def assess_sufficiency(clean: list[Example], input_records: int, audit_cfg, declared: bool = False) -> dict:
    s = audit_cfg.sufficiency
    out: dict = {"effective_examples": len(clean), "input_records": input_records, "warnings": []}
    if len(clean) < s.min_examples:
        out["warnings"].append(f"only {len(clean)} usable examples after curation (min {s.min_examples})")
    tasks = Counter(str(ex.meta["task"]) for ex in clean if "task" in ex.meta)
    if tasks:
        out["per_task"] = dict(tasks.most_common())
        for t, n in tasks.items():
            if n < s.min_per_class:
                out["warnings"].append(f"task {t!r}: {n} examples (min {s.min_per_class})")
    classes = dataset_classes(clean, audit_cfg, declared) or []
    counts = Counter(c for c in classes if c is not None)
    if counts:
        out["per_class"] = dict(counts.most_common())
        hi, lo = max(counts.values()), min(counts.values())
        out["imbalance"] = round(hi / lo, 2)
        for c, n in counts.items():
            if n < s.min_per_class:
                out["warnings"].append(f"class {c!r}: {n} examples (min {s.min_per_class})")
        if hi / lo > s.max_imbalance:
            out["warnings"].append(f"class imbalance {hi / lo:.1f}x (max {s.max_imbalance:g}x)")
    return out
