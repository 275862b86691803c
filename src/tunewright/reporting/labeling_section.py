"""The labeling section of the run report: per-function analysis beside the label model, majority vote and,
after review, reviewer agreement. Reads the files the label / review stages wrote; None when there are none."""

from __future__ import annotations

import html
from typing import Callable

from tunewright.project import Run, read_json


def labeling_section(run: Run) -> dict | None:
    d = run.path / "labeling"
    if not (d / "analysis.json").exists():
        return None
    out = {"analysis": read_json(d / "analysis.json")}
    if (d / "agreement.json").exists():
        out["agreement"] = read_json(d / "agreement.json")
    if (d / "provenance.json").exists():
        out["provenance"] = read_json(d / "provenance.json")
        train = run.data_dir / "train.jsonl"
        if train.exists():  # after the audit and the split: what the model actually trained on
            from tunewright.labeling.provenance import source_counts
            from tunewright.records import read_examples

            out["provenance"]["train_split"] = source_counts(read_examples(train))
    return out


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def labeling_html(section: dict | None, table: Callable[[list[list], list[str]], str]) -> list[str]:
    """HTML parts; ``table(rows, header)`` is the report's own (escaping) table renderer."""
    if not section:
        return []
    a = section["analysis"]
    metric = "entity_f1" if a["kind"] == "span" else "accuracy"
    scores = a["scores"]
    rows = [[r["function"], r["votes"], _num(r["coverage"]), _num(r["overlap"]), _num(r["conflict"]),
             _num(r["accuracy"]), _num((scores.get(f"function:{r['function']}") or {}).get(metric))]
            for r in a["functions"]]
    rows += [[name, "", "", "", "", "", _num((scores.get(name) or {}).get(metric))]
             for name in ("majority", "label_model")]
    parts = [f"<h2>Programmatic labels ({a['examples']} examples, {a['items']} voted items)</h2>",
             table(rows, ["function", "votes", "coverage", "overlap", "conflict", "accuracy on gold votes",
                          f"{metric} alone"])]
    prov = section.get("provenance")
    if prov:
        c, t = prov["counts"], prov.get("train_split", {})
        parts.append("<h3>Where the training labels came from</h3>")
        parts.append(table([[src, c.get(src, 0), t.get(src, "")] for src in ("label_model", "review", "gold")]
                           + [["dropped (confidence < %s)" % prov["min_confidence"], c["dropped_low_confidence"], ""]],
                           ["label source", "labeled set", "train split"]))
        parts.append(f"<p>Test labels: {html.escape(str(prov['test_labels']))}</p>")
    ag = section.get("agreement")
    if ag:
        alpha = ag.get("krippendorff_alpha")
        parts.append(f"<p>Reviewer agreement: Krippendorff's alpha {html.escape(_num(alpha))}</p>")
        parts.append(table([[" / ".join(p["reviewers"]), p["items"], _num(p["kappa"]), _num(p["percent_agreement"])]
                            for p in ag["pairs"]] or [["(no shared items)", "", "", ""]],
                           ["reviewers", "shared items", "Cohen's kappa", "agreement"]))
        parts.append(table([[r, v["gold_items"], _num(v["accuracy"])] for r, v in ag["gold_accuracy"].items()]
                           or [["(no gold items judged)", "", ""]], ["reviewer", "gold items", "accuracy"]))
    return parts
