"""Cost results as rich tables (CLI) and plots (stacked cost bars, memory bar). The report's cost section, which
uses the same rows and plots, is :mod:`tunewright.reporting.cost_section`."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from tunewright.cost.hardware import GIB


def usd(x: float) -> str:
    return f"${x:,.0f}" if x >= 100 else f"${x:,.2f}"


def span_text(s: dict, fmt=usd) -> str:
    return f"{fmt(s['expected'])} [{fmt(s['low'])} - {fmt(s['high'])}]"


def _hours(h: float) -> str:
    if h < 1 / 60:
        return f"{h * 3600:.1f} s"
    return f"{h * 60:.1f} min" if h < 1 else f"{h:,.1f} h"


def memory_table(est: dict) -> Table:
    m = est["memory"]
    s = est["setup"]
    t = Table("category", "GiB per GPU", title=escape(f"GPU memory: {est['model']['name']}, {s['method']}, {s['dtype']}, "
              f"micro-batch {s['micro_batch']} x {s['seq']} tokens, checkpointing {'on' if s['checkpointing'] else 'off'}"
              f", {s['n_gpus']} GPU(s) {s['strategy']}"))
    for k, v in m["lines_bytes"].items():
        t.add_row(k, f"{v / GIB:.2f}")
    t.add_row("[bold]allocated peak[/]", f"[bold]{m['allocated_bytes'] / GIB:.2f}[/]")
    t.add_row("[bold]needed on the GPU[/] (+5% allocator slack)", f"[bold]{m['total_bytes'] / GIB:.2f}[/]")
    return t


def fits_lines(est: dict) -> list[str]:
    m = est["memory"]
    lines = [f"{est['gpu']} ({m['gpu_memory_bytes'] / GIB:.0f} GiB): "
             + (f"fits; largest micro-batch {m['largest_micro_batch']}" if m["fits_gpu"] else "does NOT fit")]
    if m["smallest_change"]:
        lines.append(f"smallest change that fits {est['gpu']}: {m['smallest_change']}")
    if m.get("calibrated_ratio"):
        lines.append(f"this project's GPU runs measured {m['calibrated_ratio']:.2f}x the estimate (calibration)")
    return lines


def fits_table(est: dict) -> Table:
    t = Table("GPU", "memory GiB", "fits", "largest micro-batch", title="Fits per GPU (hardware table)")
    for r in est["memory"]["fits_table"]:
        t.add_row(r["gpu"], f"{r['memory_gib']:.0f}", "yes" if r["fits"] else "[red]no[/]",
                  str(r["largest_micro_batch"]) if r["largest_micro_batch"] else "-")
    return t


def time_table(est: dict) -> Table:
    tm, f, lc = est["time"], est["flops"], est["lifecycle"]
    t = Table("quantity", "value", title=f"Time and compute on {est['setup']['n_gpus']} x {est['gpu']}")
    t.add_row("training FLOPs per token", f"{f['train_per_token']:.3g}")
    t.add_row("tokens per epoch", escape(f"{tm['dataset_tokens']:,} ({tm['dataset_tokens_source']})"))
    t.add_row("tokens per run", escape(f"{tm['tokens_per_run']:,.0f} ({tm['run_basis']})"))
    t.add_row("MFU", escape(f"{tm['mfu']['expected']:.0%} [{tm['mfu']['low']:.0%} - {tm['mfu']['high']:.0%}] "
                            f"({tm['mfu_source']})"))
    t.add_row("hours per run", escape(span_text(tm["run_hours"], _hours)))
    t.add_row("GPU-hours, whole project", escape(span_text(lc["gpu_hours"], _hours)))
    return t


def lifecycle_table(results: list[dict]) -> Table:
    """One column per scenario: expected [low - high] USD per category."""
    first = results[0]["estimate"]
    t = Table("category", *(r["name"] for r in results),
              title=escape(f"Lifecycle cost, USD, expected [low - high] (GPU prices as of {first['prices_as_of']})"))
    for cat in first["lifecycle"]["categories_usd"]:
        t.add_row(cat, *(escape(span_text(r["estimate"]["lifecycle"]["categories_usd"][cat])) for r in results))
    t.add_row("[bold]total[/]", *(f"[bold]{escape(span_text(r['estimate']['lifecycle']['total_usd']))}[/]"
                                  for r in results))
    return t


def scenario_rows(results: list[dict]) -> list[list[str]]:
    """Per scenario: model, method, GPUs, memory per GPU, fits, hours per run."""
    rows = []
    for r in results:
        e = r["estimate"]
        s, m = e["setup"], e["memory"]
        rows.append([r["name"], f"{e['model']['name']} ({e['model']['n_params'] / 1e9:.2f}B)", s["method"],
                     f"{s['n_gpus']} x {e['gpu']} {s['strategy']}", f"{m['total_bytes'] / GIB:.1f}",
                     "yes" if m["fits_gpu"] else f"no: {m['smallest_change']}",
                     span_text(e["time"]["run_hours"], _hours)])
    return rows


SCENARIO_HEADER = ["scenario", "model", "method", "GPUs", "GiB per GPU", "fits", "hours per run"]


def scenario_table(results: list[dict]) -> Table:
    t = Table(*SCENARIO_HEADER, title="Scenarios")
    for row in scenario_rows(results):
        t.add_row(*(escape(c) for c in row))
    return t


def scenario_plot(results: list[dict]) -> str:
    """Stacked bars of expected cost by category, one bar per scenario, total low-high as an error bar."""
    from tunewright.reporting.plots import _png, plt

    cats = list(results[0]["estimate"]["lifecycle"]["categories_usd"])
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(results) + 3), 4))
    bottom = [0.0] * len(results)
    colors = plt.get_cmap("tab20").colors
    for i, cat in enumerate(cats):
        vals = [r["estimate"]["lifecycle"]["categories_usd"][cat]["expected"] for r in results]
        if not any(vals):
            continue
        ax.bar(range(len(results)), vals, bottom=bottom, label=cat, color=colors[i % len(colors)])
        bottom = [b + v for b, v in zip(bottom, vals)]
    tot = [r["estimate"]["lifecycle"]["total_usd"] for r in results]
    ax.errorbar(range(len(results)), [t["expected"] for t in tot],
                yerr=[[t["expected"] - t["low"] for t in tot], [t["high"] - t["expected"] for t in tot]],
                fmt="none", ecolor="black", capsize=6, label="total: low - high")
    ax.set_xticks(range(len(results)), [r["name"] for r in results])
    ax.set_ylabel("USD (expected, stacked)")
    ax.set_title(f"Lifecycle cost by category (prices as of {results[0]['estimate']['prices_as_of']})")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return _png(fig)


def memory_plot(est: dict) -> str:
    from tunewright.reporting.plots import _png, plt

    lines = est["memory"]["lines_bytes"]
    fig, ax = plt.subplots(figsize=(8, 2.4))
    left = 0.0
    colors = plt.get_cmap("tab10").colors
    for i, (k, v) in enumerate(lines.items()):
        ax.barh([0], [v / GIB], left=[left], label=f"{k} {v / GIB:.1f}", color=colors[i % len(colors)])
        left += v / GIB
    ax.axvline(est["memory"]["gpu_memory_bytes"] / GIB, color="red", ls="--", label=f"{est['gpu']} memory")
    ax.set_yticks([])
    ax.set_xlabel("GiB per GPU")
    ax.legend(fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.02), frameon=False)
    return _png(fig)
