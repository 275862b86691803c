"""Label models compared: majority vote (baseline), crowd-kit Dawid-Skene (full and one-coin), snorkel's
LabelModel (when installed), on (1) planted votes where function accuracies differ and (2) the demo's
ner_finance with the shipped example functions (entity F1 against the data's gold answers).

    PYTHONPATH=src python benchmarks/label_model/run.py
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from tunewright.assets import resolve_path  # noqa: E402
from tunewright.pipeline import load_demo_config  # noqa: E402
from tunewright.labeling.label_model import fit_predict, planted_votes  # noqa: E402
from tunewright.labeling.run import label_examples, load_functions  # noqa: E402
from tunewright.records import read_files  # noqa: E402

MODELS = ["majority", "dawid_skene", "one_coin_dawid_skene"]
if importlib.util.find_spec("snorkel") is not None:
    MODELS.append("snorkel")


def planted() -> dict:
    # two accurate functions with low coverage, five weak ones that cover most items
    acc, cov = [0.9, 0.85, 0.55, 0.5, 0.45, 0.45, 0.4], [0.5, 0.4, 0.9, 0.9, 0.9, 0.9, 0.9]
    out = {m: {"accuracy": [], "seconds": []} for m in MODELS}
    for seed in range(5):
        L, y = planted_votes(3000, acc, cov, 3, seed)
        for m in MODELS:
            t0 = time.perf_counter()
            P = fit_predict(m, L, 3, seed=seed)
            out[m]["seconds"].append(time.perf_counter() - t0)
            out[m]["accuracy"].append(float((P.argmax(1) == y).mean()))
    return {m: {"accuracy_mean": round(float(np.mean(v["accuracy"])), 4),
                "accuracy_min": round(float(np.min(v["accuracy"])), 4),
                "seconds_mean": round(float(np.mean(v["seconds"])), 3)} for m, v in out.items()} | {
        "setup": {"items": 3000, "classes": 3, "seeds": 5, "accuracies": acc, "coverages": cov}}


def demo() -> dict:
    base = [f"labeling.functions_module={ROOT / 'examples/labeling/finance_lfs.py'}",
            f"labeling.rules_file={ROOT / 'examples/labeling/finance_rules.yaml'}"]
    cfg = load_demo_config(overrides=base)
    examples = read_files([resolve_path(cfg.data.train_files[0])]).examples
    fns = load_functions(cfg)
    out = {}
    for m in MODELS:
        r = label_examples(load_demo_config(overrides=[*base, f"labeling.label_model={m}"]), examples, fns, progress=False)
        out[m] = r.scores["label_model"]
    out["functions"] = {k.split(":", 1)[1]: v for k, v in r.scores.items() if k.startswith("function:")}
    out["examples"] = len(examples)
    return out


def main() -> None:
    res = {"date": time.strftime("%Y-%m-%d"), "models": MODELS, "planted": planted(), "ner_finance": demo()}
    path = Path(__file__).parent / f"results-{res['date']}.json"
    path.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
