"""``tunewright eval`` (base and tuned on the test split) with its studies as subcommands, and ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import tunewright.cli.render as render
from tunewright.cli.common import ConfigOpt, SetOpt, command, fail, handled, load, out, overrides

app = typer.Typer(help="Task metric on the test split, held-out loss and the general suite (base and tuned), "
                  "and the studies built on them.", invoke_without_command=True)
reports = typer.Typer()
RunReq = Annotated[Path, typer.Option("--run", help="Run directory with a split dataset.")]


def eval_(ctx: typer.Context,
          run: Annotated[Optional[Path], typer.Option("--run", help="Run directory with a split dataset.")] = None,
          model: Annotated[str, typer.Option("--model", help="base, tuned or both.")] = "both",
          config: ConfigOpt = None, set_: SetOpt = None):
    """Task metric on the test split, held-out loss and the general suite, with predictions saved per example."""
    if ctx.invoked_subcommand is not None:
        return
    _evaluate(run, model, config, set_)


def _evaluate(run, model, config, set_):
    from tunewright.errors import InputError
    from tunewright.pipeline import stage_eval

    if run is None:
        fail("--run is required: the run directory to evaluate")
    if model not in ("base", "tuned", "both"):
        raise InputError("--model must be base, tuned or both")
    cfg, r = load(config, overrides(set_), run)
    for which in (["base", "tuned"] if model == "both" else [model]):
        e = stage_eval(cfg, r, which)
        out.print(f"{which}: {e.metric} {e.value:.4f} on {e.n} (unparseable {e.unparseable}); "
                  + ", ".join(f"{k} {v:.4f}" for k, v in e.general.items()))


app.callback()(handled(eval_))


@command(app, "learning-curve")
def learning_curve(run: RunReq, config: ConfigOpt = None, set_: SetOpt = None):
    """Train on 25%, 50% and 100% of the training split and predict the metric at 2x and 4x the data."""
    from tunewright.pipeline import stage_learning_curve

    cfg, r = load(config, overrides(set_), run)
    render.learning_curve(stage_learning_curve(cfg, r))


@command(app, "compare-mitigation")
def compare_mitigation(run: RunReq, config: ConfigOpt = None, set_: SetOpt = None):
    """Train and evaluate the run again with replay and with EWC (general.mitigation_study) and compare task
    metric and forgetting."""
    from tunewright.pipeline import stage_compare_mitigation

    cfg, r = load(config, overrides(set_), run)
    render.mitigation(stage_compare_mitigation(cfg, r))


@command(app, "export-harness")
def export_harness(run: RunReq, dest: Annotated[Path, typer.Argument(help="Folder for the task YAML.")],
                   config: ConfigOpt = None, set_: SetOpt = None):
    """Write the domain task and the general suite as lm-evaluation-harness tasks into DEST."""
    from tunewright.pipeline import stage_export_harness

    cfg, r = load(config, overrides(set_), run)
    for p in stage_export_harness(cfg, r, dest):
        out.print(f"wrote {p}")
    out.print(f"run them with: lm_eval --model hf --model_args pretrained=MODEL --include_path {dest} "
              "--tasks tunewright")


@command(app, "harness")
def harness(run: RunReq, tasks: Annotated[str, typer.Argument(help="Comma-separated lm-evaluation-harness tasks.")],
            include: Annotated[Optional[Path], typer.Option("--include", help="Folder of extra harness task YAML "
                                                            "(e.g. from 'eval export-harness').")] = None,
            limit: Annotated[Optional[int], typer.Option("--limit", help="Items per harness task.")] = None,
            config: ConfigOpt = None, set_: SetOpt = None):
    """Run lm-evaluation-harness tasks on the base and the tuned model (needs lm-eval)."""
    from tunewright.pipeline import stage_harness

    cfg, r = load(config, overrides(set_), run)
    res = stage_harness(cfg, r, [t.strip() for t in tasks.split(",") if t.strip()], include, limit)
    for which, by_task in res.items():
        for name, metrics in by_task.items():
            out.print(f"{which}: {name} " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


@command(reports)
def report(run: Annotated[Path, typer.Option("--run", help="Run directory with base and tuned evaluations.")]):
    """Write report.json and a self-contained report.html for a run."""
    from tunewright.pipeline import stage_report

    cfg, r = load(None, [], run)
    render.headline(stage_report(cfg, r))
