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
           merged: Annotated[bool, typer.Option("--merged/--adapter", help="Base with the adapter merged in (plain "
                                                "transformers loads it), or the adapter alone (load with peft).")] = True,
           config: ConfigOpt = None,
           push_to_hub: Annotated[Optional[str], typer.Option("--push-to-hub", help="Also upload the export, with "
                                                              "its model card and report, to this hub repository "
                                                              "(needs the hub and a token).")] = None):
    """Export the tuned model as safetensors: merged into the base, or the adapter alone."""
    from tunewright.pipeline import stage_export

    cfg, r = load(config, [], run)
    res = stage_export(cfg, r, dest, merged, push_to_hub=push_to_hub)
    out.print(f"exported {res.kind} model to {res.path}: {', '.join(res.files)}")
    if res.pushed:
        out.print(f"pushed to {push_to_hub}: {res.pushed}")
