"""Deterministic train/validation/test split that never lets one input straddle two splits.

Examples are grouped by their input (so exact duplicates and conflicting copies share a group); the groups,
in a seeded random order, fill test, then validation, then train.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tunewright.config import SplitSection
from tunewright.records import Example, write_jsonl


@dataclass
class SplitResult:
    train: list[Example]
    validation: list[Example]
    test: list[Example]

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def split_examples(examples: list[Example], cfg: SplitSection, test: list[Example] | None = None) -> SplitResult:
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.input_key()].append(ex)
    keys = sorted(groups)  # sorted first so the seeded shuffle does not depend on input order
    random.Random(cfg.seed).shuffle(keys)
    n = len(examples)
    want_test = 0 if test is not None else round(n * cfg.test_fraction)
    want_val = round(n * cfg.validation_fraction)
    out: dict[str, list[Example]] = {"test": [], "validation": [], "train": []}
    for k in keys:
        if len(out["test"]) < want_test:
            dest = "test"
        elif len(out["validation"]) < want_val:
            dest = "validation"
        else:
            dest = "train"
        out[dest].extend(groups[k])
    if test is not None:
        out["test"] = list(test)
    return SplitResult(out["train"], out["validation"], out["test"])


def write_split(result: SplitResult, out_dir: Path) -> dict[str, Path]:
    paths = {}
    for name in ("train", "validation", "test"):
        paths[name] = Path(out_dir) / f"{name}.jsonl"
        write_jsonl(paths[name], getattr(result, name))
    return paths
