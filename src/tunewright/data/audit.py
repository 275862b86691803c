"""The data audit: read the files, run the registered checks, gate, and write clean set + quarantine.

Nothing is lost: ``input_records == used + quarantined``, where the quarantine holds both unreadable lines
(from the readers) and examples flagged by a check, each with every reason that applies.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from tunewright.assets import resolve_path
from tunewright.config import Config
from tunewright.data.checks import CHECKS, CheckContext, Verdict
from tunewright.data.gate import evaluate_gate, matches
from tunewright.data.parallel import observe_batch
from tunewright.data.sufficiency import ClassTally, sufficiency_summary
from tunewright.project import write_json
from tunewright.evaluation.tasks import task_type
from tunewright.readers import ReadLimits, collect, iter_files
from tunewright.records import Example, ReadResult, Rejected
from tunewright.writers import jsonl_writer, read_examples, read_json_lines, write_jsonl



@dataclass
class AuditResult:
    """What the audit found. ``clean`` and ``quarantine`` are lists when the audit ran in memory; after a
    streamed audit of files they are read back from the files on first use (a million records stay on disk
    unless someone asks)."""

    summary: dict[str, Any]
    _clean: list[Example] | None = None
    _quarantine: list[dict[str, Any]] | None = None
    clean_path: Path | None = None
    quarantine_path: Path | None = None
    test_clean: list[Example] = field(default_factory=list)
    label_suspects: list[dict[str, Any]] = field(default_factory=list)  # ranked, for review

    @property
    def clean(self) -> list[Example]:
        if self._clean is None:
            self._clean = read_examples(self.clean_path) if self.clean_path else []
        return self._clean

    @property
    def quarantine(self) -> list[dict[str, Any]]:
        if self._quarantine is None:
            self._quarantine = read_json_lines(self.quarantine_path) if self.quarantine_path else []
        return self._quarantine

    @property
    def passed(self) -> bool:
        return self.summary["gate"]["passed"]


def input_items(cfg: Config, files: list[str]) -> Callable[[], Iterator[Example | Rejected]]:
    """A function that opens the files afresh and yields every record (the audit reads them twice)."""
    paths = [str(resolve_path(cfg.resolve(f))) for f in files]
    d = cfg.data
    limits = ReadLimits(max_record_bytes=d.max_record_bytes, max_depth=d.max_json_depth, encoding=d.encoding)
    items = lambda: iter_files(paths, format=d.format, prompt_column=d.prompt_column,  # noqa: E731
                               completion_column=d.completion_column, max_records=d.max_records,
                               display_names=dict(zip(paths, files)), columns=d.columns, limits=limits)
    if d.choices_from_prompt:
        from tunewright.data.profile import with_prompt_choices

        return lambda: with_prompt_choices(items())
    return items


def read_inputs(cfg: Config, files: list[str]) -> ReadResult:
    return collect(input_items(cfg, files)())


def length_stats(lengths: np.ndarray) -> dict[str, float]:
    a = np.asarray(lengths)
    if not a.size:
        return {}
    return {
        "count": int(a.size), "min": int(a.min()), "mean": round(float(a.mean()), 1),
        "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": int(a.max()),
        "total": int(a.sum()),
    }


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
        labels=list(cfg.task.labels) if task_type(cfg.task).has_label_set else [],
        workers=cfg.audit.workers,
        config=cfg,
        test_examples=list(test_examples or []),
    )


def length_histograms(lengths: np.ndarray, used: np.ndarray, bins: int = 30) -> dict[str, dict]:
    """Token-length histograms of used and quarantined examples on shared bin edges (comparable bars);
    ``lengths`` is -1 where none was measured."""
    have = lengths >= 0
    if not have.any():
        return {"used": {"edges": [], "counts": []}, "quarantined": {"edges": [], "counts": []}}
    edges = np.histogram_bin_edges(lengths[have], bins=bins)
    out = {}
    for name, mask in (("used", used), ("quarantined", ~used)):
        out[name] = {"edges": [round(float(e), 1) for e in edges],
                     "counts": np.histogram(lengths[have & mask], bins=edges)[0].tolist()}
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


def batches(items: Iterator[Example | Rejected], size: int) -> Iterator[list[Example | Rejected]]:
    buf: list[Example | Rejected] = []
    n_ex = 0
    for it in items:
        buf.append(it)
        n_ex += isinstance(it, Example)
        if n_ex >= size:
            yield buf
            buf, n_ex = [], 0
    if buf:
        yield buf


def audit_stream(
    open_items: Callable[[], Iterator[Example | Rejected]], cfg: Config, write_clean: Callable[[Example], None],
    write_quarantine: Callable[[dict], None], get_tokenizer: Callable[[], Any] | None = None,
    checks: list[str] | None = None, test_examples: list[Example] | None = None, total: int | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The audit in two passes over the records, ``audit.batch_records`` examples at a time.

    Pass 1: every check observes each batch (per-example verdicts right away; comparing checks keep
    compact keys), then ``finish`` gives the verdicts that need all examples. Pass 2 reads the records
    again and writes each one to the clean set or the quarantine (with all its reasons). Memory holds one
    batch, the checks' keys, the sources and the verdicts, not the dataset. Returns (summary, ranked label
    suspects with their examples)."""
    ctx = make_context(cfg, None, test_examples)
    names = checks or cfg.audit.checks
    instances = [CHECKS.lookup(n)() for n in names]  # unknown names fail before any work
    size = cfg.audit.batch_records
    t0 = time.perf_counter()
    flagged: dict[int, list[tuple[int, Verdict]]] = {}
    seconds: dict[str, float] = {}
    n_examples = 0

    def keep(got):
        for k, v in got:
            if v.reason:
                flagged.setdefault(v.index, []).append((k, v))

    with tqdm(total=total, desc="audit: checks", unit="rec", disable=None, leave=False) as bar:
        for items in batches(open_items(), size):
            batch = [x for x in items if isinstance(x, Example)]
            if batch and ctx.tokenizer is None and get_tokenizer is not None:
                ctx.tokenizer = get_tokenizer()  # only once there is something to measure
            ctx.see(batch, n_examples)
            keep(observe_batch(instances, batch, n_examples, ctx, cfg.audit.workers, seconds))
            n_examples += len(batch)
            bar.update(len(items))
            del items, batch
            # What outlives the batch (verdicts, keys) is frozen out of the cyclic GC's scans: without it each
            # full collection rescans every verdict kept so far (GC pauses were most of token_length's time).
            gc.freeze()
    gc.unfreeze()
    for k, check in enumerate(instances):
        t1 = time.perf_counter()
        keep((k, v) for v in check.finish(ctx))
        if not check.per_example:  # per-example checks finish at once (and may have run in the pool)
            seconds[check.name] = round(seconds.get(check.name, 0.0) + time.perf_counter() - t1, 3)
    for i, kv in flagged.items():  # in place, one list at a time: no second copy of every verdict
        kv.sort(key=lambda x: x[0])  # check order (stable: within a check, the order it gave)
        flagged[i] = [v for _, v in kv]
    verdicts: dict[int, list[Verdict]] = flagged  # type: ignore[assignment]
    dropped = {i for i, vs in verdicts.items() if any(is_dropped(v, cfg.audit) for v in vs)}

    suspects = {s["index"]: s for s in ctx.artifacts.get("label_suspects", [])}
    reason_counts, dropped_counts = Counter(), Counter()
    counts = Counter()
    tally = ClassTally(cfg.audit.label_noise.max_answer_words)
    tasks: Counter = Counter()
    i = 0
    with tqdm(total=total, desc="audit: writing", unit="rec", disable=None, leave=False) as bar:
        for items in batches(open_items(), size):
            batch = [x for x in items if isinstance(x, Example)]
            for check in instances:
                check.revisit(batch, i, ctx)
            clean_batch = []
            for item in items:
                counts["input"] += 1
                if isinstance(item, Rejected):
                    write_quarantine({**item.to_json(), "action": "dropped", "reasons": [item.reason]})
                    reason_counts[item.reason] += 1
                    dropped_counts[item.reason] += 1
                    counts["rejected"] += 1
                    continue
                if i >= n_examples or ctx.sources[i] != (item.source or f"example #{i}"):
                    raise RuntimeError(f"{item.source}: the input changed while it was being audited")
                if i in suspects:
                    suspects[i].update(source=item.source, id=item.id, example=item.to_json())
                vs = verdicts.get(i)
                drop = i in dropped
                if vs:
                    row = quarantine_row(item, vs, drop)
                    write_quarantine(row)
                    reasons = list(dict.fromkeys(row["reasons"]))  # per example, not per verdict
                    reason_counts.update(reasons)
                    if drop:
                        dropped_counts.update(reasons)
                    else:
                        counts["flagged_kept"] += 1
                if not drop:
                    write_clean(item)
                    clean_batch.append(item)
                i += 1
            tally.add(clean_batch)
            tasks.update(str(ex.meta["task"]) for ex in clean_batch if "task" in ex.meta)
            bar.update(len(items))
    if i != n_examples:
        raise RuntimeError("the input changed while it was being audited: "
                           f"{n_examples} examples in the first pass, {i} in the second")
    lengths = ctx.token_lengths.array(n_examples)
    used = np.ones(n_examples, bool)
    used[list(dropped)] = False
    summary = {
        "input_records": counts["input"],
        "used": n_examples - len(dropped),
        "quarantined": counts["rejected"] + len(dropped),
        "flagged_kept": counts["flagged_kept"],
        "reasons": dict(reason_counts.most_common()),
        "dropped_reasons": dict(dropped_counts.most_common()),
        "token_lengths": length_stats(lengths[used & (lengths >= 0)]),
        "length_histograms": length_histograms(lengths, used),
        "check_seconds": seconds,
        "audit_seconds": round(time.perf_counter() - t0, 3),
        "batch_records": size,
        **ctx.report,  # near_duplicates, leakage: counts for the gate and the report
    }
    if "label_noise" in ctx.artifacts:
        summary["label_noise"] = ctx.artifacts["label_noise"]
    if "language_checked" in ctx.artifacts:
        summary["language_checked"] = ctx.artifacts["language_checked"]
    summary["sufficiency"] = sufficiency_summary(tally, tasks, counts["input"], cfg.audit, declared=bool(ctx.labels))
    summary["gate"] = evaluate_gate(summary, cfg.audit)
    assert summary["used"] + summary["quarantined"] == summary["input_records"], "audit lost a record"
    return summary, list(suspects.values())


