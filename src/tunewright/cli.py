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
    from tunewright.serving.verify import ExportVerificationFailed
    from tunewright.training.checkpoints import TrainingStopped
    from tunewright.training.formats import TemplateError
    from tunewright.training.methods import MethodUnavailable

    try:
        return fn(*args, **kwargs)
    except (GateFailed, ExportVerificationFailed) as e:
        _fail(str(e), 1)
    except TrainingStopped as e:
        _fail(str(e), e.exit_code)
    except MethodUnavailable as e:
        _fail(str(e), 2)
    except (NoUsableRecords, ConfigError, LabelError, AssetMissing, TemplateError, FileNotFoundError, FileExistsError,
            ImportError,
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


WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="Processes for the per-example data checks (audit.workers).")]


@data_app.command("audit")
def data_audit(config: ConfigOpt = None, run: RunOpt = None, set_: SetOpt = None, runs_dir: RunsDirOpt = None,
               workers: WorkersOpt = None):
    """Audit the input data (format, duplicates, quality, PII, label noise, ...); write clean set + quarantine."""
    _data_stage(config, run, set_, runs_dir, workers, curate=False)


@data_app.command("curate")
def data_curate(config: ConfigOpt = None, run: RunOpt = None, set_: SetOpt = None, runs_dir: RunsDirOpt = None,
                workers: WorkersOpt = None):
    """Audit, then write the curated set (normalized; PII redacted if configured) as JSONL and Parquet."""
    _data_stage(config, run, set_, runs_dir, workers, curate=True)


def _data_stage(config, run, set_, runs_dir, workers, curate: bool):
    from tunewright.pipeline import data_gate_message, stage_audit

    o = _overrides(set_, runs_dir=runs_dir) + ([f"audit.workers={workers}"] if workers else [])
    cfg = _config(config, o, run)
    r = _run(cfg, run)
    result = _guard(stage_audit, cfg, r, force=True, curate=curate)  # print the findings, then judge
    s = result.summary
    out.print(f"input records {s['input_records']}, used {s['used']}, quarantined {s['quarantined']}, "
              f"flagged but kept {s.get('flagged_kept', 0)}")
    for reason, n in s["reasons"].items():
        out.print(f"  {reason}: {n}", highlight=False)
    if nd := s.get("near_duplicates"):
        out.print(f"near-duplicates: {nd['clusters']} clusters ({nd['flagged']} flagged), {nd['conflict_pairs']} "
                  f"pairs with different answers; LSH {nd['bands']} bands x {nd['rows']} rows")
    if lk := s.get("leakage"):
        out.print(f"leakage: {lk['exact']} exact and {lk['near']} near copies of test inputs; {lk['contaminated']} "
                  f"examples share a {lk['contamination_ngram']}-gram with evaluation text")
    out.print(f"token lengths: {s['token_lengths']}")
    if curate:
        out.print(f"curated: {s['curate']['examples']} examples, changes {s['curate']['changes']} -> "
                  f"{r.data_dir / 'curated.jsonl'}, {r.data_dir / 'curated.parquet'}")
    g = s["gate"]
    for w in g.get("warnings", []):
        out.print(f"warning: {w}", highlight=False)
    out.print(f"data gate: [bold]{g.get('verdict', 'pass' if g['passed'] else 'fail').upper()}[/]", highlight=False)
    out.print(f"run: {r.path}")
    if not result.passed:
        _fail(data_gate_message(s, r.data_dir), 1)


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
          config: ConfigOpt = None, set_: SetOpt = None, seed: SeedOpt = None, max_steps: StepsOpt = None,
          resume: Annotated[bool, typer.Option("--resume", help="Continue from the run's latest complete "
                                                                "checkpoint (weights, optimizer, scheduler, RNG, data "
                                                                "position).")] = False):
    """Fine-tune (training.method: lora, dora, qlora, full) and save the adapter or weights into RUN/model.

    Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes a checkpoint and exits with code 130."""
    from tunewright.pipeline import stage_train

    cfg = _config(config, _overrides(set_, seed=seed, max_steps=max_steps), run)
    res = _guard(stage_train, cfg, _run(cfg, run), resume=resume)
    out.print(f"trained {res.steps} steps, {res.train_tokens} tokens at {res.tokens_per_second} tokens/s; "
              f"trainable {res.trainable_params:,} / {res.total_params:,}; final loss {res.final_loss}; "
              f"{'packed' if res.packing else res.packing_note}")


