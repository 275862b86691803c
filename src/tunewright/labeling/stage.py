"""Stage functions for ``tunewright label`` and ``tunewright review``: plain functions on a config and a run.

Layout inside the run: ``labeling/`` holds votes.jsonl, labels.jsonl, analysis.json, queue.jsonl, the review
store (review.db unless review.db_url is set), agreement.json; the export goes to ``data/reviewed.jsonl``.
"""

from __future__ import annotations

from pathlib import Path

from tunewright.project import Run, write_json
from tunewright.records import Example, read_examples
from tunewright.results import (AgreementOutcome, FunctionRow, InteropOutcome, LabelOutcome, ReviewExportOutcome,
                                ReviewInitOutcome, ReviewNextOutcome)
from tunewright.errors import InputError, MissingArtifact


def labeling_dir(run: Run) -> Path:
    return run.path / "labeling"


def input_examples(cfg, run: Run) -> list[Example]:
    """The audited clean set when the run has one (and it is not the audit of labeled data), else the
    configured input files: what the label stage labeled."""
    clean = run.data_dir / "clean.jsonl"
    if clean.exists() and not (run.data_dir / "labeled.jsonl").exists():
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
    """Reviewed labels with provenance; stored labels that no longer read are left out and listed in
    ``problems`` (and in labeling/review_problems.jsonl)."""
    from tunewright.records import write_jsonl
    from tunewright.review.service import export_reviewed, label_validator

    store = review_store(cfg, run)
    out = out or run.data_dir / "reviewed.jsonl"
    summary = export_reviewed(store, labeling_dir(run) / "labels.jsonl", out, label_validator(cfg))
    if summary["problems"]:
        write_jsonl(labeling_dir(run) / "review_problems.jsonl", summary["problems"])
    if out.resolve().is_relative_to(run.path.resolve()):
        run.record_artifact("review", out)
    return ReviewExportOutcome(summary["examples"], summary["reviewed"], summary["changed"], out,
                               summary["problems"])


def stage_review_agreement(cfg, run: Run) -> AgreementOutcome:
    """Agreement between reviewers and accuracy on gold items, into ``run/labeling/agreement.json``."""
    from tunewright.review.service import agreement

    rep = agreement(review_store(cfg, run))
    write_json(labeling_dir(run) / "agreement.json", rep)
    return AgreementOutcome.from_json(rep)


def stage_review_interop(cfg, run: Run, direction: str, fmt: str, path: Path) -> InteropOutcome:
    """Export the queue to, or import judgments from, Label Studio or Argilla: the records moved, and the
    stored labels an export left out because they no longer read."""
    from tunewright.review import interop

    store = review_store(cfg, run)
    fn = {("export", "labelstudio"): interop.export_label_studio, ("import", "labelstudio"): interop.import_label_studio,
          ("export", "argilla"): interop.export_argilla, ("import", "argilla"): interop.import_argilla}.get((direction, fmt))
    if fn is None:
        raise InputError(f"--format must be labelstudio or argilla, got {fmt!r}")
    problems: list[dict] = []
    n = fn(store, cfg, path, problems) if direction == "export" else fn(store, cfg, path)
    return InteropOutcome(n, problems)


def stage_review_revoke(cfg, run: Run, reviewer: str, reissue: bool) -> str | None:
    """Retire a reviewer's token and end their sessions; returns the new token with ``reissue``."""
    return review_store(cfg, run).revoke(reviewer, reissue)


def labeling_configured(cfg) -> bool:
    return bool(cfg.labeling.functions_module or cfg.labeling.rules_file)


def stage_training_labels(cfg, run: Run):
    """``tunewright run`` with a labeling section: label the input files, take the reviews where a review store
    exists, and write the training set with provenance (data/labeled.jsonl) and, when no test files are
    configured, a gold test set (data/labeled_test.jsonl). Returns (config that reads those files, counts)."""
    from tunewright.labeling.provenance import training_labels
    from tunewright.records import write_jsonl
    from tunewright.review.service import read_votes

    res = stage_label(cfg, run)
    d = labeling_dir(run)
    with run.stage("training_labels"):
        examples = input_examples(cfg, run)
        reviewed, problems = {}, []
        db_file = d / "review.db"
        if cfg.review.db_url or db_file.exists():
            from tunewright.review.service import final_labels, label_validator

            reviewed = final_labels(review_store(cfg, run), label_validator(cfg), problems)
        tl = training_labels(cfg, examples, read_examples(d / "labels.jsonl"), read_votes(d), reviewed,
                             hold_out_test=not cfg.data.test_files)
        run.data_dir.mkdir(parents=True, exist_ok=True)
        train_path, test_path = run.data_dir / "labeled.jsonl", run.data_dir / "labeled_test.jsonl"
        write_jsonl(train_path, tl.train)
        write_jsonl(d / "quarantine.jsonl", tl.dropped)
        new = cfg.model_copy(deep=True)
        new.data.train_files = [str(train_path)]
        if tl.test:
            write_jsonl(test_path, tl.test)
            new.data.test_files = [str(test_path)]
        summary = {"counts": tl.counts, "min_confidence": cfg.labeling.min_confidence,
                   "keep_gold": cfg.labeling.keep_gold, "review_problems": problems,
                   "test_labels": "gold (held out)" if tl.test else ("test files" if cfg.data.test_files else
                                                                      "programmatic: no gold answers to hold out"),
                   "label_scores": res.scores}
        write_json(d / "provenance.json", summary)
        run.update_manifest(training_labels=tl.counts)
        run.record_artifact("training_labels", train_path, d / "quarantine.jsonl", d / "provenance.json",
                            *([test_path] if tl.test else []))
    return new, summary


