"""GPU check of the memory estimate: peak torch.cuda.max_memory_allocated of real training steps against
tunewright.cost.memory, for random-initialised Llama shapes (TinyLlama 1.1B, Llama-2 7B), bf16, full and LoRA.

Each case builds the model from its config directly on the GPU (no download), runs two optimizer steps
under bf16 autocast (as the Trainer's bf16=True does), and records the peak. Needs a CUDA GPU with ~80 GB+
(an H100/H200); a case that runs out of memory is recorded as such. Writes gpu-results-<date>.json.

    python benchmarks/cost_accuracy/gpu.py [--cases 0,1,2,3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import time
from pathlib import Path

import torch

from tunewright.cost.hardware import GIB
from tunewright.cost.memory import Setup, estimate_memory
from tunewright.cost.model_shape import load_shape, preset_config

CASES = [
    ("tinyllama-1.1b", Setup("lora", micro_batch=8, seq=2048), 40.2),
    ("llama-2-7b", Setup("lora", micro_batch=4, seq=2048), 65.7),
    ("llama-2-7b", Setup("lora", micro_batch=4, seq=2048, checkpointing=True), 38.1),
    ("llama-2-7b", Setup("full", micro_batch=2, seq=2048), 74.8),
    ("tinyllama-1.1b", Setup("full", micro_batch=4, seq=2048), None),
]


def measure(model_name: str, s: Setup, steps: int = 2) -> dict:
    from transformers import AutoModelForCausalLM

    config = preset_config(model_name)
    config._attn_implementation = "sdpa"
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.config.use_cache = False
    if s.checkpointing:
        model.gradient_checkpointing_enable()
    if s.method == "lora":
        from peft import LoraConfig, get_peft_model

        if s.checkpointing:
            model.enable_input_require_grads()
        model = get_peft_model(model, LoraConfig(r=s.lora_r, lora_alpha=2 * s.lora_r, target_modules="all-linear"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        ids = torch.randint(0, config.vocab_size, (s.micro_batch, s.seq), device="cuda")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated()
    del model, opt
    gc.collect()
    torch.cuda.empty_cache()
    return {"peak_allocated_bytes": peak, "seconds_per_step": secs / steps,
            "tokens_per_second": steps * s.micro_batch * s.seq / secs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=",".join(str(i) for i in range(len(CASES))))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU")
    rows = []
    for i in (int(x) for x in args.cases.split(",")):
        name, s, ref = CASES[i]
        est = estimate_memory(load_shape(name), s)
        row = {"model": name, "setup": s.__dict__, "issue_reference_gib": ref,
               "estimated_allocated_gib": round(est.allocated / GIB, 2)}
        try:
            m = measure(name, s)
            row.update(m, measured_gib=round(m["peak_allocated_bytes"] / GIB, 2),
                       error=round(est.allocated / m["peak_allocated_bytes"] - 1, 4))
        except torch.OutOfMemoryError as e:
            row["error"] = None
            row["oom"] = str(e)[:300]
            gc.collect()
            torch.cuda.empty_cache()
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = {"date": dt.date.today().isoformat(), "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
           "cases": rows}
    path = Path(__file__).with_name(f"gpu-results-{out['date']}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
