"""The review queue: examples ranked by the value of a human look, cut to a budget.

value = w_uncertainty * label-model uncertainty (normalised entropy, 0..1)
      + w_disagreement * share of function votes against the majority (0..1)
      + w_audit * (1 if the audit's label-noise check flagged the example)
      + w_reviewers * share of reviewer judgments against the majority (0..1)
      + w_no_votes * (1 if no function voted at all: the machine has nothing to offer)

Each term is kept with the item, so the review page can say why it was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tunewright.errors import InputError

DEFAULT_WEIGHTS = {"uncertainty": 1.0, "disagreement": 1.0, "audit": 1.0, "reviewers": 1.0, "no_votes": 0.5}


@dataclass
class QueueItem:
    index: int  # example index
    value: float
    terms: dict[str, float] = field(default_factory=dict)
    audit_reasons: list[str] = field(default_factory=list)


def rank_for_review(uncertainty: np.ndarray, disagreement: np.ndarray, no_votes: np.ndarray,
                    audit_reasons: dict[int, list[str]] | None = None,
                    reviewer_disagreement: dict[int, float] | None = None,
                    budget: int | None = None, weights: dict[str, float] | None = None) -> list[QueueItem]:
    """Per-example arrays of length n; returns the ``budget`` most valuable items, best first (ties: by index)."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    unknown = set(w) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise InputError(f"review.queue_weights: unknown terms {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}")
    audit_reasons = audit_reasons or {}
    reviewer_disagreement = reviewer_disagreement or {}
    items = []
    for i in range(len(uncertainty)):
        terms = {"uncertainty": float(uncertainty[i]), "disagreement": float(disagreement[i]),
                 "audit": 1.0 if audit_reasons.get(i) else 0.0, "reviewers": float(reviewer_disagreement.get(i, 0.0)),
                 "no_votes": 1.0 if no_votes[i] else 0.0}
        value = sum(w[k] * v for k, v in terms.items())
        items.append(QueueItem(i, value, terms, list(audit_reasons.get(i, []))))
    items.sort(key=lambda q: (-q.value, q.index))
    return items if budget is None else items[:budget]


def per_example(values: np.ndarray, owners: list[int], n: int, reduce=np.max) -> np.ndarray:
    """Reduce per-item values (span candidates) to per-example values; examples with no item get 0."""
    out = np.zeros(n)
    groups: dict[int, list[float]] = {}
    for v, i in zip(values, owners):
        groups.setdefault(i, []).append(float(v))
    for i, vs in groups.items():
        out[i] = reduce(vs)
    return out
