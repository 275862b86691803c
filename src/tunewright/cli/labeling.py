"""``tunewright label``: labeling functions and the label model over a run's examples."""

from __future__ import annotations


import typer

from tunewright.cli.common import ConfigOpt, RunOpt, SetOpt, command, load, out, overrides

app = typer.Typer()


@command(app)
def label(config: ConfigOpt = None, run: RunOpt = None, set_: SetOpt = None):
    """Run the labeling functions and the label model; write votes, labels, per-function analysis, review queue."""
    from tunewright.labeling.stage import stage_label

    cfg, r = load(config, overrides(set_), run)
    res = stage_label(cfg, r)
    out.print(f"{res.examples} examples labeled by {len(res.functions)} functions")
    out.print(f"{'function':<32} {'coverage':>8} {'overlap':>8} {'conflict':>8} {'accuracy':>8}")
    for row in res.functions:
        acc = "-" if row.accuracy is None else f"{row.accuracy:.3f}"
        out.print(f"{row.function:<32} {row.coverage:>8.3f} {row.overlap:>8.3f} {row.conflict:>8.3f} {acc:>8}")
    for name, score in res.scores.items():
        if score:
            out.print(f"{name}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in score.items()))
    out.print(f"run: {res.run_path}")
