"""Task metrics. Entity-level micro precision/recall/F1 with multiset matching on (name, type)."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

Entity = tuple[str, str]


def entity_counts(pred: Sequence[Entity], gold: Sequence[Entity]) -> tuple[int, int, int]:
    """(true positives, predicted, gold) for one example; a repeated entity must be predicted as often."""
    tp = sum((Counter(pred) & Counter(gold)).values())
    return tp, len(pred), len(gold)


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    """Micro P/R/F1. With nothing predicted and nothing to find, the prediction is perfect (1.0)."""
    p = tp / n_pred if n_pred else (1.0 if n_gold == 0 else 0.0)
    r = tp / n_gold if n_gold else (1.0 if n_pred == 0 else 0.0)
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def entity_f1(preds: Iterable[Sequence[Entity]], golds: Iterable[Sequence[Entity]]) -> dict[str, float]:
    tp = n_pred = n_gold = 0
    for p, g in zip(preds, golds, strict=True):
        a, b, c = entity_counts(p, g)
        tp, n_pred, n_gold = tp + a, n_pred + b, n_gold + c
    return {**prf(tp, n_pred, n_gold), "tp": tp, "predicted": n_pred, "gold": n_gold}
