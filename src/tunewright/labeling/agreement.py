"""Agreement between reviewers: Cohen's kappa for two, Krippendorff's alpha for any number, per-label confusion.

Kappa = (p_o - p_e) / (1 - p_e) with p_e from each rater's own marginals (Cohen 1960); it agrees with
scikit-learn's ``cohen_kappa_score`` in the tests. Alpha comes from the ``krippendorff`` package (nominal
level), which handles missing ratings (not every reviewer sees every item).
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """Kappa of two raters on the same items; None when fewer than one item or both raters are constant alike."""
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: rater lists differ in length ({len(a)} vs {len(b)})")
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[c] * cb[c] for c in set(ca) | set(cb)) / (n * n)
    if pe == 1.0:
        return None  # both raters used one and the same label throughout: kappa is undefined
    return (po - pe) / (1 - pe)


def krippendorff_alpha(ratings: dict[str, dict[str, str]]) -> float | None:
    """Nominal alpha; ``ratings[reviewer][item] = label``. None when fewer than two ratings share an item."""
    import krippendorff

    reviewers = sorted(ratings)
    items = sorted({i for r in ratings.values() for i in r})
    labels = sorted({v for r in ratings.values() for v in r.values()})
    code = {lab: k for k, lab in enumerate(labels)}
    data = np.full((len(reviewers), len(items)), np.nan)
    col = {it: k for k, it in enumerate(items)}
    for r, rev in enumerate(reviewers):
        for it, lab in ratings[rev].items():
            data[r, col[it]] = code[lab]
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    if pairable.sum() == 0 or len(labels) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=data[:, pairable], level_of_measurement="nominal"))


def confusion(a: list[str], b: list[str]) -> dict[str, dict[str, int]]:
    """counts[label_a][label_b] over paired items: where two reviewers (or reviewer and gold) part ways."""
    out: dict[str, dict[str, int]] = {}
    for x, y in zip(a, b, strict=True):
        out.setdefault(x, {}).setdefault(y, 0)
        out[x][y] += 1
    return out


def agreement_report(ratings: dict[str, dict[str, str]], gold: dict[str, str] | None = None) -> dict:
    """Pairwise kappa for every reviewer pair with shared items, alpha over all, confusion, accuracy on gold."""
    reviewers = sorted(ratings)
    pairs = []
    for i, r1 in enumerate(reviewers):
        for r2 in reviewers[i + 1:]:
            shared = sorted(set(ratings[r1]) & set(ratings[r2]))
            if not shared:
                continue
            a = [ratings[r1][s] for s in shared]
            b = [ratings[r2][s] for s in shared]
            pairs.append({"reviewers": [r1, r2], "items": len(shared), "kappa": cohen_kappa(a, b),
                          "percent_agreement": sum(x == y for x, y in zip(a, b)) / len(shared),
                          "confusion": confusion(a, b)})
    accuracy = {}
    for r in reviewers:
        on_gold = [it for it in ratings[r] if gold and it in gold]
        if on_gold:
            accuracy[r] = {"gold_items": len(on_gold),
                           "accuracy": sum(ratings[r][it] == gold[it] for it in on_gold) / len(on_gold)}
    return {"reviewers": reviewers, "pairs": pairs, "krippendorff_alpha": krippendorff_alpha(ratings),
            "gold_accuracy": accuracy}
