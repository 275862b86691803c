"""What every command shares: the options, the consoles, the config and run a command works on, and how an
expected error becomes one line and an exit code (tunewright.errors) while a bug keeps its traceback."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console

console = Console(stderr=True)  # progress, notes and errors
out = Console()  # results

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="tunewright.yaml (default: ./tunewright.yaml if present, else built-in defaults).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value, e.g. --set training.max_steps=20 (repeatable).")]
RunOpt = Annotated[Optional[Path], typer.Option("--run", help="Existing run directory (default: a new run).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Override training.seed and split.seed.")]
StepsOpt = Annotated[Optional[int], typer.Option("--max-steps", help="Override training.max_steps.")]
RunsDirOpt = Annotated[Optional[Path], typer.Option("--runs-dir", help="Override project.runs_dir.")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="Processes for the per-example data checks (audit.workers).")]

# OSErrors on paths the user named: the message names the file, a traceback would add nothing.
_USER_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


_debug_flag = False  # set by the root command's --debug for this invocation


def set_debug(on: bool) -> None:
    global _debug_flag
    _debug_flag = on


def debug_enabled() -> bool:
    return _debug_flag or os.environ.get("TUNEWRIGHT_DEBUG", "") not in ("", "0", "false")


def fail(msg: str, code: int = 2):
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def handled(fn: Callable) -> Callable:
    """``fn`` with tunewright's error policy: an expected error (TunewrightError, or an OSError on a path the
    user gave) prints one line and exits with its code; anything else propagates with its traceback. With
    ``--debug`` / TUNEWRIGHT_DEBUG=1 expected errors keep their traceback too."""
    from tunewright.errors import TunewrightError

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        try:
            return fn(*args, **kw)
        except (TunewrightError, *_USER_OS_ERRORS) as e:
            if debug_enabled():
                raise
            fail(str(e), getattr(e, "exit_code", 2))

    return wrapper


def command(group: typer.Typer, name: str | None = None, **kwargs) -> Callable:
    """Register ``fn`` as a command of ``group``, with the error policy of ``handled``."""

    def deco(fn: Callable) -> Callable:
        group.command(name, **kwargs)(handled(fn))
        return fn

    return deco


def overrides(sets, seed=None, max_steps=None, runs_dir=None, workers=None) -> list[str]:
    """``--set`` values plus the shortcut flags, as ``KEY=VALUE`` overrides."""
    o = list(sets or [])
    if seed is not None:
        o += [f"training.seed={seed}", f"split.seed={seed}"]
    if max_steps is not None:
        o.append(f"training.max_steps={max_steps}")
    if runs_dir is not None:
        o.append(f"project.runs_dir={runs_dir.resolve()}")
    if workers:
        o.append(f"audit.workers={workers}")
    return o


def load(config: Path | None, o: list[str], run: Path | None = None):
    """The config and run a command works on (tunewright.project.project_config / open_run)."""
    from tunewright.project import open_run, project_config

    cfg = project_config(config, o, run)
    r = open_run(cfg, run)
    if run is None:
        console.print(f"new run: {r.path}")
    return cfg, r
