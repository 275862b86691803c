"""The evaluation stage: task metric on the test split, held-out loss, and the general suite.

Predictions are written (atomically) before any metric is computed, so a crash in scoring loses no
generation work; the metrics are then computed from the saved file, the same way a reader would.
"""

from __future__ import annotations

import time
from pathlib import Path

from tunewright.assets import resolve_path
from tunewright.config import Config
from tunewright.errors import InputError
from tunewright.evaluation.generate import auto_max_new_tokens, generate
from tunewright.evaluation.loss import sum_nll
from tunewright.evaluation.suites import run_general_suite
from tunewright.evaluation.tasks import make_task
from tunewright.jsonl import read_jsonl
from tunewright.project import Run, read_json, write_json
from tunewright.records import Example, write_jsonl
from tunewright.training.formats import encode_examples, prompt_ids


class LabelError(InputError):
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
    """The rows of a predictions.jsonl (written atomically, so a bad line anywhere is an error)."""
    return read_jsonl(path)


def score_predictions(cfg: Config, predictions_path: Path) -> dict:
    """Recompute the task metric from a saved predictions file."""
    return score_rows(cfg, read_predictions(predictions_path))


def score_rows(cfg: Config, rows: list[dict]) -> dict:
    """The task metric of saved prediction rows (the report's numbers come from here)."""
    task = make_task(cfg.task)
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
        raise InputError(f"task.judge: cannot import {spec!r} ({e})") from None


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


def _label_rows(task, model, tokenizer, test, prompts, golds, cfg: Config, which: str) -> list[dict]:
    """task.decoding=choices: every label scored by log-likelihood, the most likely one is the answer."""
    from tunewright.evaluation.choices import label_logprobs

    labels = list(cfg.task.labels)
    scored = label_logprobs(model, tokenizer, prompts, labels, cfg.task.batch_size, desc=f"{which}: labels")
    rows = []
    for ex, sc, gold in zip(test, scored, golds):
        pred = labels[max(range(len(labels)), key=lambda j: sc[j])]
        rows.append({"id": ex.id, "source": ex.source, "output": pred, "gold": ex.answer(), "gold_parsed": gold,
                     "parsed": pred, "parse_ok": True, **task.item_row(pred, gold),
                     "logprobs": [round(x, 4) for x in sc]})
    return rows


def decoding_plan(cfg: Config, tokenizer, task, answers: list[str]) -> dict:
    """How answers are produced: 'generate' (with the token cap and its derivation) or 'choices'."""
    tc = cfg.task
    if getattr(task, "scores_by_likelihood", False):
        return {"mode": "choices", "note": "multiple_choice: each record's choices scored by log-likelihood"}
    if tc.decoding == "choices":
        if tc.type != "classification":
            raise ValueError(f"task.decoding=choices scores a label set; task.type={tc.type} has none "
                             "(use decoding=generate)")
        return {"mode": "choices", "note": f"{len(tc.labels)} labels scored by log-likelihood, one pass per batch"}
    if tc.max_new_tokens == "auto":
        n, note = auto_max_new_tokens(tokenizer, answers, tc.max_new_tokens_cap)
    else:
        n, note = tc.max_new_tokens, "task.max_new_tokens"
    stop = "answer complete (task.type rule) or EOS" if task.stops_early and tc.stop_when_done else "EOS"
    return {"mode": "generate", "max_new_tokens": n, "note": note, "stops_at": stop}


def evaluation_precision(cfg: Config, model, tokenizer, examples: list[Example]):
    """Pick evaluation's precision on ``model`` (bf16 only after the self-check on a few of ``examples``)."""
    from tunewright.precision import choose_precision
    from tunewright.training.trainer import PRECISION_CHECK_EXAMPLES

    rows = encode_examples(tokenizer, [ex.to_chat(cfg.data.system_prompt) for ex in examples[:PRECISION_CHECK_EXAMPLES]],
                           cfg.training.max_seq_tokens).rows
    return choose_precision(cfg.evaluation.precision, model, rows, cfg.evaluation.precision_tolerance,
                            what="evaluation")