@app.command()
def export(run: Annotated[Path, typer.Option("--run", help="Run directory with a trained model.")],
           dest: Annotated[Path, typer.Option("--out", help="New folder to write the export into.")],
           merged: Annotated[bool, typer.Option("--merged/--adapter", help="Shorthand for --format merged / "
                                                "--format adapter.")] = True,
           fmt: Annotated[Optional[str], typer.Option("--format", help="merged, adapter, gguf, ollama or vllm.")] = None,
           gguf_type: Annotated[Optional[list[str]], typer.Option("--gguf-type", help="f16, bf16 or q8_0 (repeatable; "
                                                                  "gguf default: all three, ollama: q8_0).")] = None,
           vllm_mode: Annotated[str, typer.Option("--vllm-mode", help="vllm: merged folder, or lora (base + "
                                                  "adapter with --enable-lora).")] = "merged",
           verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Read the export back and score it "
                                                "on the test split before reporting success.")] = True,
           config: ConfigOpt = None):
    """Export the tuned model (merged, adapter, GGUF, Ollama, vLLM), read it back and score it on the test split."""
    from tunewright.pipeline import stage_export

    cfg = _config(config, [], run)
    res = _guard(stage_export, cfg, _run(cfg, run), dest, fmt or ("merged" if merged else "adapter"), gguf_type,
                 vllm_mode, verify)
    for v in res.verifications:
        out.print(f"verified {Path(v.artifact).name} ({v.weights}, {v.loader}): {v.metric} {v.value:.4f}, tuned "
                  f"{v.tuned:.4f} [{v.tuned_low:.4f}, {v.tuned_high:.4f}], {v.agreement:.0%} identical outputs")
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
    out.print(f"exported {res.format} to {res.path}: {', '.join(res.files)}")
    if res.serve_command:
        out.print(f"serve it: {res.serve_command}")


@app.command()
def serve(run: Annotated[Path, typer.Option("--run", help="Run directory with a trained model.")],
          host: Annotated[str, typer.Option("--host", help="Address to bind; anything but loopback needs an API key.")]
          = "127.0.0.1",
          port: Annotated[int, typer.Option("--port")] = 8000,
          api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="TUNEWRIGHT_API_KEY",
                                                         help="Bearer token clients must send.")] = None,
          allow_origin: Annotated[Optional[list[str]], typer.Option("--allow-origin", help="Web origin allowed to "
                                                                    "POST (repeatable; default none).")] = None,
          max_tokens: Annotated[int, typer.Option("--max-tokens", help="Largest max_tokens a request may ask.")] = 256,
          max_prompt_tokens: Annotated[int, typer.Option("--max-prompt-tokens")] = 2048,
          router: Annotated[bool, typer.Option("--router/--no-router", help="Offer model 'auto' when the run's "
                                               "router shipped ('tunewright router').")] = True,
          config: ConfigOpt = None):
    """OpenAI-compatible endpoint: models 'specialist' (adapter on), 'generalist' (adapter off) and 'auto'."""
    from tunewright.pipeline import stage_serve
    from tunewright.serving.endpoint import ServeSettings
    from tunewright.serving.engine import Limits

    cfg = _config(config, [], run)
    settings = ServeSettings(host, port, api_key, list(allow_origin or []))
    limits = Limits(max_prompt_tokens=max_prompt_tokens, max_tokens=max_tokens,
                    default_max_tokens=min(cfg.task.max_new_tokens, max_tokens))
    console.print(f"serving {run} on http://{host}:{port}/v1")
    _guard(stage_serve, cfg, _run(cfg, run), settings, limits, router)