def run_suspects(run: Run, examples: list[Example]) -> dict[int, list[str]]:
    """The run's audit reasons (label-noise suspects and other flags, data/quarantine.jsonl) per labeled
    example, mapped back through data/labeled.jsonl to the examples the label stage labeled."""
    import json

    q = run.data_dir / "quarantine.jsonl"
    if not q.exists():
        return {}
    back = {}
    if (run.data_dir / "labeled.jsonl").exists():
        back = {e.id: e.meta.get("source_example_id", e.id) for e in read_examples(run.data_dir / "labeled.jsonl")}
    index = {ex.id: i for i, ex in enumerate(examples)}
    out: dict[int, list[str]] = {}
    for line in q.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        i = index.get(back.get(rec.get("id"), rec.get("id")))
        if i is None:
            continue
        reasons = [str(r) for r in rec.get("reasons", ["suspect"])]
        details = rec.get("details") or []
        if len(details) == len(reasons):
            reasons = [f"{r}: {d}" if d else r for r, d in zip(reasons, details)]
        out.setdefault(i, []).extend(reasons)
    return out


def stage_review_next(cfg, run: Run, n: int) -> ReviewNextOutcome:
    """Queue the next review round: the ``n`` most valuable examples not yet in the review store, ranked by
    label-model uncertainty, function disagreement, the run's audit suspects and reviewer disagreement."""
    import json

    import numpy as np

    from tunewright.labeling.queue import rank_for_review
    from tunewright.review.service import queue_rows, read_votes

    d = labeling_dir(run)
    store = review_store(cfg, run)
    examples = input_examples(cfg, run)
    labels = read_examples(d / "labels.jsonl")
    if len(labels) != len(examples):
        raise ValueError(f"{d / 'labels.jsonl'}: {len(labels)} labels for {len(examples)} input examples; "
                         f"run 'tunewright label --run {run.path}' again")
    terms = {q["index"]: q["terms"] for q in map(json.loads, (d / "queue.jsonl").read_text(encoding="utf-8")
                                                  .splitlines()) if q}
    k = len(examples)
    unc = np.array([terms.get(i, {}).get("uncertainty", 0.0) for i in range(k)])
    dis = np.array([terms.get(i, {}).get("disagreement", 0.0) for i in range(k)])
    no_votes = np.array([terms.get(i, {}).get("no_votes", 0.0) > 0 for i in range(k)])
    suspects = run_suspects(run, examples)
    from tunewright.labeling.run import audit_suspects

    for i, reasons in audit_suspects(examples, Path(cfg.resolve(cfg.review.suspects_file))
                                     if cfg.review.suspects_file else None).items():
        suspects.setdefault(i, []).extend(reasons)
    index = {ex.id: i for i, ex in enumerate(examples)}
    queued = {it.example_id for it in store.items()}
    held_out = run.data_dir / "labeled_test.jsonl"  # gold test examples: a review there would not train
    if held_out.exists():
        queued |= {e.id for e in read_examples(held_out)}
    reviewer_split = {}
    for ex_id, f in _reviewer_disagreement(store).items():
        if ex_id in index:
            reviewer_split[index[ex_id]] = f
    ranked = [q for q in rank_for_review(unc, dis, no_votes, suspects, reviewer_split, None, cfg.review.queue_weights)
              if examples[q.index].id not in queued][:n]
    queue = [{"example_id": examples[q.index].id, "terms": q.terms, "audit_reasons": q.audit_reasons} for q in ranked]
    rcfg = cfg.model_copy(deep=True)
    rcfg.review.budget = max(1, len(queue))
    added = store.add_items(queue_rows(rcfg, examples, labels, read_votes(d), queue)) if queue else 0
    return ReviewNextOutcome(
        added=added, items=len(store.items()), left_unqueued=k - len(queued) - added,
        chosen=[{"example_id": q["example_id"], **{t: round(v, 3) for t, v in q["terms"].items() if v},
                 "audit_reasons": q["audit_reasons"]} for q in queue])


def _reviewer_disagreement(store) -> dict[str, float]:
    """example id -> share of current judgments against the majority label."""
    from collections import Counter

    items = {it.id: it.example_id for it in store.items()}
    by: dict[int, list] = {}
    for j in store.judgments(current_only=True):
        if j.action != "skip":
            by.setdefault(j.item_id, []).append(j.after)
    return {items[i]: 1 - Counter(v).most_common(1)[0][1] / len(v) for i, v in by.items() if len(v) > 1}
