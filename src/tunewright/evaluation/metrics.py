"""Task metrics, written on plain counts so that the bootstrap can resample them (evaluation/stats.py).

Each agrees with a reference implementation in the tests: scikit-learn (classification), seqeval (entity
spans), rouge-score (ROUGE-L), SQuAD's token F1.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from tunewright.registry import Registry

Entity = tuple[str, str]

# Answer-vs-reference metrics by name, f(prediction, reference) -> [0, 1], for generation tasks (task.metric)
# and general generation tasks (general.tasks[].metric). ``default`` ones are reported beside every headline.
METRICS = Registry("metric", "task.metric", modules=["tunewright.evaluation.metrics"])


# -- extraction -------------------------------------------------------------------------------------------
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


def entity_f1_by_type(preds: Sequence[Sequence[Entity]], golds: Sequence[Sequence[Entity]]) -> dict[str, dict]:
    """Micro P/R/F1 per entity type (support = gold count of that type)."""
    types = sorted({t for xs in [*preds, *golds] for _, t in xs})
    out = {}
    for t in types:
        m = entity_f1([[e for e in p if e[1] == t] for p in preds], [[e for e in g if e[1] == t] for g in golds])
        out[t] = {"precision": m["precision"], "recall": m["recall"], "f1": m["f1"], "support": m["gold"]}
    return out


def normalize_name(name: str) -> str:
    """Lenient matching: Unicode NFKC, case-folded, punctuation dropped, whitespace collapsed."""
    s = unicodedata.normalize("NFKC", name).casefold()
    s = "".join(" " if unicodedata.category(c).startswith("P") else c for c in s)
    return " ".join(s.split())


def lenient(entities: Sequence[Entity]) -> list[Entity]:
    return [(normalize_name(n), t) for n, t in entities]


# -- classification ---------------------------------------------------------------------------------------
def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """(L, L) counts, rows = true label, columns = predicted; predictions outside labels are not counted."""
    index = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            m[index[t], index[p]] += 1
    return m


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro and micro F1, per-class precision/recall/F1 (zero_division=0, as scikit-learn)."""
    y_true, y_pred = list(y_true), list(y_pred)
    n = len(y_true)
    per = {}
    tp_all = fp_all = fn_all = 0
    for lab in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == lab and p == lab)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != lab and p == lab)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == lab and p != lab)
        p_ = tp / (tp + fp) if tp + fp else 0.0
        r_ = tp / (tp + fn) if tp + fn else 0.0
        f_ = 2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0
        per[lab] = {"precision": p_, "recall": r_, "f1": f_, "support": tp + fn}
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    micro_p = tp_all / (tp_all + fp_all) if tp_all + fp_all else 0.0
    micro_r = tp_all / (tp_all + fn_all) if tp_all + fn_all else 0.0
    return {
        "accuracy": sum(t == p for t, p in zip(y_true, y_pred)) / n if n else 0.0,
        "macro_f1": float(np.mean([v["f1"] for v in per.values()])) if per else 0.0,
        "micro_f1": 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0,
        "per_class": per,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels).tolist(),
        "labels": list(labels),
    }


# -- generation -------------------------------------------------------------------------------------------
def normalize_answer(s: str) -> str:
    """SQuAD normalization: lower case, no punctuation, no articles, single spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


@METRICS.register("exact_match", default=True)
def exact_match(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


@METRICS.register("token_f1", default=True)
def token_f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _rouge_tokens(s: str) -> list[str]:
    # rouge-score's default tokenizer: lower case, every non [a-z0-9] character is a separator
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).split()


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@METRICS.register("rouge_l", default=True)
def rouge_l(pred: str, gold: str) -> float:
    """ROUGE-L F-measure (LCS over tokens), as rouge-score's ``rougeL`` without stemming."""
    p, g = _rouge_tokens(pred), _rouge_tokens(gold)
    if not p or not g:
        return 0.0
    lcs = _lcs(p, g)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(g)
    return 2 * precision * recall / (precision + recall)


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?")


def numbers_in(s: str) -> list[str]:
    """The numbers of a text, normalised: thousands separators dropped, trailing decimal zeros cut
    ('1,250.00' -> '1250', '4.50%' -> '4.5%')."""
    out = []
    for m in _NUMBER.findall(s):
        pct = m.endswith("%")
        n = m.rstrip("%").replace(",", "").lstrip("+")
        if "." in n:
            n = n.rstrip("0").rstrip(".")
        out.append(n + ("%" if pct else ""))
    return out


@METRICS.register("number_f1")
def number_f1(pred: str, gold: str) -> float:
    """F1 over the multiset of numbers (amounts, rates, dates' digits) in prediction and reference: for answers
    where the figures are what matters, whatever the wording. Both without numbers: 1.0."""
    p, g = Counter(numbers_in(pred)), Counter(numbers_in(gold))
    if not p or not g:
        return float(not p and not g)
    common = sum((p & g).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


# -- multiple choice --------------------------------------------------------------------------------------
def choice_accuracy(logprobs: Sequence[Sequence[float]], answers: Sequence[int],
                    lengths: Sequence[Sequence[int]] | None = None) -> float:
    """Accuracy of argmax log-likelihood; with ``lengths`` the length-normalized variant (logprob / length)."""
    correct = 0
    for i, (lp, a) in enumerate(zip(logprobs, answers, strict=True)):
        scores = np.asarray(lp, float)
        if lengths is not None:
            scores = scores / np.maximum(np.asarray(lengths[i], float), 1)
        correct += int(int(np.argmax(scores)) == a)
    return correct / len(answers) if answers else 0.0