def eval_items(cfg: Config, test: list[Example]) -> list[Example]:
    """The test items an evaluation scores: the first ``task.max_test_examples`` of the split."""
    if cfg.task.max_test_examples is not None:
        test = test[: cfg.task.max_test_examples]
    if not test:
        raise InputError("the test split is empty: nothing to evaluate (check split.test_fraction or data.test_files)")
    return test


def predict_rows(cfg: Config, model, tokenizer, test: list[Example], which: str, decoding: dict) -> list[dict]:
    """One prediction row per test item, scored per item, decoded by ``decoding`` (decoding_plan: generation
    with its cap and early stop, each record's choices, or the label set by likelihood). The export verifier
    calls it with the decoding the run's tuned evaluation recorded, so an export is scored the same way."""
    task = make_task(cfg.task)
    golds = parse_golds(task, test)
    prompts = [prompt_ids(tokenizer, ex.to_chat(cfg.data.system_prompt)[:-1]) for ex in test]
    if getattr(task, "scores_by_likelihood", False):
        return _choice_rows(task, model, tokenizer, test, prompts, golds, cfg, which)
    if decoding["mode"] == "choices":
        return _label_rows(task, model, tokenizer, test, prompts, golds, cfg, which)
    outputs = generate(model, tokenizer, prompts, decoding["max_new_tokens"], cfg.task.batch_size,
                       desc=f"{which}: generate", stop_strings=cfg.task.stop_strings,
                       done=task.answer_done if task.stops_early and cfg.task.stop_when_done else None)
    pred_rows = []
    for ex, out, gold in zip(test, outputs, golds):
        parsed = task.parse(out)
        pred_rows.append({
            "id": ex.id, "source": ex.source, "output": out, "gold": ex.answer(), "gold_parsed": gold,
            "parsed": parsed, "parse_ok": parsed is not None, **task.item_row(parsed, gold),
        })
    return pred_rows


def recorded_decoding(cfg: Config, run: Run, tokenizer, which: str = "tuned") -> dict:
    """The decoding an evaluation of the run used (metrics.json), or the plan from the run's training answers."""
    p = run.eval_dir / which / "metrics.json"
    if p.exists() and read_json(p).get("decoding"):
        return read_json(p)["decoding"]
    from tunewright.data.split import read_split

    train = read_split(run, "train") if (run.data_dir / "train.jsonl").exists() else []
    return decoding_plan(cfg, tokenizer, make_task(cfg.task), [ex.answer() for ex in train])


def evaluate_model(cfg: Config, run: Run, which: str, model, tokenizer, test: list[Example],
                   validation: list[Example], train: list[Example] | None = None) -> dict:
    """Evaluate ``model`` (``which`` = 'base' or 'tuned'); write eval/<which>/ and return the metrics.

    ``train`` (the training split) sets the generation cap under task.max_new_tokens=auto (validation
    answers stand in without it). The model's precision is chosen here (evaluation.precision)."""
    out_dir = run.eval_dir / which
    task = make_task(cfg.task)
    test = eval_items(cfg, test)
    timings = {}
    precision = evaluation_precision(cfg, model, tokenizer, validation or test)
    decoding = decoding_plan(cfg, tokenizer, task, [ex.answer() for ex in (train or validation)])

    t0 = time.perf_counter()
    pred_rows = predict_rows(cfg, model, tokenizer, test, which, decoding)
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

    metrics = {"which": which, "task": task_metrics, "heldout": heldout, "general": general, "timings": timings,
               "precision": precision.to_json(), "decoding": decoding}
    write_json(out_dir / "metrics.json", metrics)
    run.update_manifest(evaluation={which: {"precision": precision.to_json(), "decoding": decoding}})
    run.record_artifact(f"eval_{which}", *sorted(out_dir.iterdir()))
    return metrics


def load_eval(run: Run, which: str) -> dict | None:
    p = run.eval_dir / which / "metrics.json"
    return read_json(p) if p.exists() else None

