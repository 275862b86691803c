"""Label examples programmatically: functions -> votes -> label model -> labels, analysis and review queue.

The result keeps every layer so that the report can put the label model's accuracy beside majority vote
and beside each function alone, on whatever gold answers the data carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tunewright.evaluation import metrics as M
from tunewright.labeling.analysis import disagreement, function_summary, uncertainty
from tunewright.labeling.functions import (LabelingFunction, check_names, load_module_functions,
                                           load_rules)
from tunewright.labeling.label_model import fit_predict
from tunewright.labeling.queue import QueueItem, per_example, rank_for_review
from tunewright.labeling.votes import Votes, apply_functions, candidate_gold, entities_from_items, function_entities
from tunewright.records import Example, write_jsonl
from tunewright.errors import InputError


def format_entities(ents: list[tuple[str, str]], empty_answer: str) -> str:
    return "[" + ", ".join(f"{n} - {t}" for n, t in ents) + "]" if ents else empty_answer


@dataclass
class LabelingResult:
    kind: str
    votes: Votes
    probs: np.ndarray  # (n_items, n_classes)
    answers: list[str]  # the label model's answer per example
    confidence: np.ndarray  # (n_examples,)
    summary: list[dict]  # per-function analysis
    scores: dict[str, dict] = field(default_factory=dict)  # "function:<name>", "majority", "label_model" -> metric
    queue: list[QueueItem] = field(default_factory=list)
    majority_answers: list[str] = field(default_factory=list)


def load_functions(cfg) -> list[LabelingFunction]:
    """The functions named by ``labeling.functions_module`` and ``labeling.rules_file``."""
    lab = cfg.labeling
    fns: list[LabelingFunction] = []
    if lab.functions_module:
        fns += load_module_functions(lab.functions_module, cfg.base_dir)
    if lab.rules_file:
        fns += load_rules(Path(cfg.resolve(lab.rules_file)))
    if not fns:
        raise InputError("labeling: no functions; set labeling.functions_module and/or labeling.rules_file")
    return check_names(fns)


def task_classes(cfg) -> tuple[str, list[str]]:
    """(what functions vote: 'span' or 'class', the classes they may vote) for the configured task."""
    from tunewright.evaluation.tasks import task_type

    t = task_type(cfg.task)
    classes = t.label_classes(cfg.task, list(cfg.labeling.classes))  # InputError for tasks functions cannot label
    return t.label_kind, classes


def parse_gold(cfg, examples: list[Example]) -> list:
    """The data's own answers, parsed like the task parses them (None where an answer does not parse)."""
    if not cfg.labeling.use_gold:
        return [None] * len(examples)
    from tunewright.evaluation.tasks import task_type

    parse = task_type(cfg.task).reference_parser(cfg.task)
    return [parse(ex.answer()) for ex in examples]


def _answers(kind: str, examples, votes: Votes, pred_items: np.ndarray, empty_answer: str) -> list[str]:
    if kind == "span":
        return [format_entities(e, empty_answer) for e in entities_from_items(examples, votes, pred_items)]
    return [votes.classes[c] if c >= 0 else "" for c in pred_items]


def _score(kind: str, answers_ents, golds) -> dict | None:
    pairs = [(a, g) for a, g in zip(answers_ents, golds) if g is not None]
    if not pairs:
        return None
    if kind == "span":
        m = M.entity_f1([a for a, _ in pairs], [g for _, g in pairs])
        return {"entity_f1": m["f1"], "precision": m["precision"], "recall": m["recall"], "examples": len(pairs)}
    return {"accuracy": sum(a == g for a, g in pairs) / len(pairs), "examples": len(pairs)}


