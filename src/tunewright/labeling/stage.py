"""Stage functions for ``tunewright label`` and ``tunewright review``: plain functions on a config and a run.

Layout inside the run: ``labeling/`` holds votes.jsonl, labels.jsonl, analysis.json, queue.jsonl, the review
store (review.db unless review.db_url is set), agreement.json; the export goes to ``data/reviewed.jsonl``.
"""

from __future__ import annotations

from pathlib import Path

from tunewright.project import Run, write_json
from tunewright.records import Example, read_examples
from tunewright.results import (AgreementOutcome, FunctionRow, LabelOutcome, ReviewExportOutcome,
                                ReviewInitOutcome)
from tunewright.errors import InputError, MissingArtifact


def labeling_dir(run: Run) -> Path:
    return run.path / "labeling"


def input_examples(cfg, run: Run) -> list[Example]:
    """The audited clean set when the run has one, else the configured input files."""
    clean = run.data_dir / "clean.jsonl"
    if clean.exists():
        return read_examples(clean)
    from tunewright.data.audit import read_inputs

    return read_inputs(cfg, cfg.data.train_files).examples


def stage_label(cfg, run: Run) -> LabelOutcome:
    """Run the labeling functions and the label model over the run's examples; write votes, labels, the
    per-function analysis and the review queue into ``run/labeling``."""
    from tunewright.labeling.run import audit_suspects, label_examples, load_functions, write_labeling

    with run.stage("label"):
        examples = input_examples(cfg, run)
        fns = load_functions(cfg)
        suspects_file = Path(cfg.resolve(cfg.review.suspects_file)) if cfg.review.suspects_file else None
        suspects = audit_suspects(examples, suspects_file, run.data_dir / "quarantine.jsonl")
        result = label_examples(cfg, examples, fns, audit_reasons=suspects)
        paths = write_labeling(labeling_dir(run), examples, result)
        run.update_manifest(labeling={"functions": [f.name for f in fns], "label_model": cfg.labeling.label_model,
                                      "scores": result.scores})
        run.record_artifact("label", *paths.values())
    rows = [FunctionRow(r["function"], r["coverage"], r["overlap"], r["conflict"], r["accuracy"]) for r in result.summary]
    return LabelOutcome(run.path, len(examples), rows, result.scores, {k: Path(v) for k, v in paths.items()})


def review_store(cfg, run: Run):
    from tunewright.review.service import default_db_url
    from tunewright.review.store import Store

    d = labeling_dir(run)
    if not (d / "labels.jsonl").exists():
        raise MissingArtifact(f"{d / 'labels.jsonl'}: missing; run 'tunewright label --run {run.path}' first")
    return Store(cfg.review.db_url or default_db_url(d))


def stage_review_init(cfg, run: Run, reviewers: list[str]) -> ReviewInitOutcome:
    """Queue the most valuable examples and create reviewers; returns the new tokens (shown once)."""
    from tunewright.review.service import init_review

    store = review_store(cfg, run)
    added = init_review(cfg, labeling_dir(run), input_examples(cfg, run), store)
    tokens = {name: store.add_reviewer(name) for name in reviewers}
    return ReviewInitOutcome(added, len(store.items()), tokens)


def stage_review_export(cfg, run: Run, out: Path | None = None) -> ReviewExportOutcome:
    """Write every example with its reviewed (or label-model) answer and its provenance in meta."""
    from tunewright.review.service import export_reviewed

    store = review_store(cfg, run)
    out = out or run.data_dir / "reviewed.jsonl"
    summary = export_reviewed(store, labeling_dir(run) / "labels.jsonl", out)
    if out.resolve().is_relative_to(run.path.resolve()):
        run.record_artifact("review", out)
    return ReviewExportOutcome(summary["examples"], summary["reviewed"], summary["changed"], out)


def stage_review_agreement(cfg, run: Run) -> AgreementOutcome:
    """Agreement between reviewers and accuracy on gold items, into ``run/labeling/agreement.json``."""
    from tunewright.review.service import agreement

    rep = agreement(review_store(cfg, run))
    write_json(labeling_dir(run) / "agreement.json", rep)
    return AgreementOutcome.from_json(rep)


def stage_review_interop(cfg, run: Run, direction: str, fmt: str, path: Path) -> int:
    """Export the queue to, or import judgments from, Label Studio or Argilla; returns the records moved."""
    from tunewright.review import interop

    store = review_store(cfg, run)
    fn = {("export", "labelstudio"): interop.export_label_studio, ("import", "labelstudio"): interop.import_label_studio,
          ("export", "argilla"): interop.export_argilla, ("import", "argilla"): interop.import_argilla}.get((direction, fmt))
    if fn is None:
        raise InputError(f"--format must be labelstudio or argilla, got {fmt!r}")
    return fn(store, cfg, path)
