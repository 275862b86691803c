"""Benchmark: how close tunewright's memory estimate is to what really happens.

CPU (this script): for tiny random-initialised Llama, Qwen2 and Qwen3 models in fp32, the activation estimate
(tunewright.cost.activations) against the bytes autograd actually saves for backward, counted with
saved_tensors_hooks (unique storages, parameters excluded; tunewright.cost.measure). Baseline: the
measured bytes. Also the peak-memory estimate against the H200 reference numbers quoted in issue 6
(not our measurements; benchmarks/cost_accuracy/gpu.py measures them on a GPU when one is at hand).
Writes results-<date>.json beside this file.

    python benchmarks/cost_accuracy/run.py
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import platform
import warnings
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import track
from rich.table import Table

from tunewright.cost.hardware import GIB
from tunewright.cost.measure import compare_activations
from tunewright.cost.memory import Setup, estimate_memory
from tunewright.cost.model_shape import load_shape

# Reported in issue 6: one H200, random-init Llama shapes, bf16, plain transformers + peft, seq 2048.
ISSUE_REFERENCES = [
    ("tinyllama-1.1b", Setup("lora", micro_batch=8, seq=2048), 40.2),
    ("llama-2-7b", Setup("lora", micro_batch=4, seq=2048), 65.7),
    ("llama-2-7b", Setup("lora", micro_batch=4, seq=2048, checkpointing=True), 38.1),
    ("llama-2-7b", Setup("full", micro_batch=2, seq=2048), 74.8),
]


ARCHS = ("llama", "qwen2", "qwen3")


def cpu_cases() -> list[dict]:
    cases = [dict(arch=a, method=m, seq=s, checkpointing=c, attn="sdpa")
             for a, m, s, c in itertools.product(ARCHS, ("full", "lora"), (64, 512), (False, True))]
    cases += [dict(arch=a, method=m, seq=256, checkpointing=False, attn="eager")
              for a, m in itertools.product(ARCHS, ("full", "lora"))]
    cases += [dict(arch="llama", method="lora", seq=256, checkpointing=False, attn="sdpa", micro_batch=8)]
    # bf16, the way GPU runs train: under autocast (Trainer bf16=True) and as a plain bf16 model
    cases += [dict(arch="llama", method=m, seq=256, checkpointing=c, attn="sdpa", dtype="bf16", autocast=a)
              for m, c, a in itertools.product(("full", "lora"), (False, True), (True, False))]
    cases += [dict(arch="llama", method=m, seq=256, checkpointing=False, attn="eager", dtype="bf16", autocast=True)
              for m in ("full", "lora")]
    return [compare_activations(**c) for c in track(cases, description="activation checks")]


def reference_rows() -> list[dict]:
    rows = []
    for model, setup, ref_gib in ISSUE_REFERENCES:
        est = estimate_memory(load_shape(model), setup)
        rows.append({"model": model, "method": setup.method, "micro_batch": setup.micro_batch, "seq": setup.seq,
                     "checkpointing": setup.checkpointing, "reference_gib": ref_gib,
                     "estimated_allocated_gib": round(est.allocated / GIB, 2),
                     "error": round(est.allocated / GIB / ref_gib - 1, 4),
                     "lines_gib": {k: round(v / GIB, 2) for k, v in est.lines.items()}})
    return rows


def main() -> None:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5 checkpointing renames
    cpu = cpu_cases()
    refs = reference_rows()
    out = {"date": dt.date.today().isoformat(), "machine": platform.platform(), "torch": torch.__version__,
           "activations_cpu": cpu, "issue_references": refs,
           "max_abs_error_cpu": max(abs(r["error"]) for r in cpu)}
    path = Path(__file__).with_name(f"results-{out['date']}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    con = Console()
    t = Table("arch", "method", "attn", "dtype", "seq", "batch", "ckpt", "measured KiB", "estimated KiB", "error",
              title="activations saved for backward (CPU)")
    for r in cpu:
        dtype = r["dtype"] + (" autocast" if r["autocast"] else "")
        t.add_row(r["arch"], r["method"], r["attn"], dtype, str(r["seq"]), str(r["micro_batch"]), str(r["checkpointing"]),
                  f"{r['measured_bytes'] / 1024:.0f}", f"{r['estimated_bytes'] / 1024:.0f}", f"{r['error']:+.2%}")
    con.print(t)
    t = Table("model", "method", "batch", "ckpt", "issue reference GiB", "estimate GiB", "error",
              title="peak allocated vs the H200 references quoted in issue 6 (not measured here)")
    for r in refs:
        t.add_row(r["model"], r["method"], str(r["micro_batch"]), str(r["checkpointing"]), f"{r['reference_gib']}",
                  f"{r['estimated_allocated_gib']}", f"{r['error']:+.1%}")
    con.print(t)
    con.print(f"wrote {path}")


if __name__ == "__main__":
    main()
