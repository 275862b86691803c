"""Label noise: confident learning (cleanlab) on out-of-sample class probabilities.

For examples whose answer is a class (a ``label``, or a short answer of at most
``label_noise.max_answer_words`` words), a logistic regression on the input predicts the class by k-fold,
so each example's probabilities come from a model that never saw it. cleanlab's ``find_label_issues``
then flags the examples whose given label is unlikely under those probabilities (Northcutt et al. 2021).
Features are MiniLM embeddings when available and asked for, else TF-IDF (word 1-2 grams, hashed).
"""

from __future__ import annotations

import numpy as np

from tunewright.data.checks import BatchCheck, CheckContext, Verdict, register_check
from tunewright.data.columns import Int64Parts
from tunewright.data.sufficiency import ClassTally
from tunewright.records import Example


def input_text(ex: Example) -> str:
    return "\n".join(m["content"] for m in ex.to_chat()[:-1] if m["role"] != "system")


def _hashed_counts(texts: list[str]):
    """Word 1-2 gram counts, hashed into 2**20 columns (stateless, so batches can be featurized one at a time
    and stacked; TF-IDF weighting is fitted over all of them in ``finish``)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=False, norm=None,
                             dtype=np.float32).transform(texts)


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


def find_label_suspects(y: np.ndarray, X, kind: str, kept_classes: list[str], idx: np.ndarray, cfg,
                        workers: int = 1) -> tuple[list[dict], dict]:
    """Ranked suspects ({index, given, suggested, given_prob, suggested_prob}) among the rows of ``X`` (the
    examples ``idx``, labelled ``y``), and a summary of what ran."""
    probs = out_of_sample_probs(X, y, cfg.folds, n_jobs=workers)
    # Confident learning needs a model that can tell the classes apart from the inputs. When it cannot
    # (MMLU answer letters: the letter is not in the question's words), its near-uniform probabilities
    # would flag half the data. Skill = (accuracy - majority share) / (1 - majority share), as Cohen's kappa.
    accuracy = float((probs.argmax(1) == y).mean())
    majority = float(np.bincount(y).max() / len(y))
    skill = (accuracy - majority) / (1 - majority) if majority < 1 else 0.0
    info = dict(judged=len(idx), features=kind, oos_accuracy=round(accuracy, 4), majority_share=round(majority, 4),
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
        suspects.append({"rank": rank + 1, "index": int(idx[k]), "given": kept_classes[y[k]],
                         "given_prob": round(float(probs[k, y[k]]), 4), "suggested": kept_classes[best],
                         "suggested_prob": round(float(probs[k, best]), 4)})
    return suspects, info


@register_check("label_noise", default=True, order=12)
class LabelNoiseCheck(BatchCheck):
    """label_issue on examples whose given class the out-of-sample model finds unlikely, ranked.

    Per example with a class it keeps the class code and the input's features (hashed word 1-2 gram counts,
    or a MiniLM embedding); it stops keeping features once the answers are too many to be classes."""

    def __init__(self) -> None:
        self.tally: ClassTally | None = None
        self.rows = Int64Parts()  # example index of each kept feature row
        self.feats: list = []
        self.kind = "tfidf"
        self.gave_up = False

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        a = ctx.settings()
        declared = bool(ctx.labels)
        if self.tally is None:
            self.tally = ClassTally(a.label_noise.max_answer_words)
            kind = a.label_noise.features
            self.kind = ("embeddings" if "semantic_duplicate" in a.checks else "tfidf") if kind == "auto" else kind
        codes = self.tally.add(batch)
        if self.gave_up or (not declared and not self.tally.all_labeled
                            and len(self.tally.names) > a.label_noise.max_classes):
            self.gave_up, self.feats = True, []  # can no longer be a classification dataset
            return []
        ks = [k for k, c in enumerate(codes) if c >= 0]
        if ks:
            texts = [input_text(batch[k]) for k in ks]
            if self.kind == "embeddings":
                from tunewright.data.embeddings import embed_texts

                self.feats.append(embed_texts(texts, a.semantic.batch_size))
            else:
                self.feats.append(_hashed_counts(texts))
            self.rows.add([start + k for k in ks])
        return []

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        suspects, info = self._judge(ctx)
        ctx.artifacts["label_noise"] = info
        ctx.artifacts["label_suspects"] = suspects
        return [Verdict(s["index"], False, "label_issue", 1.0 - s["given_prob"],
                        f"rank {s['rank']}: given {s['given']!r} (p={s['given_prob']}), model suggests "
                        f"{s['suggested']!r} (p={s['suggested_prob']})") for s in suspects]

    def _judge(self, ctx: CheckContext) -> tuple[list[dict], dict]:
        a = ctx.settings()
        cfg = a.label_noise
        if self.tally is None or self.gave_up or not self.tally.is_classification(a, declared=bool(ctx.labels)):
            return [], {"skipped": "the answers are not classes (free text, or too many distinct short answers)"}
        codes = self.tally.codes.array()
        counts = self.tally.counts()
        # A class needs at least one member per fold; rarer classes cannot be judged out of sample.
        kept_classes = sorted(c for c, n in counts.items() if n >= cfg.folds)
        info = {"eligible": int((codes >= 0).sum()), "classes": len(counts), "judged_classes": len(kept_classes)}
        if len(kept_classes) < 2:
            info["skipped"] = f"fewer than 2 classes with >= {cfg.folds} examples"
            return [], info
        rows = self.rows.array()  # the examples with a class, in order: the feature rows
        new_code = np.full(len(self.tally.names), -1, np.int64)
        for k, c in enumerate(kept_classes):
            new_code[self.tally.names.index(c)] = k
        y_all = new_code[codes[rows]]
        judged = y_all >= 0
        if self.kind == "embeddings":
            X = np.concatenate(self.feats)[judged]
        else:
            import scipy.sparse as sp
            from sklearn.feature_extraction.text import TfidfTransformer

            X = TfidfTransformer(sublinear_tf=True).fit_transform(sp.vstack(self.feats, format="csr")[judged])
        self.feats = []
        suspects, more = find_label_suspects(y_all[judged], X, self.kind, kept_classes, rows[judged], cfg,
                                             ctx.workers)
        return suspects, {**info, **more}
