"""Leakage and contamination: training examples that the evaluation has already seen.

- Train vs the user's test files (``data.test_files``): the same normalized input (``leakage_exact``), or a
  near-duplicate input by the near-duplicate engine's threshold (``leakage_near``). When there are no test
  files the test split is carved from the audited data later, and the split keeps every near-duplicate
  cluster in one split, so train and test cannot share one (data/split.py).
- Train vs evaluation text: any word n-gram (13 by default, as in the GPT-3 contamination study) of the
  example (input and answer) that also occurs in the domain test set or the general suite's evaluation text
  (``contamination_13gram``). Evaluation items shorter than n words cannot be checked this way; they are
  counted, not silently skipped.

The counts go to audit.json under ``leakage`` for the gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunewright.assets import resolve_path
from tunewright.data.checks import BatchCheck, CheckContext, Verdict, register_check
from tunewright.data.neardup import NearDupParams, ReferenceIndex, params_from_config
from tunewright.data.minhash import Shingler, words
from tunewright.data.keys import normalize_text, normalized_answer, normalized_input
from tunewright.jsonl import iter_jsonl
from tunewright.records import Example


@dataclass
class EvalText:
    collection: str  # "domain_test", "general_text", "mmlu", or a general task's name
    source: str  # file:line
    text: str


def _jsonl_lines(path: str, limit: int):
    """(line, value) of the first ``limit`` lines, as the general suite reads them."""
    yield from iter_jsonl(resolve_path(path), max_lines=limit)


def general_eval_texts(cfg) -> list[EvalText]:
    """The general suite's evaluation text: the reserved lines of each text file, the MMLU questions in use,
    and the items of the user's general tasks."""
    g = cfg.general
    out = []
    for f in g.text_files:
        for n, rec in _jsonl_lines(cfg.resolve(f), g.reserved_eval_lines):
            t = rec.get(g.text_field) if isinstance(rec, dict) else None
            if isinstance(t, str):
                out.append(EvalText("general_text", f"{f}:{n}", t))
    if g.mmlu_file:
        for n, rec in _jsonl_lines(cfg.resolve(g.mmlu_file), g.mmlu_questions):
            if isinstance(rec, dict) and isinstance(rec.get("question"), str):
                out.append(EvalText("mmlu", f"{g.mmlu_file}:{n}", rec["question"]))
    for spec in g.tasks:
        for n, rec in _jsonl_lines(cfg.resolve(spec.file), spec.max_items):
            if isinstance(rec, dict):
                parts = [rec.get("question"), rec.get("prompt"), *(rec.get("choices") or [])]
                out.append(EvalText(spec.name, f"{spec.file}:{n}", "\n".join(p for p in parts if isinstance(p, str))))
    return out


def example_text(ex: Example) -> str:
    """What a model trained on the example sees (system prompt aside): its input and its answer."""
    return normalized_input(ex) + "\n" + normalized_answer(ex)


