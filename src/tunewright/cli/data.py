"""``tunewright data audit``, ``data curate`` and ``split``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import tunewright.cli.render as render
from tunewright.cli.common import (ConfigOpt, RunOpt, RunsDirOpt, SeedOpt, SetOpt, WorkersOpt, command, fail, load,
                                   out, overrides)

app = typer.Typer(help="Data stages.", no_args_is_help=True)
stages = typer.Typer()


FilesArg = Annotated[Optional[list[Path]], typer.Argument(
    help="Data files to audit (JSONL, CSV, Parquet); default: the config's data.train_files.", show_default=False)]


@command(app, "audit")
def data_audit(files: FilesArg = None, config: ConfigOpt = None, run: RunOpt = None, set_: SetOpt = None,
               runs_dir: RunsDirOpt = None, workers: WorkersOpt = None):
    """Audit the input data (format, duplicates, quality, PII, label noise, ...); write clean set + quarantine."""
    _data_stage(config, run, set_, runs_dir, workers, curate=False, files=files)


@command(app, "curate")
def data_curate(config: ConfigOpt = None, run: RunOpt = None, set_: SetOpt = None, runs_dir: RunsDirOpt = None,
                workers: WorkersOpt = None):
    """Audit, then write the curated set (normalized; PII redacted if configured) as JSONL and Parquet."""
    _data_stage(config, run, set_, runs_dir, workers, curate=True)


def _data_stage(config, run, set_, runs_dir, workers, curate: bool, files: list[Path] | None = None):
    from tunewright.pipeline import stage_audit, with_train_files
    from tunewright.project import open_run, project_config

    cfg = with_train_files(project_config(config, overrides(set_, runs_dir=runs_dir, workers=workers), run), files)
    r = open_run(cfg, run)
    result = stage_audit(cfg, r, force=True, curate=curate)  # print the findings, then judge
    render.audit(result)
    if not result.passed:
        fail(result.gate_message, 1)


@command(stages)
def split(run: Annotated[Path, typer.Option("--run", help="Run directory with an audited dataset.")],
          config: ConfigOpt = None, set_: SetOpt = None, seed: SeedOpt = None):
    """Split the audited data into train/validation/test (deterministic; one input never straddles splits)."""
    from tunewright.pipeline import stage_split

    cfg, r = load(config, overrides(set_, seed=seed), run)
    out.print(stage_split(cfg, r).counts())
