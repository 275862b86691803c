"""``tunewright init``, ``run``, ``demo`` and ``runs``: whole projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import tunewright.cli.render as render
from tunewright.cli.common import ConfigOpt, RunsDirOpt, SeedOpt, SetOpt, StepsOpt, WorkersOpt, command, out, overrides

app = typer.Typer()


@command(app)
def init(path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path("tunewright.yaml"),
         force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False):
    """Write a commented starter tunewright.yaml (every field, its default and what it means)."""
    from tunewright.config import write_starter_config

    out.print(f"wrote {write_starter_config(path, force)}")


@command(app, "run")
def run_cmd(config: ConfigOpt = None, set_: SetOpt = None, seed: SeedOpt = None, max_steps: StepsOpt = None,
            runs_dir: RunsDirOpt = None, workers: WorkersOpt = None,
            force: Annotated[bool, typer.Option("--force", help="Go on when the data gate fails.")] = False):
    """Every stage from one config: audit, split, base eval, train, eval, report."""
    from tunewright.pipeline import enforce_gates, run_all
    from tunewright.project import project_config

    cfg = project_config(config, overrides(set_, seed, max_steps, runs_dir, workers))
    _, h = run_all(cfg, force=force)
    render.headline(h)
    enforce_gates(h.forgetting_verdict, h.forgetting_reasons)


@command(app)
def demo(quick: Annotated[bool, typer.Option("--quick", help="A subset and few steps (about 3 minutes), for tests.")] = False,
         compare_mitigation: Annotated[bool, typer.Option("--compare-mitigation", help="Also train with replay and "
                                                          "with EWC and compare forgetting (two more trainings).")] = False,
         tune: Annotated[bool, typer.Option("--tune", help="Also run a small tuning study and compare the chosen "
                                            "configuration with the default.")] = False,
         runs_dir: RunsDirOpt = None, set_: SetOpt = None):
    """Fine-tune SmolLM2-135M-Instruct with LoRA on ner_finance (offline assets) and report the uplift."""
    from tunewright.pipeline import run_demo

    h, mitigation, tuned = run_demo(quick, compare_mitigation, overrides(set_, runs_dir=runs_dir), tune=tune)
    if mitigation is not None:
        render.mitigation(mitigation)
    if tuned is not None:
        render.tune(tuned)
    render.headline(h)
    if h.forgetting_verdict == "fail":
        out.print("(the demo shows the gate and exits 0; 'tunewright run' exits 1 on a failed gate)")


@command(app)
def runs(runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Runs folder.")] = Path("runs")):
    """List the runs in the registry."""
    from tunewright.project import list_runs

    for r in list_runs(runs_dir):
        out.print(f"{r['run_id']}  {r['status']}  {r['headline'] or ''}")
