"""``tunewright cost`` (the whole project's estimate, with scenarios) and ``cost calibrate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from tunewright.cli.common import ConfigOpt, SetOpt, command, handled, out, overrides

app = typer.Typer(help="Whole-project cost: GPU memory, time, compute, labeling, people, serving.")


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
    from tunewright.cost.estimate import estimate_scenarios, write_estimate
    from tunewright.cost.render import fits_lines, fits_table, lifecycle_table, memory_table, scenario_table, time_table
    from tunewright.project import project_config

    if gpu == "list":
        from tunewright.cost.hardware import load_hardware

        table = load_hardware(hardware)
        for g in sorted(table.gpus.values(), key=lambda g: g.memory_gib):
            out.print(f"{g.name}: {g.memory_gib:g} GiB, {g.bf16_tflops:g} bf16 TFLOP/s, {g.bandwidth_gbs:g} GB/s, "
                      f"${g.price_low:g}-{g.price_high:g}/h (prices as of {table.prices_as_of})")
        return
    flags = {"model": model, "method": method, "dataset_tokens": tokens, "gpu": gpu, "seq_tokens": seq,
             "micro_batch": micro_batch, "gradient_checkpointing": checkpointing, "n_gpus": n_gpus,
             "strategy": strategy, "hardware_file": str(hardware.resolve()) if hardware else None}
    # strings JSON-quoted, so '--gpu 4090' stays a name rather than becoming the number 4090
    cfg = project_config(config, overrides(set_) + [f"cost.{k}={json.dumps(v)}" for k, v in flags.items() if v is not None])
    res = estimate_scenarios(cfg)
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
    for path in write_estimate(res, json_out, plot):
        out.print(f"wrote {path}")


app.callback(invoke_without_command=True)(handled(cost))


@command(app, "calibrate")
def cost_calibrate(run: Annotated[Path, typer.Argument(help="A trained run directory.")],
                   gpu: Annotated[Optional[str], typer.Option("--gpu", help="The GPU it trained on (needed for MFU).")] = None,
                   config: ConfigOpt = None, set_: SetOpt = None):
    """Record a run's measured throughput (MFU) and peak memory in the project's calibration file."""
    from tunewright.cost.estimate import calibrate_run
    from tunewright.project import project_config

    e = calibrate_run(run, gpu, project_config(config, overrides(set_), run))
    mfu = f"MFU {e.mfu:.1%} on {e.gpu}" if e.mfu is not None else "no MFU (CPU run or no --gpu)"
    mem = f"; peak memory {e.memory_ratio:.2f}x the estimate" if e.memory_ratio else ""
    out.print(f"{e.method}: {e.tokens_per_second:,.1f} tokens/s, {mfu}{mem}")
    out.print(f"calibration: {e.path} ({e.runs} run(s))")
