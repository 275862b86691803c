"""Benchmark: effective training throughput, length-grouped batches vs random order (the plain baseline).

Same model (SmolLM2-135M-Instruct), data (ner_finance, the demo instruction), LoRA and hyperparameters;
both arms see the same examples once (one epoch over a fixed subset), in one process, one after the other.
Effective tokens/s counts real tokens only, never pad. Writes results-<date>.json beside this file.

    python benchmarks/train_sampling/run.py [--examples 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import tempfile
from pathlib import Path

import torch

from tunewright.pipeline import load_demo_config
from tunewright.models import load_model
from tunewright.data.split import read_split
from tunewright.pipeline import Session, new_run, stage_audit, stage_split
from tunewright.training.trainer import train_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    arms = {}
    for sampling in ("random", "group_by_length"):
        cfg = load_demo_config(overrides=[f"project.runs_dir={tmp}", "training.epochs=1", "training.max_steps=-1", f"training.sampling={sampling}",
                                 f"training.max_train_examples={args.examples}", "training.logging_steps=1000"])
        run = new_run(cfg)
        s = Session(cfg)
        stage_audit(cfg, run, s)
        stage_split(cfg, run)
        model = load_model(s.model_ref(), cfg.model)
        r = train_model(cfg, run, read_split(run, "train"), model, s.tok())
        arms[sampling] = {"steps": r.steps, "seconds": r.seconds, "real_tokens": r.train_tokens,
                          "padded_tokens": r.padded_tokens, "pad_share": 1 - r.train_tokens / r.padded_tokens,
                          "effective_tokens_per_second": r.tokens_per_second, "final_loss": r.final_loss}
        print(sampling, arms[sampling], flush=True)
    result = {
        "benchmark": "train_sampling", "date": dt.date.today().isoformat(), "baseline": "random",
        "model": "SmolLM2-135M-Instruct (fp32, LoRA r=16 all-linear)", "data": f"ner_finance, {args.examples} examples",
        "device": "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)",
        "machine": platform.platform(), "arms": arms,
        "speedup": arms["group_by_length"]["effective_tokens_per_second"] / arms["random"]["effective_tokens_per_second"],
    }
    out = Path(__file__).parent / f"results-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"speedup {result['speedup']:.2f}x -> {out}")


if __name__ == "__main__":
    main()