def label_examples(cfg, examples: list[Example], fns: list[LabelingFunction], progress: bool = True,
                   audit_reasons: dict[int, list[str]] | None = None) -> LabelingResult:
    kind, classes = task_classes(cfg)
    votes = apply_functions(examples, fns, classes, progress=progress)
    k = len(classes)
    L = votes.matrix
    name = cfg.labeling.label_model
    if name == "auto":
        name = "span" if kind == "span" else "one_coin_dawid_skene"
    probs = fit_predict(name, L, k, seed=cfg.labeling.seed)
    maj = fit_predict("majority", L, k)
    voted = (L >= 0).any(axis=1) if L.size else np.zeros(len(votes.items), dtype=bool)
    # an item nobody voted on has no label (class) / is not a candidate at all (span): -1
    pred = np.where(voted, probs.argmax(axis=1) if len(probs) else -1, -1)
    pred_maj = np.where(voted, maj.argmax(axis=1) if len(maj) else -1, -1)
    empty = cfg.task.empty_answer
    answers = _answers(kind, examples, votes, pred, empty)
    golds = parse_gold(cfg, examples)
    gold_items = candidate_gold(votes, golds) if kind == "span" else np.array(
        [classes.index(g) if g in classes else -1 for g in golds], dtype=int)
    summary = function_summary(L, votes.functions, gold_items)
    owners = [i for i, _ in votes.items]
    n = len(examples)
    unc_items = uncertainty(probs) if len(probs) else np.zeros(0)
    conf_items = probs.max(axis=1) if len(probs) else np.zeros(0)
    unc = per_example(unc_items, owners, n)
    conf = 1.0 - per_example(1.0 - conf_items, owners, n) if kind == "span" else per_example(conf_items, owners, n)
    dis = per_example(disagreement(L), owners, n)
    no_votes = np.array([not any(v is not None for v in out.values()) for out in votes.raw])
    queue = rank_for_review(unc, dis, no_votes, audit_reasons, None, None, cfg.review.queue_weights)

    def ents_or_labels(pred_items):
        if kind == "span":
            return entities_from_items(examples, votes, pred_items)
        return [votes.classes[c] if c >= 0 else None for c in pred_items]

    scores = {"label_model": _score(kind, ents_or_labels(pred), golds),
              "majority": _score(kind, ents_or_labels(pred_maj), golds)}
    for j, f in enumerate(votes.functions):
        own = function_entities(examples, votes, f) if kind == "span" else ents_or_labels(L[:, j])
        scores[f"function:{f}"] = _score(kind, own, golds)
    return LabelingResult(kind, votes, probs, answers, conf, summary, scores, queue,
                          _answers(kind, examples, votes, pred_maj, empty))


def relabel(ex: Example, answer: str, meta: dict) -> Example:
    """A copy of ``ex`` whose final answer is ``answer``; the old answer is kept in meta for provenance."""
    d = ex.to_json()
    old = ex.answer()
    if ex.messages is not None:
        d["messages"] = [*ex.messages[:-1], {"role": "assistant", "content": answer}] \
            if ex.messages[-1]["role"] == "assistant" else [*ex.messages, {"role": "assistant", "content": answer}]
    elif ex.prompt is not None:
        d["completion"] = answer
    else:
        d["label"] = answer
    d.pop("id", None)
    d["meta"] = {"source_example_id": ex.id, **ex.meta, **meta, "original_answer": old}
    return Example.from_json(d)


def write_labeling(out_dir: Path, examples: list[Example], result: LabelingResult) -> dict[str, Path]:
    """votes.jsonl (one line per voted item), labels.jsonl (relabelled examples), analysis.json, queue.jsonl."""
    out_dir.mkdir(parents=True, exist_ok=True)
    v = result.votes
    vote_rows = [{"example_id": examples[i].id, "candidate": name or None, "votes": v.as_labels(r),
                  "label_model": {c: round(float(p), 4) for c, p in zip(v.classes, result.probs[r])}}
                 for r, (i, name) in enumerate(v.items)]
    labels = [relabel(ex, result.answers[i], {"labeling": {"source": "label_model",
                                                           "confidence": round(float(result.confidence[i]), 4)}})
              for i, ex in enumerate(examples)]
    paths = {"votes": out_dir / "votes.jsonl", "labels": out_dir / "labels.jsonl",
             "analysis": out_dir / "analysis.json", "queue": out_dir / "queue.jsonl"}
    write_jsonl(paths["votes"], vote_rows)
    write_jsonl(paths["labels"], labels)
    write_jsonl(paths["queue"], [{"example_id": examples[q.index].id, "index": q.index, "value": round(q.value, 4),
                                  "terms": q.terms, "audit_reasons": q.audit_reasons} for q in result.queue])
    from tunewright.project import write_json

    write_json(paths["analysis"], {"kind": result.kind, "functions": result.summary, "scores": result.scores,
                                   "examples": len(examples), "items": len(v.items)})
    return paths


def audit_suspects(examples: list[Example], suspects_file: Path | None,
                   quarantine_file: Path | None = None) -> dict[int, list[str]]:
    """Examples the audit has doubts about, with its reasons: ``meta.audit_reasons``, a JSONL {id, reasons}
    (``review.suspects_file``), and the run's quarantine.jsonl rows for examples that were kept (flagged, not
    dropped: the label-noise check's ``label_issue`` with its detail, for one)."""
    by_id: dict[str, list[str]] = {}
    for path, required in ((suspects_file, True), (quarantine_file, False)):
        if path is None or not path.exists():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            if "id" not in rec:
                if required:
                    raise InputError(f"{path}:{n}: missing field 'id'")
                continue  # an unreadable input line in the quarantine: it has no example to review
            reasons = [str(r) for r in rec.get("reasons", ["suspect"])]
            details = rec.get("details") or []
            if len(details) == len(reasons):
                reasons = [f"{r}: {d}" if d else r for r, d in zip(reasons, details)]
            by_id.setdefault(rec["id"], []).extend(reasons)
    out = {}
    for i, ex in enumerate(examples):
        reasons = list(ex.meta.get("audit_reasons", [])) + by_id.get(ex.id, [])
        if reasons:
            out[i] = reasons
    return out
