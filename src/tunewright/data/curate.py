"""Curation: the audit's clean set, repaired, written as JSONL and Parquet.

What the audit only reports, curate applies when config asks: text normalization (``audit.normalize``),
PII redaction with typed placeholders (``audit.pii.redact_in_curate``), and superseded references replaced
by their successors (``audit.outdated`` rules with ``superseded``). Quarantined examples are never curated
back in: ``quarantine.jsonl`` stays the record of what was left out and why.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from tunewright.config import Config
from tunewright.data.audit import AuditResult, audit_data
from tunewright.data.normalize import normalize_example
from tunewright.data.outdated import CompiledRule, replace_superseded
from tunewright.data.pii import redact_example
from tunewright.project import write_json
from tunewright.records import Example, iter_examples, jsonl_writer, read_examples


@dataclass
class CurateResult:
    audit: AuditResult
    curated_path: Path
    changes: dict[str, int] = field(default_factory=dict)  # what was changed, in how many examples
    test_curated: list[Example] = field(default_factory=list)

    @property
    def curated(self) -> list[Example]:
        return read_examples(self.curated_path)


def _map_texts(ex: Example, f: Callable[[str], str]) -> Example:
    def g(s):
        return None if s is None else f(s)

    msgs = None if ex.messages is None else [{"role": m["role"], "content": g(m["content"])} for m in ex.messages]
    return Example(messages=msgs, prompt=g(ex.prompt), completion=g(ex.completion), text=g(ex.text),
                   label=ex.label, meta=dict(ex.meta), source=ex.source)


def curate_examples(examples: list[Example], cfg: Config) -> tuple[list[Example], Counter]:
    """Repaired copies (new ids where the content changed) and a count of examples per change."""
    a = cfg.audit
    rules = [CompiledRule(r) for r in a.outdated if r.superseded]
    out, changes = [], Counter()
    for ex in examples:
        cur = ex
        if a.normalize.apply_in_curate:
            fixed = normalize_example(cur, a.normalize.fix_mojibake, a.normalize.strip_html)
            if fixed.id != cur.id:
                changes["normalized"] += 1
                cur = fixed
        if a.pii.redact_in_curate:
            red = redact_example(cur, a.pii.types)
            if red.id != cur.id:
                changes["pii_redacted"] += 1
                cur = red
        if rules:
            new = _map_texts(cur, lambda s: replace_superseded(s, rules))
            if new.id != cur.id:
                changes["superseded_replaced"] += 1
                cur = new
        if cur is not ex:
            cur.meta["curated_from"] = ex.id
        out.append(cur)
    return out, changes


def _parquet_schema():
    import pyarrow as pa

    msg = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    return pa.schema([("id", pa.string()), ("source", pa.string()), ("messages", msg), ("prompt", pa.string()),
                      ("completion", pa.string()), ("text", pa.string()), ("label", pa.string()),
                      ("meta", pa.string())])


def _table(examples: list[Example], schema):
    import pyarrow as pa

    cols: dict[str, list[Any]] = {n: [] for n in schema.names}
    for ex in examples:
        for n in ("id", "source", "messages", "prompt", "completion", "text", "label"):
            cols[n].append(getattr(ex, n))
        cols["meta"].append(json.dumps(ex.meta, ensure_ascii=False))
    return pa.table(cols, schema=schema)


def write_parquet(path: Path, batches: Iterable[list[Example]]) -> None:
    """One row per example; ``meta`` as a JSON string, since its keys differ from record to record. Each
    batch of examples is a row group, so memory holds one batch."""
    import pyarrow.parquet as pq

    from tunewright import project

    schema = _parquet_schema()
    with project.atomic_file(path, "wb") as f, pq.ParquetWriter(f, schema) as w:  # atomic, like every artifact
        wrote = False
        for batch in batches:
            if batch:
                w.write_table(_table(batch, schema))
                wrote = True
        if not wrote:
            w.write_table(_table([], schema))


def read_parquet(path: Path) -> list[Example]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    return [Example(**{**{k: v for k, v in r.items() if k != "meta"}, "meta": json.loads(r["meta"])}) for r in rows]


def curate_file(src: Path, dst: Path, cfg: Config, batch: int = 10_000) -> Counter:
    """Curate a run's JSONL of Examples into ``dst`` (.jsonl) and its .parquet twin, a batch at a time."""
    changes: Counter = Counter()

    def curated_batches(write):
        for b in iter_examples(src, batch):
            out, ch = curate_examples(b, cfg)
            changes.update(ch)
            for ex in out:
                write(ex)
            yield out

    with jsonl_writer(dst) as write:
        write_parquet(dst.with_suffix(".parquet"), curated_batches(write))
    return changes


def curate_data(cfg: Config, out_dir: Path, get_tokenizer: Callable[[], Any] | None = None) -> CurateResult:
    """Stage function: audit, then write curated.jsonl / curated.parquet (and test_curated.*) into out_dir."""
    out_dir = Path(out_dir)
    audit = audit_data(cfg, out_dir, get_tokenizer)
    changes = curate_file(out_dir / "clean.jsonl", out_dir / "curated.jsonl", cfg)
    result = CurateResult(audit, out_dir / "curated.jsonl", dict(changes))
    if cfg.data.test_files:
        test_changes = curate_file(out_dir / "test_clean.jsonl", out_dir / "test_curated.jsonl", cfg)
        result.test_curated = read_examples(out_dir / "test_curated.jsonl")
        result.changes.update({f"test_{k}": v for k, v in test_changes.items()})
    audit.summary["curate"] = {"examples": audit.summary["used"], "changes": result.changes}
    write_json(out_dir / "audit.json", audit.summary)
    return result
