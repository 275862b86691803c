"""What to do after a failed data gate, in plain words: which records, where the quarantine is, how to fix
them (relabel, remove) or, where the finding is expected, which threshold to raise."""

from __future__ import annotations

import json
import math
import re
from fnmatch import fnmatch
from pathlib import Path

# "conflicting_duplicate: 2 records (4.8%) > 2.0%", as data/gate.py words a failure
_FAILURE = re.compile(r"^(?P<pattern>\S+): (?P<n>\d+) records \((?P<share>[\d.]+)%\) > (?P<limit>[\d.]+)%$")

FIXES = {
    "conflicting_duplicate": "the same input has different answers: relabel those records so they agree, or "
                             "delete all but the right one",
    "near_duplicate_conflict": "near-identical inputs have different answers: check their labels",
    "leakage_exact": "training records repeat test inputs: delete them from the training file (or from the test "
                     "file, if the test set can change)",
    "leakage_near": "training records nearly repeat test inputs: delete or rewrite them",
    "exact_duplicate": "the same record appears more than once: delete the copies",
    "near_duplicate": "near-identical records: delete the extra copies",
    "label_issue": "answers that a model trained on the rest disagrees with: review those labels",
}


def _sources(quarantine: Path, pattern: str, n: int = 5) -> tuple[list[str], int]:
    """The first ``n`` quarantine sources (file:line) with a reason matching ``pattern``, and how many in all."""
    shown, total = [], 0
    if not quarantine.exists():
        return shown, total
    with open(quarantine, encoding="utf-8") as f:  # streamed: a quarantine can hold a million rows
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            if any(fnmatch(r, pattern) for r in row.get("reasons", [])):
                total += 1
                if len(shown) < n:
                    shown.append(row.get("source", "?"))
    return shown, total


def gate_advice(summary: dict, data_dir: Path) -> str:
    """Numbered next steps for each failure of the gate in ``summary`` (audit.json's summary)."""
    quarantine = Path(data_dir) / "quarantine.jsonl"
    run_dir = Path(data_dir).parent
    lines = ["what to do next:"]
    for failure in summary["gate"].get("failures", []):
        m = _FAILURE.match(failure)
        if m is None:  # the usable-share failure
            top = ", ".join(f"{r} ({c})" for r, c in list(summary.get("dropped_reasons", {}).items())[:4])
            lines.append(f"  - {failure}: most records were quarantined, mostly for {top or 'unreadable lines'}; "
                         f"fix the files at the lines listed in {quarantine}, or lower audit.min_usable_fraction")
            continue
        pattern = m.group("pattern")
        share = int(m.group("n")) / max(summary["input_records"], 1)  # exact, not the rounded percentage
        shown, total = _sources(quarantine, pattern)
        fix = next((v for k, v in FIXES.items() if fnmatch(k, pattern)), "fix or delete those records")
        where = ", ".join(shown) + (f" and {total - len(shown)} more" if total > len(shown) else "")
        lines.append(f"  - {pattern}: {fix}. Records: {where or 'see the quarantine'} (rows with reason {pattern} in "
                     f"{quarantine}). If they are expected, raise the threshold: --set "
                     f"audit.gate.fail.{pattern}={min(1.0, math.ceil(share * 1000) / 1000)}")
    lines.append(f"  - or go on with this audit as it is (the failed records stay quarantined): tunewright run "
                 f"--run {run_dir} --force")
    return "\n".join(lines)
