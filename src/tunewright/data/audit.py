"""The data audit: read the files, run the registered checks, gate, and write clean set + quarantine.

Nothing is lost: ``input_records == used + quarantined``, where the quarantine holds both unreadable lines
(from the readers) and examples flagged by a check, each with every reason that applies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tunewright.assets import resolve_path
from tunewright.config import Config
from tunewright.data import dedup, leakage
from tunewright.data.checks import CHECKS, CheckContext, Verdict
from tunewright.project import write_json
from tunewright.records import Example, ReadResult, read_files, write_jsonl


CHECK_MODULES = (dedup, leakage)  # imported for their registrations: near_duplicate, leakage


@dataclass
class AuditResult:
    clean: list[Example]
    quarantine: list[dict[str, Any]]
    summary: dict[str, Any]
    test_clean: list[Example] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.summary["gate"]["passed"]


def read_inputs(cfg: Config, files: list[str]) -> ReadResult:
    paths = [str(resolve_path(cfg.resolve(f))) for f in files]
    return read_files(
        paths,
        format=cfg.data.format,
        prompt_column=cfg.data.prompt_column,
        completion_column=cfg.data.completion_column,
        max_records=cfg.data.max_records,
        display_names=dict(zip(paths, files)),
    )


def length_stats(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {}
    a = np.asarray(lengths)
    return {
        "count": int(a.size), "min": int(a.min()), "mean": round(float(a.mean()), 1),
        "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": int(a.max()),
        "total": int(a.sum()),
    }


def run_checks(examples: list[Example], ctx: CheckContext, names: list[str]) -> dict[int, list[Verdict]]:
    """Flagging verdicts per example index, in check order."""
    flagged: dict[int, list[Verdict]] = {}
    for name in names:
        for v in CHECKS.lookup(name)().run(examples, ctx):
            if not v.keep:
                flagged.setdefault(v.index, []).append(v)
    return flagged


def audit_examples(
    read: ReadResult, cfg: Config, tokenizer=None, checks: list[str] | None = None,
    test_examples: list[Example] | None = None,
) -> AuditResult:
    ctx = CheckContext(
        system_prompt=cfg.data.system_prompt,
        tokenizer=tokenizer,
        max_seq_tokens=cfg.audit.max_seq_tokens,
        drop_exact_duplicates=cfg.audit.drop_exact_duplicates,
        drop_conflicts=cfg.audit.drop_conflicts,
        config=cfg,
        test_examples=list(test_examples or []),
    )
    flagged = run_checks(read.examples, ctx, checks or cfg.audit.checks)
    clean, quarantine = [], []
    for r in read.rejected:
        quarantine.append({**r.to_json(), "reasons": [r.reason]})
    for i, ex in enumerate(read.examples):
        vs = flagged.get(i)
        if vs is None:
            clean.append(ex)
        else:
            quarantine.append({
                "id": ex.id, "source": ex.source, "reasons": [v.reason for v in vs],
                "details": [v.detail for v in vs], "scores": [v.score for v in vs], "example": ex.to_json(),
            })
    reason_counts = Counter(r for q in quarantine for r in q["reasons"])
    used_fraction = len(clean) / read.input_records if read.input_records else 0.0
    summary = {
        "input_records": read.input_records,
        "used": len(clean),
        "quarantined": len(quarantine),
        "reasons": dict(reason_counts.most_common()),
        "token_lengths": length_stats([n for i, n in ctx.token_lengths.items() if i not in flagged]),
        **ctx.report,
        "gate": {
            "passed": used_fraction >= cfg.audit.min_usable_fraction and len(clean) > 0,
            "used_fraction": round(used_fraction, 4),
            "min_usable_fraction": cfg.audit.min_usable_fraction,
        },
    }
    assert summary["used"] + summary["quarantined"] == summary["input_records"], "audit lost a record"
    return AuditResult(clean, quarantine, summary)


def audit_data(cfg: Config, out_dir: Path, get_tokenizer: Callable[[], Any] | None = None) -> AuditResult:
    """Stage function: audit train files (and test files, separately), write clean/quarantine/audit.json.

    The files are read before the tokenizer is asked for, so unusable input fails fast without a model load.
    """
    train_read = read_inputs(cfg, cfg.data.train_files)
    test_read = read_inputs(cfg, cfg.data.test_files) if cfg.data.test_files else None
    tokenizer = get_tokenizer() if get_tokenizer else None
    result = audit_examples(train_read, cfg, tokenizer, test_examples=test_read.examples if test_read else None)
    if test_read is not None:
        test = audit_examples(test_read, cfg, tokenizer)
        result.test_clean = test.clean
        result.summary["test"] = {k: test.summary[k] for k in ("input_records", "used", "quarantined", "reasons")}
        result.quarantine += [{**q, "split": "test"} for q in test.quarantine]
    out_dir = Path(out_dir)
    write_jsonl(out_dir / "clean.jsonl", result.clean)
    if cfg.data.test_files:
        write_jsonl(out_dir / "test_clean.jsonl", result.test_clean)
    write_jsonl(out_dir / "quarantine.jsonl", result.quarantine)
    write_json(out_dir / "audit.json", result.summary)
    return result

