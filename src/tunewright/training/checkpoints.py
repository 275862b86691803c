"""Resumable checkpoints, clean stops on SIGINT/SIGTERM, and a stop on a non-finite loss.

The transformers Trainer writes ``checkpoint-<step>/`` with the weights or adapter (safetensors), optimizer,
scheduler, RNG states and the step; on resume it restores them and skips the batches already seen, so the
data position is exact. We add one file, ``tunewright.json`` (token counters, the reason for the save),
written from ``on_save`` *after* the Trainer has finished the checkpoint: a checkpoint without it was cut
short (a SIGKILL during the save) and is never resumed from.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tunewright.errors import TunewrightError

COMPLETE_MARK = "tunewright.json"


class TrainingStopped(TunewrightError, RuntimeError):
    """Training stopped before the end; ``checkpoint`` (may be None) is where --resume continues from."""

    def __init__(self, message: str, checkpoint: Path | None, exit_code: int = 1):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.exit_code = exit_code


class NonFiniteLoss(FloatingPointError):
    pass


def complete_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Checkpoints that were fully written, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.glob("checkpoint-*"):
        step = p.name.split("-")[-1]
        if step.isdigit() and (p / COMPLETE_MARK).is_file():
            found.append((int(step), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    done = complete_checkpoints(ckpt_dir)
    return done[-1] if done else None


def read_counters(checkpoint: Path | None) -> dict:
    if checkpoint is None:
        return {}
    return json.loads((checkpoint / COMPLETE_MARK).read_text(encoding="utf-8")).get("counters", {})


def checkpoint_callback(counter, reason_ref: dict):
    """Marks each finished checkpoint complete and stores the token counters in it."""
    from transformers import TrainerCallback

    class MarkComplete(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            if not state.is_world_process_zero:
                return
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if not path.is_dir():
                return
            body = {"step": state.global_step, "reason": reason_ref.get("reason", "periodic"),
                    "counters": {k: getattr(counter, k) for k in counter.FIELDS}}
            tmp = path / (COMPLETE_MARK + ".tmp")
            tmp.write_text(json.dumps(body), encoding="utf-8")
            os.replace(tmp, path / COMPLETE_MARK)

    return MarkComplete()


def signal_callback(reason_ref: dict):
    """On SIGINT/SIGTERM, finish the current step, save a checkpoint and stop (a second signal stops hard).

    Use as a context manager around ``trainer.train()`` so the previous handlers come back afterwards.
    """
    from transformers import TrainerCallback

    class StopOnSignal(TrainerCallback):
        def __init__(self):
            self.signum: int | None = None
            self._previous = {}

        def _handle(self, signum, frame):
            if self.signum is not None:  # second signal: the user means it
                raise KeyboardInterrupt
            self.signum = signum
            reason_ref["reason"] = signal.Signals(signum).name

        def __enter__(self):
            for s in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._previous[s] = signal.signal(s, self._handle)
                except ValueError:  # not the main thread: signals cannot be caught here
                    pass
            return self

        def __exit__(self, *exc):
            for s, h in self._previous.items():
                signal.signal(s, h)

        def on_step_end(self, args, state, control, **kw):
            if self.signum is not None:
                control.should_save = True
                control.should_training_stop = True

    return StopOnSignal()


def finite_gradients_callback():
    """Stop before the optimizer applies a non-finite gradient, so no NaN reaches the weights or a checkpoint."""
    import torch
    from transformers import TrainerCallback

    class FiniteGradients(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            for n, p in model.named_parameters():
                if p.grad is not None and not torch.isfinite(p.grad).all():
                    raise NonFiniteLoss(f"gradient of {n} became non-finite at step {state.global_step + 1}")

    return FiniteGradients()
