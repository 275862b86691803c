"""The general suite: what the model could do before the fine-tune, measured again after it.

Two tasks by default: perplexity on general English text (the first paragraphs of each configured file;
the rest of each file is left for replay, so a forgetting score is never measured on trained text), and
accuracy on an MMLU subset scored by the log-likelihood of the answer letter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import islice
from typing import Callable

import torch
from tqdm.auto import tqdm

from tunewright.assets import resolve_path
from tunewright.config import GeneralSection, GeneralTaskSpec
from tunewright.evaluation.loss import sum_nll
from tunewright.errors import InputError
from tunewright.jsonl import iter_jsonl

LETTERS = ["A", "B", "C", "D"]


@dataclass
class GeneralTaskResult:
    name: str
    metric: str
    value: float
    n: int
    higher_is_better: bool
    items: list[dict]


def load_general_paragraphs(cfg: GeneralSection) -> list[dict]:
    """``perplexity_paragraphs`` paragraphs of each text file from ``perplexity_offset`` on (0: the start; a
    tuning study scores on the next ones, disjoint from the final evaluation), with their file:line."""
    out = []
    for f in cfg.text_files:
        # the first lines of the file, as general.reserved_eval_lines counts them
        # lines perplexity_offset+1 .. offset+paragraphs of the file, as general.reserved_eval_lines counts them
        for n, rec in iter_jsonl(resolve_path(f), display=f, max_lines=cfg.perplexity_offset + cfg.perplexity_paragraphs):
            if n <= cfg.perplexity_offset:
                continue
            text = rec.get(cfg.text_field) if isinstance(rec, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"{f}:{n}: field '{cfg.text_field}' missing or empty")
            out.append({"file": f, "line": n, "text": text.strip()})
    return out


def perplexity_task(model, tokenizer, cfg: GeneralSection) -> GeneralTaskResult:
    paras = load_general_paragraphs(cfg)
    rows = []
    for p in paras:
        ids = tokenizer(p["text"], add_special_tokens=False)["input_ids"][: cfg.max_seq_tokens]
        rows.append({"input_ids": ids, "labels": list(ids)})
    total, count, per_row = sum_nll(model, rows, tokenizer.pad_token_id, cfg.batch_size, desc="general perplexity")
    items = [{"source": f"{p['file']}:{p['line']}", "mean_nll": v, "tokens": len(r["input_ids"]) - 1}
             for p, v, r in zip(paras, per_row, rows)]
    return GeneralTaskResult("general_perplexity", "perplexity", math.exp(total / count), len(rows), False, items)


def load_mmlu(cfg: GeneralSection) -> list[dict]:
    out = []
    for n, rec in islice(iter_jsonl(resolve_path(cfg.mmlu_file), display=cfg.mmlu_file), cfg.mmlu_offset,
                         cfg.mmlu_offset + cfg.mmlu_questions):
        if not isinstance(rec, dict) or not isinstance(rec.get("question"), str) or rec.get("answer") not in LETTERS:
            raise InputError(f"{cfg.mmlu_file}:{n}: needs a 'question' string and an 'answer' letter A-D")
        out.append({"source": f"{cfg.mmlu_file}:{n}", "question": rec["question"], "answer": rec["answer"]})
    return out


@torch.no_grad()
def mmlu_task(model, tokenizer, cfg: GeneralSection) -> GeneralTaskResult:
    """Zero-shot: the question ends in 'Answer:'; the choice is the letter with the highest next-token log-prob."""
    qs = load_mmlu(cfg)
    letter_ids = []
    for L in LETTERS:
        ids = tokenizer(" " + L, add_special_tokens=False)["input_ids"]
        letter_ids.append(ids[-1])
    device = next(model.parameters()).device
    items = []
    for start in tqdm(range(0, len(qs), cfg.batch_size), desc="general mmlu", unit="batch"):
        batch = qs[start : start + cfg.batch_size]
        enc = [tokenizer(q["question"], add_special_tokens=False)["input_ids"] for q in batch]
        width = max(len(e) for e in enc)
        ids = torch.full((len(enc), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, e in enumerate(enc):  # left padding: the last position is the next-token position for every row
            ids[r, width - len(e):] = torch.tensor(e)
            mask[r, width - len(e):] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[:, -1].float()
        logp = torch.log_softmax(logits, dim=-1)[:, letter_ids]  # (B, 4)
        for q, row in zip(batch, logp):
            pred = LETTERS[int(row.argmax())]
            items.append({"source": q["source"], "answer": q["answer"], "pred": pred, "correct": pred == q["answer"],
                          "logprobs": [round(float(x), 4) for x in row]})
    acc = sum(i["correct"] for i in items) / len(items)
    return GeneralTaskResult("mmlu", "accuracy", acc, len(items), True, items)


GENERAL_TASKS: dict[str, Callable] = {"general_perplexity": perplexity_task, "mmlu": mmlu_task}

# How each task's saved items turn into sufficient statistics for the bootstrap (tunewright.evaluation.stats):
# name -> (statistic, item row -> vector)
ITEM_STATISTICS: dict[str, tuple[str, Callable[[dict], list[float]]]] = {
    "general_perplexity": ("perplexity", lambda r: [r["mean_nll"] * r["tokens"], r["tokens"]]),
    "mmlu": ("mean", lambda r: [float(r["correct"])]),
}


def load_user_task(spec: GeneralTaskSpec, resolve) -> list[dict]:
    """Rows of a user's general task, validated with file:line in every error."""
    out = []
    for n, rec in islice(iter_jsonl(resolve(spec.file), display=spec.file), spec.max_items):  # every item is kept
        where = f"{spec.file}:{n}"
        if not isinstance(rec, dict):
            raise InputError(f"{where}: must be a JSON object, got {type(rec).__name__}")
        if spec.type == "multiple_choice":
            q, ch, a = rec.get("question"), rec.get("choices"), rec.get("answer")
            if not isinstance(q, str) or not isinstance(ch, list) or len(ch) < 2:
                raise InputError(f"{where}: needs 'question' (string) and 'choices' (list of 2+ strings)")
            idx = a if isinstance(a, int) else (ch.index(a) if a in ch else None)
            if idx is None or not 0 <= idx < len(ch):
                raise InputError(f"{where}: field 'answer' must be a choice or its index, got {a!r}")
            out.append({"source": where, "question": q, "choices": ch, "answer": idx})
        else:
            p, a = rec.get("prompt"), rec.get("answer")
            if not isinstance(p, str) or not isinstance(a, str):
                raise InputError(f"{where}: needs 'prompt' and 'answer' strings")
            out.append({"source": where, "prompt": p, "answer": a})
    if not out:
        raise InputError(f"{spec.file}: general task '{spec.name}' has no items")
    return out


