"""GPU half of train_throughput: tunewright against transformers Trainer + peft on Llama shapes (one command).

Random-initialised TinyLlama-1.1B and Llama-2-7B shapes, LoRA r=16 alpha=32 on all linear layers, bf16,
sequences up to ``--seq`` tokens with long-tailed lengths (``--lengths lognormal:350:0.9``: a log-normal of
median 350 tokens, clipped to [8, seq]), the same synthetic rows for both arms.

- baseline: ``../shared/bench/hf_peft_baseline.py`` (``Trainer`` + peft, pad to the longest row, logits on
  every position, ``bf16=True`` autocast over an all-bf16 model), run as its own subprocess per point.
- tunewright: the same rows through tunewright's trainer: packed padding-free rows with per-example varlen
  attention (flash-attn's varlen kernel when installed, else per-example SDPA), logits on label positions,
  frozen base stored in bf16 with fp32 adapters (training.precision=auto after its self-check).

Both time the median optimizer step after ``--warm`` warm-up steps, effective tokens/s = real tokens per
step / median step time, and peak ``torch.cuda.max_memory_allocated``. Targets: tunewright >= 2x the
baseline's effective tokens/s at no more than its peak memory. The plan also measures the 7B LoRA batch-4
point with gradient checkpointing (``--ckpt-point``) beside tunewright's cost estimate of its peak memory.
Writes gpu-results-<date>.json beside this file.

    python benchmarks/train_throughput/gpu.py [--sizes 1b,7b] [--bs 8] [--seq 2048] [--steps 10] [--warm 3]
        [--lengths lognormal:350:0.9] [--ckpt-point 7b:4] [--baseline ../shared/bench/hf_peft_baseline.py]

Needs a CUDA GPU (H100/H200 class for 7B); ``--sizes tiny --seq 256`` runs anywhere as a smoke test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_BASELINE = HERE.parents[1] / ".." / "shared" / "bench" / "hf_peft_baseline.py"


def _baseline_module(path: Path):
    spec = importlib.util.spec_from_file_location("hf_peft_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def arm_tunewright(baseline: Path, size: str, bs: int, seq: int, steps: int, warm: int, lengths: str,
                   ckpt: bool) -> dict:
    """One point of the tunewright arm, in this process (the parent runs it as a subprocess)."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback, TrainingArguments

    from tunewright.config import load_config
    from tunewright.training.methods import apply_method
    from tunewright.training.packing import PackedCollator, VARLEN_ATTENTION, register_varlen_attention
    from tunewright.training.trainer import TokenCounter, _precision, _trainer_class

    hf = _baseline_module(baseline)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model, mcfg = hf.build(size, seq, device, torch.float32)  # fp32 first: the bf16 self-check compares with it
    flash = importlib.util.find_spec("flash_attn") is not None and device == "cuda"
    if flash:
        model.set_attn_implementation("flash_attention_2")
    else:
        register_varlen_attention()
        model.set_attn_implementation(VARLEN_ATTENTION)
    ds = hf.Synthetic(bs * (steps + warm), seq, mcfg.vocab_size, lengths)
    rows = [{"input_ids": ds[i]["input_ids"].tolist(), "labels": ds[i]["labels"].tolist()} for i in range(len(ds))]
    cfg = load_config(None, [f"training.batch_size={bs}", "training.lora_r=16", "training.lora_alpha=32",
                             "training.target_modules=[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]"])
    decision, flags = _precision(cfg, model, rows[:4])
    if device == "cuda":  # the fp32 copy for the self-check is gone; measure training from here, as the baseline
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    if ckpt:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    peft_model = apply_method(model, cfg.training)
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, a, s, c, **k):
            if device == "cuda":
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_step_end(self, a, s, c, **k):
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)

    args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=bs, max_steps=steps + warm,
                             learning_rate=1e-4, logging_steps=10**6, save_strategy="no", report_to="none",
                             dataloader_num_workers=2, use_cpu=device == "cpu", remove_unused_columns=False,
                             **flags)
    trainer = _trainer_class()(model=peft_model, args=args, train_dataset=Dataset.from_list(rows),
                               data_collator=PackedCollator(), counter=TokenCounter(), callbacks=[Timer()])
    trainer.train()
    timed = sorted(times[warm:])
    med = timed[len(timed) // 2]
    eff_per_step = ds.len[warm * bs:].float().mean().item() * bs
    return {"size": size, "engine": "tunewright", "bs": bs, "seq": seq, "ckpt": ckpt, "lengths": lengths,
            "attention": "flash_attention_2 varlen" if flash else "tw_varlen (per-example SDPA)",
            "precision": decision.to_json(), "step_s_median": round(med, 4),
            "effective_tokens_per_s": round(eff_per_step / med),
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None}


def _child(cmd: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        proc = subprocess.run([*cmd, "--out", f.name], capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": proc.stderr[-2000:]}
        data = json.loads(Path(f.name).read_text() or "null")
    return data[0] if isinstance(data, list) else data


def cost_estimate_gib(size: str, bs: int, seq: int, ckpt: bool) -> float | None:
    """tunewright's cost estimate of the peak memory at this point (None where the shape is unknown)."""
    try:
        from tunewright.cost.memory import Setup, estimate_memory
        from tunewright.cost.model_shape import shape_from_hf_config
        from transformers import LlamaConfig

        hf = _baseline_module(DEFAULT_BASELINE)
        shape = shape_from_hf_config(LlamaConfig(**hf.CONFIGS[size]), size)
        est = estimate_memory(shape, Setup(method="lora", micro_batch=bs, seq=seq, checkpointing=ckpt))
        return round(est.allocated / 2**30, 2)
    except Exception as e:  # the estimate is context, not the measurement
        print(f"cost estimate unavailable: {e!r}", file=sys.stderr)
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1b,7b", help="comma list of hf_peft_baseline CONFIGS (1b, 7b, tiny)")
    ap.add_argument("--bs", type=int, default=8)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--lengths", default="lognormal:350:0.9")
    ap.add_argument("--ckpt-point", default="7b:4", help="SIZE:BATCH measured with gradient checkpointing; '' skips")
    ap.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    ap.add_argument("--arm", help=argparse.SUPPRESS)  # SIZE:BS[:ckpt] for the tunewright child
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.arm:
        size, bs, *rest = a.arm.split(":")
        res = arm_tunewright(a.baseline, size, int(bs), a.seq, a.steps, a.warm, a.lengths, bool(rest))
        a.out.write_text(json.dumps(res))
        return
    import torch

    points = [(s, a.bs, False) for s in a.sizes.split(",") if s]
    if a.ckpt_point:
        size, bs = a.ckpt_point.split(":")
        points.append((size, int(bs), True))
    common = ["--seq", str(a.seq), "--steps", str(a.steps), "--warm", str(a.warm), "--lengths", a.lengths]
    out = []
    for size, bs, ckpt in points:
        plan = f"{size}:lora:trainer:{bs}" + (":ckpt" if ckpt else "")
        base = _child([sys.executable, str(a.baseline), "--plan", plan, *common])
        tw = _child([sys.executable, __file__, "--arm", f"{size}:{bs}" + (":ckpt" if ckpt else ""),
                     "--baseline", str(a.baseline), *common])
        point = {"size": size, "bs": bs, "ckpt": ckpt, "baseline": base, "tunewright": tw,
                 "cost_estimate_peak_gib": cost_estimate_gib(size, bs, a.seq, ckpt)}
        if "effective_tokens_per_s" in base and "effective_tokens_per_s" in tw:
            point["speedup"] = tw["effective_tokens_per_s"] / base["effective_tokens_per_s"]
            if base.get("peak_mem_gib") and tw.get("peak_mem_gib"):
                point["memory_ratio"] = tw["peak_mem_gib"] / base["peak_mem_gib"]
        print(json.dumps(point), flush=True)
        out.append(point)
    result = {"benchmark": "train_throughput (GPU half)", "date": dt.date.today().isoformat(),
              "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
              "torch": torch.__version__, "seq": a.seq, "lengths": a.lengths, "points": out}
    path = HERE / f"gpu-results-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