@app.command("router")
def router_(run: Annotated[Path, typer.Option("--run", help="Run directory with base and tuned evaluations.")],
            config: ConfigOpt = None):
    """Train a specialist/generalist router on the run's own evaluation; report it against random mixing."""
    from tunewright.pipeline import stage_router

    cfg = _config(config, [], run)
    res = _guard(stage_router, cfg, _run(cfg, run))
    out.print(res.summary())


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
          compare_mitigation: Annotated[bool, typer.Option("--compare-mitigation", help="Train and evaluate the run "
                                                           "again with replay and with EWC (general.mitigation_study) "
                                                           "and compare task metric and forgetting.")] = False,
          config: ConfigOpt = None, set_: SetOpt = None):
    """Task metric on the test split, held-out loss and the general suite, with predictions saved per example."""
    from tunewright.pipeline import (
        stage_compare_mitigation, stage_eval, stage_export_harness, stage_harness, stage_learning_curve,
    )

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
    if compare_mitigation:
        _print_mitigation(_guard(stage_compare_mitigation, cfg, r))
    if learning_curve or compare_mitigation:
        return
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
            runs_dir: RunsDirOpt = None, workers: WorkersOpt = None,
            force: Annotated[bool, typer.Option("--force", help="Go on when the data gate fails.")] = False):
    """Every stage from one config: audit, split, base eval, train, eval, report."""
    from tunewright.pipeline import run_all

    from tunewright.pipeline import enforce_gates

    o = _overrides(set_, seed=seed, max_steps=max_steps, runs_dir=runs_dir) + ([f"audit.workers={workers}"] if workers else [])
    cfg = _config(config, o)
    r, rep = _guard(run_all, cfg, force=force)
    _print_headline(rep, r.path)
    gate = r.manifest().get("audit", {}).get("gate", {})
    if gate.get("forced"):
        out.print("data gate FAILED, run went on because of --force: " + "; ".join(gate.get("failures", [])),
                  highlight=False)
    _guard(enforce_gates, rep)


@app.command()
def demo(quick: Annotated[bool, typer.Option("--quick", help="A subset and few steps (about 3 minutes), for tests.")] = False,
         compare_mitigation: Annotated[bool, typer.Option("--compare-mitigation", help="Also train with replay and "
                                                          "with EWC and compare forgetting (two more trainings).")] = False,
         runs_dir: RunsDirOpt = None, set_: SetOpt = None):
    """Fine-tune SmolLM2-135M-Instruct with LoRA on ner_finance (offline assets) and report the uplift."""
    from tunewright.pipeline import demo_overrides, run_all, stage_compare_mitigation, stage_report

    cfg = _config(None, demo_overrides(quick) + _overrides(set_, runs_dir=runs_dir))
    r, rep = _guard(run_all, cfg)
    if compare_mitigation:
        _print_mitigation(_guard(stage_compare_mitigation, cfg, r))
        rep = stage_report(cfg, r)
    _print_headline(rep, r.path)
    if rep["forgetting"]["verdict"] == "fail":
        out.print("(the demo shows the gate and exits 0; 'tunewright run' exits 1 on a failed gate)")


def _print_mitigation(res: dict) -> None:
    for name, a in res["arms"].items():
        g = a["forgetting"]
        mean = g["suite_mean_ability_change"]
        out.print(f"{name}: {a['task']['metric']} {a['task']['tuned_ci']['value']:.4f} "
                  f"[{a['task']['tuned_ci']['low']:.4f}, {a['task']['tuned_ci']['high']:.4f}]; general suite "
                  f"{'n/a' if mean is None else f'{mean:+.1%}'}; forgetting gate {g['verdict']}")


