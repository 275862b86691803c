"""``tunewright train`` and ``export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunewright.cli.common import ConfigOpt, SeedOpt, SetOpt, StepsOpt, command, load, out, overrides

app = typer.Typer()


@command(app)
def train(run: Annotated[Path, typer.Option("--run", help="Run directory with a split dataset.")],
          config: ConfigOpt = None, set_: SetOpt = None, seed: SeedOpt = None, max_steps: StepsOpt = None,
          resume: Annotated[bool, typer.Option("--resume", help="Continue from the run's latest complete "
                                                                "checkpoint (weights, optimizer, scheduler, RNG, data "
                                                                "position).")] = False):
    """Fine-tune (training.method: lora, dora, qlora, full) and save the adapter or weights into RUN/model.

    Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes a checkpoint and exits with code 130."""
    from tunewright.pipeline import stage_train

    cfg, r = load(config, overrides(set_, seed=seed, max_steps=max_steps), run)
    res = stage_train(cfg, r, resume=resume)
    out.print(f"trained {res.steps} steps, {res.train_tokens} tokens at {res.tokens_per_second} tokens/s; "
              f"trainable {res.trainable_params:,} / {res.total_params:,}; final loss {res.final_loss}; "
              f"{'packed' if res.packing else res.packing_note}")


@command(app)
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
           push_to_hub: Annotated[Optional[str], typer.Option("--push-to-hub", help="Also upload the export, with "
                                                              "its model card and report, to this hub repository "
                                                              "(needs the hub and a token).")] = None,
           config: ConfigOpt = None):
    """Export the tuned model (merged, adapter, GGUF, Ollama, vLLM), read it back and score it on the test split."""
    from tunewright.cli.common import console
    from tunewright.pipeline import stage_export

    cfg, r = load(config, [], run)
    res = stage_export(cfg, r, dest, fmt or ("merged" if merged else "adapter"), gguf_type, vllm_mode, verify,
                       push_to_hub=push_to_hub)
    for v in res.verifications:
        out.print(f"verified {Path(v.artifact).name} ({v.weights}, {v.loader}): {v.metric} {v.value:.4f}, tuned "
                  f"{v.tuned:.4f} [{v.tuned_low:.4f}, {v.tuned_high:.4f}], {v.agreement:.0%} identical outputs")
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
    out.print(f"exported {res.format} to {res.path}: {', '.join(res.files)}")
    if res.serve_command:
        out.print(f"serve it: {res.serve_command}")
    if res.details.get("pushed"):
        out.print(f"pushed to {push_to_hub}: {res.details['pushed']}")
