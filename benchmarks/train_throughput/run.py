"""Benchmark: effective training throughput, tunewright vs a plain transformers Trainer + peft set-up.

Same model (SmolLM2-135M-Instruct, fp32 on CPU), same data (the first N training examples of ner_finance
after audit and split, with the demo instruction), same LoRA (r=16, alpha=32, all linear layers), same
optimizer, learning rate, schedule, micro-batch of 8 and seed; one epoch each, so both arms train exactly
the same tokens.

- baseline: ``transformers.Trainer`` + ``peft.get_peft_model`` + ``DataCollatorForSeq2Seq(padding="longest")``:
  random order, every batch padded to its longest row, the model computes logits on every position.
- tunewright: ``train_model`` with its defaults: packed padding-free rows with per-example attention and
  logits only on answer positions (length-grouped order).

Effective tokens/s = real (non-pad) tokens / seconds inside ``trainer.train()``. Each arm runs in its own
subprocess (so peak RSS is per arm), arms alternate for ``--rounds`` rounds (machine load hits both alike),
and the ratio is taken from the summed tokens and seconds. Writes results-<date>.json beside this file.

    python benchmarks/train_throughput/run.py [--examples 160] [--rounds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _data(examples: int, runs_dir: Path):
    from tunewright.pipeline import load_demo_config
    from tunewright.data.split import read_split
    from tunewright.pipeline import Session, new_run, stage_audit, stage_split

    cfg = load_demo_config(overrides=[f"project.runs_dir={runs_dir}", "training.epochs=1", "training.max_steps=-1", "training.logging_steps=1000",
                             f"training.max_train_examples={examples}", "training.save_steps=100000"])
    run = new_run(cfg)
    s = Session(cfg)
    stage_audit(cfg, run, s)
    stage_split(cfg, run)
    return cfg, run, s, read_split(run, "train")[:examples]


def arm_baseline(examples: int, runs_dir: Path) -> dict:
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    from tunewright.models import load_model
    from tunewright.training.formats import encode_examples
    from tunewright.training.trainer import chats

    cfg, run, s, train = _data(examples, runs_dir)
    tc = cfg.training
    tok = s.tok()
    set_seed(tc.seed)
    enc = encode_examples(tok, chats(train, cfg), tc.max_seq_tokens)
    rows = [{"input_ids": r["input_ids"], "attention_mask": [1] * len(r["input_ids"]), "labels": r["labels"]}
            for r in enc.rows]
    model = load_model(s.model_ref(), cfg.model)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=tc.lora_r, lora_alpha=2 * tc.lora_r,
                                             lora_dropout=tc.lora_dropout, target_modules="all-linear"))
    from datasets import Dataset

    args = TrainingArguments(output_dir=str(run.path / "ckpt"), per_device_train_batch_size=tc.batch_size,
                             learning_rate=tc.learning_rate, lr_scheduler_type="linear", warmup_steps=tc.warmup_ratio,
                             num_train_epochs=1, logging_steps=1000, save_strategy="no", report_to="none",
                             seed=tc.seed, data_seed=tc.seed, remove_unused_columns=False, use_cpu=True,
                             dataloader_num_workers=0, optim="adamw_torch")
    collator = DataCollatorForSeq2Seq(tok, padding="longest", label_pad_token_id=-100)
    padded = [0]

    def counting(batch):
        out = collator(batch)
        padded[0] += out["input_ids"].numel()
        return out

    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows), data_collator=counting)
    t0 = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "real_tokens": enc.tokens, "computed_tokens": padded[0], "steps": out.global_step,
            "train_loss": out.training_loss, "logit_positions": padded[0]}


def arm_tunewright(examples: int, runs_dir: Path) -> dict:
    from tunewright.models import load_model
    from tunewright.training.trainer import train_model

    cfg, run, s, train = _data(examples, runs_dir)
    model = load_model(s.model_ref(), cfg.model)
    r = train_model(cfg, run, train, model, s.tok())
    return {"seconds": r.seconds, "real_tokens": r.train_tokens, "computed_tokens": r.padded_tokens,
            "steps": r.steps, "train_loss": r.final_loss, "logit_positions": r.trained_tokens,
            "packing": r.packing, "packing_note": r.packing_note}


ARMS = {"baseline": arm_baseline, "tunewright": arm_tunewright}


def child(arm: str, examples: int, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="tw-bench-") as tmp:
        res = ARMS[arm](examples, Path(tmp))
    res["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.write_text(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=160)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--arm", choices=list(ARMS))
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if a.arm:
        return child(a.arm, a.examples, a.out)
    runs: dict[str, list[dict]] = {k: [] for k in ARMS}
    for rnd in range(a.rounds):
        for arm in ARMS:
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                subprocess.run([sys.executable, __file__, "--arm", arm, "--examples", str(a.examples),
                                "--out", f.name], check=True, stdout=subprocess.DEVNULL)
                res = json.loads(Path(f.name).read_text())
            res["effective_tokens_per_second"] = res["real_tokens"] / res["seconds"]
            runs[arm].append(res)
            print(f"round {rnd + 1} {arm}: {res['effective_tokens_per_second']:.1f} tokens/s, "
                  f"{res['seconds']:.1f} s, peak RSS {res['peak_rss_bytes'] / 2**30:.2f} GiB", flush=True)

    def pooled(arm):
        return sum(r["real_tokens"] for r in runs[arm]) / sum(r["seconds"] for r in runs[arm])

    import torch

    result = {
        "benchmark": "train_throughput", "date": dt.date.today().isoformat(),
        "baseline": "transformers Trainer + peft LoRA, DataCollatorForSeq2Seq(padding='longest'), random order",
        "model": "SmolLM2-135M-Instruct (fp32, LoRA r=16 alpha=32 all-linear)",
        "data": f"ner_finance, first {a.examples} training examples, demo instruction, 1 epoch, micro-batch 8",
        "device": "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)",
        "machine": platform.platform(), "rounds": a.rounds, "runs": runs,
        "effective_tokens_per_second": {arm: pooled(arm) for arm in ARMS},
        "speedup": pooled("tunewright") / pooled("baseline"),
        "speedup_per_round": [t["effective_tokens_per_second"] / b["effective_tokens_per_second"]
                              for t, b in zip(runs["tunewright"], runs["baseline"])],
        "peak_rss_ratio": statistics.mean(r["peak_rss_bytes"] for r in runs["tunewright"])
        / statistics.mean(r["peak_rss_bytes"] for r in runs["baseline"]),
    }
    out = HERE / f"results-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"speedup {result['speedup']:.2f}x (per round {[round(x, 2) for x in result['speedup_per_round']]}), "
          f"peak RSS ratio {result['peak_rss_ratio']:.2f} -> {out}")


if __name__ == "__main__":
    main()
