"""Benchmark: LoRA training throughput in bf16 (training.precision=auto) against fp32, with the quality check.

Same model (SmolLM2-135M-Instruct), data (the demo's ner_finance split, demo instruction), LoRA and
hyperparameters as `tunewright demo` (100 steps by default). Arms: ``fp32`` (training.precision=fp32) and
``auto`` (bf16 where the CPU has amx_bf16/avx512_bf16 and the self-check passes: frozen base stored in bf16,
adapters and optimizer state fp32). Each arm trains in its own subprocess, arms alternate (and swap order
every round) so machine load hits both alike; the ratio is pooled over rounds (total real tokens / total
seconds inside trainer.train()).

Quality: after training, each arm's tuned model is evaluated in fp32 (evaluation.precision=fp32, so only
the training precision differs) on the demo test split: entity F1 and the held-out loss on the validation
split, each with a 95% bootstrap interval. The check: the auto arm's values lie inside the fp32 arm's
intervals. Writes results-<date>.json beside this file.

    python benchmarks/train_precision/run.py [--steps 100] [--rounds 1] [--threads 2] [--test-examples N]

``--steps 4 --test-examples 8`` is a smoke run (minutes); the recorded run uses the defaults on an idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARMS = ("fp32", "auto")


def loss_items(model, tokenizer, cfg, validation) -> list[list[float]]:
    """Per validation example: (summed NLL over answer tokens, answer tokens), for the loss interval."""
    from tunewright.evaluation.loss import sum_nll
    from tunewright.training.formats import encode_examples

    enc = encode_examples(tokenizer, [ex.to_chat(cfg.data.system_prompt) for ex in validation], cfg.training.max_seq_tokens)
    _, _, per_row = sum_nll(model, enc.rows, tokenizer.pad_token_id, cfg.general.batch_size)
    counts = [sum(1 for x in r["labels"][1:] if x != -100) for r in enc.rows]
    return [[m * n, n] for m, n in zip(per_row, counts)]


def child(arm: str, steps: int, test_examples: int | None, threads: int, out: Path) -> None:
    import torch

    torch.set_num_threads(threads)
    from tunewright.evaluation.evaluate import evaluate_model, read_predictions
    from tunewright.models import load_adapter_model, load_model
    from tunewright.data.split import read_split
    from tunewright.pipeline import Session, load_demo_config, new_run, stage_audit, stage_split
    from tunewright.training.trainer import train_model

    with tempfile.TemporaryDirectory(prefix="tw-bench-") as tmp:
        cfg = load_demo_config(False, [f"project.runs_dir={tmp}", f"training.max_steps={steps}",
                                 f"training.precision={arm}", "training.save_steps=100000", "general.enabled=false",
                                 "evaluation.precision=fp32",
                                 *([f"task.max_test_examples={test_examples}"] if test_examples else [])])
        run = new_run(cfg)
        s = Session(cfg)
        stage_audit(cfg, run, s)
        stage_split(cfg, run)
        model = load_model(s.model_ref(), cfg.model)
        r = train_model(cfg, run, read_split(run, "train"), model, s.tok())
        del model
        tuned = load_adapter_model(s.model_ref(), cfg.model, run.model_dir)
        validation = read_split(run, "validation")
        m = evaluate_model(cfg, run, "tuned", tuned, s.tok(), read_split(run, "test"), validation,
                           train=read_split(run, "train"))
        preds = read_predictions(run.eval_dir / "tuned" / "predictions.jsonl")
        res = {"seconds": r.seconds, "real_tokens": r.train_tokens, "steps": r.steps, "final_loss": r.final_loss,
               "precision": r.precision, "entity_f1": m["task"]["value"], "unparseable": m["task"]["unparseable"],
               "entity_items": [[p["tp"], p["n_predicted"], p["n_gold"]] for p in preds],
               "heldout_loss": m["heldout"]["loss"] if m["heldout"] else None,
               "loss_items": loss_items(tuned, s.tok(), cfg, validation)}
    out.write_text(json.dumps(res))


def _intervals(res: dict) -> dict:
    import numpy as np

    from tunewright.evaluation.stats import STATISTICS, bootstrap_ci

    f1 = bootstrap_ci(np.array(res["entity_items"]), STATISTICS["micro_f1"]).to_json()
    loss = bootstrap_ci(np.array(res["loss_items"]), lambda x: x[..., 0].sum(-1) / x[..., 1].sum(-1)).to_json()
    return {"entity_f1": f1, "heldout_loss": loss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100, help="optimizer steps per arm (the demo trains 100)")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of both arms, order swapped every round")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in every arm")
    ap.add_argument("--test-examples", type=int, default=None, help="evaluate on at most this many test examples")
    ap.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.arm:
        return child(a.arm, a.steps, a.test_examples, a.threads, a.out)
    runs: dict[str, list[dict]] = {k: [] for k in ARMS}
    load = {"before": os.getloadavg()}
    t0 = time.time()
    for rnd in range(a.rounds):
        for arm in (ARMS if rnd % 2 == 0 else ARMS[::-1]):
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                subprocess.run([sys.executable, __file__, "--arm", arm, "--steps", str(a.steps), "--threads",
                                str(a.threads), "--out", f.name,
                                *(["--test-examples", str(a.test_examples)] if a.test_examples else [])],
                               check=True, stdout=subprocess.DEVNULL)
                res = json.loads(Path(f.name).read_text())
            res["effective_tokens_per_second"] = res["real_tokens"] / res["seconds"]
            res["intervals"] = _intervals(res)
            res["load_average_after"] = os.getloadavg()
            runs[arm].append(res)
            print(f"round {rnd + 1} {arm} ({res['precision']['used']}): {res['effective_tokens_per_second']:.1f} "
                  f"tokens/s, {res['seconds']:.1f} s; entity F1 {res['entity_f1']:.3f}, held-out loss "
                  f"{res['heldout_loss']:.4f}", flush=True)
    load["after"] = os.getloadavg()

    def pooled(arm):
        return sum(r["real_tokens"] for r in runs[arm]) / sum(r["seconds"] for r in runs[arm])

    ref, new = runs["fp32"][0], runs["auto"][0]
    inside = {k: ref["intervals"][k]["low"] <= new[k] <= ref["intervals"][k]["high"] for k in ("entity_f1", "heldout_loss")}
    import torch

    for arm in ARMS:
        for r in runs[arm]:
            r.pop("entity_items"), r.pop("loss_items")
    result = {
        "benchmark": "train_precision", "date": dt.date.today().isoformat(),
        "baseline": "training.precision=fp32", "arm": "training.precision=auto",
        "model": "SmolLM2-135M-Instruct, LoRA r=16 alpha=32 all-linear (demo settings)",
        "data": f"demo split of ner_finance, {a.steps} steps, batch 8; test examples: {a.test_examples or 'all'}",
        "device": f"cpu ({a.threads} threads)" if not torch.cuda.is_available() else "cuda",
        "machine": platform.platform(), "cpu_bf16_flags": sorted(__import__("tunewright.precision").precision.cpu_flags()
                                                                 & {"amx_bf16", "avx512_bf16", "amx_tile"}),
        "load_average": load, "wall_seconds": round(time.time() - t0, 1), "rounds": a.rounds, "runs": runs,
        "effective_tokens_per_second": {arm: pooled(arm) for arm in ARMS},
        "speedup": pooled("auto") / pooled("fp32"),
        "quality_inside_fp32_intervals": inside,
    }
    out = HERE / f"results-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"speedup {result['speedup']:.2f}x; auto inside fp32 intervals: {inside}; load {load} -> {out}")


if __name__ == "__main__":
    main()
