"""``tunewright tune``: search settings and forgetting mitigation together on a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import tunewright.cli.render as render
from tunewright.cli.common import ConfigOpt, SetOpt, command, load, out, overrides

app = typer.Typer()


@command(app)
def tune(run: Annotated[Path, typer.Option("--run", help="Run directory with a split dataset (its own training is "
                                                         "the default configuration).")],
         trials: Annotated[Optional[int], typer.Option("--trials", help="Override tuning.trials.")] = None,
         storage: Annotated[Optional[str], typer.Option("--storage", help="Optuna storage URL (default a journal "
                                                        "file in the run; postgresql+psycopg://... for many "
                                                        "machines).")] = None,
         join: Annotated[bool, typer.Option("--join", help="Join the study as a worker (with --storage, from any "
                                            "machine that sees RUN): run trials until the study has tuning.trials, "
                                            "then stop; a plain 'tune' afterwards chooses.")] = False,
         config: ConfigOpt = None, set_: SetOpt = None):
    """Search tuning.space (learning rate, rank, dropout, mitigation) on validation: task metric, forgetting and
    cost; choose by the stated rule, write the chosen config, and compare it with the default on test."""
    from tunewright.pipeline import stage_report, stage_tune

    o = overrides(set_) + ([f"tuning.trials={trials}"] if trials else []) + ([f"tuning.storage={storage}"] if storage else [])
    cfg, r = load(config, o, run)
    result = stage_tune(cfg, r, join=join)
    if result is None:
        out.print(f"worker done: the study on {r.path} has its trials; run 'tunewright tune --run {r.path}' to choose")
        return
    render.tune(result)
    stage_report(cfg, r)


@command(app)
def select(run: Annotated[Optional[Path], typer.Option("--run", help="Run directory whose audited data and split "
                                                       "every candidate gets (default: a new run, audited and split "
                                                       "from the config).")] = None,
           force: Annotated[bool, typer.Option("--force", help="Go on when the data gate fails.")] = False,
           config: ConfigOpt = None, set_: SetOpt = None):
    """Fine-tune each selection.candidates base model on the same data and split, measure quality, forgetting and
    serving (here, and estimated on GPUs), and recommend the cheapest that is not significantly worse."""
    from tunewright.pipeline import stage_select

    cfg, r = load(config, overrides(set_), run)
    render.select(stage_select(cfg, r, force=force))
