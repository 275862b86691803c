"""Assemble report.json from the run's artifacts and render report.html (self-contained, escaped)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from tunewright.evaluation.artifacts import EvalArtifacts
from tunewright.evaluation.evaluate import score_rows
from tunewright.evaluation.forgetting import forgetting_verdict, general_comparison, task_comparisons
from tunewright.evaluation.stats import relative
from tunewright.evaluation.tasks import make_task
from tunewright.jsonl import read_jsonl
from tunewright.project import Run, atomic_write_text, read_json, write_json
from tunewright.reporting import plots
from tunewright.reporting.audit_section import build_audit_section, render_audit_html
from tunewright.reporting.tuning_section import tuning_html, tuning_section
from tunewright.errors import MissingArtifact
from tunewright.reporting.cost_section import cost_html, report_cost_section
from tunewright.reporting.labeling_section import labeling_html, labeling_section
from tunewright.reporting.selection_section import selection_html, selection_section


def build_report(run: Run, art: EvalArtifacts | None = None) -> dict:
    """report.json's content. Each eval artifact is read once (``art``, loaded here when not given) and every
    base vs tuned comparison pairs items by id."""
    from tunewright.config import Config

    m = run.manifest()
    cfg = Config.model_validate(m["config"])
    art = art or EvalArtifacts.load(run.eval_dir)
    base, tuned = art.metrics["base"], art.metrics["tuned"]
    if base is None or tuned is None:
        raise MissingArtifact(f"{run.path}: report needs both eval/base and eval/tuned; run 'tunewright eval'")
    # the task numbers are recomputed from the saved predictions, not copied from memory
    tb, tt = score_rows(cfg, art.predictions["base"]), score_rows(cfg, art.predictions["tuned"])
    keys = make_task(cfg.task).detail_keys()
    detail = lambda t: {k: t[k] for k in keys}  # noqa: E731
    headline_cmp, detail_cmps = task_comparisons(art, cfg)
    task = {
        "name": f"{cfg.task.type}", "metric": tb["metric"], "base": tb["value"], "tuned": tt["value"], "n": tt["n"],
        "change": tt["value"] - tb["value"], "base_detail": detail(tb), "tuned_detail": detail(tt),
        "unparseable": {"base": tb["unparseable"], "tuned": tt["unparseable"]},
        **headline_cmp,
        "details": detail_cmps,
    }
    general = {}
    for name, g in tuned["general"].items():
        b = base["general"][name]["value"]
        general[name] = {"metric": g["metric"], "base": b, "tuned": g["value"], "n": g["n"],
                         "abs_change": g["value"] - b, "rel_change": relative(b, g["value"]),
                         "higher_is_better": g["higher_is_better"]}
    comparisons = general_comparison(art, cfg, list(general),
                                     {n: g["higher_is_better"] for n, g in general.items()})
    for name, c in comparisons.items():
        general[name].update(c)
    forgetting = forgetting_verdict(comparisons, cfg.general.gate)
    heldout = None
    if base.get("heldout") and tuned.get("heldout"):
        heldout = {"base": base["heldout"]["loss"], "tuned": tuned["heldout"]["loss"], "n": tuned["heldout"]["n"]}
    tr = read_json(run.path / "train_result.json")
    training = {k: tr[k] for k in ("method", "trainable_params", "total_params", "train_tokens", "trained_tokens",
                                   "tokens_per_second", "steps", "seconds", "final_loss", "train_examples", "replay_examples",
                                   "truncated_examples", "dropped_examples", "peak_memory_bytes")}
    training["trainable_share"] = tr["trainable_params"] / tr["total_params"]
    for k, default in (("packing", False), ("packing_note", ""), ("selective_logits", False), ("penalties", []),
                       ("peak_rss_bytes", None), ("padded_tokens", None), ("resumed_from", None), ("world_size", 1),
                       ("precision", {})):
        training[k] = tr.get(k, default)  # train results written before these fields existed lack them
    audit = m.get("audit", {})
    data = {"input_records": audit.get("input_records"), "used": audit.get("used"),
            "quarantined": audit.get("quarantined"), "reasons": audit.get("reasons", {}),
            "token_lengths": audit.get("token_lengths", {}), "split": m.get("split", {})}
    headline = {
        "task_metric": task["metric"], "base": round(task["base"], 4), "tuned": round(task["tuned"], 4),
        "trainable_share": round(training["trainable_share"], 5), "wall_seconds": m.get("wall_seconds"),
        "significant": task["significant"], "forgetting": forgetting["verdict"],
    }
    for name, g in general.items():
        headline[f"{name}_base"] = round(g["base"], 4)
        headline[f"{name}_tuned"] = round(g["tuned"], 4)
    return {
        "run_id": run.id, "task": task, "general": general, "forgetting": forgetting, "heldout": heldout,
        "training": training,
        "evaluation": {w: {"precision": e.get("precision", {}), "decoding": e.get("decoding", {})}
                       for w, e in (("base", base), ("tuned", tuned))},
        "data": data, "timings": m.get("timings", {}), "headline": headline,
        "regressions": worst_regressions(art, cfg),
        "harness": _harness(run),
        "mitigation": read_json(run.path / "mitigation.json") if (run.path / "mitigation.json").exists() else None,
        "mitigation_auto": read_json(run.path / "mitigation_auto.json") if (run.path / "mitigation_auto.json").exists()
        else None,
        "learning_curve": read_json(run.path / "learning_curve.json") if (run.path / "learning_curve.json").exists()
        else None,
        "loss_curve": [r for r in (read_jsonl(run.metrics_path, tolerate_torn_last_line=True)
                                   if run.metrics_path.exists() else []) if r.get("stage") == "train"],
        "config": m["config"],
        "audit": build_audit_section(run.data_dir),
        "labeling": labeling_section(run),
        "tuning": tuning_section(run),
        "selection": selection_section(run),
        "cost": _cost(cfg, m),
    }


def _cost(cfg, manifest: dict) -> dict:
    cfg.base_dir = Path(manifest.get("config_dir", Path.cwd()))  # relative paths as the run saw them
    return report_cost_section(cfg)


def _harness(run: Run) -> dict | None:
    b, t = run.eval_dir / "base" / "harness.json", run.eval_dir / "tuned" / "harness.json"
    if not (b.exists() and t.exists()):
        return None
    base, tuned = read_json(b), read_json(t)
    return {task: {m: {"base": v, "tuned": tuned.get(task, {}).get(m)} for m, v in metrics.items()}
            for task, metrics in base.items()}


def worst_regressions(art: EvalArtifacts, cfg, limit: int = 5) -> dict:
    """Items the tuned model does worse on than the base model, worst first: task items, MMLU, perplexity.

    Base and tuned items are paired by id (:func:`tunewright.evaluation.artifacts.pair_by_id`)."""
    task = make_task(cfg.task)
    p = art.task_pairs()
    drops = []
    for b, t in zip(p.base, p.tuned):
        d = task.item_score(b) - task.item_score(t)
        if d > 0:
            drops.append({"source": t["source"], "drop": d, "gold": t["gold"], "base_output": b["output"],
                          "tuned_output": t["output"]})
    out = {"task": sorted(drops, key=lambda r: -r["drop"])[:limit]}
    mmlu = art.general_pairs("mmlu") if art.has_general("mmlu") else None
    out["mmlu"] = [{"source": t["source"], "answer": t["answer"], "base": b["pred"], "tuned": t["pred"]}
                   for b, t in (zip(mmlu.base, mmlu.tuned) if mmlu else ()) if b["correct"] and not t["correct"]][:limit]
    ppl = art.general_pairs("general_perplexity") if art.has_general("general_perplexity") else None
    rises = [{"source": t["source"], "nll_rise": t["mean_nll"] - b["mean_nll"]}
             for b, t in (zip(ppl.base, ppl.tuned) if ppl else ())]
    out["general_perplexity"] = sorted([r for r in rises if r["nll_rise"] > 0], key=lambda r: -r["nll_rise"])[:limit]
    return out


def _examples(art: EvalArtifacts, which: str, pred, limit: int) -> list[dict]:
    return [r for r in art.predictions[which] if pred(r)][:limit]


def _table(rows: list[list], header: list[str]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _ci(c: dict, signed: bool = False, pct: bool = False) -> str:
    f = (lambda v: f"{v:+.1%}") if pct else ((lambda v: f"{v:+.4f}") if signed else (lambda v: f"{v:.4f}"))
    return f"{f(c['value'])} [{f(c['low'])}, {f(c['high'])}]"


def _fmt(x, nd=4) -> str:
    return "n/a" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def _learning_curve_html(lc: dict | None) -> list[str]:
    if not lc:
        return []
    rows = [[p["train_examples"], f"{p['fraction']:.0%}", p["steps"], _fmt(p["value"])] for p in lc["points"]]
    rows += [[v["size"], f"predicted at {k}", "", f"{v['value']:.4f} [{v['low']:.4f}, {v['high']:.4f}]"]
             for k, v in lc["predictions"].items()]
    warn = "".join(f"<p class='warn'>Caution: {html.escape(w)}.</p>" for w in lc.get("warnings", []))
    return ["<h2>Learning curve</h2>", _table(rows, ["training examples", "share", "steps", lc["metric"]]), warn,
            f'<img alt="learning curve" src="data:image/png;base64,{plots.learning_curve_plot(lc)}">']


def _mitigation_html(mit: dict | None) -> list[str]:
    if not mit:
        return []
    arms = mit["arms"]
    names = sorted({n for a in arms.values() for n in a["general"]})
    rows = []
    for arm, a in arms.items():
        t = a["task"]["tuned_ci"]
        cells = [html.escape(arm), f"{t['value']:.4f} [{t['low']:.4f}, {t['high']:.4f}]"]
        for n in names:
            c = a["general"].get(n, {}).get("ability_change")
            cells.append("n/a" if not c else f"{c['value']:+.1%} [{c['low']:+.1%}, {c['high']:+.1%}]")
        mean = a["forgetting"]["suite_mean_ability_change"]
        cells += ["n/a" if mean is None else f"{mean:+.1%}", a["forgetting"]["verdict"]]
        rows.append(cells)
    metric = next(iter(arms.values()))["task"]["metric"]
    return ["<h2>Forgetting mitigation: no mitigation vs replay vs EWC</h2>",
            "<p>Each arm trained on the same split with the same budget and evaluated on the same items; the "
            "ability change is relative to the same base evaluation (95% paired intervals).</p>",
            _table(rows, ["arm", f"task {metric}", *[f"{n} ability change" for n in names], "suite mean", "gate"]),
            f'<img alt="mitigation" src="data:image/png;base64,{plots.mitigation_plot(mit)}">']


def _auto_mitigation_html(auto: dict | None) -> list[str]:
    if not auto:
        return []

    def cell(v: dict | None) -> str:
        if not v:
            return "not run"
        mean = v.get("suite_mean_ability_change")
        return f"{v['verdict']} (suite {'n/a' if mean is None else f'{mean:+.1%}'}; task {v['task']:.4f})"

    def ci(c: dict | None) -> str:
        return "" if not c else f"{c['value']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]"
    rows = [["model as first trained", "", cell(auto["first"]["validation"]), "", cell(auto["first"]["test"]), ""]]
    rows += [[a["arm"], a["label"], cell(a["validation"]), ci(a["task_change"]),
              cell(a.get("test")), ci(a.get("test_task_change"))] for a in auto["arms"]]
    h = auto.get("handed_over")
    verdict = (f"<p>Handed over: <b>{html.escape(h['arm'])} ({html.escape(h['label'])})</b>; the headline and "
               "every number above are that model's. The model as first trained is kept in "
               "mitigation_auto/unmitigated.</p>" if h else
               "<p class='warn'>No arm passed the gate: the model as first trained is kept, and the gate fails.</p>")
    return ["<h2>Forgetting gate failed: automatic mitigation (training.mitigation: auto)</h2>",
            f"<p>Rule: {html.escape(auto['rule'])}.</p>",
            _table(rows, ["arm", "mitigation", "validation gate", "task change vs first (validation)", "test gate",
                          "task change vs first (test)"]), verdict]


def _gib(n) -> str:
    return "n/a" if not n else f"{n / 2**30:.2f} GiB"


def _unpaired_html(report: dict) -> list[str]:
    """A warning for each comparison that left out items found on one side only (joined by id)."""
    found = {"task": report["task"].get("unpaired"),
             **{n: g.get("unpaired") for n, g in report["general"].items()}}
    return [f"<p class='warn'>{html.escape(n)}: compared on the items both evaluations hold; "
            f"{u['base_only']} only in base, {u['tuned_only']} only in tuned "
            f"(e.g. {html.escape(', '.join(u['base_only_ids'] + u['tuned_only_ids']))}).</p>"
            for n, u in found.items() if u]


def _precision_html(report: dict) -> list[str]:
    """Which precision each stage ran in and why, and how the answers were decoded (_table escapes)."""
    rows = [["training", *_precision_cells(report["training"].get("precision")), "n/a"]]
    for which, v in (report.get("evaluation") or {}).items():
        d = v.get("decoding") or {}
        dec = d.get("mode", "generate")
        if d.get("max_new_tokens"):
            dec += f", at most {d['max_new_tokens']} new tokens ({d.get('note', '')}), stops at {d.get('stops_at')}"
        elif d.get("note"):
            dec += f" ({d['note']})"
        rows.append([f"evaluation ({which})", *_precision_cells(v.get("precision")), dec])
    return ["<h2>Precision and decoding</h2>", _table(rows, ["stage", "precision", "why", "decoding"])]


def _precision_cells(p: dict | None) -> list[str]:
    p = p or {}
    return [p.get("used", "fp32"), p.get("reason", "not recorded (run made before precision was recorded)")]


def render_html(report: dict, art: EvalArtifacts) -> str:
    e = html.escape
    t, g, tr, d = report["task"], report["general"], report["training"], report["data"]
    img = lambda b64, alt: f'<img alt="{e(alt)}" src="data:image/png;base64,{b64}">'  # noqa: E731
    general_rows = [[n, x["metric"], _ci(x["base_ci"]), _ci(x["tuned_ci"]), _ci(x["change_ci"], signed=True),
                     "n/a" if x["rel_change"] is None else f"{x['rel_change']:+.2%}",
                     _ci(x["ability_change"], signed=True, pct=True) if x["ability_change"] else "n/a",
                     "yes" if x["significant"] else "no"]
                    for n, x in g.items()]
    fg = report["forgetting"]
    fails = _examples(art, "tuned", lambda r: not r["parse_ok"], 5) + _examples(art, "base", lambda r: not r["parse_ok"], 3)
    samples = _examples(art, "tuned", lambda r: True, 8)
    base_out = {r["id"]: r["output"] for r in art.predictions["base"]}
    timings = [[k, f"{v:.1f}"] for k, v in report["timings"].items()]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>tunewright report ",
        e(report["run_id"]), "</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:13px;text-align:left;vertical-align:top}.big{font-size:20px}code{white-space:pre-wrap}"
        ".fail{color:#c62828}.warn{color:#ef6c00}.pass{color:#2e7d32}",
        "</style></head><body>",
        f"<h1>tunewright report</h1><p>run <code>{e(report['run_id'])}</code></p>",
        f"<p class='big'>{e(t['metric'])}: <b>{t['base']:.3f} → {t['tuned']:.3f}</b> "
        f"(change {_ci(t['change_ci'], signed=True)}, "
        f"{'significant' if t['significant'] else 'not significant'} at {t['change_ci']['level']:.0%}) "
        f"on {t['n']} test examples</p>",
        f"<p class='big'>Forgetting gate: <b class='{e(fg['verdict'])}'>{e(fg['verdict'].upper())}</b>. "
        + e("; ".join(fg["reasons"])) + "</p>",
        *_unpaired_html(report),
        "<h2>Data</h2>",
        _table([[d["input_records"], d["used"], d["quarantined"], json.dumps(d["split"])]],
               ["input records", "used", "quarantined", "split"]),
        _table([[k, v] for k, v in d["reasons"].items()] or [["(none)", 0]], ["quarantine reason", "count"]),
        _table([[k, v] for k, v in d["token_lengths"].items()], ["token length", "value"]),
        img(plots.data_plot(d), "data summary"),
        *render_audit_html(report.get("audit")),
        "<h2>Task metric, base vs tuned</h2>",
        _table([[which, *(_fmt(v) for v in t[f"{which}_detail"].values()), t["unparseable"][which]]
                for which in ("base", "tuned")],
               ["model", *t["base_detail"], "unparseable answers"]),
        _table([[k, _ci(d["base_ci"]), _ci(d["tuned_ci"]), _ci(d["change_ci"], signed=True),
                 "yes" if d["significant"] else "no"] for k, d in t["details"].items()],
               [f"metric ({t['change_ci']['level']:.0%} intervals)", "base", "tuned", "change (paired)",
                "significant"]),
        img(plots.task_plot(t), "task metric"),
        "<h2>General suite (forgetting), base vs tuned</h2>",
        _table(general_rows, ["task", "metric", "base", "tuned", "change", "relative", "ability change",
                              "significant"]),
        img(plots.general_plot(g), "general suite") if g else "",
        "<h2>Training</h2>",
        _table([[tr["method"], f"{tr['trainable_params']:,}", f"{tr['total_params']:,}",
                 f"{tr['trainable_share']:.3%}", tr["steps"], f"{tr['train_tokens']:,}",
                 _fmt(tr["tokens_per_second"], 1), tr["truncated_examples"], tr["dropped_examples"],
                 tr["train_examples"], tr["replay_examples"]]],
               ["method", "trainable params", "total params", "trainable share", "steps", "tokens", "tokens/s",
                "truncated", "dropped (over length)", "domain examples", "replay examples"]),
        _table([["packed, no pad" if tr.get("packing") else html.escape(tr.get("packing_note") or "padded"),
                 "answer positions only" if tr.get("selective_logits") else "every position",
                 ", ".join(tr.get("penalties") or []) or "none",
                 _gib(tr.get("peak_memory_bytes")) + " (GPU allocated)" if tr.get("peak_memory_bytes")
                 else _gib(tr.get("peak_rss_bytes")) + " (process RSS)",
                 html.escape(tr.get("resumed_from") or "no")]],
               ["batches", "vocabulary logits", "forgetting penalties", "peak memory", "resumed from"]),
    ]
    parts += _precision_html(report)
    if report["heldout"]:
        h = report["heldout"]
        parts.append(f"<p>Held-out loss on {h['n']} validation examples: base {h['base']:.4f} → tuned {h['tuned']:.4f}</p>")
    if report["loss_curve"]:
        parts.append(img(plots.loss_plot(report["loss_curve"], report["heldout"]), "training loss"))
    parts += [
        *_learning_curve_html(report.get("learning_curve")),
        *_auto_mitigation_html(report.get("mitigation_auto")),
        *_mitigation_html(report.get("mitigation")),
        *([ "<h2>lm-evaluation-harness tasks</h2>",
            _table([[task, m, _fmt(v["base"]), _fmt(v["tuned"])] for task, ms in report["harness"].items()
                    for m, v in ms.items()], ["task", "metric", "base", "tuned"])] if report.get("harness") else []),
        "<h2>Predictions (tuned), first examples</h2>",
        _table([[r["source"], r["gold"], base_out.get(r["id"], ""), r["output"]] for r in samples],
               ["source", "gold", "base output", "tuned output"]),
        "<h2>Worst regressions (tuned worse than base on the same item)</h2>",
        _table([[r["source"], f"{r['drop']:.3f}", r["gold"], r["base_output"], r["tuned_output"]]
                for r in report["regressions"]["task"]] or [["(none)", "", "", "", ""]],
               ["source", f"{t['metric']} drop", "gold", "base output", "tuned output"]),
        _table([[r["source"], r["answer"], r["base"], r["tuned"]] for r in report["regressions"]["mmlu"]]
               or [["(none)", "", "", ""]], ["MMLU item", "answer", "base", "tuned"]),
        _table([[r["source"], f"{r['nll_rise']:+.3f}"] for r in report["regressions"]["general_perplexity"]]
               or [["(none)", ""]], ["general text", "NLL per token, rise"]),
        f"<h2>Unparseable answers (base {t['unparseable']['base']}, tuned {t['unparseable']['tuned']})</h2>",
        _table([[r["source"], r["output"]] for r in fails] or [["(none)", ""]], ["source", "output"]),
        *labeling_html(report.get("labeling"), _table),
        *tuning_html(report.get("tuning"), _table),
        *selection_html(report.get("selection"), _table),
        *cost_html(report.get("cost")),
        "<h2>Stage timings (seconds)</h2>", _table(timings, ["stage", "seconds"]),
        "</body></html>",
    ]
    return "".join(parts)


def write_report(run: Run) -> dict:
    art = EvalArtifacts.load(run.eval_dir)
    report = build_report(run, art)
    write_json(run.path / "report.json", report)
    atomic_write_text(run.path / "report.html", render_html(report, art))
    return report
