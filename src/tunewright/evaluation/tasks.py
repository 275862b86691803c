"""Task types by name (STYLE.md #7): how an answer is parsed, what a saved prediction row holds, and which
metric scores it. Every task scores from saved rows, so the numbers can always be recomputed from disk.

A task also says how its rows become sufficient statistics for the bootstrap (``statistic`` and
``item_vector``, see evaluation/stats.py), so its headline metric gets an interval like every other number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunewright.config import TaskSection
from tunewright.evaluation import metrics as M
from tunewright.registry import Registry
from tunewright.errors import InputError

TASKS = Registry("task", "task.type")


class Task:
    """Interface: parse an answer (None = unparseable), describe one item, score saved rows."""

    cfg: TaskSection
    metric: str
    statistic: str

    def parse(self, text: str) -> Any | None: ...

    # Whether answer_done can end generation early (the cost: one decode per row and generated token).
    stops_early = False

    def answer_done(self, text: str) -> bool:
        """True once ``text`` (the answer generated so far) is finished or can no longer become an answer."""
        return False

    def item_row(self, pred: Any | None, gold: Any) -> dict: ...

    def item_vector(self, row: dict) -> list[float]: ...

    def score(self, rows: list[dict]) -> dict: ...

    def item_score(self, row: dict) -> float:
        """How good one answer is, on the headline metric's scale (for ranking regressions)."""
        ...

    def detail_keys(self) -> list[str]:
        """The numbers shown beside the headline metric in the report."""
        return [self.metric]

    def detail_statistics(self) -> dict[str, tuple[str, Any]]:
        """For each detail key: (bootstrap statistic, row -> item vector), so every number gets an interval."""
        return {self.metric: (self.statistic, self.item_vector)}

    # -- what labeling, review and the audit need of a task type (class-level: no label set required) -------
    label_kind: str | None = None  # what labeling functions vote: 'span' (entities), 'class', or None (cannot)
    has_label_set = False  # the data is audited against task.labels (label noise, labels outside the set)

    @classmethod
    def label_classes(cls, cfg: TaskSection, labeling_classes: list[str]) -> list[str]:
        """The classes labeling functions may vote; InputError when the task cannot be labeled by functions."""
        raise InputError(f"labeling supports task.type extraction or classification, not {cfg.type!r}")

    @classmethod
    def reference_parser(cls, cfg: TaskSection):
        """text -> the data's own answer as labeling compares it (None: no usable answer)."""
        return lambda text: text or None


