"""Label models: turn a vote matrix into probabilistic labels with a confidence.

All take ``L`` (n_items, n_functions) of class indices with -1 = abstain and return probabilities
(n_items, n_classes). ``majority`` is the baseline; ``one_coin_dawid_skene`` (crowd-kit) is the default: on
the planted test of benchmarks/label_model it matched or beat snorkel's LabelModel and full Dawid-Skene,
needs no torch training loop, and crowd-kit is maintained. Full ``dawid_skene`` collapses on span candidates
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
