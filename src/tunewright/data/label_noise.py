"""Label noise: confident learning (cleanlab) on out-of-sample class probabilities.

For examples whose answer is a class (a ``label``, or a short answer of at most
``label_noise.max_answer_words`` words), a logistic regression on the input predicts the class by k-fold,
so each example's probabilities come from a model that never saw it. cleanlab's ``find_label_issues``
then flags the examples whose given label is unlikely under those probabilities (Northcutt et al. 2021).
Features are MiniLM embeddings when available and asked for, else TF-IDF (word 1-2 grams).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tunewright.data.checks import CheckContext, Verdict, register_check
from tunewright.data.sufficiency import dataset_classes
from tunewright.records import Example


def input_text(ex: Example) -> str:
    return "\n".join(m["content"] for m in ex.to_chat()[:-1] if m["role"] != "system")


def _features(texts: list[str], kind: str, batch_size: int):
    if kind == "embeddings":
        from tunewright.data.embeddings import embed_texts

        return embed_texts(texts, batch_size)
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=1, max_features=100_000, sublinear_tf=True).fit_transform(texts)


def out_of_sample_probs(X, y: np.ndarray, folds: int, seed: int = 0, n_jobs: int = 1) -> np.ndarray:
    """(n, classes) probabilities, each row from the fold model that did not train on that row."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    # saga with a loose tolerance: 3.6 s for 20,000 TF-IDF rows x 5 folds where lbfgs took 118 s, at the
    # same out-of-sample accuracy (measured on this machine); the ranking needs probabilities, not optima.
    clf = LogisticRegression(solver="saga", max_iter=50, tol=1e-3, random_state=seed)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cross_val_predict(clf, X, y, cv=cv, method="predict_proba", n_jobs=n_jobs)


def find_label_suspects(examples: list[Example], ctx: CheckContext) -> tuple[list[dict], dict]:
    """Ranked suspects ({index, given, suggested, given_prob, suggested_prob}) and a summary of what ran."""
    cfg = ctx.settings().label_noise
    classes = dataset_classes(examples, ctx.settings(), declared=bool(ctx.labels))
    if classes is None:
        return [], {"skipped": "the answers are not classes (free text, or too many distinct short answers)"}
    eligible = [i for i, c in enumerate(classes) if c is not None]
    counts = Counter(classes[i] for i in eligible)
    # A class needs at least one member per fold; rarer classes cannot be judged out of sample.
    kept_classes = sorted(c for c, n in counts.items() if n >= cfg.folds)
    info = {"eligible": len(eligible), "classes": len(counts), "judged_classes": len(kept_classes)}
    if len(kept_classes) < 2:
        info["skipped"] = f"fewer than 2 classes with >= {cfg.folds} examples"
        return [], info
    keep = set(kept_classes)
    idx = [i for i in eligible if classes[i] in keep]
    code = {c: k for k, c in enumerate(kept_classes)}
    y = np.array([code[classes[i]] for i in idx])
    kind = cfg.features
    if kind == "auto":
        kind = "embeddings" if "semantic_duplicate" in ctx.settings().checks else "tfidf"
    X = _features([input_text(examples[i]) for i in idx], kind, ctx.settings().semantic.batch_size)
    probs = out_of_sample_probs(X, y, cfg.folds, n_jobs=ctx.workers)
    # Confident learning needs a model that can tell the classes apart from the inputs. When it cannot
    # (MMLU answer letters: the letter is not in the question's words), its near-uniform probabilities
    # would flag half the data. Skill = (accuracy - majority share) / (1 - majority share), as Cohen's kappa.
    accuracy = float((probs.argmax(1) == y).mean())
    majority = float(np.bincount(y).max() / len(y))
    skill = (accuracy - majority) / (1 - majority) if majority < 1 else 0.0
    info.update(judged=len(idx), features=kind, oos_accuracy=round(accuracy, 4), majority_share=round(majority, 4),
                skill=round(skill, 4))
    if skill < cfg.min_skill:
        info["skipped"] = (f"the {kind} model cannot predict the labels from the inputs (out-of-sample accuracy "
                           f"{accuracy:.2f} vs majority share {majority:.2f}, skill {skill:.2f} < {cfg.min_skill})")
        return [], info
    from cleanlab.filter import find_label_issues

    ranked = find_label_issues(y, probs, return_indices_ranked_by="self_confidence")
    info.update(suspects=len(ranked))
    suspects = []
    for rank, k in enumerate(ranked):
        best = int(probs[k].argmax())
        suspects.append({"rank": rank + 1, "index": idx[k], "given": kept_classes[y[k]],
                         "given_prob": round(float(probs[k, y[k]]), 4), "suggested": kept_classes[best],
                         "suggested_prob": round(float(probs[k, best]), 4)})
    return suspects, info


@register_check("label_noise")
class LabelNoiseCheck:
    """label_issue on examples whose given class the out-of-sample model finds unlikely, ranked."""

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        suspects, info = find_label_suspects(examples, ctx)
        ctx.artifacts["label_noise"] = info
        ctx.artifacts["label_suspects"] = suspects
        return [Verdict(s["index"], False, "label_issue", 1.0 - s["given_prob"],
                        f"rank {s['rank']}: given {s['given']!r} (p={s['given_prob']}), model suggests "
                        f"{s['suggested']!r} (p={s['suggested_prob']})") for s in suspects]
