"""The report's base-model selection section (``tunewright select``): the verdict sentence, one table of the
candidates (zero-shot base beside the fine-tune, forgetting, training, serving measured here and priced on
GPUs), the Pareto plot (task metric with intervals vs serving $/month, marker size = memory), the GPU
estimates with their assumptions, and screening. Every cell and sentence is html-escaped."""

from __future__ import annotations

import html
import math

from tunewright.project import Run, atomic_write_text, read_json


def selection_section(run: Run) -> dict | None:
    p = run.path / "select" / "selection.json"
    return read_json(p) if p.exists() else None


def _gib(n) -> str:
    return "n/a" if not n else f"{n / 2**30:.2f} GiB"


def _usd(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else (
        f"${x:,.0f}" if x >= 100 else f"${x:,.2f}" if x >= 0.01 else f"${x:.4f}")


def _ci(c: dict) -> str:
    return f"{c['value']:.3f} [{c['low']:.3f}, {c['high']:.3f}]"


def pareto_plot(section: dict) -> str:
    """Tuned (blue) and zero-shot base (grey) task metric with intervals against serving $/month on each
    candidate's cheapest GPU (log scale; $ per 1M tokens when the always-on floor makes every month cost the
    same); marker area proportional to measured peak memory; red edge: Pareto set; *: recommended."""
    from tunewright.reporting.plots import BASE, TUNED, _png, plt

    cands, v = section["candidates"], section["verdict"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    mems = [max(c["serving"]["measured"]["peak_memory_bytes"], 1) for c in cands.values()]
    month = [c["serving"]["usd_per_month"] for c in cands.values()]
    per_m = max(month) <= 1.01 * min(month)  # a tie: the floor
    xs = [c["serving"]["usd_per_million_tokens"] for c in cands.values()] if per_m else month
    for i, ((name, c), mem, x) in enumerate(zip(cands.items(), mems, xs)):
        size = 60 + 500 * mem / max(mems)
        b, t = c["task"]["base"], c["task"]["tuned"]
        xb = x * 0.96  # the base just left of its fine-tune, so the two stay apart
        for xx, ci, colour, z in ((xb, b, BASE, 2), (x, t, TUNED, 3)):
            ax.errorbar([xx], [ci["value"]], yerr=[[ci["value"] - ci["low"]], [ci["high"] - ci["value"]]],
                        fmt="none", ecolor=colour, capsize=3, zorder=1)
        ax.scatter([xb], [b["value"]], s=size, color=BASE, alpha=0.6, zorder=2)
        ax.scatter([x], [t["value"]], s=size, color=TUNED, alpha=0.8, zorder=3,
                   edgecolors="#d62728" if name in v["pareto"] else "none", linewidths=2)
        ax.plot([xb, x], [b["value"], t["value"]], color="#bbb", lw=0.8, zorder=0)
        ax.annotate(("* " if name == v["recommended"] else "") + name, (x, t["value"]), fontsize=8,
                    xytext=(8, 4 + 11 * i), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("serving $ per 1M tokens (every candidate costs the same per month at this traffic)" if per_m
                  else "serving $/month at the traffic (cheapest estimated GPU)", fontsize=8)
    metric = next(iter(cands.values()))["task"]["metric"]
    ax.set_ylabel(f"test {metric}")
    ax.set_title("blue: fine-tuned, grey: zero-shot base; size: memory; red edge: Pareto; *: recommended",
                 fontsize=8)
    return _png(fig)


def selection_html(section: dict | None, table) -> list[str]:
    if not section:
        return []
    e = html.escape
    cands, v, a, tr = section["candidates"], section["verdict"], section["serving_assumptions"], section["traffic"]
    rows = []
    for name, c in cands.items():
        m, t, f, g = c["serving"]["measured"], c["task"], c["forgetting"], c["training"]
        suite = f["suite_mean_ability_change"]
        rows.append([
            name + (f" ({c['note']})" if c.get("note") else "") + (" *" if name == v["recommended"] else ""),
            f"{c['params'] / 1e6:.0f}M", _ci(t["base"]), _ci(t["tuned"]), f"{t['change']['value']:+.3f}",
            f"{f['verdict']}" + ("" if suite is None else f" ({suite:+.1%})"),
            f"{g['seconds']:.0f} s (+{g['search_seconds']:.0f} s search)", _usd(g["usd_at_gpu"]) + f" ({g['gpu']})",
            f"{m['batch1_tokens_per_second']:.1f} / {m['batch1_decode_tokens_per_second']:.1f}",
            f"{m['batch1_latency_p50_s']:.2f} / {m['batch1_latency_p95_s']:.2f}",
            f"{m['batched_tokens_per_second']:.1f} (batch {m['batch']})",
            f"{m['batched_latency_p50_s']:.2f} / {m['batched_latency_p95_s']:.2f}",
            _gib(m["peak_memory_bytes"]),
            f"{_usd(c['serving']['usd_per_month'])} ({c['serving']['cheapest_gpu']})",
            _usd(c["serving"]["usd_per_million_tokens"]),
        ])
    metric = next(iter(cands.values()))["task"]["metric"] if cands else "metric"
    level = next(iter(cands.values()))["task"]["tuned"].get("level", 0.95) if cands else 0.95
    out = ["<h2>Base-model selection</h2>", f"<p class='big'>{e(v['sentence'])}</p>",
           f"<p>Pareto set on (tuned {e(metric)}, serving $/month): {e(', '.join(v['pareto']))}. Not significantly "
           f"worse than the best ({e(v['best'])}) on the same test items, paired {level:.0%} bootstrap: "
           f"{e(', '.join(v['not_significantly_worse']))}. The recommendation is the cheapest of those.</p>",
           table(rows, ["candidate", "params", f"zero-shot {metric}", f"tuned {metric}", "change", "forgetting",
                        "training here", "training $ (est.)", "tokens/s here, batch 1 (all / decode)",
                        "latency p50 / p95 (s)", "tokens/s here, batched", "batched latency p50 / p95 (s)",
                        "peak memory here", "serving $/month", "$ per 1M tokens"]),
           f'<img alt="selection Pareto plot" src="data:image/png;base64,{pareto_plot(section)}">' if cands else ""]
    gpu_rows = []
    for name, c in cands.items():
        for gname, est in c["serving"]["gpus"].items():
            gpu_rows.append([name, gname, est["gpus_per_replica"], f"{est['stream_tokens_per_second']:,.0f}",
                             f"{est['batched_tokens_per_second']:,.0f} ({est['batch_bound']})",
                             f"{est['request_latency_s']:.2f}",
                             f"{_usd(est['usd_per_month']['expected'])} [{_usd(est['usd_per_month']['low'])}, "
                             f"{_usd(est['usd_per_month']['high'])}]",
                             _usd(est["unmerged_usd_per_month"]["expected"]),
                             _usd(est["usd_per_million_tokens"]["expected"]),
                             _usd(est["unmerged_usd_per_million_tokens"]["expected"])])
    out += ["<h3>Serving estimated on GPUs</h3>",
            f"<p>Traffic ({e(section['traffic_source'])}): {tr['requests_per_month']:,} requests/month, "
            f"{tr['prompt_tokens']} prompt + {tr['answer_tokens']} answer tokens, {tr['concurrent']} sequences "
            f"decoded together, traffic utilisation {tr['utilization']['expected']:.0%} "
            f"[{tr['utilization']['low']:.0%}, {tr['utilization']['high']:.0%}], always on: {tr['always_on']}. "
            f"Decode is bound by memory bandwidth: tokens/s per stream = utilisation x bandwidth / (weight bytes + "
            f"KV-cache bytes read per token at the mean context of {tr['decode_context']} tokens); batched: "
            f"{tr['concurrent']} sequences share one read of the weights per step, each reads its own KV cache, "
            f"and a step takes at least its FLOPs at 40% of peak. Bandwidth utilisation "
            f"{e(a['utilization_source'])}. Weights {a['weight_bytes_per_param']:g} bytes/parameter, KV cache "
            f"{a['kv_bytes_per_value']:g} bytes/value. Unmerged adapter: decode throughput x "
            f"{a['unmerged_throughput']:g} ({e(a['unmerged_source'])}). $ per 1M tokens counts busy GPU-hours "
            f"only; $/month includes the always-on floor.</p>",
            table(gpu_rows, ["candidate", "GPU", "GPUs/replica", "tokens/s per stream", "tokens/s batched",
                             "request latency (s)", "$/month merged [low, high]", "$/month unmerged",
                             "$ per 1M merged", "$ per 1M unmerged"])]
    search_rows = [[name, " ".join(t["searched"]), f"{t['metric']:.4f}", f"{t['seconds']:.0f}",
                    "chosen" if t["searched"] == c["chosen"] else ""]
                   for name, c in cands.items() for t in c["search"].get("trials", [])]
    if search_rows:
        out += ["<h3>Per-candidate budget: search on validation</h3>",
                f"<p>Each candidate searched {e(str(section['budget']['space']))} at "
                f"{section['budget']['steps']} steps; best validation metric, ties to the cheaper.</p>",
                table(search_rows, ["candidate", "setting", "validation metric", "seconds", ""])]
    sc = section.get("screening")
    if sc:
        srows = [[n, ", ".join(f"{s}: {x:.3f}" for s, x in zip(p["sizes"], p["values"])),
                  f"{p['value']:.3f} [{p['low']:.3f}, {p['high']:.3f}]",
                  "dropped: " + sc["dropped"][n] if n in sc["dropped"] else "kept"]
                 for n, p in sc["predictions"].items()]
        out += ["<h3>Screening</h3>",
                f"<p>{e(sc['law'])}, fitted to the validation error on nested subsets; predicted at the full "
                f"training split ({sc['target_examples']} examples); {sc['seconds']:.0f} s spent.</p>",
                table(srows, ["candidate", "validation metric per subset size", "predicted at full data", "verdict"])]
    return out


def write_selection_html(run: Run):
    """RUN/select/selection.html: the section alone, for a run without a full report."""
    from tunewright.reporting.report import _table

    section = selection_section(run)
    path = run.path / "select" / "selection.html"
    atomic_write_text(path, "<!doctype html><html><head><meta charset='utf-8'><title>tunewright select "
                      + html.escape(run.id) + "</title><style>body{font-family:system-ui,sans-serif;max-width:"
                      "1100px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:"
                      "1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}.big{font-size:18px}</style>"
                      "</head><body>" + "".join(selection_html(section, _table)) + "</body></html>")
    return path