@TASKS.register("extraction")
@dataclass
class ExtractionTask(Task):
    """Answers are ``[NAME - TYPE, NAME - TYPE, ...]`` or the configured empty answer."""

    cfg: TaskSection
    metric: str = "entity_f1"
    statistic: str = "micro_f1"

    def __post_init__(self) -> None:
        if not self.cfg.entity_types:
            raise ValueError("task.entity_types: an extraction task needs its entity types, e.g. "
                             "[PERSON, ORGANIZATION] ('tunewright init --data FILE' reads them from the answers)")
        types = "|".join(re.escape(t) for t in self.cfg.entity_types)
        # lazy name up to " - TYPE" followed by a comma or the end: names may hold commas and hyphens.
        # Linear time: the possessive \s*+ never hands spaces back, and the name must end in a non-space, so
        # a run of spaces is scanned once, not once per split ("[a" + 48,000 spaces + "x]" was quadratic: 6.8 s)
        self._item = re.compile(rf"\s*+(.*?\S)\s+-\s+({types})\s*(?:,|$)")

    def parse(self, text: str) -> list[M.Entity] | None:
        """Entities in the answer, [] for the empty answer, None when the answer cannot be parsed."""
        t = text.strip()
        groups = re.findall(r"\[([^\[\]]*)\]", t)
        if not groups:
            return [] if self.cfg.empty_answer.lower() in t.lower() else None
        out, stopped = self.read_items(groups[-1].strip())
        return None if stopped is not None else out

    def read_items(self, content: str) -> tuple[list[M.Entity], int | None]:
        """The ``NAME - TYPE`` items of the inside of the brackets, and the offset where reading stopped
        (None when all of it read). Linear time in ``len(content)``."""
        out: list[M.Entity] = []
        pos = 0
        while pos < len(content):
            m = self._item.match(content, pos)
            if m is None:
                return out, pos
            out.append((m.group(1).strip(), m.group(2)))
            pos = m.end()
        return out, None

    stops_early = True

    def answer_done(self, text: str) -> bool:
        """Done at the first closed [...] list or at the empty answer: a trained model stops there anyway."""
        t = text.strip()
        return ("[" in t and "]" in t[t.index("["):]) or self.cfg.empty_answer.lower() in t.lower()

    def item_row(self, pred, gold) -> dict:
        tp, n_pred, n_gold = M.entity_counts(pred or [], gold)
        return {"tp": tp, "n_predicted": n_pred, "n_gold": n_gold}

    def item_vector(self, row: dict) -> list[float]:
        return [row["tp"], row["n_predicted"], row["n_gold"]]

    def item_score(self, row: dict) -> float:
        return M.prf(row["tp"], row["n_predicted"], row["n_gold"])["f1"]

    def score(self, rows: list[dict]) -> dict:
        preds = [[tuple(e) for e in (r["parsed"] or [])] for r in rows]
        golds = [[tuple(e) for e in r["gold_parsed"]] for r in rows]
        m = M.entity_f1(preds, golds)
        lenient = M.entity_f1([M.lenient(p) for p in preds], [M.lenient(g) for g in golds])
        return {"entity_f1": m["f1"], "entity_precision": m["precision"], "entity_recall": m["recall"],
                "entity_f1_lenient": lenient["f1"], "tp": m["tp"], "predicted": m["predicted"], "gold": m["gold"],
                "per_type": M.entity_f1_by_type(preds, golds)}

    def detail_keys(self) -> list[str]:
        return ["entity_f1", "entity_precision", "entity_recall", "entity_f1_lenient"]

    label_kind = "span"

    @classmethod
    def label_classes(cls, cfg: TaskSection, labeling_classes: list[str]) -> list[str]:
        from tunewright.labeling.functions import NOT_ENTITY

        return [*cfg.entity_types, NOT_ENTITY]

    @classmethod
    def reference_parser(cls, cfg: TaskSection):
        return cls(cfg).parse

    def detail_statistics(self) -> dict[str, tuple[str, Any]]:
        def lenient_vector(row):
            pred = [tuple(e) for e in (row["parsed"] or [])]
            return list(M.entity_counts(M.lenient(pred), M.lenient([tuple(e) for e in row["gold_parsed"]])))

        return {"entity_f1": ("micro_f1", self.item_vector), "entity_precision": ("micro_precision", self.item_vector),
                "entity_recall": ("micro_recall", self.item_vector), "entity_f1_lenient": ("micro_f1", lenient_vector)}


@TASKS.register("classification")
@dataclass
class ClassificationTask(Task):
    """The answer is one label of ``task.labels`` (matched case-insensitively, surrounding punctuation ignored)."""

    cfg: TaskSection
    metric: str = "macro_f1"
    statistic: str = "macro_f1"

    def __post_init__(self) -> None:
        if not self.cfg.labels:
            raise InputError("task.labels: a classification task needs its label set")
        self._by_key = {self._key(lab): lab for lab in self.cfg.labels}

    @staticmethod
    def _key(s: str) -> str:
        return s.strip().strip(".!\"'`").strip().casefold()

    def parse(self, text: str) -> str | None:
        return self._by_key.get(self._key(text))

    stops_early = True

    def answer_done(self, text: str) -> bool:
        """Done when the text is a whole label that no longer label continues, or is no label's beginning."""
        t = text.lstrip().lstrip(".!\"'`").casefold()
        return bool(t) and not any(k.startswith(t) and k != t for k in self._by_key)

    def item_row(self, pred, gold) -> dict:
        return {"pred_label": pred, "gold_label": gold, "correct": pred == gold}

    def item_vector(self, row: dict) -> list[float]:
        """Per class c: (tp_c, fp_c, fn_c) of this one item, flattened; sums give every per-class count."""
        v = []
        for lab in self.cfg.labels:
            tp = row["gold_label"] == lab and row["pred_label"] == lab
            v += [float(tp), float(row["pred_label"] == lab and not tp), float(row["gold_label"] == lab and not tp)]
        return v

    def item_score(self, row: dict) -> float:
        return float(row["correct"])

    def score(self, rows: list[dict]) -> dict:
        # an unparseable answer is a wrong answer of no class
        m = M.classification_metrics([r["gold_label"] for r in rows],
                                     [r["pred_label"] if r["pred_label"] is not None else "" for r in rows],
                                     self.cfg.labels)
        return m

    def detail_keys(self) -> list[str]:
        return ["macro_f1", "micro_f1", "accuracy"]

    label_kind = "class"
    has_label_set = True

    @classmethod
    def label_classes(cls, cfg: TaskSection, labeling_classes: list[str]) -> list[str]:
        return list(labeling_classes or cfg.labels)

    def detail_statistics(self) -> dict[str, tuple[str, Any]]:
        return {"macro_f1": ("macro_f1", self.item_vector), "micro_f1": ("class_micro_f1", self.item_vector),
                "accuracy": ("mean", lambda r: [float(r["correct"])])}




