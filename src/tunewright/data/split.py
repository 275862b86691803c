"""Deterministic train/validation/test split that never lets one input, or two near-duplicate inputs,
straddle two splits.

Examples are grouped by near-duplicate cluster of their normalized input (data/dedup.py), so exact
duplicates, conflicting copies and near-duplicates share a group; the groups, in a seeded random order, fill
test, then validation, then train. A test example with a near-twin in train would be leakage.
"""

from __future__ import annotations

import random
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tunewright.config import SplitSection
from tunewright.data.neardup import NearDupParams, cluster_inputs
from tunewright.data.keys import normalized_input_key
from tunewright.errors import InputError, MissingArtifact
from tunewright.project import Run
from tunewright.records import Example
from tunewright.writers import jsonl_writer, read_examples


@dataclass
class SplitResult:
    train: list[Example]
    validation: list[Example]
    test: list[Example]

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def group_keys(examples: list[Example], near_duplicates: NearDupParams | None) -> list[str]:
    """One key per example; examples that must share a split share a key. The key of a near-duplicate cluster
    is its smallest member input key, so it depends on content only, never on input order."""
    keys = [normalized_input_key(ex) for ex in examples]
    if near_duplicates is None or not examples:
        return keys
    labels = cluster_inputs(examples, near_duplicates, desc="split: near-duplicate clusters").example_labels
    smallest: dict[int, str] = {}
    for lab, k in zip(labels.tolist(), keys):
        if lab not in smallest or k < smallest[lab]:
            smallest[lab] = k
    return [smallest[lab] for lab in labels.tolist()]


def split_examples(
    examples: list[Example], cfg: SplitSection, test: list[Example] | None = None,
    near_duplicates: NearDupParams | None = NearDupParams(),
) -> SplitResult:
    """``near_duplicates=None`` groups by exact normalized input only."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex, key in zip(examples, group_keys(examples, near_duplicates)):
        groups[key].append(ex)
    keys = sorted(groups)  # sorted first so the seeded shuffle does not depend on input order
    random.Random(cfg.seed).shuffle(keys)
    n = len(examples)
    want_test = 0 if test is not None else round(n * cfg.test_fraction)
    want_val = round(n * cfg.validation_fraction)
    out: dict[str, list[Example]] = {"test": [], "validation": [], "train": []}
    for k in keys:
        g = groups[k]
        # a group may only fill a held-out split it fits in: one huge near-duplicate cluster (templated inputs
        # that differ in a number) would otherwise become the whole test set and leave nothing to train on
        if len(out["test"]) < want_test and len(out["test"]) + len(g) <= max(want_test, 1) * 1.5:
            dest = "test"
        elif len(out["validation"]) < want_val and len(out["validation"]) + len(g) <= max(want_val, 1) * 1.5:
            dest = "validation"
        else:
            dest = "train"
        out[dest].extend(g)
    if test is not None:
        out["test"] = list(test)
    return SplitResult(out["train"], out["validation"], out["test"])


def write_split(result: SplitResult, out_dir: Path) -> dict[str, Path]:
    """train/validation/test.jsonl, all or none: the three are written to temporary files and renamed only
    once all three are complete, so a crash or a full disk never pairs a new train with an old test."""
    paths = {name: Path(out_dir) / f"{name}.jsonl" for name in ("train", "validation", "test")}
    with ExitStack() as stack:
        for name, path in paths.items():
            write = stack.enter_context(jsonl_writer(path))
            for ex in getattr(result, name):
                write(ex)
    return paths


SPLIT_NAMES = ("train", "validation", "test")


def read_split(run: Run, name: str) -> list[Example]:
    """The ``name`` split ('train', 'validation' or 'test') that :func:`write_split` wrote into the run."""
    if name not in SPLIT_NAMES:
        raise InputError(f"split must be one of {SPLIT_NAMES}, got {name!r}")
    path = run.data_dir / f"{name}.jsonl"
    if not path.exists():
        raise MissingArtifact(f"{path}: missing; run 'tunewright split' for this run first")
    return read_examples(path)