@app.command()
def runs(runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Runs folder.")] = Path("runs")):
    """List the runs in the registry."""
    from tunewright.project import list_runs

    for r in list_runs(runs_dir):
        out.print(f"{r['run_id']}  {r['status']}  {r['headline'] or ''}")



# labeling and review (issue 7): the commands live in cli_labeling.py, registered here
from tunewright.cli_labeling import label as _label_cmd, review_app as _review_app  # noqa: E402

app.command("label")(_label_cmd)
app.add_typer(_review_app, name="review")
cost_app = typer.Typer(help="Whole-project cost: GPU memory, time, compute, labeling, people, serving.")
app.add_typer(cost_app, name="cost")


@cost_app.callback(invoke_without_command=True)
def cost(ctx: typer.Context, config: ConfigOpt = None, set_: SetOpt = None,
         model: Annotated[Optional[str], typer.Option("--model", help="Preset (llama-2-7b, tinyllama-1.1b, ...) or a folder with config.json.")] = None,
         method: Annotated[Optional[str], typer.Option("--method", help="full, lora, dora or qlora.")] = None,
         tokens: Annotated[Optional[int], typer.Option("--tokens", help="Training tokens per epoch.")] = None,
         gpu: Annotated[Optional[str], typer.Option("--gpu", help="GPU name from the hardware table; 'list' lists them.")] = None,
         seq: Annotated[Optional[int], typer.Option("--seq", help="Tokens per sequence.")] = None,
         micro_batch: Annotated[Optional[int], typer.Option("--micro-batch", help="Sequences per GPU per step.")] = None,
         checkpointing: Annotated[Optional[bool], typer.Option("--checkpointing/--no-checkpointing", help="Gradient checkpointing.")] = None,
         n_gpus: Annotated[Optional[int], typer.Option("--n-gpus", help="GPUs per training run.")] = None,
         strategy: Annotated[Optional[str], typer.Option("--strategy", help="single, ddp or fsdp.")] = None,
         hardware: Annotated[Optional[Path], typer.Option("--hardware", help="Your GPU table (YAML), added to the shipped one.")] = None,
         json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the estimate as JSON here.")] = None,
         plot: Annotated[Optional[Path], typer.Option("--plot", help="Write the scenario cost plot (PNG) here.")] = None):
    """Estimate GPU memory (breakdown, fits per GPU), time and the whole project's cost, with scenarios."""
    if ctx.invoked_subcommand is not None:
        return
    import base64
    import json

    from tunewright.cost.estimate import estimate_scenarios
    from tunewright.cost.render import (fits_lines, fits_table, lifecycle_table, memory_table, scenario_plot,
                                        scenario_table, time_table)

    if gpu == "list":
        from tunewright.cost.hardware import load_hardware

        table = _guard(load_hardware, hardware)
        for g in sorted(table.gpus.values(), key=lambda g: g.memory_gib):
            out.print(f"{g.name}: {g.memory_gib:g} GiB, {g.bf16_tflops:g} bf16 TFLOP/s, {g.bandwidth_gbs:g} GB/s, "
                      f"${g.price_low:g}-{g.price_high:g}/h (prices as of {table.prices_as_of})")
        return
    flags = {"model": model, "method": method, "dataset_tokens": tokens, "gpu": gpu, "seq_tokens": seq,
             "micro_batch": micro_batch, "gradient_checkpointing": checkpointing, "n_gpus": n_gpus,
             "strategy": strategy, "hardware_file": str(hardware.resolve()) if hardware else None}
    # strings JSON-quoted, so '--gpu 4090' stays a name rather than becoming the number 4090
    cfg = _config(config, _overrides(set_) + [f"cost.{k}={json.dumps(v)}" for k, v in flags.items() if v is not None])
    res = _guard(estimate_scenarios, cfg)
    est = res["scenarios"][0]["estimate"]
    out.print(memory_table(est))
    for line in fits_lines(est):
        out.print(line, markup=False)
    out.print(fits_table(est))
    out.print(time_table(est))
    if len(res["scenarios"]) > 1:
        out.print(scenario_table(res["scenarios"]))
    out.print(lifecycle_table(res["scenarios"]))
    for note in est["lifecycle"]["notes"]:
        out.print(f"note: {note}", markup=False)
    if json_out:
        json_out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
        out.print(f"wrote {json_out}")
    if plot:
        plot.write_bytes(base64.b64decode(scenario_plot(res["scenarios"])))
        out.print(f"wrote {plot}")


@cost_app.command("calibrate")
def cost_calibrate(run: Annotated[Path, typer.Argument(help="A trained run directory.")],
                   gpu: Annotated[Optional[str], typer.Option("--gpu", help="The GPU it trained on (needed for MFU).")] = None,
                   config: ConfigOpt = None, set_: SetOpt = None):
    """Record a run's measured throughput (MFU) and peak memory in the project's calibration file."""
    from tunewright.cost.estimate import calibrate_run

    cfg = _config(config, _overrides(set_), run)
    res = _guard(calibrate_run, run, gpu, cfg)
    e = res["entry"]
    mfu = f"MFU {e['mfu']:.1%} on {e['gpu']}" if e["mfu"] is not None else "no MFU (CPU run or no --gpu)"
    mem = f"; peak memory {e['memory_ratio']:.2f}x the estimate" if e["memory_ratio"] else ""
    out.print(f"{e['method']}: {e['tokens_per_second']:,.1f} tokens/s, {mfu}{mem}")
    out.print(f"calibration: {res['path']} ({res['runs']} run(s))")


def main():  # pragma: no cover
    sys.exit(app())
