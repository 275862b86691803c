"""Plots rendered to inline base64 PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BASE, TUNED = "#9aa5b1", "#2f6fdd"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _err(values, cis):
    """Asymmetric error bars (2, n) from intervals; None when there are none."""
    if cis is None:
        return None
    return [[max(v - c["low"], 0) for v, c in zip(values, cis)], [max(c["high"] - v, 0) for v, c in zip(values, cis)]]


def _bars(ax, labels, base, tuned, title, fmt="{:.3f}", base_ci=None, tuned_ci=None):
    x = range(len(labels))
    w = 0.38
    b1 = ax.bar([i - w / 2 for i in x], base, w, label="base", color=BASE, yerr=_err(base, base_ci), capsize=4)
    b2 = ax.bar([i + w / 2 for i in x], tuned, w, label="tuned", color=TUNED, yerr=_err(tuned, tuned_ci), capsize=4)
    for bars in (b1, b2):
        for bar in bars:
            ax.annotate(fmt.format(bar.get_height()), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels)
    ax.set_title(title)
    ax.legend(fontsize=8)


def task_plot(task: dict) -> str:
    """The headline metric with its bootstrap interval; the other task numbers as plain bars."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(task["base_detail"]), 3.4))
    keys = list(task["base_detail"])
    base = [task["base_detail"][k] for k in keys]
    tuned = [task["tuned_detail"][k] for k in keys]
    point = lambda v: {"low": v, "high": v}  # noqa: E731
    _bars(ax, [k.replace("_", " ") for k in keys], base, tuned,
          f"{task['metric']} on {task['n']} test examples ({task['change_ci']['level']:.0%} interval)",
          base_ci=[task["base_ci"], *map(point, base[1:])], tuned_ci=[task["tuned_ci"], *map(point, tuned[1:])])
    ax.set_ylim(0, 1.08)
    ax.tick_params(axis="x", labelsize=8)
    return _png(fig)


def general_plot(general: dict) -> str:
    names = list(general)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for ax, n in zip(axes[0], names):
        g = general[n]
        _bars(ax, [g["metric"]], [g["base"]], [g["tuned"]], n, fmt="{:.3f}" if g["base"] < 10 else "{:.2f}",
              base_ci=[g["base_ci"]] if "base_ci" in g else None, tuned_ci=[g["tuned_ci"]] if "tuned_ci" in g else None)
        direction = "higher is better" if g["higher_is_better"] else "lower is better"
        ax.set_xlabel(direction, fontsize=8)
    return _png(fig)


def loss_plot(curve: list[dict], heldout: dict | None) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot([r["step"] for r in curve], [r["loss"] for r in curve], marker="o", ms=3, color=TUNED, label="train loss")
    if heldout and heldout.get("base") is not None:
        ax.axhline(heldout["base"], color=BASE, ls="--", label=f"held-out loss, base {heldout['base']:.3f}")
        ax.axhline(heldout["tuned"], color="#1a9850", ls="--", label=f"held-out loss, tuned {heldout['tuned']:.3f}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title("Training loss")
    ax.legend(fontsize=8)
    return _png(fig)


def data_plot(data: dict) -> str:
    reasons = data.get("reasons", {})
    labels = ["used"] + list(reasons)
    values = [data["used"]] + list(reasons.values())
    fig, ax = plt.subplots(figsize=(5.5, 0.5 + 0.45 * len(labels)))
    colors = ["#1a9850"] + ["#d73027"] * len(reasons)
    ax.barh(labels[::-1], values[::-1], color=colors[::-1])
    for i, v in enumerate(values[::-1]):
        ax.annotate(str(v), (v, i), va="center", fontsize=8, xytext=(3, 0), textcoords="offset points")
    ax.set_title(f"{data['input_records']} input records: used, and quarantine reasons")
    return _png(fig)


def learning_curve_plot(lc: dict) -> str:
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    sizes, values = lc["sizes"], lc["values"]
    ax.plot(sizes, values, "o", color=TUNED, label="measured")
    f = lc["fit"]
    top = max(p["size"] for p in lc["predictions"].values())
    xs = np.linspace(min(sizes) * 0.8, top * 1.05, 200)
    ax.plot(xs, f["a"] - f["b"] * xs ** (-f["c"]), "--", color=BASE, label="power-law fit")
    for k, p in lc["predictions"].items():
        ax.errorbar([p["size"]], [p["value"]], yerr=[[p["value"] - p["low"]], [p["high"] - p["value"]]], fmt="s",
                    color="#1a9850", capsize=4)
        ax.annotate(f"{k}: {p['value']:.3f}", (p["size"], p["value"]), fontsize=8, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xlabel("training examples")
    ax.set_ylabel(lc["metric"])
    ax.set_title(f"Learning curve ({lc['level']:.0%} interval on predictions)")
    ax.legend(fontsize=8)
    return _png(fig)


def mitigation_plot(mit: dict) -> str:
    """Task metric against the general suite's mean ability change, one point per mitigation arm."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, a in mit["arms"].items():
        t = a["task"]["tuned_ci"]
        x = a["forgetting"]["suite_mean_ability_change"] or 0.0
        ax.errorbar([x * 100], [t["value"]], yerr=[[t["value"] - t["low"]], [t["high"] - t["value"]]], fmt="o",
                    capsize=4)
        ax.annotate(name, (x * 100, t["value"]), fontsize=9, xytext=(5, 4), textcoords="offset points")
    ax.axvline(0, color="#999", lw=0.8)
    ax.set_xlabel("general suite: mean ability change vs base (%)")
    ax.set_ylabel(next(iter(mit["arms"].values()))["task"]["metric"])
    ax.set_title("Forgetting mitigation: task vs general ability")
    return _png(fig)
