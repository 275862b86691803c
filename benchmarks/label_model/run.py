"""Label models compared: majority vote (baseline), crowd-kit Dawid-Skene (full and one-coin), snorkel's
LabelModel (when installed), on (1) planted votes where function accuracies differ and (2) the demo's
ner_finance with the shipped example functions (entity F1 against the data's gold answers), where the span
model (is-entity x which-type, issue 17) is measured against the best single function, on the whole file
and on its second half (its accuracy prior was chosen on the first half).

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
from tunewright.config import load_config  # noqa: E402
from tunewright.labeling.label_model import fit_predict, planted_votes  # noqa: E402
from tunewright.labeling.run import label_examples, load_functions  # noqa: E402
from tunewright.records import read_files  # noqa: E402

MODELS = ["majority", "dawid_skene", "one_coin_dawid_skene", "span"]
if importlib.util.find_spec("snorkel") is not None:
    MODELS.append("snorkel")


def planted() -> dict:
    # two accurate functions with low coverage, five weak ones that cover most items
    acc, cov = [0.9, 0.85, 0.55, 0.5, 0.45, 0.45, 0.4], [0.5, 0.4, 0.9, 0.9, 0.9, 0.9, 0.9]
    models = [m for m in MODELS if m != "span"]  # span assumes entity types + "O": not for plain classes
    out = {m: {"accuracy": [], "seconds": []} for m in models}
    for seed in range(5):
        L, y = planted_votes(3000, acc, cov, 3, seed)
        for m in models:
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
    best = max(out["functions"], key=lambda f: out["functions"][f]["entity_f1"])
    out["best_single_function"] = {"name": best, **out["functions"][best]}
    out["span_minus_best_function"] = round(out["span"]["entity_f1"] - out["functions"][best]["entity_f1"], 4)
    out["halves"] = halves(cfg, examples, fns)
    return out


def halves(cfg, examples, fns) -> dict:
    """The span model's accuracy prior (mean 0.8, 100 pseudo-votes) was chosen on the first half of the file
    (by example order); this scores the label models and the best single function on each half separately."""
    from tunewright.labeling.run import _score, parse_gold
    from tunewright.labeling.votes import entities_from_items, function_entities

    golds = parse_gold(cfg, examples)
    h = len(examples) // 2
    out = {}
    for m in ("one_coin_dawid_skene", "span"):
        r = label_examples(load_config(None, [f"labeling.functions_module={cfg.labeling.functions_module}",
                                              f"labeling.rules_file={cfg.labeling.rules_file}",
                                              f"labeling.label_model={m}"]), examples, fns, progress=False)
        voted = (r.votes.matrix >= 0).any(axis=1)
        ents = entities_from_items(examples, r.votes, np.where(voted, r.probs.argmax(axis=1), -1))
        out[m] = {"first_half_tuning": _score("span", ents[:h], golds[:h])["entity_f1"],
                  "second_half_held_out": _score("span", ents[h:], golds[h:])["entity_f1"]}
    fn_scores = {}
    for f in r.votes.functions:
        ents = function_entities(examples, r.votes, f)
        fn_scores[f] = (_score("span", ents[:h], golds[:h])["entity_f1"], _score("span", ents[h:], golds[h:])["entity_f1"])
    b1 = max(fn_scores, key=lambda f: fn_scores[f][0])
    b2 = max(fn_scores, key=lambda f: fn_scores[f][1])
    out["best_function_first_half"] = {"name": b1, "entity_f1": fn_scores[b1][0]}
    out["best_function_second_half"] = {"name": b2, "entity_f1": fn_scores[b2][1]}
    return out


def main() -> None:
    res = {"date": time.strftime("%Y-%m-%d"), "models": MODELS, "planted": planted(), "ner_finance": demo()}
    path = Path(__file__).parent / f"results-{res['date']}.json"
    path.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
