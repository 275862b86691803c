"""torch.profiler tables of one SmolLM2 LoRA training step per precision / attention arm (which ops lose in bf16).

One packed batch of the demo's first ``--examples`` ner_finance chats (tunewright's PackedCollator, logits on
answer positions only), LoRA r=16 all-linear. Arms (comma list, ``--arms``):

- ``fp32``: fp32 weights, tw_varlen attention.
- ``bf16w``: frozen base stored in bf16 (adapters fp32), tw_varlen attention as shipped (fp32 SDPA on CPU).
- ``bf16w_bf16attn``: the same with SDPA in bf16 (the CPU upcast switched off).
- ``bf16w_math``: bf16 weights, SDPA's math backend in bf16.
- ``autocast``: fp32 weights under ``torch.autocast("cpu", bfloat16)``.

Every arm is timed for ``--rounds`` steps, interleaved, then profiled for one step; the table (sorted by self
CPU time) is printed per arm and all is written to profile-<date>.json beside this file.

    python benchmarks/train_precision/profile_step.py [--arms fp32,bf16w,bf16w_bf16attn] [--examples 8]
                                                      [--rounds 3] [--threads 2] [--rows 15]

On a CPU without amx_bf16/avx512_bf16 the bf16 arms measure emulation, not bf16 units.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arms", default="fp32,bf16w,bf16w_bf16attn,bf16w_math,autocast")
    ap.add_argument("--examples", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=15)
    a = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, TaskType, get_peft_model
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.profiler import ProfilerActivity, profile

    from tunewright.assets import resolve_path
    from tunewright.config import load_config
    from tunewright.models import load_model, load_tokenizer, resolve_model
    from tunewright.precision import cpu_flags
    from tunewright.records import read_files
    from tunewright.training import packing
    from tunewright.training.formats import encode_examples

    torch.set_num_threads(a.threads)
    cfg = load_config(None)
    ref = resolve_model(cfg.model)
    tok = load_tokenizer(ref, cfg.model)
    ex = read_files([resolve_path(f) for f in cfg.data.train_files], max_records=4 * a.examples).examples
    enc = encode_examples(tok, [e.to_chat(cfg.data.system_prompt) for e in ex], cfg.training.max_seq_tokens)
    batch = packing.PackedCollator()(enc.rows[: a.examples])
    packing.register_varlen_attention()
    arms = {  # name: (weight dtype or None, upcast attention on CPU?, sdpa backend or None, autocast?)
        "fp32": (None, True, None, False), "bf16w": (torch.bfloat16, True, None, False),
        "bf16w_bf16attn": (torch.bfloat16, False, None, False), "bf16w_math": (torch.bfloat16, False, SDPBackend.MATH, False),
        "autocast": (None, True, None, True),
    }
    names = a.arms.split(",")

    def build(dtype):
        m = load_model(ref, cfg.model)
        if dtype is not None:
            m.to(dtype)
        m.set_attn_implementation(packing.VARLEN_ATTENTION)
        m.config.use_cache = False
        p = get_peft_model(m, LoraConfig(task_type=TaskType.CAUSAL_LM, r=16, lora_alpha=32, target_modules="all-linear"))
        p.train()
        return p, torch.optim.AdamW([x for x in p.parameters() if x.requires_grad], lr=1e-4)

    def step(name):
        model, opt = models[name]
        _, upcast, backend, autocast = arms[name]
        packing.CPU_ATTENTION_UPCAST = (torch.bfloat16, torch.float16) if upcast else ()
        b = dict(batch)
        targets = b.pop("shift_labels")
        with (sdpa_kernel(backend) if backend else contextlib.nullcontext()), \
                torch.autocast("cpu", torch.bfloat16, enabled=autocast):
            logits = model(**b).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return float(loss.detach())

    models = {n: build(arms[n][0]) for n in names}
    times = {n: [] for n in names}
    losses = {}
    for r in range(a.rounds):
        for n in names:
            t0 = time.perf_counter()
            losses[n] = step(n)
            times[n].append(time.perf_counter() - t0)
            print(f"round {r + 1} {n}: {times[n][-1]:.3f} s, loss {losses[n]:.4f}", flush=True)
    tables = {}
    for n in names:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step(n)
        rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[: a.rows]
        tables[n] = [{"op": e.key, "calls": e.count, "self_cpu_ms": round(e.self_cpu_time_total / 1000, 2)} for e in rows]
        print(f"=== {n}: median step {sorted(times[n])[len(times[n]) // 2]:.3f} s")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows, max_name_column_width=60))
    result = {"benchmark": "train_precision/profile_step", "date": dt.date.today().isoformat(),
              "tokens": int(batch["input_ids"].numel()), "threads": a.threads, "load_average": os.getloadavg(),
              "cpu_bf16_flags": sorted(cpu_flags() & {"amx_bf16", "avx512_bf16", "amx_tile"}),
              "step_seconds": times, "last_loss": losses, "top_ops": tables}
    out = HERE / f"profile-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
