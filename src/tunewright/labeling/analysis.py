"""Per-function analysis of a vote matrix (the Snorkel LF summary, computed on plain counts).

For function j over n items:
  coverage  = share of items where j voted
  overlap   = share of items where j and at least one other function voted
  conflict  = share of items where j voted and another function voted a different class
  accuracy  = share of j's votes equal to the gold class, over items that have gold (None without gold)
"""

from __future__ import annotations

import numpy as np


def function_summary(L: np.ndarray, functions: list[str], gold: np.ndarray | None = None) -> list[dict]:
    """One row per function; ``gold`` (n_items,) holds class indices, -1 where no gold label exists."""
    n, m = L.shape
    voted = L >= 0  # (n, m)
    n_voting = voted.sum(axis=1)  # (n,)
    rows = []
    for j, name in enumerate(functions):
        vj = voted[:, j]
        others = n_voting - vj  # how many other functions voted on each item
        disagree = np.zeros(n, dtype=bool)
        for k in range(m):
            if k != j:
                disagree |= voted[:, k] & (L[:, k] != L[:, j])
        row = {
            "function": name,
            "votes": int(vj.sum()),
            "coverage": float(vj.mean()) if n else 0.0,
            "overlap": float((vj & (others > 0)).mean()) if n else 0.0,
            "conflict": float((vj & disagree).mean()) if n else 0.0,
            "accuracy": None,
            "gold_votes": 0,
        }
        if gold is not None:
            has = vj & (gold >= 0)
            row["gold_votes"] = int(has.sum())
            if has.any():
                row["accuracy"] = float((L[has, j] == gold[has]).mean())
        rows.append(row)
    return rows


def disagreement(L: np.ndarray) -> np.ndarray:
    """Per item, the share of non-abstaining votes that differ from the item's most common vote (0 if < 2 votes)."""
    out = np.zeros(L.shape[0])
    for i, row in enumerate(L):
        v = row[row >= 0]
        if len(v) >= 2:
            out[i] = 1.0 - np.bincount(v).max() / len(v)
    return out


def uncertainty(P: np.ndarray) -> np.ndarray:
    """Normalised entropy of each item's label distribution: 0 = certain, 1 = uniform."""
    k = P.shape[1]
    if k < 2:
        return np.zeros(P.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(np.where(P > 0, P * np.log(P), 0.0), axis=1)
    return h / np.log(k)
