"""The data audit's part of the report: counts per reason, a few examples of each, token-length
histograms, near-duplicate clusters side by side, label suspects, sufficiency and the gate.

Built from the run's ``data/audit.json``, ``quarantine.jsonl`` and ``label_suspects.jsonl``; every text
that came from the data is escaped (it is untrusted). Also written alone as ``data/audit.html`` by the
audit stage, so the findings are readable before anything is trained.
"""

from __future__ import annotations

import difflib
import html
from collections import defaultdict
from pathlib import Path

from tunewright.project import atomic_write_text, read_json
from tunewright.records import read_json_lines
from tunewright.reporting import plots

EXAMPLES_PER_REASON = 3
MAX_CLUSTERS = 5


def _rows(path: Path) -> list[dict]:
    return read_json_lines(path) if path.exists() else []


def _excerpt(row: dict, limit: int = 300) -> str:
    ex = row.get("example")
    if ex is None:
        return (row.get("raw") or "")[:limit]
    if ex.get("messages"):
        text = " | ".join(f"{m['role']}: {m['content']}" for m in ex["messages"] if m["role"] != "system")
    elif ex.get("prompt") is not None:
        text = f"prompt: {ex['prompt']} | completion: {ex.get('completion')}"
    else:
        text = f"text: {ex.get('text')} | label: {ex.get('label')}"
    return text[:limit] + ("..." if len(text) > limit else "")


def marked_words(text: str, reference: str) -> str:
    """``text`` escaped, with the words that are not in ``reference`` (a word diff) in <mark>: the edited
    words of a near-duplicate pair. Both are excerpts of at most a few hundred characters."""
    a, b = reference.split(), text.split()
    out = []
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        chunk = html.escape(" ".join(b[j1:j2]))
        if chunk:
            out.append(chunk if tag == "equal" else f"<mark>{chunk}</mark>")
    return " ".join(out)


def build_audit_section(data_dir: Path) -> dict | None:
    data_dir = Path(data_dir)
    if not (data_dir / "audit.json").exists():
        return None
    summary = read_json(data_dir / "audit.json")
    examples: dict[str, list[dict]] = defaultdict(list)
    clusters: dict[int, list[dict]] = defaultdict(list)
    for row in _rows(data_dir / "quarantine.jsonl"):
        details = row.get("details") or [row.get("detail", "")]
        for k, reason in enumerate(row["reasons"]):
            if len(examples[reason]) < EXAMPLES_PER_REASON:
                examples[reason].append({"source": row["source"], "action": row.get("action", "dropped"),
                                         "detail": details[k] if k < len(details) else "", "text": _excerpt(row)})
        for c in row.get("clusters", []):
            clusters[c].append({"source": row["source"], "reasons": row["reasons"], "text": _excerpt(row, 400)})
    biggest = sorted(clusters, key=lambda c: -len(clusters[c]))
    suspects = _rows(data_dir / "label_suspects.jsonl")[:10]
    return {
        "summary": summary, "examples": dict(examples),
        "clusters": [{"id": c, "members": clusters[c][:6]} for c in biggest[:MAX_CLUSTERS]],
        "near_duplicate_clusters": [c for c in (summary.get("near_duplicates") or {}).get("sample_clusters", [])
                                    if len(c.get("members", [])) > 1][:MAX_CLUSTERS],
        "label_suspects": [{k: s[k] for k in ("rank", "source", "given", "given_prob", "suggested", "suggested_prob")}
                           | {"text": _excerpt(s)} for s in suspects],
    }