def user_task(model, tokenizer, cfg: GeneralSection, spec: GeneralTaskSpec, resolve) -> GeneralTaskResult:
    from tunewright.evaluation.choices import choice_logprobs, pick
    from tunewright.evaluation.generate import generate
    from tunewright.evaluation.metrics import METRICS

    rows = load_user_task(spec, resolve)
    items = []
    if spec.type == "multiple_choice":
        contexts = [tokenizer(r["question"], add_special_tokens=False)["input_ids"] for r in rows]
        choices = [[" " + c for c in r["choices"]] for r in rows]
        scored = choice_logprobs(model, tokenizer, contexts, choices, cfg.batch_size, desc=f"general {spec.name}")
        for r, sc, ch in zip(rows, scored, choices):
            plain, _ = pick(sc, ch)
            items.append({"source": r["source"], "answer": r["answer"], "pred": plain, "correct": plain == r["answer"]})
        value = sum(i["correct"] for i in items) / len(items)
        return GeneralTaskResult(spec.name, "accuracy", value, len(items), True, items)
    prompts = [tokenizer(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows]
    outs = generate(model, tokenizer, prompts, spec.max_new_tokens, cfg.batch_size, desc=f"general {spec.name}")
    fn = METRICS.lookup(spec.metric)
    for r, o in zip(rows, outs):
        items.append({"source": r["source"], "answer": r["answer"], "output": o, "score": fn(o, r["answer"])})
    value = sum(i["score"] for i in items) / len(items)
    return GeneralTaskResult(spec.name, spec.metric, value, len(items), True, items)


def item_statistic(name: str, cfg: GeneralSection) -> tuple[str, Callable[[dict], list[float]]]:
    """How a general task's saved items become bootstrap statistics (built-in or user task)."""
    if name in ITEM_STATISTICS:
        return ITEM_STATISTICS[name]
    spec = next(t for t in cfg.tasks if t.name == name)
    if spec.type == "multiple_choice":
        return "mean", lambda r: [float(r["correct"])]
    return "mean", lambda r: [r["score"]]


def run_general_suite(model, tokenizer, cfg: GeneralSection, resolve=resolve_path) -> list[GeneralTaskResult]:
    names = ["general_perplexity"] + (["mmlu"] if cfg.mmlu_file else [])
    results = [GENERAL_TASKS[n](model, tokenizer, cfg) for n in names]
    return results + [user_task(model, tokenizer, cfg, spec, resolve) for spec in cfg.tasks]
