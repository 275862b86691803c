"""What the review budget buys in the model: SmolLM2-135M-Instruct tuned (LoRA) on ner_finance with training
labels from (a) the label model alone, (b) the label model plus R reviewed items (R = 50, 100, 200 by default:
the top of the review queue), (c) the data's gold answers. Gold is held back from training in (a) and (b) and
used only to score: a fixed test set of gold examples never trains in any arm.

The reviewer is scripted and ideal (its answer is the gold answer): the numbers bound what R human looks can
buy, they are not what a person would get. Labeling dollars per arm come from the cost module's labeling rates
(tunewright.cost.lifecycle.labeling_cost: seconds per item x hourly rate, low / expected / high): (a) reviews
nothing, (b) reviews R items, (c) labels every training item by hand. Writing the labeling functions is not
counted (it is engineer time, in the cost module's people line).

Every arm trains the same steps on the same examples in the same order (same seed); only the labels differ.

    PYTHONPATH=src python benchmarks/labeling_hybrid/run.py [--pool 400] [--test 40] [--steps 30] \
        [--reviews 50,100,200]

On a 2-core CPU the full size is hours; pass a smaller --pool / --steps / --test and say it is a small-budget run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from tunewright.assets import resolve_path  # noqa: E402
from tunewright.evaluation.artifacts import EvalArtifacts, pair_by_id  # noqa: E402
from tunewright.evaluation.forgetting import compare, task_comparisons  # noqa: E402
from tunewright.cost.lifecycle import labeling_cost  # noqa: E402
from tunewright.evaluation import metrics as M  # noqa: E402
from tunewright.evaluation.tasks import make_task  # noqa: E402
from tunewright.labeling.run import label_examples, load_functions, relabel  # noqa: E402
from tunewright.pipeline import Session, load_demo_config, new_run, stage_eval, stage_train  # noqa: E402
from tunewright.records import read_files, write_jsonl  # noqa: E402


def arm_costs(cfg, n_items: int, reviewed: int | None) -> dict:
    """Labeling dollars (low / expected / high): reviewed=None means every item labelled by hand (gold)."""
    c = cfg.cost.model_copy(deep=True)
    c.labeling.items = n_items
    c.labeling.overlap = 1.0
    if reviewed is None:
        c.labeling.programmatic_share = 0.0
    else:
        c.labeling.programmatic_share = 1.0
        c.labeling.review_share = reviewed / n_items
    manual, review = labeling_cost(c)
    return (manual + review).to_json()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pool", type=int, default=400, help="training examples (labels vary by arm)")
    p.add_argument("--test", type=int, default=40, help="gold test examples (never trained on)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--reviews", default="50,100,200")
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--labels-only", action="store_true", help="score each arm's training labels against gold and "
                   "price them, without training (minutes instead of hours)")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    reviews = [int(x) for x in a.reviews.split(",") if x]
    date = time.strftime("%Y-%m-%d")
    out_dir = Path(a.out or Path("/tmp") / f"tw-hybrid-{date}")
    base = [f"labeling.functions_module={ROOT / 'examples/labeling/finance_lfs.py'}",
            f"labeling.rules_file={ROOT / 'examples/labeling/finance_rules.yaml'}",
            f"project.runs_dir={out_dir / 'runs'}", "general.enabled=false", f"training.max_steps={a.steps}",
            f"task.max_test_examples={a.test}", f"task.max_new_tokens={a.max_new_tokens}", "project.name=hybrid"]
    cfg = load_demo_config(False, base)  # the demo's model, data, instruction and task; labels vary by arm
    task = make_task(cfg.task)
    examples = read_files([resolve_path(cfg.data.train_files[0])]).examples
    order = np.random.default_rng(0).permutation(len(examples))
    test = [examples[i] for i in order[: a.test]]
    pool = [examples[i] for i in order[a.test: a.test + a.pool]]
    val = [examples[i] for i in order[a.test + a.pool: a.test + a.pool + 16]]  # held-out loss only (gold)
    result = label_examples(cfg, pool, load_functions(cfg), progress=False)
    queue = [q.index for q in result.queue]  # most valuable first: what a review round would take

    arms: dict[str, list[str]] = {"label_model": list(result.answers)}
    for r in reviews:
        ans = list(result.answers)
        for i in queue[:r]:
            ans[i] = pool[i].answer()  # the ideal reviewer answers with gold
        arms[f"label_model+{r}_reviewed"] = ans
    arms["gold"] = [ex.answer() for ex in pool]
    gold_parsed = [task.parse(ex.answer()) or [] for ex in pool]

    if a.labels_only:
        res = {"date": date, "mode": "labels only: training-label entity F1 vs gold, no model trained",
               "setup": {"pool": len(pool), "label_model": cfg.labeling.label_model,
                         "reviewer": "scripted ideal reviewer (answers gold): an upper bound"}, "arms": {}}
        for name, answers in arms.items():
            n_rev = 0 if name == "label_model" else (None if name == "gold" else int(name.split("+")[1].split("_")[0]))
            res["arms"][name] = {"training_label_entity_f1": round(M.entity_f1([task.parse(x) or [] for x in answers],
                                                                               gold_parsed)["f1"], 4),
                                 "reviewed_items": len(pool) if n_rev is None else n_rev,
                                 "labeling_usd": arm_costs(cfg, len(pool), n_rev)}
        lm = res["arms"]["label_model"]
        for arm in res["arms"].values():
            d_f1 = arm["training_label_entity_f1"] - lm["training_label_entity_f1"]
            d_usd = arm["labeling_usd"]["expected"] - lm["labeling_usd"]["expected"]
            arm["usd_per_label_f1_point"] = round(d_usd / (100 * d_f1), 2) if d_f1 > 0 and d_usd > 0 else None
        path = Path(__file__).parent / f"results-labels-only-{date}.json"
        path.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(res, indent=2))
        return
    session = Session(cfg)
    res = {"date": date, "setup": {"pool": len(pool), "test": len(test), "steps": a.steps,
                                   "max_new_tokens": a.max_new_tokens,
                                   "batch_size": cfg.training.batch_size, "model": cfg.model.name_or_path,
                                   "reviewer": "scripted ideal reviewer (answers gold): an upper bound",
                                   "label_model": cfg.labeling.label_model},
           "arms": {}}
    base_done = None
    tuned_rows: dict[str, list[dict]] = {}
    for name, answers in arms.items():
        t0 = time.perf_counter()
        run = new_run(cfg)
        run.data_dir.mkdir(parents=True, exist_ok=True)
        train = [relabel(ex, ans, {"labeling": {"arm": name}}) for ex, ans in zip(pool, answers)]
        write_jsonl(run.data_dir / "train.jsonl", train)
        write_jsonl(run.data_dir / "validation.jsonl", val)
        write_jsonl(run.data_dir / "test.jsonl", test)
        if base_done is None:
            base_done = {"value": stage_eval(cfg, run, "base", session).value}
            base_eval = run.eval_dir / "base"
        else:  # the same base on the same test items for every arm
            import shutil
            shutil.copytree(base_eval, run.eval_dir / "base")
        stage_train(cfg, run, session)
        tuned = stage_eval(cfg, run, "tuned", session)
        tuned = {"value": tuned.value}
        art = EvalArtifacts.load(run.eval_dir)
        headline, _ = task_comparisons(art, cfg)
        tuned["ci"] = headline["tuned_ci"]
        tuned_rows[name] = art.predictions["tuned"]
        label_f1 = M.entity_f1([task.parse(x) or [] for x in answers], gold_parsed)["f1"]
        n_rev = 0 if name == "label_model" else (None if name == "gold" else int(name.split("+")[1].split("_")[0]))
        res["arms"][name] = {"training_label_entity_f1": round(label_f1, 4), "tuned_entity_f1": tuned["value"],
                             "tuned_entity_f1_ci": tuned["ci"],
                             "labeling_usd": arm_costs(cfg, len(pool), n_rev), "seconds": round(time.perf_counter() - t0),
                             "run": str(run.path)}
        print(name, res["arms"][name], flush=True)
    res["base_entity_f1"] = base_done["value"]
    lm = res["arms"]["label_model"]
    for name, arm in res["arms"].items():  # paired on the same test items: this arm minus the label-model arm
        if name != "label_model":
            arm["paired_vs_label_model"] = compare(pair_by_id(tuned_rows["label_model"], tuned_rows[name]),
                                                   task.statistic, task.item_vector, cfg, True)["change_ci"]
        d_f1 = arm["tuned_entity_f1"] - lm["tuned_entity_f1"]
        d_usd = arm["labeling_usd"]["expected"] - lm["labeling_usd"]["expected"]
        arm["usd_per_f1_point_vs_label_model"] = round(d_usd / (100 * d_f1), 2) if d_f1 > 0 and d_usd > 0 else None
    path = Path(__file__).parent / f"results-{date}.json"
    path.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
