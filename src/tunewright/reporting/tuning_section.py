"""The report's tuning section: trials table, the Pareto front (task metric vs forgetting, coloured by cost),
parameter importances, and the chosen configuration against the default on test."""

from __future__ import annotations

import html
import math

from tunewright.project import Run, read_json


def tuning_section(run: Run) -> dict | None:
    p = run.path / "tuning" / "tuning.json"
    return read_json(p) if p.exists() else None


def pareto_plot(section: dict) -> str:
    from tunewright.reporting.plots import _png, plt

    trials = section["trials"]
    front = set(section["pareto_front"])
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [t["ability_change"] * 100 for t in trials]
    ys = [t["mean_metric"] for t in trials]
    sc = ax.scatter(xs, ys, c=[t["seconds"] for t in trials], cmap="viridis",
                    edgecolors=["#d62728" if t["number"] in front else "none" for t in trials], linewidths=1.5, s=60)
    fig.colorbar(sc, ax=ax, label="trial seconds")
    chosen = (section.get("chosen") or {}).get("trial")
    for t, x, y in zip(trials, xs, ys):
        ax.annotate(("* " if t["number"] == chosen else "") + str(t["number"]), (x, y), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.axvline(0, color="#999", lw=0.8)
    ax.set_xlabel("general ability change on the tuning slice (%)")
    ax.set_ylabel("validation task metric")
    ax.set_title("trials (red edge: Pareto front; *: chosen)")
    return _png(fig)


def tuning_html(section: dict | None, table) -> list[str]:
    if not section:
        return []
    e = html.escape
    rows = []
    for t in section["trials"]:
        usd = "" if t["usd"] is None or (isinstance(t["usd"], float) and math.isnan(t["usd"])) else f"{t['usd']:.4f}"
        rows.append([f"{t['number']} (default)" if t["number"] == section.get("default_trial") else t["number"],
                     " ".join(o for o in t["overrides"] if not o.startswith(("general.", "task."))),
                     f"{t['metric']:.4f}", f"{t['mean_metric']:.4f}", f"{t['ability_change']:+.2%}", t["gate"],
                     f"{t['seconds']:.0f}", usd])
    out = ["<h2>Tuning</h2>", f"<p>{e(section['choice_rule'])}</p>",
           table(rows, ["trial", "overrides", "validation metric", "seed mean", "ability change", "gate", "seconds",
                        "GPU $ (est.)"]),
           f'<img alt="tuning Pareto front" src="data:image/png;base64,{pareto_plot(section)}">']
    if section.get("pruned"):
        out.append(f"<p>Pruned (successive halving on the Pareto front at steps {e(str(section.get('rungs')))}):</p>")
        out.append(table([[t["number"], t["at_step"], " ".join(o for o in t["overrides"]
                                                              if not o.startswith(("general.", "task."))),
                           ", ".join(f"{k}: {v[0]:.4f} / {v[1]:+.2%}" for k, v in t["rungs"].items())]
                          for t in section["pruned"]], ["trial", "pruned at step", "overrides",
                                                        "rung metric / ability change"]))
    if section.get("importances"):
        out.append(table([[k, f"{v:.3f}"] for k, v in section["importances"].items()], ["parameter", "importance"]))
    ch, test = section.get("chosen"), section.get("test")
    if ch and test:
        p = test["default_vs_chosen"]
        f = lambda c: f"{c['value']:.4f} [{c['low']:.4f}, {c['high']:.4f}]"  # noqa: E731
        out.append(f"<p>chosen: trial {ch['trial']} ({e(' '.join(ch['overrides']))}); test {e(test['metric'])}: "
                   f"default {f(p['base_ci'])}, chosen {f(p['tuned_ci'])}, change {f(p['change_ci'])}; forgetting "
                   f"gate default {e(test['default']['verdict'])}, chosen {e(test['chosen']['verdict'])}</p>")
    elif not ch:
        out.append("<p>No trial passed the forgetting gate: nothing was chosen.</p>")
    return out