def _table(rows: list[list], header: list[str]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def length_histogram_plot(hists: dict) -> str:
    fig, ax = plots.plt.subplots(figsize=(7, 2.8))
    for name, color in (("used", plots.TUNED), ("quarantined", "#c62828")):
        h = hists.get(name) or {}
        if h.get("counts"):
            edges = h["edges"]
            ax.stairs(h["counts"], edges, label=f"{name} ({sum(h['counts'])})", color=color, fill=True,
                      alpha=0.55 if name == "used" else 0.85)
    ax.set_xlabel("tokens per example (chat template included)")
    ax.set_ylabel("examples")
    ax.set_title("Token lengths")
    ax.legend(fontsize=8)
    return plots._png(fig)


def render_audit_html(section: dict | None) -> list[str]:
    if not section:
        return []
    e = html.escape
    s = section["summary"]
    g = s.get("gate", {})
    verdict = g.get("verdict", "pass" if g.get("passed", True) else "fail")
    parts = ["<h2>Data audit</h2>",
             f"<p class='big'>Data gate: <b class='{e(verdict)}'>{e(verdict.upper())}</b>"
             + (" (forced)" if g.get("forced") else "") + ". "
             + e("; ".join(g.get("failures", []) + g.get("warnings", []))) + "</p>",
             _table([[s["input_records"], s["used"], s["quarantined"], s.get("flagged_kept", 0)]],
                    ["input records", "used", "quarantined (dropped)", "flagged, kept"])]
    dropped = s.get("dropped_reasons", {})
    parts.append(_table([[r, n, dropped.get(r, 0)] for r, n in s["reasons"].items()] or [["(none)", 0, 0]],
                        ["reason", "records", "of them dropped"]))
    hists = s.get("length_histograms") or {}
    if any((h or {}).get("counts") for h in hists.values()):
        parts.append(f'<img alt="token length histograms" src="data:image/png;base64,{length_histogram_plot(hists)}">')
    if section["examples"]:
        parts.append("<h3>Examples per reason</h3>")
        parts.append(_table([[r, x["action"], x["source"], x["detail"], x["text"]]
                             for r, xs in section["examples"].items() for x in xs],
                            ["reason", "action", "source", "why", "example"]))
    for c in section.get("near_duplicate_clusters", []):
        ms = c["members"]
        kept = next((m for m in ms if m["source"] == c["kept"]), ms[0])
        other = next((m for m in ms if m is not kept), kept)
        cells = "".join(
            f"<td><b>{e(m['source'])}</b>{' (kept)' if m is kept else ''}<br>"
            f"<code>{marked_words(m['input'], (other if m is kept else kept)['input'])}</code></td>" for m in ms)
        parts.append(f"<h3>Near-duplicates of {e(c['kept'])}</h3><p><small>words that differ from the kept input "
                     f"are marked</small></p><table><tr>{cells}</tr></table>")
    for c in section["clusters"]:
        first = c["members"][0]["text"]
        cells = "".join(f"<td><b>{e(m['source'])}</b><br><small>{e(', '.join(m['reasons']))}</small><br>"
                        f"<code>{marked_words(m['text'], first if k else (c['members'][1:2] or [m])[0]['text'])}"
                        f"</code></td>" for k, m in enumerate(c["members"]))
        parts.append(f"<h3>Near-duplicate cluster {e(str(c['id']))}</h3><table><tr>{cells}</tr></table>")
    if section["label_suspects"]:
        parts.append("<h3>Label suspects (confident learning), most likely mislabeled first</h3>")
        parts.append(_table([[x["rank"], x["source"], x["given"], x["given_prob"], x["suggested"],
                              x["suggested_prob"], x["text"]] for x in section["label_suspects"]],
                            ["rank", "source", "given", "p(given)", "suggested", "p(suggested)", "example"]))
    suff = s.get("sufficiency") or {}
    if suff.get("per_class") or suff.get("per_task"):
        rows = [["class", k, v] for k, v in (suff.get("per_class") or {}).items()]
        rows += [["task", k, v] for k, v in (suff.get("per_task") or {}).items()]
        parts.append(_table(rows, ["group", "name", "usable examples"]))
    return parts


def write_audit_html(data_dir: Path) -> Path:
    """A standalone page with the audit section (data/audit.html)."""
    style = ("body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "font-size:13px;text-align:left;vertical-align:top}.big{font-size:20px}code{white-space:pre-wrap}"
             ".fail{color:#c62828}.warn{color:#ef6c00}.pass{color:#2e7d32}")
    body = "".join(render_audit_html(build_audit_section(data_dir)))
    path = Path(data_dir) / "audit.html"
    atomic_write_text(path, f"<!doctype html><html><head><meta charset='utf-8'><title>tunewright data audit</title>"
                            f"<style>{style}</style></head><body>{body}</body></html>")
    return path
