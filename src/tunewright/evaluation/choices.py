"""Multiple choice by log-likelihood: the score of a choice is log P(choice tokens | context)."""

from __future__ import annotations

from tunewright.evaluation.loss import sum_nll
from tunewright.training.formats import IGNORE_INDEX


def choice_logprobs(model, tokenizer, contexts: list[list[int]], choices: list[list[str]], batch_size: int,
                    desc: str = "choices") -> list[list[tuple[float, int]]]:
    """For each context, (sum log-prob, token count) of each of its choices."""
    rows, owner = [], []
    for i, (ctx, opts) in enumerate(zip(contexts, choices, strict=True)):
        for j, text in enumerate(opts):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
            rows.append({"input_ids": ctx + ids, "labels": [IGNORE_INDEX] * len(ctx) + ids})
            owner.append((i, j, len(ids)))
    _, _, mean_nll = sum_nll(model, rows, tokenizer.pad_token_id, batch_size, desc=desc)
    out: list[list[tuple[float, int]]] = [[(0.0, 0)] * len(opts) for opts in choices]
    for (i, j, n), nll in zip(owner, mean_nll):
        out[i][j] = (-nll * n, n)
    return out


def pick(scored: list[tuple[float, int]], texts: list[str]) -> tuple[int, int]:
    """(argmax log-prob, argmax log-prob per character): the plain and the length-normalized choice."""
    plain = max(range(len(scored)), key=lambda j: scored[j][0])
    norm = max(range(len(scored)), key=lambda j: scored[j][0] / max(len(texts[j]), 1))
    return plain, norm
