"""``tunewright tune``: search settings and forgetting mitigation together on a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import tunewright.cli.render as render
from tunewright.cli.common import ConfigOpt, SetOpt, command, load, overrides

app = typer.Typer()


@command(app)
def tune(run: Annotated[Path, typer.Option("--run", help="Run directory with a split dataset (its own training is "
                                                         "the default configuration).")],
         trials: Annotated[Optional[int], typer.Option("--trials", help="Override tuning.trials.")] = None,
         storage: Annotated[Optional[str], typer.Option("--storage", help="Optuna storage URL (default a journal "
                                                        "file in the run; postgresql+psycopg://... for many "
                                                        "machines).")] = None,
         config: ConfigOpt = None, set_: SetOpt = None):
    """Search tuning.space (learning rate, rank, dropout, mitigation) on validation: task metric, forgetting and
    cost; choose by the stated rule, write the chosen config, and compare it with the default on test."""
    from tunewright.pipeline import stage_report, stage_tune

    o = overrides(set_) + ([f"tuning.trials={trials}"] if trials else []) + ([f"tuning.storage={storage}"] if storage else [])
    cfg, r = load(config, o, run)
    render.tune(stage_tune(cfg, r))
    stage_report(cfg, r)
