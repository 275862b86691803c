"""Batched greedy generation with left padding and a KV cache, stopping at EOS, at a finished answer, under a cap.

Prompts are batched by length (longest first), so a batch pads little. A row stops at EOS, at a stop
string, when the task says its answer is done (a complete label, a closed entity list; see
``Task.answer_done``), or at the token cap; a batch ends when all its rows have stopped. The cap is
``task.max_new_tokens``, by default derived from the training answers (:func:`auto_max_new_tokens`).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm.auto import tqdm

# task.max_new_tokens=auto: the 99th percentile of the training answers' token lengths x AUTO_FACTOR +
# AUTO_MARGIN, capped. Not the longest: on ner_finance one answer in 869 is 162 tokens against a p99 of 76, and a
# base model that rambles runs every row of its batch to the cap, so the longest answer set the cost of the
# whole evaluation (211 tokens: base evaluation of the quick demo 165 s, 2026-12-02). With fewer than 100
# answers the 99th percentile is the longest.
AUTO_QUANTILE = 0.99
AUTO_FACTOR = 1.25
AUTO_MARGIN = 8
FALLBACK_MAX_NEW_TOKENS = 96  # with no answers to measure (the cap before auto existed)


def cut_at_stop(text: str, stop_strings: list[str]) -> str:
    """The text up to the first stop string (the stop string itself is not part of the answer)."""
    cut = min((i for s in stop_strings if (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


def auto_max_new_tokens(tokenizer, answers: list[str], cap: int) -> tuple[int, str]:
    """(token cap, how it was derived): the 99th percentile (nearest rank) of the answers' token lengths x 1.25
    + 8, at most ``cap``; the note says how many answers are longer than the cap."""
    if not answers:
        n = min(cap, FALLBACK_MAX_NEW_TOKENS)
        return n, f"auto: no answers to measure, {n}"
    lengths = sorted(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
    p = lengths[max(0, math.ceil(AUTO_QUANTILE * len(lengths)) - 1)]
    raw = math.ceil(p * AUTO_FACTOR) + AUTO_MARGIN
    n = min(cap, raw)
    over = sum(x > n for x in lengths)
    return n, (f"auto: p99 of {len(answers)} training answers is {p} tokens (longest {lengths[-1]}); "
               f"x{AUTO_FACTOR} + {AUTO_MARGIN} = {raw}" + (f", capped at {cap}" if n == cap else "")
               + (f"; {over} answer(s) longer than {n}" if over else ""))


def _answer_done_criterion(tokenizer, width: int, done: Callable[[str], bool]):
    from transformers import StoppingCriteria

    class AnswerDone(StoppingCriteria):
        """Per row: True once the text generated so far is a finished answer (or can no longer become one)."""

        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, width:], skip_special_tokens=True)
            return torch.tensor([done(t) for t in texts], dtype=torch.bool, device=input_ids.device)

    return AnswerDone()


@torch.no_grad()
def generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int,
             desc: str = "generate", stop_strings: list[str] | None = None,
             done: Callable[[str], bool] | None = None) -> list[str]:
    """Decode the answer to each tokenized prompt; order of the output matches ``prompts``.

    Generation stops at EOS, at any of ``stop_strings`` (transformers' stop-string criterion), where
    ``done(text so far)`` is True, or at the cap.
    """
    from transformers import StoppingCriteriaList

    stop_strings = list(stop_strings or [])
    extra = {"stop_strings": stop_strings, "tokenizer": tokenizer} if stop_strings else {}
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))  # similar lengths share a batch
    out: list[str] = [""] * len(prompts)
    pad = tokenizer.pad_token_id
    eos = tokenizer.eos_token_id
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
        idx = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            p = prompts[i]
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
        criteria = StoppingCriteriaList([_answer_done_criterion(tokenizer, width, done)] if done else [])
        gen = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
            do_sample=False, pad_token_id=pad, eos_token_id=eos, use_cache=True, stopping_criteria=criteria, **extra,
        )
        for row, i in enumerate(idx):
            out[i] = cut_at_stop(tokenizer.decode(gen[row, width:], skip_special_tokens=True), stop_strings).strip()
    return out
