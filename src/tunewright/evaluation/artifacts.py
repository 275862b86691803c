"""A run's saved evaluation, read once, and the one join of its base and tuned items: by id.

``eval/<which>/`` (which = base, tuned) holds ``metrics.json``, ``predictions.jsonl`` (one row per test
example, with the example's ``id``) and ``general_<name>.jsonl`` (one row per general-suite item, whose
``source`` file:line is its id). :class:`EvalArtifacts` reads each file once; the report, the worst
regressions and the mitigation study all take their rows from it. :func:`pair_by_id` lines base and tuned
rows up by id, whatever order each file is in, and keeps the items found on one side only, so a comparison
can say how many it left out instead of silently comparing fewer items.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tunewright.jsonl import read_jsonl
from tunewright.project import read_json

WHICH = ("base", "tuned")
UNPAIRED_IDS_SHOWN = 10


def item_id(row: dict) -> str:
    """The id that pairs a base row with a tuned row: the example id of a prediction, the file:line of a
    general-suite item (which has no example behind it)."""
    return str(row["id"] if "id" in row else row["source"])


@dataclass
class PairedRows:
    """Base and tuned rows of the same items, in the base file's order, plus the ids found on one side only."""

    base: list[dict]
    tuned: list[dict]
    base_only: list[str] = field(default_factory=list)
    tuned_only: list[str] = field(default_factory=list)

    def unpaired(self) -> dict | None:
        """What the comparison left out, for the report; None when every item is on both sides."""
        if not self.base_only and not self.tuned_only:
            return None
        return {"base_only": len(self.base_only), "tuned_only": len(self.tuned_only),
                "base_only_ids": self.base_only[:UNPAIRED_IDS_SHOWN],
                "tuned_only_ids": self.tuned_only[:UNPAIRED_IDS_SHOWN]}


def pair_by_id(base: list[dict], tuned: list[dict]) -> PairedRows:
    """Join base and tuned rows on :func:`item_id`.

    Two items with the same id (a test set with an exact duplicate) pair in the order they appear: the k-th
    base copy with the k-th tuned copy."""
    def keyed(rows: list[dict]) -> dict[tuple[str, int], dict]:
        seen: dict[str, int] = defaultdict(int)
        out = {}
        for r in rows:
            i = item_id(r)
            out[(i, seen[i])] = r
            seen[i] += 1
        return out

    b, t = keyed(base), keyed(tuned)
    both = [k for k in b if k in t]
    return PairedRows([b[k] for k in both], [t[k] for k in both],
                      base_only=[k[0] for k in b if k not in t], tuned_only=[k[0] for k in t if k not in b])


@dataclass
class EvalArtifacts:
    """Everything under a run's ``eval/base`` and ``eval/tuned``, each file read once."""

    metrics: dict[str, dict | None]  # which -> metrics.json (None when that evaluation has not run)
    predictions: dict[str, list[dict]]  # which -> predictions.jsonl rows
    general: dict[str, dict[str, list[dict]]]  # which -> general task name -> item rows
    eval_dir: Path | None = None

    @classmethod
    def load(cls, eval_dir: Path) -> "EvalArtifacts":
        eval_dir = Path(eval_dir)
        metrics, predictions, general = {}, {}, {}
        for which in WHICH:
            d = eval_dir / which
            metrics[which] = read_json(d / "metrics.json") if (d / "metrics.json").exists() else None
            p = d / "predictions.jsonl"
            predictions[which] = read_jsonl(p) if p.exists() else []
            general[which] = {f.stem[len("general_"):]: read_jsonl(f) for f in sorted(d.glob("general_*.jsonl"))}
        return cls(metrics, predictions, general, eval_dir)

    def task_pairs(self) -> PairedRows:
        return pair_by_id(self.predictions["base"], self.predictions["tuned"])

    def has_general(self, name: str) -> bool:
        return all(name in self.general[w] for w in WHICH)

    def general_pairs(self, name: str) -> PairedRows:
        """Base and tuned items of one general task; FileNotFoundError when either side lacks its file."""
        for which in WHICH:
            if name not in self.general[which]:
                raise FileNotFoundError(f"{self.eval_dir or 'eval'}/{which}/general_{name}.jsonl: missing; run "
                                        f"'tunewright eval' for the {which} model")
        return pair_by_id(self.general["base"][name], self.general["tuned"][name])
