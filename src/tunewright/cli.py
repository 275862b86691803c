"""Command line: one subcommand per stage. Each parses, calls the stage function, prints; nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(help="tunewright: make a domain fine-tune succeed, and prove that it did.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Data stages.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="tunewright.yaml (default: ./tunewright.yaml if present, else built-in defaults).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value, e.g. --set training.max_steps=20 (repeatable).")]
RunOpt = Annotated[Optional[Path], typer.Option("--run", help="Existing run directory (default: a new run).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Override training.seed and split.seed.")]
StepsOpt = Annotated[Optional[int], typer.Option("--max-steps", help="Override training.max_steps.")]
RunsDirOpt = Annotated[Optional[Path], typer.Option("--runs-dir", help="Override project.runs_dir.")]


def _fail(msg: str, code: int = 2):
    console.print(f"[bold red]error:[/] {msg}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _overrides(sets, seed=None, max_steps=None, runs_dir=None) -> list[str]:
    o = list(sets or [])
    if seed is not None:
        o += [f"training.seed={seed}", f"split.seed={seed}"]
    if max_steps is not None:
        o.append(f"training.max_steps={max_steps}")
    if runs_dir is not None:
        o.append(f"project.runs_dir={runs_dir.resolve()}")
    return o


def _config(config: Path | None, overrides: list[str], run: Path | None = None):
    from tunewright.config import Config, ConfigError, apply_overrides, load_config
    from tunewright.project import Run

    try:
        if config is None and run is not None:  # a stage on an existing run uses that run's config
            m = Run(run).manifest()
            cfg = Config.model_validate(apply_overrides(m["config"], overrides))
            cfg.base_dir = Path(m.get("config_dir", Path.cwd()))
            return cfg
        if config is None and Path("tunewright.yaml").exists():
            config = Path("tunewright.yaml")
        return load_config(config, overrides)
    except ConfigError as e:
        _fail(str(e))
    except FileNotFoundError as e:
        _fail(str(e))


def _run(cfg, run: Path | None):
    from tunewright.pipeline import new_run
    from tunewright.project import Run

    if run is None:
        r = new_run(cfg)
        console.print(f"new run: {r.path}")
        return r
    r = Run(run)
    try:
        r.manifest()
    except FileNotFoundError as e:
        _fail(str(e))
    return r


def _guard(fn, *args, **kwargs):
    """Call a stage; known user errors become a clear message and an exit code, not a traceback."""
    from tunewright.assets import AssetMissing
    from tunewright.config import ConfigError
    from tunewright.evaluation.evaluate import LabelError
    from tunewright.pipeline import GateFailed
    from tunewright.records import NoUsableRecords
    from tunewright.training.formats import TemplateError

    try:
        return fn(*args, **kwargs)
    except GateFailed as e:
        _fail(str(e), 1)
    except (NoUsableRecords, ConfigError, LabelError, AssetMissing, TemplateError, FileNotFoundError, ImportError,
            ValueError) as e:
        _fail(str(e), 2)


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path("tunewright.yaml"),
         force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False):
    """Write a commented starter tunewright.yaml (every field, its default and what it means)."""
    from tunewright.config import render_starter_config

    if path.exists() and not force:
        _fail(f"{path} exists; pass --force to overwrite")
    path.write_text(render_starter_config(), encoding="utf-8")
    out.print(f"wrote {path}")


@data_app.command("audit")
def data_audit(config: ConfigOpt = None, run: RunOpt = None, set_: SetOpt = None, runs_dir: RunsDirOpt = None):
    """Audit the input data: schema, exact and conflicting duplicates, token lengths; write clean set + quarantine."""
    from tunewright.pipeline import stage_audit

    cfg = _config(config, _overrides(set_, runs_dir=runs_dir), run)
    r = _run(cfg, run)
    result = _guard(stage_audit, cfg, r)
    s = result.summary
    out.print(f"input records {s['input_records']}, used {s['used']}, quarantined {s['quarantined']}")
    for reason, n in s["reasons"].items():
        out.print(f"  {reason}: {n}")
    if nd := s.get("near_duplicates"):
        out.print(f"near-duplicates: {nd['clusters']} clusters ({nd['flagged']} flagged), {nd['conflict_pairs']} "
                  f"pairs with different answers; LSH {nd['bands']} bands x {nd['rows']} rows")
    if lk := s.get("leakage"):
        out.print(f"leakage: {lk['exact']} exact and {lk['near']} near copies of test inputs; {lk['contaminated']} "
                  f"examples share a {lk['contamination_ngram']}-gram with evaluation text")
    out.print(f"token lengths: {s['token_lengths']}")
    out.print(f"run: {r.path}")


@app.command()
def split(run: Annotated[Path, typer.Option("--run", help="Run directory with an audited dataset.")],
          config: ConfigOpt = None, set_: SetOpt = None, seed: SeedOpt = None):
    """Split the audited data into train/validation/test (deterministic; one input never straddles splits)."""
    from tunewright.pipeline import stage_split

    cfg = _config(config, _overrides(set_, seed=seed), run)
    result = _guard(stage_split, cfg, _run(cfg, run))
    out.print(result.counts())


@app.command()
def train(run: Annotated[Path, typer.Option("--run", help="Run directory with a split dataset.")],
          config: ConfigOpt = None, set_: SetOpt = None, seed: SeedOpt = None, max_steps: StepsOpt = None):
    """Fine-tune (LoRA through peft on a transformers Trainer) and save the adapter into RUN/model."""
    from tunewright.pipeline import stage_train

    cfg = _config(config, _overrides(set_, seed=seed, max_steps=max_steps), run)
    res = _guard(stage_train, cfg, _run(cfg, run))
    out.print(f"trained {res.steps} steps, {res.train_tokens} tokens at {res.tokens_per_second} tokens/s; "
              f"trainable {res.trainable_params:,} / {res.total_params:,}; final loss {res.final_loss}")


@app.command("eval")
def eval_(run: Annotated[Path, typer.Option("--run", help="Run directory with a split dataset.")],
          model: Annotated[str, typer.Option("--model", help="base, tuned or both.")] = "both",
          learning_curve: Annotated[bool, typer.Option("--learning-curve", help="Train on 25%, 50% and 100% of the "
                                                       "training split and predict the metric at 2x and 4x the data.")] = False,
          export_harness: Annotated[Optional[Path], typer.Option("--export-harness", help="Write the domain task and "
                                                                  "the general suite as lm-evaluation-harness tasks into DIR.")] = None,
          harness: Annotated[Optional[str], typer.Option("--harness", help="Comma-separated lm-evaluation-harness "
                                                         "tasks to run on base and tuned (needs lm-eval).")] = None,
          harness_include: Annotated[Optional[Path], typer.Option("--harness-include", help="Folder of extra harness "
                                                                  "task YAML (e.g. from --export-harness).")] = None,
          harness_limit: Annotated[Optional[int], typer.Option("--harness-limit", help="Items per harness task.")] = None,
          config: ConfigOpt = None, set_: SetOpt = None):
    """Task metric on the test split, held-out loss and the general suite, with predictions saved per example."""
    from tunewright.pipeline import stage_eval, stage_export_harness, stage_harness, stage_learning_curve

    if model not in ("base", "tuned", "both"):
        _fail("--model must be base, tuned or both")
    cfg = _config(config, _overrides(set_), run)
    r = _run(cfg, run)
    if export_harness is not None:
        for p in _guard(stage_export_harness, cfg, r, export_harness):
            out.print(f"wrote {p}")
        out.print(f"run them with: lm_eval --model hf --model_args pretrained=MODEL --include_path {export_harness} "
                  "--tasks tunewright")
        return
    if harness:
        res = _guard(stage_harness, cfg, r, [t.strip() for t in harness.split(",") if t.strip()], harness_include,
                     harness_limit)
        for which, tasks in res.items():
            for name, metrics in tasks.items():
                out.print(f"{which}: {name} " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        return
    if learning_curve:
        lc = _guard(stage_learning_curve, cfg, r)
        for p in lc["points"]:
            out.print(f"{p['train_examples']} examples ({p['fraction']:.0%}): {lc['metric']} {p['value']:.4f}")
        for k, p in lc["predictions"].items():
            out.print(f"predicted at {k} ({p['size']} examples): {p['value']:.4f} "
                      f"[{p['low']:.4f}, {p['high']:.4f}]")
        for w in lc["warnings"]:
            out.print(f"caution: {w}")
        return
    for which in (["base", "tuned"] if model == "both" else [model]):
        m = _guard(stage_eval, cfg, r, which)
        t = m["task"]
        out.print(f"{which}: {t['metric']} {t['value']:.4f} on {t['n']} (unparseable {t['unparseable']}); "
                  + ", ".join(f"{k} {v['value']:.4f}" for k, v in m["general"].items()))


@app.command()
def report(run: Annotated[Path, typer.Option("--run", help="Run directory with base and tuned evaluations.")]):
    """Write report.json and a self-contained report.html for a run."""
    from tunewright.pipeline import stage_report

    cfg = _config(None, [], run)
    rep = _guard(stage_report, cfg, _run(cfg, run))
    _print_headline(rep, run)


def _print_headline(rep: dict, run_path: Path):
    t, tr = rep["task"], rep["training"]
    c = t["change_ci"]
    sig = "significant" if t["significant"] else "not significant"
    out.print(f"[bold]{t['metric']}[/]: base {t['base']:.3f} -> tuned {t['tuned']:.3f} ({t['change']:+.3f}, "
              f"{c['level']:.0%} interval {c['low']:+.3f} to {c['high']:+.3f}, {sig}) on {t['n']} test examples")
    for name, g in rep["general"].items():
        rel = "" if g["rel_change"] is None else f" ({g['rel_change']:+.1%})"
        out.print(f"{name} ({g['metric']}): base {g['base']:.3f} -> tuned {g['tuned']:.3f}{rel}")
    f = rep["forgetting"]
    out.print(f"forgetting gate: [bold]{f['verdict'].upper()}[/] - " + "; ".join(f["reasons"]), highlight=False)
    if rep.get("heldout"):
        out.print(f"held-out loss: base {rep['heldout']['base']:.3f} -> tuned {rep['heldout']['tuned']:.3f}")
    out.print(f"trainable: {tr['trainable_params']:,} of {tr['total_params']:,} parameters ({tr['trainable_share']:.2%})")
    wall = rep["headline"].get("wall_seconds")
    if wall is not None:
        out.print(f"wall time: {wall:.0f} s")
    out.print(f"report: {Path(run_path) / 'report.html'}")


@app.command("run")
def run_cmd(config: ConfigOpt = None, set_: SetOpt = None, seed: SeedOpt = None, max_steps: StepsOpt = None,
            runs_dir: RunsDirOpt = None):
    """Every stage from one config: audit, split, base eval, train, eval, report."""
    from tunewright.pipeline import run_all

    from tunewright.pipeline import enforce_gates

    cfg = _config(config, _overrides(set_, seed=seed, max_steps=max_steps, runs_dir=runs_dir))
    r, rep = _guard(run_all, cfg)
    _print_headline(rep, r.path)
    _guard(enforce_gates, rep)


@app.command()
def demo(quick: Annotated[bool, typer.Option("--quick", help="A subset and few steps (about 3 minutes), for tests.")] = False,
         runs_dir: RunsDirOpt = None, set_: SetOpt = None):
    """Fine-tune SmolLM2-135M-Instruct with LoRA on ner_finance (offline assets) and report the uplift."""
    from tunewright.pipeline import demo_overrides, run_all

    cfg = _config(None, demo_overrides(quick) + _overrides(set_, runs_dir=runs_dir))
    r, rep = _guard(run_all, cfg)
    _print_headline(rep, r.path)
    if rep["forgetting"]["verdict"] == "fail":
        out.print("(the demo shows the gate and exits 0; 'tunewright run' exits 1 on a failed gate)")


@app.command()
def runs(runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Runs folder.")] = Path("runs")):
    """List the runs in the registry."""
    from tunewright.project import list_runs

    for r in list_runs(runs_dir):
        out.print(f"{r['run_id']}  {r['status']}  {r['headline'] or ''}")


def main():  # pragma: no cover
    sys.exit(app())
