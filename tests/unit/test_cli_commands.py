"""The CLI is thin and complete: every stage has a command, --help lists every command, and errors follow the
policy of cli/common.py (expected: one line + exit code; bugs: traceback)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import tunewright.cli
from tunewright.cli import app

CLI_DIR = Path(tunewright.cli.__file__).parent


def _stage_functions() -> set[str]:
    import tunewright.cost.estimate as cost_estimate
    import tunewright.labeling.stage as labeling_stage
    import tunewright.pipeline as pipeline

    names = {n for n, f in inspect.getmembers(pipeline, inspect.isfunction)
             if n.startswith("stage_") and f.__module__ == pipeline.__name__}
    names |= {n for n, f in inspect.getmembers(labeling_stage, inspect.isfunction) if n.startswith("stage_")}
    names |= {"run_all", "run_demo", "calibrate_run", "estimate_scenarios"}
    assert hasattr(cost_estimate, "calibrate_run")
    return names


def _commands(cmd, prefix: str = "") -> dict:
    out = {}
    if hasattr(cmd, "commands"):  # typer may ship its own click: duck-type the group
        for name, sub in cmd.commands.items():
            full = f"{prefix} {name}".strip()
            out[full] = sub
            out.update(_commands(sub, full))
    return out


def test_every_stage_function_is_called_by_a_command():
    import tunewright.pipeline as pipeline

    # a command calls it, or run_all / run_demo (which `run` and `demo` call) do
    source = "\n".join(p.read_text() for p in CLI_DIR.glob("*.py"))
    source += inspect.getsource(pipeline.run_all) + inspect.getsource(pipeline.run_demo)
    missing = sorted(n for n in _stage_functions() if not re.search(rf"\b{n}\(", source))
    assert not missing, f"stage functions with no CLI command: {missing}"


def test_help_lists_every_command_and_every_group_lists_its_own():
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert {"run", "demo", "data audit", "data curate", "split", "train", "eval", "eval learning-curve",
            "eval compare-mitigation", "eval harness", "eval export-harness", "report", "export", "label",
            "review init", "review serve", "review export", "review next", "review revoke", "tune", "serve", "router",
            "config", "cost", "cost calibrate", "init", "runs"} <= set(commands)
    runner = CliRunner()
    top = runner.invoke(app, ["--help"], terminal_width=200)
    assert top.exit_code == 0
    for name in (n for n in commands if " " not in n):
        assert re.search(rf"│ {re.escape(name)}\s", top.output), f"'tunewright --help' does not list {name}"
    for group in {n.rsplit(" ", 1)[0] for n in commands if " " in n}:
        h = runner.invoke(app, [*group.split(), "--help"], terminal_width=200)
        assert h.exit_code == 0, h.output
        for sub in (n.rsplit(" ", 1)[1] for n in commands if n.startswith(group + " ") and n.count(" ") == group.count(" ") + 1):
            assert re.search(rf"│ {re.escape(sub)}\s", h.output), f"'tunewright {group} --help' does not list {sub}"


def test_cli_modules_are_small_and_hold_no_stage_logic():
    for p in CLI_DIR.glob("*.py"):
        lines = p.read_text().splitlines()
        assert len(lines) <= 150, f"{p.name}: {len(lines)} lines"
        src = p.read_text()
        # commands call stages; they do not open run artifacts or write files themselves
        assert "open(" not in src and "write_text(" not in src and "json.loads(" not in src, p.name


def test_expected_error_is_one_line_and_exit_2(tmp_path):
    r = CliRunner().invoke(app, ["split", "--run", str(tmp_path / "nope")])
    assert r.exit_code == 2
    assert "error:" in r.output and "not a run directory" in r.output and "Traceback" not in r.output


def test_bad_config_value_names_the_key(tmp_path):
    r = CliRunner().invoke(app, ["data", "audit", "--set", "training.lora_r=abc", "--runs-dir", str(tmp_path)])
    assert r.exit_code == 2 and "training.lora_r" in r.output


def test_debug_keeps_the_traceback_of_expected_errors(tmp_path):
    from tunewright.errors import MissingArtifact

    r = CliRunner().invoke(app, ["--debug", "split", "--run", str(tmp_path / "nope")])
    assert isinstance(r.exception, MissingArtifact)


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    import tunewright.pipeline as pipeline

    def broken(*a, **k):
        raise KeyError("a bug, not a user error")

    monkeypatch.setattr(pipeline, "stage_split", broken)
    monkeypatch.delenv("TUNEWRIGHT_DEBUG", raising=False)
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text('{"config": {}, "config_dir": "%s"}' % tmp_path)
    r = CliRunner().invoke(app, ["split", "--run", str(run)])
    assert isinstance(r.exception, KeyError), r.output


@pytest.mark.parametrize("exc", ["GateFailed"])
def test_gate_failure_exits_1(exc):
    from tunewright import errors

    assert getattr(errors, exc).exit_code == 1 and errors.InputError.exit_code == 2
