"""Benchmark: base and tuned evaluation of the demo test split, today's defaults against the fast ones.

One process: audit and split the demo data, train the demo's LoRA once (``--train-steps``, default 100 as in
`tunewright demo`), then evaluate the base and the tuned model with each arm, arms interleaved (and their
order swapped every round) so machine load hits both alike:

- ``baseline`` (the defaults before issue 13): fp32, every answer may run to 96 new tokens (EOS only).
  Overrides: ``evaluation.precision=fp32 task.max_new_tokens=96 task.stop_when_done=false``.
- ``fast`` (the defaults now): evaluation.precision=auto (bf16 after the self-check where the CPU has it),
  task.max_new_tokens=auto (from the training answers), rows stop once their answer is done.

Time = the whole evaluate_model call (generation, held-out loss, and the general suite unless --no-general).
The check: the fast arm's task metric lies inside the baseline's 95% bootstrap interval, for base and tuned,
and its unparseable count is not higher. Writes results-<date>.json beside this file.

    python benchmarks/eval_speed/run.py [--train-steps 100] [--rounds 1] [--threads 2] [--test-examples N]
                                        [--no-general]

``--train-steps 4 --test-examples 16 --no-general`` is a smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARMS = {
    "baseline": ["evaluation.precision=fp32", "task.max_new_tokens=96", "task.stop_when_done=false"],
    "fast": [],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-steps", type=int, default=100, help="steps of the one LoRA training (demo: 100)")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of both arms, order swapped every round")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for the whole run")
    ap.add_argument("--test-examples", type=int, default=None, help="evaluate at most this many test examples")
    ap.add_argument("--no-general", action="store_true", help="time the task evaluation and held-out loss only")
    a = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    from tunewright.evaluation.evaluate import evaluate_model, read_predictions
    from tunewright.evaluation.stats import STATISTICS, bootstrap_ci
    from tunewright.evaluation.tasks import make_task
    from tunewright.models import load_adapter_model, load_model
    from tunewright.data.split import read_split
    from tunewright.pipeline import Session, load_demo_config, new_run, stage_audit, stage_split
    from tunewright.project import create_run
    from tunewright.training.trainer import train_model

    tmp = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    common = [f"project.runs_dir={tmp}", f"training.max_steps={a.train_steps}",
              "training.save_steps=100000", *(["general.enabled=false"] if a.no_general else []),
              *([f"task.max_test_examples={a.test_examples}"] if a.test_examples else [])]
    cfg = load_demo_config(False, common)
    run = new_run(cfg)
    s = Session(cfg)
    stage_audit(cfg, run, s)
    stage_split(cfg, run)
    train, validation, test = (read_split(run, n) for n in ("train", "validation", "test"))
    t0 = time.perf_counter()
    r = train_model(cfg, run, train, load_model(s.model_ref(), cfg.model), s.tok())
    print(f"trained {r.steps} steps in {time.perf_counter() - t0:.0f} s ({r.precision['used']})", flush=True)
    load = {"before": os.getloadavg()}
    task = make_task(cfg.task)
    stat_name, vector = task.detail_statistics()[task.metric]
    results: dict[str, dict[str, list[dict]]] = {arm: {"base": [], "tuned": []} for arm in ARMS}
    for rnd in range(a.rounds):
        for arm in (list(ARMS) if rnd % 2 == 0 else list(ARMS)[::-1]):
            acfg = load_demo_config(False, [*common, *ARMS[arm]])
            for which in ("base", "tuned"):
                arun = create_run(tmp / "eval", f"{arm}-{which}-{rnd}", {}, {})
                model = (load_model(s.model_ref(), acfg.model) if which == "base"
                         else load_adapter_model(s.model_ref(), acfg.model, run.model_dir))
                t0 = time.perf_counter()
                m = evaluate_model(acfg, arun, which, model, s.tok(), test, validation, train=train)
                seconds = time.perf_counter() - t0
                del model
                rows = read_predictions(arun.eval_dir / which / "predictions.jsonl")
                ci = bootstrap_ci(np.array([vector(x) for x in rows]), STATISTICS[stat_name]).to_json()
                res = {"seconds": round(seconds, 2), "timings": m["timings"], "metric": task.metric,
                       "value": m["task"]["value"], "interval": ci, "unparseable": m["task"]["unparseable"],
                       "n": m["task"]["n"], "precision": m["precision"], "decoding": m["decoding"],
                       "load_average_after": os.getloadavg()}
                results[arm][which].append(res)
                print(f"round {rnd + 1} {arm} {which}: {seconds:.1f} s, {task.metric} {res['value']:.3f} "
                      f"[{ci['low']:.3f}, {ci['high']:.3f}], unparseable {res['unparseable']}, "
                      f"{m['precision']['used']}, {m['decoding']}", flush=True)
    load["after"] = os.getloadavg()

    def total(arm, which=None):
        return sum(x["seconds"] for w in (["base", "tuned"] if which is None else [which])
                   for x in results[arm][w])

    checks = {}
    for which in ("base", "tuned"):
        b, f = results["baseline"][which][0], results["fast"][which][0]
        checks[which] = {"inside_baseline_interval": b["interval"]["low"] <= f["value"] <= b["interval"]["high"],
                         "unparseable_not_higher": f["unparseable"] <= b["unparseable"],
                         "speedup": total("baseline", which) / total("fast", which)}
    result = {
        "benchmark": "eval_speed", "date": dt.date.today().isoformat(),
        "baseline": "fp32, max_new_tokens=96, EOS only", "arm": "precision auto, max_new_tokens auto, stop when done",
        "model": "SmolLM2-135M-Instruct base, and tuned with the demo LoRA",
        "data": f"demo test split of ner_finance ({a.test_examples or 'all'} examples), general suite "
                f"{'off' if a.no_general else 'on'}", "train_steps": a.train_steps,
        "device": f"cpu ({a.threads} threads)" if not torch.cuda.is_available() else "cuda",
        "machine": platform.platform(), "load_average": load, "rounds": a.rounds, "results": results,
        "speedup": total("baseline") / total("fast"), "checks": checks,
    }
    out = HERE / f"results-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"speedup {result['speedup']:.2f}x; {checks}; load {load} -> {out}")


if __name__ == "__main__":
    main()
