"""The data audit: read the files, run the registered checks, gate, and write clean set + quarantine.

Nothing is lost: ``input_records == used + quarantined``, where the quarantine holds both unreadable lines
(from the readers) and examples flagged by a check, each with every reason that applies.
"""

from __future__ import annotations

import gc
import importlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tunewright.assets import resolve_path
from tunewright.config import Config
from tunewright.data.checks import CHECKS, CheckContext, Verdict
from tunewright.data.gate import evaluate_gate, matches
from tunewright.data.parallel import run_all_checks
from tunewright.data.sufficiency import assess_sufficiency
from tunewright.project import write_json
from tunewright.records import Example, ReadResult, read_files, write_jsonl

# Modules whose import registers checks (STYLE.md #7); checks.py registers the first ones itself.
CHECK_MODULES = ["format", "normalize", "quality", "pii", "outdated", "label_noise", "semantic", "dedup", "leakage"]
for _m in CHECK_MODULES:
    importlib.import_module(f"tunewright.data.{_m}")


@dataclass
class AuditResult:
    clean: list[Example]
    quarantine: list[dict[str, Any]]
    summary: dict[str, Any]
    test_clean: list[Example] = field(default_factory=list)
    label_suspects: list[dict[str, Any]] = field(default_factory=list)  # ranked, for review

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
    """Every verdict with a reason, per example index, in check order (kept flags and drops alike)."""
    flagged: dict[int, list[Verdict]] = {}
    for name in names:
        for v in CHECKS.lookup(name)().run(examples, ctx):
            if v.reason:
                flagged.setdefault(v.index, []).append(v)
    return flagged


def is_dropped(v: Verdict, audit_cfg) -> bool:
    """A verdict drops its example unless its reason is only a flag (audit.keep_reasons); drop_reasons win."""
    if matches(v.reason, audit_cfg.drop_reasons):
        return True
    return not v.keep and not matches(v.reason, audit_cfg.keep_reasons)


def make_context(cfg: Config, tokenizer=None, test_examples: list[Example] | None = None) -> CheckContext:
    return CheckContext(
        system_prompt=cfg.data.system_prompt,
        tokenizer=tokenizer,
        max_seq_tokens=cfg.audit.max_seq_tokens,
        drop_exact_duplicates=cfg.audit.drop_exact_duplicates,
        drop_conflicts=cfg.audit.drop_conflicts,
        audit=cfg.audit,
        labels=list(cfg.task.labels) if cfg.task.type == "classification" else [],
        workers=cfg.audit.workers,
        config=cfg,
        test_examples=list(test_examples or []),
    )


def length_histograms(lengths: dict[int, int], dropped: set[int], bins: int = 30) -> dict[str, dict]:
    """Token-length histograms of used and quarantined examples on shared bin edges (comparable bars)."""
    if not lengths:
        return {"used": {"edges": [], "counts": []}, "quarantined": {"edges": [], "counts": []}}
    edges = np.histogram_bin_edges(np.asarray(list(lengths.values())), bins=bins)
    out = {}
    for name, keep in (("used", False), ("quarantined", True)):
        vals = np.asarray([n for i, n in lengths.items() if (i in dropped) == keep])
        out[name] = {"edges": [round(float(e), 1) for e in edges], "counts": np.histogram(vals, bins=edges)[0].tolist()}
    return out


def quarantine_row(ex: Example, vs: list[Verdict], dropped: bool) -> dict[str, Any]:
    row = {"id": ex.id, "source": ex.source, "action": "dropped" if dropped else "flagged",
           "reasons": [v.reason for v in vs], "details": [v.detail for v in vs],
           "scores": [round(float(v.score), 4) for v in vs], "example": ex.to_json()}
    spans = [{"reason": v.reason, **sp} for v in vs for sp in v.spans]
    if spans:
        row["spans"] = spans
    clusters = sorted({v.cluster for v in vs if getattr(v, "cluster", None) is not None})
    if clusters:
        row["clusters"] = clusters
    return row


