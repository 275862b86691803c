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
from typing import Any, Callable

from tunewright.config import Config
from tunewright.data.audit import AuditResult, audit_data
from tunewright.data.normalize import normalize_example
from tunewright.data.outdated import CompiledRule, replace_superseded
from tunewright.data.pii import redact_example
from tunewright.project import write_json
from tunewright.records import Example, write_jsonl


@dataclass
class CurateResult:
    audit: AuditResult
    curated: list[Example]
    changes: dict[str, int] = field(default_factory=dict)  # what was changed, in how many examples
    test_curated: list[Example] = field(default_factory=list)


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


def write_parquet(path: Path, examples: list[Example]) -> None:
    """One row per example; ``meta`` as a JSON string, since its keys differ from record to record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    msg = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    schema = pa.schema([("id", pa.string()), ("source", pa.string()), ("messages", msg), ("prompt", pa.string()),
                        ("completion", pa.string()), ("text", pa.string()), ("label", pa.string()),
                        ("meta", pa.string())])
    cols: dict[str, list[Any]] = {n: [] for n in schema.names}
    for ex in examples:
        for n in ("id", "source", "messages", "prompt", "completion", "text", "label"):
            cols[n].append(getattr(ex, n))
        cols["meta"].append(json.dumps(ex.meta, ensure_ascii=False))
    tmp = Path(path).with_suffix(".parquet.tmp")
    pq.write_table(pa.table(cols, schema=schema), tmp)
    tmp.replace(path)  # atomic, like every run artifact


def read_parquet(path: Path) -> list[Example]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    return [Example(**{**{k: v for k, v in r.items() if k != "meta"}, "meta": json.loads(r["meta"])}) for r in rows]


def curate_data(cfg: Config, out_dir: Path, get_tokenizer: Callable[[], Any] | None = None) -> CurateResult:
    """Stage function: audit, then write curated.jsonl / curated.parquet (and test_curated.*) into out_dir."""
    out_dir = Path(out_dir)
    audit = audit_data(cfg, out_dir, get_tokenizer)
    curated, changes = curate_examples(audit.clean, cfg)
    result = CurateResult(audit, curated, dict(changes))
    write_jsonl(out_dir / "curated.jsonl", curated)
    write_parquet(out_dir / "curated.parquet", curated)
    if cfg.data.test_files:
        result.test_curated, test_changes = curate_examples(audit.test_clean, cfg)
        write_jsonl(out_dir / "test_curated.jsonl", result.test_curated)
        write_parquet(out_dir / "test_curated.parquet", result.test_curated)
        result.changes.update({f"test_{k}": v for k, v in test_changes.items()})
    audit.summary["curate"] = {"examples": len(curated), "changes": result.changes}
    write_json(out_dir / "audit.json", audit.summary)
    return result
