"""Review stage functions: fill the store from a labeling result, and export reviewed labels with provenance."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from tunewright.labeling.agreement import agreement_report
from tunewright.labeling.functions import example_text
from tunewright.records import Example, read_examples, write_jsonl
from tunewright.review.store import Store


def default_db_url(labeling_dir: Path) -> str:
    return f"sqlite:///{(labeling_dir / 'review.db').resolve()}"


def label_validator(cfg):
    """``check(label, sentence) -> Checked``: the review app's label check (see review/labels.py)."""
    from tunewright.review.labels import label_checker

    return label_checker(cfg)


def queue_rows(cfg, examples: list[Example], labels: list[Example], votes_by_example: dict[str, dict],
               queue: list[dict]) -> list[dict]:
    """Items for the store from the labeling outputs: the top ``review.budget`` of the queue, a share of them
    marked for two reviewers, a share of those with a known answer kept as gold checks."""
    rv = cfg.review
    top = queue[: rv.budget]
    rng = np.random.default_rng(rv.seed)
    n = len(top)
    double = set(rng.choice(n, size=int(round(rv.double_review_share * n)), replace=False).tolist()) if n else set()
    gold_pos = set(rng.choice(n, size=int(round(rv.gold_share * n)), replace=False).tolist()) if n else set()
    by_id = {ex.id: (ex, lab) for ex, lab in zip(examples, labels, strict=True)}
    rows = []
    for k, q in enumerate(top):
        ex, lab = by_id[q["example_id"]]
        conf = lab.meta.get("labeling", {}).get("confidence")
        rows.append({
            "example_id": ex.id, "text": example_text(ex), "suggested": lab.answer(),
            "evidence_json": {"votes": votes_by_example.get(ex.id, {}), "confidence": conf, "terms": q["terms"],
                              "audit_reasons": q.get("audit_reasons", [])},
            "required_reviews": 2 if k in double else 1,
            "gold": ex.answer() if k in gold_pos and cfg.labeling.use_gold else None,
            "source": ex.source,
        })
    return rows


def read_votes(labeling_dir: Path) -> dict[str, dict]:
    """example id -> {candidate or "(example)": {function: vote}} from the label stage's votes.jsonl."""
    votes: dict[str, dict] = {}
    for line in (labeling_dir / "votes.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            votes.setdefault(r["example_id"], {})[r["candidate"] or "(example)"] = r["votes"]
    return votes


def init_review(cfg, labeling_dir: Path, examples: list[Example], store: Store) -> int:
    """Queue the labeling stage's most valuable examples in the store; returns how many were added."""
    labels = read_examples(labeling_dir / "labels.jsonl")
    votes = read_votes(labeling_dir)
    queue = [json.loads(x) for x in (labeling_dir / "queue.jsonl").read_text(encoding="utf-8").splitlines() if x]
    return store.add_items(queue_rows(cfg, examples, labels, votes, queue))


def final_labels(store: Store, check=None, problems: list[dict] | None = None) -> dict[str, dict]:
    """example_id -> reviewed label with its judgments; majority of the current (not superseded) non-skip
    judgments, ties to the latest. With ``check`` (``label_validator(cfg)``), a stored label that no longer
    passes is left out and listed in ``problems`` (a store written before labels were checked)."""
    items = {it.id: it for it in store.items()}
    by_item: dict[int, list] = {}
    for j in store.judgments():
        by_item.setdefault(j.item_id, []).append(j)
    out = {}
    for item_id, js in by_item.items():
        item = items[item_id]
        superseded = {j.supersedes for j in js if j.supersedes is not None}
        made = []
        for j in js:
            if j.id in superseded or j.action == "skip":
                continue
            if check is not None:
                c = check(j.after or "", item.text)
                if c.error:
                    if problems is not None:
                        problems.append({"example_id": item.example_id, "judgment_id": j.id, "reviewer": j.reviewer,
                                         "reason": f"stored label does not read: {c.error}"})
                    continue
            made.append(j)
        trail = [{"reviewer": j.reviewer, "at": j.created_at, "action": j.action, "before": j.before,
                  "after": j.after, "revision": j.revision, "superseded": j.id in superseded} for j in js]
        if not made:
            continue
        counts = Counter(j.after for j in made)
        top = max(counts.values())
        winner = next(j for j in reversed(made) if counts[j.after] == top)
        out[item.example_id] = {"label": winner.after, "suggested": item.suggested,
                                "changed": winner.after != item.suggested,
                                "reviewers": sorted({j.reviewer for j in made}), "at": winner.created_at,
                                "agreement": len(counts) == 1, "judgments": trail}
    return out


def export_reviewed(store: Store, labels_path: Path, out_path: Path, check=None) -> dict:
    """Write every example with its final answer: reviewed where a reviewer judged it, else the label model's.
    Each carries ``meta.review`` (who, when, what changed) or keeps ``meta.labeling`` as provenance. With
    ``check``, stored labels that do not read are left out (the label model's answer stays) and counted."""
    from tunewright.labeling.run import relabel

    labels = read_examples(labels_path)
    problems: list[dict] = []
    final = final_labels(store, check, problems)
    out = []
    for lab in labels:
        f = final.get(lab.meta.get("source_example_id", ""))
        if f is None:
            out.append(lab)
            continue
        meta = {"labeling": {**lab.meta.get("labeling", {}), "source": "review"}, "review": f}
        ex = relabel(lab, f["label"], meta)
        ex.meta["original_answer"] = lab.meta.get("original_answer")
        out.append(ex)
    write_jsonl(out_path, out)
    return {"examples": len(out), "reviewed": sum(1 for e in out if "review" in e.meta),
            "changed": sum(1 for e in out if e.meta.get("review", {}).get("changed")), "problems": problems}


def agreement(store: Store) -> dict:
    ratings: dict[str, dict[str, str]] = {}
    gold = {}
    items = {it.id: it for it in store.items()}
    for j in store.judgments(current_only=True):
        if j.action != "skip":
            ratings.setdefault(j.reviewer, {})[str(j.item_id)] = j.after
    for it in items.values():
        if it.gold is not None:
            gold[str(it.id)] = it.gold
    return agreement_report(ratings, gold)
