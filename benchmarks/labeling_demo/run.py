"""Programmatic labels plus a short review session on the demo's ner_finance, scored against its gold answers.

The shipped example functions (examples/labeling/) vote; the label model combines them; then a simulated
reviewer works through the review app (FastAPI TestClient, real SQLite store, the same forms and CSRF a
browser uses) on a budget of B items and answers each with the data's gold answer (accepting the suggestion
when it already equals gold). That is an ideal reviewer: the numbers bound what B human looks can buy.
Baseline in the same run: the same budget spent on B items drawn at random instead of the ranked queue.

    PYTHONPATH=src:tests python benchmarks/labeling_demo/run.py [--budget 100]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from review_helpers import hidden_fields, local_client  # noqa: E402
from tunewright.assets import resolve_path  # noqa: E402
from tunewright.pipeline import load_demo_config  # noqa: E402
from tunewright.evaluation import metrics as M  # noqa: E402
from tunewright.evaluation.tasks import make_task  # noqa: E402
from tunewright.labeling.run import label_examples, load_functions, write_labeling  # noqa: E402
from tunewright.records import read_examples, read_files  # noqa: E402
from tunewright.review.app import create_app  # noqa: E402
from tunewright.review.service import export_reviewed, init_review, label_validator  # noqa: E402
from tunewright.review.store import Store  # noqa: E402


def review_session(cfg, lab_dir: Path, examples, gold_by_text: dict[str, str], order: str, seed: int) -> dict:
    """Queue (ranked or random), review every queued item as the ideal reviewer, export, score."""
    work = Path(tempfile.mkdtemp(prefix=f"tw-{order}-"))
    for name in ("labels.jsonl", "votes.jsonl", "queue.jsonl"):
        (work / name).write_bytes((lab_dir / name).read_bytes())
    if order == "random":
        lines = (work / "queue.jsonl").read_text().splitlines()
        random.Random(seed).shuffle(lines)
        (work / "queue.jsonl").write_text("\n".join(lines) + "\n")
    store = Store(f"sqlite:///{work / 'review.db'}")
    init_review(cfg, work, examples, store)
    token = store.add_reviewer("oracle")
    client = local_client(create_app(store, label_validator(cfg)), headers={"Authorization": f"Bearer {token}"})
    t0, changed = time.perf_counter(), 0
    while 'id="done"' not in (page := client.get("/item")).text:
        f = hidden_fields(page.text)
        item = store.item(int(f["item_id"]))
        gold = gold_by_text[item.text]
        data = {**f, "action": "accept"} if gold == item.suggested else {**f, "action": "correct", "label": gold}
        changed += gold != item.suggested
        assert client.post("/judge", data=data, follow_redirects=False).status_code == 303
    seconds = time.perf_counter() - t0
    export_reviewed(store, work / "labels.jsonl", work / "reviewed.jsonl")
    reviewed = read_examples(work / "reviewed.jsonl")
    n_judged = len(store.judgments())
    store.engine.dispose()
    shutil.rmtree(work, ignore_errors=True)
    return {"reviewed": n_judged, "corrected": changed, "session_seconds": round(seconds, 2),
            "exported": reviewed}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=int, default=100)
    a = p.parse_args()
    cfg = load_demo_config(overrides=[f"labeling.functions_module={ROOT / 'examples/labeling/finance_lfs.py'}",
                             f"labeling.rules_file={ROOT / 'examples/labeling/finance_rules.yaml'}",
                             f"review.budget={a.budget}", "review.double_review_share=0", "review.gold_share=0"])
    examples = read_files([resolve_path(cfg.data.train_files[0])]).examples
    task = make_task(cfg.task)
    golds = [task.parse(ex.answer()) for ex in examples]
    result = label_examples(cfg, examples, load_functions(cfg), progress=False)
    lab_dir = Path(tempfile.mkdtemp(prefix="tw-label-"))
    write_labeling(lab_dir, examples, result)
    from tunewright.labeling.functions import example_text

    gold_by_text = {example_text(ex): ex.answer() for ex in examples}

    def f1_of(exported) -> dict:
        by_id = {e.meta["source_example_id"]: task.parse(e.answer()) or [] for e in exported}
        m = M.entity_f1([by_id[ex.id] for ex in examples], golds)
        return {"entity_f1": round(m["f1"], 4), "precision": round(m["precision"], 4), "recall": round(m["recall"], 4)}

    out = {"date": time.strftime("%Y-%m-%d"), "examples": len(examples), "budget": a.budget,
           "label_model": cfg.labeling.label_model,
           "functions": {k.split(":", 1)[1]: {kk: round(v, 4) if isinstance(v, float) else v for kk, v in s.items()}
                         for k, s in result.scores.items() if k.startswith("function:")},
           "majority": result.scores["majority"], "label_model_alone": result.scores["label_model"]}
    for order in ("ranked", "random"):
        s = review_session(cfg, lab_dir, examples, gold_by_text, order, seed=0)
        out[f"after_review_{order}"] = {**f1_of(s.pop("exported")), **s}
    lm = out["label_model_alone"]["entity_f1"]
    gain = {o: out[f"after_review_{o}"]["entity_f1"] - lm for o in ("ranked", "random")}
    shutil.rmtree(lab_dir, ignore_errors=True)
    out["f1_gain_ranked_over_random"] = round(gain["ranked"] / gain["random"], 2) if gain["random"] > 0 else None
    path = Path(__file__).parent / f"results-{out['date']}.json"
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
