"""``tunewright init``, ``run``, ``demo`` and ``runs``: whole projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import tunewright.cli.render as render
from tunewright.cli.common import ConfigOpt, RunsDirOpt, SeedOpt, SetOpt, StepsOpt, WorkersOpt, command, out, overrides

app = typer.Typer()


@command(app)
def init(path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("tunewright.yaml"),
         data: Annotated[Optional[list[Path]], typer.Option("--data", help="Your training data (JSONL or CSV); "
                                                            "repeatable.")] = None,
         test: Annotated[Optional[list[Path]], typer.Option("--test", help="A held-out test file; repeatable.")] = None,
         model: Annotated[Optional[str], typer.Option("--model", help="Hub id or local folder of the base model.")] = None):
    """Write a short tunewright.yaml inferred from your data: format, task type, labels or entity types, answer
    length, test file. Prints what it inferred and why; never overwrites a file."""
    import json

    from tunewright.errors import InputError
    from tunewright.starter import write_starter_config

    if not data:
        raise InputError("give your training data: tunewright init --data FILE [--test FILE] [--model ID] "
                         "('tunewright config --full' prints every field, its default and meaning)")
    res = write_starter_config([str(d) for d in data], path, [str(t) for t in test or []], model)
    for f in res.findings:
        value = json.dumps(f.value, ensure_ascii=False) if not isinstance(f.value, str) else f.value
        typer.echo(f"{f.key}: {value}  - {f.why}")
    typer.echo(f"wrote {path}; next: tunewright run -c {path}")


@command(app, "config")
def config_cmd(full: Annotated[bool, typer.Option("--full", help="Every field with its default and meaning.")] = False,
               config: ConfigOpt = None, set_: SetOpt = None):
    """Print the resolved config (YAML), or with --full every field, its default and what it means."""
    from tunewright.config import render_full_config, render_resolved_config
    from tunewright.project import project_config

    typer.echo(render_full_config() if full else render_resolved_config(project_config(config, overrides(set_))))


@command(app, "run")
def run_cmd(config: ConfigOpt = None, set_: SetOpt = None, seed: SeedOpt = None, max_steps: StepsOpt = None,
            runs_dir: RunsDirOpt = None, workers: WorkersOpt = None,
            run: Annotated[Optional[Path], typer.Option("--run", help="Continue this run from its finished audit "
                                                        "(after a failed data gate, with --force) instead of "
                                                        "redoing it.")] = None,
            force: Annotated[bool, typer.Option("--force", help="Go on when the data gate fails, or when the "
                                                "config does not fit the data.")] = False):
    """Every stage from one config: a check of the config against the data, audit, split, base eval, train,
    eval, report."""
    from tunewright.cli.common import console
    from tunewright.pipeline import enforce_gates, run_all
    from tunewright.project import open_run, project_config

    cfg = project_config(config, overrides(set_, seed, max_steps, runs_dir, workers), run)
    _, h = run_all(cfg, open_run(cfg, run) if run else None, force=force,
                   notify=lambda msg: console.print(msg, markup=False, highlight=False, soft_wrap=True))
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
    from tunewright.cli.common import console
    from tunewright.pipeline import run_demo

    h, mitigation, tuned = run_demo(quick, compare_mitigation, overrides(set_, runs_dir=runs_dir), tune=tune,
                                    notify=lambda msg: console.print(msg, markup=False, highlight=False, soft_wrap=True))
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