@TASKS.register("generation")
@dataclass
class GenerationTask(Task):
    """Free text compared with the reference: exact match, token F1 and ROUGE-L; ``task.metric`` is the headline."""

    cfg: TaskSection
    metric: str = "rouge_l"
    statistic: str = "mean"

    def __post_init__(self) -> None:
        self.metric = self.cfg.metric or "rouge_l"
        M.METRICS.lookup(self.metric)  # InputError naming the known metrics
        # the registry's default metrics beside every headline, plus the headline itself
        self._metrics = list(dict.fromkeys([*M.METRICS.default_names(), self.metric]))

    def parse(self, text: str) -> str:
        return text.strip()

    def item_row(self, pred, gold) -> dict:
        return {name: M.METRICS[name](pred or "", gold) for name in self._metrics}

    def item_vector(self, row: dict) -> list[float]:
        return [row[self.metric]]

    def item_score(self, row: dict) -> float:
        return float(row[self.metric])

    def score(self, rows: list[dict]) -> dict:
        names = self._metrics + (["judge"] if rows and "judge" in rows[0] else [])
        return {name: float(np.mean([r[name] for r in rows])) if rows else 0.0 for name in names}

    def detail_keys(self) -> list[str]:
        return self._metrics + (["judge"] if self.cfg.judge else [])

    def detail_statistics(self) -> dict[str, tuple[str, Any]]:
        return {k: ("mean", lambda r, k=k: [float(r[k])]) for k in self.detail_keys()}


@TASKS.register("multiple_choice")
@dataclass
class MultipleChoiceTask(Task):
    """The answer is one of the example's ``choices`` (record field), picked by log-likelihood, not generated."""

    cfg: TaskSection
    metric: str = "accuracy"
    statistic: str = "mean"
    scores_by_likelihood: bool = True

    def parse(self, text: str) -> str:
        return text.strip()

    def item_row(self, pred, gold) -> dict:
        return {"correct": pred == gold}

    def item_vector(self, row: dict) -> list[float]:
        return [float(row["correct"])]

    def item_score(self, row: dict) -> float:
        return float(row["correct"])

    def score(self, rows: list[dict]) -> dict:
        n = len(rows) or 1
        return {"accuracy": sum(r["correct"] for r in rows) / n,
                "accuracy_norm": sum(r.get("correct_norm", r["correct"]) for r in rows) / n}

    def detail_keys(self) -> list[str]:
        return ["accuracy", "accuracy_norm"]

    def detail_statistics(self) -> dict[str, tuple[str, Any]]:
        return {"accuracy": ("mean", self.item_vector),
                "accuracy_norm": ("mean", lambda r: [float(r.get("correct_norm", r["correct"]))])}


def task_type(cfg: TaskSection) -> type[Task]:
    """The registered class of ``task.type`` (its class-level behaviour needs no label set)."""
    return TASKS.lookup(cfg.type)


def make_task(cfg: TaskSection) -> Task:
    return task_type(cfg)(cfg)
