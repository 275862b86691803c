"""The evaluation stage: task metric on the test split, held-out loss, and the general suite.

Predictions are written (atomically) before any metric is computed, so a crash in scoring loses no
generation work; the metrics are then computed from the saved file, the same way a reader would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tunewright.assets import resolve_path
from tunewright.config import Config
from tunewright.evaluation.generate import generate
from tunewright.evaluation.loss import sum_nll
from tunewright.evaluation.suites import run_general_suite
from tunewright.evaluation.tasks import make_task
from tunewright.project import Run, read_json, write_json
from tunewright.records import Example, write_jsonl
from tunewright.training.formats import encode_examples, prompt_ids


class LabelError(ValueError):
    pass


def parse_golds(task, examples: list[Example]) -> list:
    golds, bad = [], []
    for ex in examples:
        g = task.parse(ex.answer())
        if g is None:
            bad.append(f"{ex.source}: answer {ex.answer()[:80]!r}")
        golds.append(g)
    if bad:
        raise LabelError(f"{len(bad)} test answer(s) the task '{task.cfg.type}' cannot parse (field: the "
                         "assistant answer / 'ideal'):\n  " + "\n  ".join(bad[:5]))
    return golds


def read_predictions(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def score_predictions(cfg: Config, predictions_path: Path) -> dict:
    """Recompute the task metric from a saved predictions file (the report's numbers come from here)."""
    task = make_task(cfg.task)
    rows = read_predictions(predictions_path)
    m = task.score(rows)
    return {"metric": task.metric, "value": m[task.metric], **m, "n": len(rows),
            "unparseable": sum(not r["parse_ok"] for r in rows)}


def load_judge(spec: str):
    """Import the judge hook named 'module:function'."""
    import importlib

    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"task.judge: cannot import {spec!r} ({e})") from None


def _choice_rows(task, model, tokenizer, test, prompts, golds, cfg: Config, which: str) -> list[dict]:
    from tunewright.evaluation.choices import choice_logprobs, pick

    choices = []
    for ex, gold in zip(test, golds):
        ch = ex.meta.get("choices")
        if not ch:
            raise LabelError(f"{ex.source}: a multiple_choice task needs a 'choices' field on every record")
        if gold not in ch:
            raise LabelError(f"{ex.source}: the answer {gold!r} is not one of its 'choices' {ch}")
        choices.append(ch)
    scored = choice_logprobs(model, tokenizer, prompts, choices, cfg.general.batch_size, desc=f"{which}: choices")
    rows = []
    for ex, ch, sc, gold in zip(test, choices, scored, golds):
        plain, norm = pick(sc, ch)
        rows.append({"id": ex.id, "source": ex.source, "output": ch[plain], "gold": gold, "gold_parsed": gold,
                     "parsed": ch[plain], "parse_ok": True, **task.item_row(ch[plain], gold),
                     "correct_norm": ch[norm] == gold, "choices": ch, "logprobs": [round(x, 4) for x, _ in sc]})
    return rows


def eval_items(cfg: Config, test: list[Example]) -> list[Example]:
    """The test items an evaluation scores: the first ``task.max_test_examples`` of the split."""
    if cfg.task.max_test_examples is not None:
        test = test[: cfg.task.max_test_examples]
    if not test:
        raise ValueError("the test split is empty: nothing to evaluate (check split.test_fraction or data.test_files)")
    return test


def predict_rows(cfg: Config, model, tokenizer, test: list[Example], which: str) -> list[dict]:
    """One prediction row per test item (generation, or likelihood of each choice), scored per item."""
    task = make_task(cfg.task)
    golds = parse_golds(task, test)
    prompts = [prompt_ids(tokenizer, ex.to_chat(cfg.data.system_prompt)[:-1]) for ex in test]
    if getattr(task, "scores_by_likelihood", False):
        return _choice_rows(task, model, tokenizer, test, prompts, golds, cfg, which)
    outputs = generate(model, tokenizer, prompts, cfg.task.max_new_tokens, cfg.task.batch_size,
                       desc=f"{which}: generate", stop_strings=cfg.task.stop_strings)
    pred_rows = []
    for ex, out, gold in zip(test, outputs, golds):
        parsed = task.parse(out)
        pred_rows.append({
            "id": ex.id, "source": ex.source, "output": out, "gold": ex.answer(), "gold_parsed": gold,
            "parsed": parsed, "parse_ok": parsed is not None, **task.item_row(parsed, gold),
        })
    return pred_rows


def evaluate_model(cfg: Config, run: Run, which: str, model, tokenizer, test: list[Example],
                   validation: list[Example]) -> dict:
    """Evaluate ``model`` (``which`` = 'base' or 'tuned'); write eval/<which>/ and return the metrics."""
    out_dir = run.eval_dir / which
    test = eval_items(cfg, test)
    timings = {}

    t0 = time.perf_counter()
    pred_rows = predict_rows(cfg, model, tokenizer, test, which)
    timings["generate"] = round(time.perf_counter() - t0, 2)
    if cfg.task.judge:
        judge = load_judge(cfg.task.judge)
        for ex, row in zip(test, pred_rows):
            row["judge"] = float(judge(ex.to_chat(cfg.data.system_prompt)[:-1], row["output"], row["gold"]))
    write_jsonl(out_dir / "predictions.jsonl", pred_rows)
    task_metrics = score_predictions(cfg, out_dir / "predictions.jsonl")

    heldout = None
    if validation:
        t0 = time.perf_counter()
        enc = encode_examples(tokenizer, [ex.to_chat(cfg.data.system_prompt) for ex in validation],
                              cfg.training.max_seq_tokens)
        total, count, _ = sum_nll(model, enc.rows, tokenizer.pad_token_id, cfg.general.batch_size,
                                  desc=f"{which}: held-out loss")
        heldout = {"loss": total / count, "tokens": count, "n": len(enc.rows)}
        timings["heldout_loss"] = round(time.perf_counter() - t0, 2)

    general = {}
    if cfg.general.enabled:
        t0 = time.perf_counter()
        for r in run_general_suite(model, tokenizer, cfg.general, lambda f: resolve_path(cfg.resolve(f))):
            general[r.name] = {"metric": r.metric, "value": r.value, "n": r.n, "higher_is_better": r.higher_is_better}
            write_jsonl(out_dir / f"general_{r.name}.jsonl", r.items)
        timings["general"] = round(time.perf_counter() - t0, 2)

    metrics = {"which": which, "task": task_metrics, "heldout": heldout, "general": general, "timings": timings}
    write_json(out_dir / "metrics.json", metrics)
    run.record_artifact(f"eval_{which}", *sorted(out_dir.iterdir()))
    return metrics


def load_eval(run: Run, which: str) -> dict | None:
    p = run.eval_dir / which / "metrics.json"
    return read_json(p) if p.exists() else None