class NgramIndex:
    """Sorted 64-bit hashes of every word n-gram of a set of evaluation texts, with the item each came from."""

    def __init__(self, items: list[EvalText], n: int):
        self.n = n
        self.items = items
        self.shingler = Shingler(ngram=n)
        texts = [normalize_text(it.text) for it in items]
        self.too_short: dict[str, int] = {}
        long_idx = []
        for k, (it, t) in enumerate(zip(items, texts)):
            if len(words(t)) >= n:
                long_idx.append(k)
            else:
                self.too_short[it.collection] = self.too_short.get(it.collection, 0) + 1
        h, rec = self.shingler.hashes64([texts[k] for k in long_idx])
        order = np.argsort(h, kind="stable")
        self.hashes = h[order]  # (G,) uint64
        self.owner = np.asarray(long_idx, dtype=np.int64)[rec[order]] if len(long_idx) else np.zeros(0, np.int64)

    def overlaps(self, texts: list[str], batch: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per text: number of its n-grams found in the index (R,), its n-gram count (R,), and the index of one
        evaluation item it shares an n-gram with (R,), -1 when none. Texts shorter than n words never match.
        Texts are hashed ``batch`` at a time, so memory stays flat however many there are."""
        R = len(texts)
        counts, totals, item = np.zeros(R, np.int64), np.zeros(R, np.int64), np.full(R, -1, np.int64)
        for s in range(0, R, batch):
            h, rec = self.shingler.hashes64(texts[s : s + batch])
            m = min(batch, R - s)
            totals[s : s + m] = np.bincount(rec, minlength=m)
            if self.hashes.size == 0 or h.size == 0:
                continue
            pos = np.minimum(np.searchsorted(self.hashes, h), self.hashes.size - 1)
            hit = self.hashes[pos] == h
            counts[s : s + m] = np.bincount(rec[hit], minlength=m)
            first = np.full(m, -1, np.int64)
            first[rec[hit][::-1]] = self.owner[pos[hit]][::-1]  # the first shared n-gram's item
            item[s : s + m] = first
        return counts, totals, item


def replay_overlap(cfg, n: int) -> dict:
    """Replay paragraphs (general text past the eval reserve) that share an n-gram with the general suite's
    evaluation text: a forgetting score measured on text the model was just trained on is flattering."""
    from tunewright.training.mitigation import load_replay_texts

    pool = load_replay_texts(cfg, 10**9)
    counts, _, _ = NgramIndex(general_eval_texts(cfg), n).overlaps([normalize_text(t) for t in pool])
    return {"replay_pool": len(pool), "replay_overlapping_eval": int((counts > 0).sum())}


@register_check("leakage", default=True, order=6)
class LeakageCheck(BatchCheck):
    """Train examples that repeat a test input exactly or nearly, or share an n-gram with evaluation text.

    The test inputs (a :class:`ReferenceIndex`) and the evaluation n-grams (an :class:`NgramIndex`) are held;
    the training examples are judged batch by batch and forgotten."""

    def __init__(self) -> None:
        self.ready = False
        self.report: dict = {}
        self.contaminated: dict[str, int] = {}

    def _setup(self, ctx: CheckContext) -> None:
        cfg = ctx.config
        lk = cfg.audit.leakage if cfg is not None else None
        self.enabled = lk is None or lk.enabled
        self.drop = lk.drop if lk is not None else True
        self.n = lk.contamination_ngram if lk is not None else 13
        params = params_from_config(cfg.audit.near_duplicates) if cfg is not None else NearDupParams()
        test = ctx.test_examples
        self.test_inputs: dict[str, str] = {}
        for t in test:
            self.test_inputs.setdefault(normalized_input(t), t.source)
        self.test_list = list(self.test_inputs)
        self.refs = ReferenceIndex(self.test_list, params) if test else None
        self.items = [EvalText("domain_test", t.source, example_text(t)) for t in test]
        if cfg is not None and (lk is None or lk.general_suite) and cfg.general.enabled:
            self.items += general_eval_texts(cfg)
        self.index = NgramIndex(self.items, self.n)
        self.report = {"test_examples": len(test), "exact": 0, "near": 0, "contamination_ngram": self.n,
                       "contaminated": 0}
        self.ready = True

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        if not self.ready:
            self._setup(ctx)
        if not self.enabled:
            return []
        out: list[Verdict] = []
        leaked = np.zeros(len(batch), bool)  # a copy of a test example is reported as leakage, not twice
        if self.refs is not None:
            inputs = [normalized_input(ex) for ex in batch]
            for k, t in enumerate(inputs):
                if t in self.test_inputs:
                    leaked[k] = True
                    out.append(Verdict(start + k, not self.drop, "leakage_exact", 1.0,
                                       f"same input as test example {self.test_inputs[t]}"))
            best, best_j = self.refs.best_matches(inputs)
            near = (best >= 0) & ~leaked
            for k in np.flatnonzero(near).tolist():
                j = float(best_j[k])
                out.append(Verdict(start + k, not self.drop, "leakage_near", round(j, 4),
                                   f"near-duplicate (Jaccard {j:.2f}) of test example "
                                   f"{self.test_inputs[self.test_list[best[k]]]}"))
            self.report["exact"] += int(leaked.sum())
            self.report["near"] += int(near.sum())
            leaked |= near
        counts, totals, first_item = self.index.overlaps([example_text(ex) for ex in batch])
        counts[leaked] = 0
        for k in np.flatnonzero(counts > 0).tolist():
            it = self.items[first_item[k]]
            self.contaminated[it.collection] = self.contaminated.get(it.collection, 0) + 1
            out.append(Verdict(start + k, not self.drop, "contamination_13gram",
                               round(float(counts[k] / max(totals[k], 1)), 4),
                               f"{counts[k]} of its {totals[k]} word {self.n}-grams occur in evaluation text, e.g. "
                               f"{it.collection} {it.source}"))
        self.report["contaminated"] += int((counts > 0).sum())
        return sorted(out, key=lambda v: v.index)

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        if not self.ready:
            self._setup(ctx)
        if not self.enabled:
            return []
        cfg = ctx.config
        collections: dict[str, int] = {}
        for it in self.items:
            collections[it.collection] = collections.get(it.collection, 0) + 1
        self.report.update({"contaminated_by": self.contaminated, "eval_items": collections,
                            "eval_items_too_short": self.index.too_short})
        if cfg is not None and cfg.training.replay_fraction > 0 and cfg.general.enabled:
            self.report.update(replay_overlap(cfg, self.n))
        ctx.report["leakage"] = self.report
        return []
