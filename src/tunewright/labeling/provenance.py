"""Training labels with their provenance: which examples train on a label-model label, a reviewed label or the
data's own (gold) answer, and which are held out.

Every training example carries ``meta.labeling``:

- ``{"source": "review", "reviewers": [...], "at": ..., "agreement": ..., "label_model_confidence": ...,
  "votes": {...}}`` where reviewers judged it (their current judgments; majority, ties to the latest);
- ``{"source": "gold"}`` where the data came with an answer and ``labeling.keep_gold`` is on;
- ``{"source": "label_model", "confidence": p, "votes": {candidate: {function: vote}}}`` otherwise; one whose
  confidence is under ``labeling.min_confidence`` is dropped, with its reason, into the labeling quarantine.

When the project names no test files, the test set is drawn from examples that carry their own answer (gold),
so the tuned model is scored on answers no labeling function or label model produced; those examples never
train. Without any gold the ordinary split applies and the report says the test labels are programmatic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from tunewright.records import Example

SOURCES = ("label_model", "review", "gold")


def has_answer(ex: Example) -> bool:
    """The example came with an answer: a final assistant message, a completion or a label (not blank)."""
    if ex.messages is not None:
        return bool(ex.messages) and ex.messages[-1].get("role") == "assistant" and bool(
            str(ex.messages[-1].get("content", "")).strip())
    if ex.prompt is not None:
        return bool((ex.completion or "").strip())
    return bool((ex.label or "").strip())


@dataclass
class TrainingLabels:
    train: list[Example]  # what the audit, split and training read
    test: list[Example]  # gold examples held back to score the tuned model ([] when the split carves the test)
    dropped: list[dict]  # quarantine rows {id, source, reasons, details} for examples not used
    counts: dict[str, int] = field(default_factory=dict)


def training_labels(cfg, examples: list[Example], labels: list[Example], votes: dict[str, dict],
                    reviewed: dict[str, dict], hold_out_test: bool) -> TrainingLabels:
    """``labels``: the label stage's relabelled examples, aligned with ``examples``; ``votes``: example id ->
    {candidate: {function: vote}}; ``reviewed``: example id -> review.service.final_labels entry."""
    from tunewright.labeling.run import relabel

    lab = cfg.labeling
    # the test draw does not depend on the reviews, so it stays the same from one review round to the next
    gold_pool = [i for i, ex in enumerate(examples) if has_answer(ex)]
    test_idx: set[int] = set()
    if hold_out_test and gold_pool:
        n_test = min(len(gold_pool), max(1, int(round(cfg.split.test_fraction * len(examples)))))
        rng = np.random.default_rng(cfg.split.seed)
        test_idx = set(rng.choice(gold_pool, size=n_test, replace=False).tolist())
    train, test, dropped = [], [], []
    for i, (ex, lm) in enumerate(zip(examples, labels, strict=True)):
        lm_meta = lm.meta.get("labeling", {})
        conf = lm_meta.get("confidence")
        if i in test_idx:
            test.append(Example.from_json({**ex.to_json(), "meta": {**ex.meta, "labeling": {"source": "gold",
                                                                                           "held_out": "test"}}}))
            continue
        f = reviewed.get(ex.id)
        if f is not None:
            meta = {"labeling": {"source": "review", "reviewers": f["reviewers"], "at": f.get("at"),
                                 "agreement": f["agreement"], "changed": f["changed"],
                                 "label_model_confidence": conf, "votes": votes.get(ex.id, {})}}
            train.append(relabel(ex, f["label"], meta))
        elif lab.keep_gold and has_answer(ex):
            train.append(Example.from_json({**ex.to_json(), "meta": {**ex.meta, "labeling": {"source": "gold"}}}))
        elif conf is not None and conf < lab.min_confidence:
            dropped.append({"id": ex.id, "source": ex.source, "reasons": ["low_label_confidence"],
                            "details": [f"label-model confidence {conf:.3f} < labeling.min_confidence "
                                        f"{lab.min_confidence}"]})
        else:
            meta = {"labeling": {"source": "label_model", "confidence": conf, "votes": votes.get(ex.id, {})}}
            train.append(_with_meta(lm, meta))
    counts = Counter(e.meta["labeling"]["source"] for e in train)
    return TrainingLabels(train, test, dropped, {**{s: counts.get(s, 0) for s in SOURCES},
                                                 "dropped_low_confidence": len(dropped), "test_gold": len(test)})


def _with_meta(ex: Example, meta: dict) -> Example:
    return Example.from_json({**ex.to_json(), "meta": {**ex.meta, **meta}})


def source_counts(examples: list[Example]) -> dict[str, int]:
    """How many of these examples' labels came from each source (``meta.labeling.source``)."""
    c = Counter((e.meta.get("labeling") or {}).get("source", "unknown") for e in examples)
    return {s: c.get(s, 0) for s in (*SOURCES, *sorted(set(c) - set(SOURCES)))}
