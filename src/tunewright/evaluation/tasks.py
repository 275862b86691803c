"""Task types by name (STYLE.md #7): how an answer is parsed and which metric scores it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunewright.config import TaskSection
from tunewright.evaluation.metrics import Entity, entity_counts, entity_f1
from tunewright.registry import Registry

TASKS = Registry("task", "task.type")


@TASKS.register("extraction")
@dataclass
class ExtractionTask:
    """Answers are ``[NAME - TYPE, NAME - TYPE, ...]`` or the configured empty answer."""

    cfg: TaskSection
    metric: str = "entity_f1"
    statistic: str = "micro_f1"  # bootstrap statistic over item_vector rows (tunewright.evaluation.stats)

    def __post_init__(self) -> None:
        types = "|".join(re.escape(t) for t in self.cfg.entity_types)
        # lazy name up to " - TYPE" followed by a comma or the end: names may hold commas and hyphens
        self._item = re.compile(rf"\s*(.+?)\s+-\s+({types})\s*(?:,|$)")

    def parse(self, text: str) -> list[Entity] | None:
        """Entities in the answer, [] for the empty answer, None when the answer cannot be parsed."""
        t = text.strip()
        groups = re.findall(r"\[([^\[\]]*)\]", t)
        if not groups:
            return [] if self.cfg.empty_answer.lower() in t.lower() else None
        content = groups[-1].strip()
        out: list[Entity] = []
        pos = 0
        while pos < len(content):
            m = self._item.match(content, pos)
            if m is None:
                return None
            out.append((m.group(1).strip(), m.group(2)))
            pos = m.end()
        return out

    def score_one(self, pred: list[Entity], gold: list[Entity]) -> dict:
        tp, n_pred, n_gold = entity_counts(pred, gold)
        return {"tp": tp, "n_predicted": n_pred, "n_gold": n_gold}

    @staticmethod
    def item_vector(row: dict) -> list[float]:
        """Sufficient statistics of one saved prediction row: (tp, predicted, gold)."""
        return [row["tp"], row["n_predicted"], row["n_gold"]]

    def score(self, preds: list[list[Entity]], golds: list[list[Entity]]) -> dict:
        m = entity_f1(preds, golds)
        return {"entity_f1": m["f1"], "entity_precision": m["precision"], "entity_recall": m["recall"],
                "tp": m["tp"], "predicted": m["predicted"], "gold": m["gold"]}


def make_task(cfg: TaskSection) -> ExtractionTask:
    return TASKS.lookup(cfg.type)(cfg)
