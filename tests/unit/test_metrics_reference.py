"""Our metrics against the reference implementations on randomized cases."""

import numpy as np
import pytest
from rouge_score import rouge_scorer
from seqeval.metrics import classification_report as seq_report
from seqeval.metrics import f1_score as seq_f1
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from tunewright.evaluation.metrics import (choice_accuracy, classification_metrics, entity_f1, entity_f1_by_type,
                                           exact_match, lenient, rouge_l, token_f1)

SEEDS = range(8)


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = ["neg", "neu", "pos", "rare"]
    y_true = list(rng.choice(labels[:3], size=60))
    y_pred = list(rng.choice(labels, size=60))
    m = classification_metrics(y_true, y_pred, labels)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    assert m["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=0))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, lab in enumerate(labels):
        assert m["per_class"][lab]["precision"] == pytest.approx(p[i])
        assert m["per_class"][lab]["recall"] == pytest.approx(r[i])
        assert m["per_class"][lab]["f1"] == pytest.approx(f[i])
        assert m["per_class"][lab]["support"] == s[i]
    assert m["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()


def _random_bio(rng, n_tokens, types):
    tags, i = ["O"] * n_tokens, 0
    while i < n_tokens:
        if rng.random() < 0.3:
            t, length = types[rng.integers(len(types))], int(rng.integers(1, 4))
            for j in range(i, min(i + length, n_tokens)):
                tags[j] = ("B-" if j == i else "I-") + t
            i += length + 1  # an O after each entity keeps spans unambiguous
        else:
            i += 1
    return tags


def _spans(tags):
    out, start = [], None
    for i, tag in enumerate(tags + ["O"]):
        if start is not None and not tag.startswith("I-"):
            out.append((f"{start}-{i}", tags[start][2:]))
            start = None
        if tag.startswith("B-"):
            start = i
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_entity_f1_matches_seqeval(seed):
    rng = np.random.default_rng(seed)
    types = ["PER", "ORG", "LOC"]
    gold = [_random_bio(rng, 20, types) for _ in range(25)]
    pred = [g if rng.random() < 0.4 else _random_bio(rng, 20, types) for g in gold]
    ours = entity_f1([_spans(p) for p in pred], [_spans(g) for g in gold])
    assert ours["f1"] == pytest.approx(seq_f1(gold, pred))
    by_type = entity_f1_by_type([_spans(p) for p in pred], [_spans(g) for g in gold])
    ref = seq_report(gold, pred, output_dict=True, zero_division=0)
    for t in types:
        if t in ref and ref[t]["support"]:
            assert by_type[t]["f1"] == pytest.approx(ref[t]["f1-score"])
            assert by_type[t]["support"] == ref[t]["support"]


def test_lenient_matching():
    pred = [("Silicon Valley Bank,", "ORGANIZATION"), ("the  BORROWER", "PERSON")]
    gold = [("SILICON VALLEY BANK", "ORGANIZATION"), ("The Borrower", "PERSON")]
    assert entity_f1([pred], [gold])["f1"] == 0.0
    assert entity_f1([lenient(pred)], [lenient(gold)])["f1"] == 1.0


WORDS = "the bank loan shall be repaid by borrower on demand interest rate of 5 % per annum , and".split()


@pytest.mark.parametrize("seed", SEEDS)
def test_rouge_l_matches_rouge_score(seed):
    rng = np.random.default_rng(seed)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for _ in range(20):
        a = " ".join(rng.choice(WORDS, size=rng.integers(1, 15)))
        b = " ".join(rng.choice(WORDS, size=rng.integers(1, 15)))
        assert rouge_l(a, b) == pytest.approx(scorer.score(b, a)["rougeL"].fmeasure)


def test_squad_exact_match_and_token_f1():
    assert exact_match("The Bank.", "bank") == 1.0
    assert exact_match("Bank of Ohio", "bank") == 0.0
    assert token_f1("the bank of ohio", "bank ohio") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0


def test_choice_accuracy_and_length_normalized():
    logprobs = [[-4.0, -6.0], [-10.0, -9.0]]
    lengths = [[2, 6], [10, 3]]
    assert choice_accuracy(logprobs, [0, 1]) == 1.0
    # per-token: [-2, -1] picks 1 (wrong), [-1, -3] picks 0 (wrong)
    assert choice_accuracy(logprobs, [0, 1], lengths) == 0.0
