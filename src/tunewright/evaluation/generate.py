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

# task.max_new_tokens=auto: longest training answer (tokens) x AUTO_FACTOR + AUTO_MARGIN, capped
AUTO_FACTOR = 1.25
AUTO_MARGIN = 8
FALLBACK_MAX_NEW_TOKENS = 96  # with no answers to measure (the cap before auto existed)


def cut_at_stop(text: str, stop_strings: list[str]) -> str:
    """The text up to the first stop string (the stop string itself is not part of the answer)."""
    cut = min((i for s in stop_strings if (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


def auto_max_new_tokens(tokenizer, answers: list[str], cap: int) -> tuple[int, str]:
    """(token cap, how it was derived): the longest answer in tokens x 1.25 + 8, at most ``cap``."""
    if not answers:
        n = min(cap, FALLBACK_MAX_NEW_TOKENS)
        return n, f"auto: no answers to measure, {n}"
    longest = max(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
    n = min(cap, math.ceil(longest * AUTO_FACTOR) + AUTO_MARGIN)
    return n, (f"auto: longest of {len(answers)} training answers is {longest} tokens; x{AUTO_FACTOR} + "
               f"{AUTO_MARGIN} = {math.ceil(longest * AUTO_FACTOR) + AUTO_MARGIN}" + (f", capped at {cap}" if n == cap
                                                                                       else ""))


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
