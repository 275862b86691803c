"""Label models: turn a vote matrix into probabilistic labels with a confidence.

All take ``L`` (n_items, n_functions) of class indices with -1 = abstain and return probabilities
(n_items, n_classes). ``majority`` is the baseline; ``one_coin_dawid_skene`` (crowd-kit) is the default: on
the planted test of benchmarks/label_model it matched or beat snorkel's LabelModel and full Dawid-Skene,
needs no torch training loop, and crowd-kit is maintained. For entities, ``span`` (is-entity x which-type, see
:func:`span_label_model`) is the default of extraction tasks (``labeling.label_model: auto``). Full ``dawid_skene`` collapses on span candidates
(ner_finance: entity F1 0.0), where most functions only ever vote one class. ``snorkel`` stays available when the package is installed (not a dependency:
it pulls tensorboard). Items on which every function abstained get the class prior of the votes.
"""

from __future__ import annotations

import warnings

import numpy as np

from tunewright.registry import Registry
from tunewright.errors import MissingDependency

LABEL_MODELS = Registry("label model", "labeling.label_model")


def _prior(L: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(L[L >= 0], minlength=k).astype(float) + 1.0  # add-one: no class gets probability 0
    return counts / counts.sum()


@LABEL_MODELS.register("majority")
def majority_vote(L: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Vote shares per item; ties stay ties (argmax then takes the first class), no votes -> prior."""
    n = L.shape[0]
    P = np.zeros((n, k))
    for c in range(k):
        P[:, c] = (L == c).sum(axis=1)
    tot = P.sum(axis=1, keepdims=True)
    prior = _prior(L, k)
    return np.where(tot > 0, P / np.maximum(tot, 1), prior)


def _crowdkit(model, L: np.ndarray, k: int) -> np.ndarray:
    """Run a crowd-kit aggregator with functions as workers and items as tasks; fill the rows it never saw."""
    import pandas as pd

    rows, cols = np.nonzero(L >= 0)
    P = np.tile(_prior(L, k), (L.shape[0], 1))
    if len(rows) == 0:
        return P
    df = pd.DataFrame({"task": rows, "worker": cols, "label": L[rows, cols]})
    with warnings.catch_warnings():  # crowd-kit 1.4 trips pandas 3 deprecation warnings, one per iteration
        warnings.simplefilter("ignore", category=Warning)
        proba = model.fit_predict_proba(df)
    for c in proba.columns:
        P[proba.index.to_numpy(), int(c)] = proba[c].to_numpy()
    seen = np.zeros(L.shape[0], dtype=bool)
    seen[proba.index.to_numpy()] = True
    absent = [c for c in range(k) if c not in set(int(x) for x in proba.columns)]
    P[np.ix_(seen, absent)] = 0.0  # a class nobody voted for stays at 0 on voted items
    return P / P.sum(axis=1, keepdims=True)


@LABEL_MODELS.register("dawid_skene")
def dawid_skene(L: np.ndarray, k: int, seed: int = 0, n_iter: int = 100) -> np.ndarray:
    """Dawid-Skene EM with a full confusion matrix per function (crowd-kit)."""
    from crowdkit.aggregation import DawidSkene

    return _crowdkit(DawidSkene(n_iter=n_iter), L, k)


@LABEL_MODELS.register("one_coin_dawid_skene")
def one_coin_dawid_skene(L: np.ndarray, k: int, seed: int = 0, n_iter: int = 100) -> np.ndarray:
    """Dawid-Skene with one accuracy per function (crowd-kit's OneCoinDawidSkene; Snorkel's symmetric model).

    Identifiable where a function only ever votes one class (most span functions): a full confusion matrix
    is not, and full Dawid-Skene then collapses to one class."""
    from crowdkit.aggregation import OneCoinDawidSkene

    return _crowdkit(OneCoinDawidSkene(n_iter=n_iter), L, k)


def one_coin_em(L: np.ndarray, k: int, prior: np.ndarray, skill_mean: float = 0.8, skill_strength: float = 100.0,
                n_iter: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """One-coin Dawid-Skene by EM with a Beta prior on each function's accuracy and a fixed class prior.

    The Beta(skill_mean * s, (1 - skill_mean) * s) prior is ``s`` pseudo-votes per function. Span functions
    rarely vote on the same candidate, and without it EM is not identifiable there: it makes the function with
    the widest coverage perfect and every other one ~0 accurate. Returns (probabilities, accuracies)."""
    n, m = L.shape
    a, b = skill_mean * skill_strength, (1 - skill_mean) * skill_strength
    P = majority_vote(L, k)
    log_prior = np.log(prior)
    skill = np.full(m, skill_mean)
    rows = [np.nonzero(L[:, j] >= 0)[0] for j in range(m)]
    for _ in range(n_iter):
        for j in range(m):
            skill[j] = (P[rows[j], L[rows[j], j]].sum() + a) / (len(rows[j]) + a + b)
        logp = np.tile(log_prior, (n, 1))
        for j in range(m):
            r = rows[j]
            add = np.full((len(r), k), np.log((1 - skill[j]) / (k - 1)))
            add[np.arange(len(r)), L[r, j]] = np.log(skill[j])
            logp[r] += add
        logp -= logp.max(axis=1, keepdims=True)
        P = np.exp(logp)
        P /= P.sum(axis=1, keepdims=True)
    return P, skill


@LABEL_MODELS.register("span")
def span_label_model(L: np.ndarray, k: int, seed: int = 0, skill_mean: float = 0.8,
                     skill_strength: float = 100.0) -> np.ndarray:
    """For entity candidates (classes = entity types + ``O`` last): "is it an entity?" and "which type?" as two
    one-coin models, P(type) = P(entity) * P(type | entity), P(O) = 1 - P(entity).

    In one model over TYPES + O, the many ``O`` votes and the ``O``-heavy class prior overrule a lone vote for a
    rare type; split in two, a type vote counts as evidence for "entity", an ``O`` vote against, and the type
    is decided only among the functions that gave one. Both stages use :func:`one_coin_em` with flat class
    priors (the vote shares of span functions say what they look for, not how often it occurs). The prior on
    accuracies (mean 0.8, 100 pseudo-votes) was chosen on the first half of ner_finance and checked on the
    second (benchmarks/label_model)."""
    o = k - 1
    n = L.shape[0]
    B = np.where(L < 0, -1, np.where(L == o, 0, 1))
    T = np.where((L >= 0) & (L != o), L, -1)
    pe, _ = one_coin_em(B, 2, np.full(2, 0.5), skill_mean, skill_strength)
    P = np.zeros((n, k))
    P[:, o] = pe[:, 0]
    typed = (T >= 0).any(axis=1)
    if k > 2 and typed.any():
        pt, _ = one_coin_em(T[typed], k - 1, np.full(k - 1, 1 / (k - 1)), skill_mean, skill_strength)
        P[np.ix_(typed, np.arange(o))] = pe[typed, 1:2] * pt
    P[~typed, o] = 1.0  # only O votes (or none): not an entity
    return P


@LABEL_MODELS.register("snorkel")
def snorkel_label_model(L: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    try:
        from snorkel.labeling.model import LabelModel
    except ImportError as e:
        raise MissingDependency("labeling.label_model 'snorkel' needs the snorkel package: pip install snorkel") from e
    lm = LabelModel(cardinality=k, verbose=False)
    lm.fit(L, n_epochs=500, lr=0.01, seed=seed, progress_bar=False)
    return lm.predict_proba(L)


def fit_predict(name: str, L: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    if L.size == 0:
        return np.zeros((L.shape[0], k))
    return LABEL_MODELS.lookup(name)(L, k, seed=seed)


def planted_votes(n: int, accuracies: list[float], coverages: list[float], k: int, seed: int = 0,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A planted test: true labels uniform over k; function j votes on a share ``coverages[j]`` of items and is
    right with probability ``accuracies[j]``, otherwise a uniformly wrong class. Returns (L, y)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    L = np.full((n, len(accuracies)), -1, dtype=int)
    for j, (acc, cov) in enumerate(zip(accuracies, coverages, strict=True)):
        votes = rng.random(n) < cov
        right = rng.random(n) < acc
        wrong = (y + rng.integers(1, k, n)) % k
        L[votes, j] = np.where(right, y, wrong)[votes]
    return L, y