def audit_examples(
    read: ReadResult, cfg: Config, tokenizer=None, checks: list[str] | None = None,
    test_examples: list[Example] | None = None,
) -> AuditResult:
    ctx = make_context(cfg, tokenizer, test_examples)
    names = checks or cfg.audit.checks
    for n in names:
        CHECKS.lookup(n)  # unknown names fail before any work
    t0 = time.perf_counter()
    # The examples live through the whole audit: frozen, the cyclic GC stops rescanning them on every
    # collection (in a profile of token_length on 9,312 examples, GC pauses took 2.1 of its 2.7 s).
    gc.freeze()
    try:
        verdicts, seconds = run_all_checks(read.examples, ctx, names, cfg.audit.workers)
    finally:
        gc.unfreeze()
    flagged: dict[int, list[Verdict]] = {}
    for v in verdicts:
        if v.reason:
            flagged.setdefault(v.index, []).append(v)
    clean, quarantine, dropped_idx = [], [], set()
    for r in read.rejected:
        quarantine.append({**r.to_json(), "action": "dropped", "reasons": [r.reason]})
    for i, ex in enumerate(read.examples):
        vs = flagged.get(i)
        drop = bool(vs) and any(is_dropped(v, cfg.audit) for v in vs)
        if vs:
            quarantine.append(quarantine_row(ex, vs, drop))
        if drop:
            dropped_idx.add(i)
        else:
            clean.append(ex)
    # per example, not per verdict: one record with three e-mail addresses is one pii_email record
    reason_counts = Counter(r for q in quarantine for r in dict.fromkeys(q["reasons"]))
    dropped_counts = Counter(r for q in quarantine if q["action"] == "dropped" for r in dict.fromkeys(q["reasons"]))
    lengths = ctx.token_lengths
    summary = {
        "input_records": read.input_records,
        "used": len(clean),
        "quarantined": len(read.rejected) + len(dropped_idx),
        "flagged_kept": sum(1 for q in quarantine if q["action"] == "flagged"),
        "reasons": dict(reason_counts.most_common()),
        "dropped_reasons": dict(dropped_counts.most_common()),
        "token_lengths": length_stats([n for i, n in lengths.items() if i not in dropped_idx]),
        "length_histograms": length_histograms(lengths, dropped_idx),
        "check_seconds": seconds,
        "audit_seconds": round(time.perf_counter() - t0, 3),
        **ctx.report,  # near_duplicates, leakage: counts for the gate and the report
    }
    if "label_noise" in ctx.artifacts:
        summary["label_noise"] = ctx.artifacts["label_noise"]
    if "language_checked" in ctx.artifacts:
        summary["language_checked"] = ctx.artifacts["language_checked"]
    summary["sufficiency"] = assess_sufficiency(clean, read.input_records, cfg.audit, declared=bool(ctx.labels))
    summary["gate"] = evaluate_gate(summary, cfg.audit)
    assert summary["used"] + summary["quarantined"] == summary["input_records"], "audit lost a record"
    result = AuditResult(clean, quarantine, summary)
    result.label_suspects = [{**s, "source": read.examples[s["index"]].source, "id": read.examples[s["index"]].id,
                              "example": read.examples[s["index"]].to_json()}
                             for s in ctx.artifacts.get("label_suspects", [])]
    return result


def audit_data(cfg: Config, out_dir: Path, get_tokenizer: Callable[[], Any] | None = None) -> AuditResult:
    """Stage function: audit train files (and test files, separately), write clean/quarantine/audit.json.

    The files are read before the tokenizer is asked for, so unusable input fails fast without a model load.
    """
    train_read = read_inputs(cfg, cfg.data.train_files)
    test_read = read_inputs(cfg, cfg.data.test_files) if cfg.data.test_files else None
    # only token_length needs the model's tokenizer; without it the audit loads nothing of the model
    tokenizer = get_tokenizer() if get_tokenizer and "token_length" in cfg.audit.checks else None
    result = audit_examples(train_read, cfg, tokenizer, test_examples=test_read.examples if test_read else None)
    if test_read is not None:
        test = audit_examples(test_read, cfg, tokenizer)
        result.test_clean = test.clean
        result.summary["test"] = {k: test.summary[k] for k in ("input_records", "used", "quarantined", "reasons",
                                                                "gate")}
        if not test.passed:  # a failed test split fails the data gate too
            result.summary["gate"]["passed"] = False
            result.summary["gate"]["verdict"] = "fail"
            result.summary["gate"]["failures"] += [f"test: {f}" for f in test.summary["gate"]["failures"]]
        result.quarantine += [{**q, "split": "test"} for q in test.quarantine]
    out_dir = Path(out_dir)
    write_jsonl(out_dir / "clean.jsonl", result.clean)
    if cfg.data.test_files:
        write_jsonl(out_dir / "test_clean.jsonl", result.test_clean)
    write_jsonl(out_dir / "quarantine.jsonl", result.quarantine)
    write_jsonl(out_dir / "label_suspects.jsonl", result.label_suspects)
    write_json(out_dir / "audit.json", result.summary)
    return result