def audit_examples(
    read: ReadResult, cfg: Config, tokenizer=None, checks: list[str] | None = None,
    test_examples: list[Example] | None = None,
) -> AuditResult:
    """The audit of records already in memory (rejected ones first, then the examples)."""
    clean: list[Example] = []
    quarantine: list[dict[str, Any]] = []
    summary, suspects = audit_stream(lambda: iter([*read.rejected, *read.examples]), cfg, clean.append,
                                     quarantine.append, (lambda: tokenizer) if tokenizer is not None else None,
                                     checks, test_examples, total=read.input_records)
    return AuditResult(summary, clean, quarantine, label_suspects=suspects)


def audit_data(cfg: Config, out_dir: Path, get_tokenizer: Callable[[], Any] | None = None) -> AuditResult:
    """Stage function: audit train files (and test files, separately), write clean/quarantine/audit.json.

    The train files are streamed (:func:`audit_stream`); the test files, which the leakage check holds, are
    read into memory. The tokenizer is only asked for once a batch has an example to measure, so a file
    without one fails (NoUsableRecords) without a model load."""
    out_dir = Path(out_dir)
    test_read = read_inputs(cfg, cfg.data.test_files) if cfg.data.test_files else None
    # only token_length needs the model's tokenizer; without it the audit loads nothing of the model
    get_tok = get_tokenizer if get_tokenizer and "token_length" in cfg.audit.checks else None
    tok_cache: list = []

    def tokenizer():
        if not tok_cache:
            tok_cache.append(get_tok())
        return tok_cache[0]

    with jsonl_writer(out_dir / "clean.jsonl") as write_clean, \
            jsonl_writer(out_dir / "quarantine.jsonl") as write_quarantine:
        summary, suspects = audit_stream(input_items(cfg, cfg.data.train_files), cfg, write_clean, write_quarantine,
                                         tokenizer if get_tok else None,
                                         test_examples=test_read.examples if test_read else None)
        result = AuditResult(summary, clean_path=out_dir / "clean.jsonl", quarantine_path=out_dir / "quarantine.jsonl",
                             label_suspects=suspects)
        if test_read is not None:
            test = audit_examples(test_read, cfg, tok_cache[0] if tok_cache else (get_tok() if get_tok else None))
            result.test_clean = test.clean
            result.summary["test"] = {k: test.summary[k] for k in ("input_records", "used", "quarantined", "reasons",
                                                                    "gate")}
            if not test.passed:  # a failed test split fails the data gate too
                result.summary["gate"]["passed"] = False
                result.summary["gate"]["verdict"] = "fail"
                result.summary["gate"]["failures"] += [f"test: {f}" for f in test.summary["gate"]["failures"]]
            for q in test.quarantine:
                write_quarantine({**q, "split": "test"})
    if cfg.data.test_files:
        write_jsonl(out_dir / "test_clean.jsonl", result.test_clean)
    write_jsonl(out_dir / "label_suspects.jsonl", result.label_suspects)
    write_json(out_dir / "audit.json", result.summary)
    return result
