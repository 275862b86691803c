"""Multiple choice by log-likelihood: the score of a choice is log P(choice tokens | context)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

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


def _cache_kwarg(model, cache) -> dict:
    """transformers >= 5.24 names the forward's KV cache argument ``cache``; earlier ones ``past_key_values``."""
    import inspect

    return {"cache": cache} if "cache" in inspect.signature(model.forward).parameters else {"past_key_values": cache}


@torch.no_grad()
def label_logprobs(model, tokenizer, prompts: list[list[int]], labels: list[str], batch_size: int,
                   desc: str = "labels") -> list[list[float]]:
    """log P(label + end of answer | prompt) of every label for every prompt, sharing each prompt's forward pass.

    A batch of prompts runs once (left padded) with the KV cache on; the cache is then repeated once per label
    and ONE forward pass over the label tokens (right padded) scores the whole label set. Each label ends with
    EOS, so a label that is the beginning of another ("pos", "positive") is scored as a whole answer.
    """
    device = next(model.parameters()).device
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    conts = [tokenizer(lab, add_special_tokens=False)["input_ids"] + [eos] for lab in labels]
    n_labels, width = len(conts), max(len(c) for c in conts)
    cont_ids = torch.full((n_labels, width), pad, dtype=torch.long)
    cont_mask = torch.zeros((n_labels, width), dtype=torch.long)
    for j, c in enumerate(conts):
        cont_ids[j, : len(c)] = torch.tensor(c)
        cont_mask[j, : len(c)] = 1
    cont_ids, cont_mask = cont_ids.to(device), cont_mask.to(device)
    out: list[list[float]] = [[] for _ in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
        idx = order[start : start + batch_size]
        b, plen = len(idx), max(len(prompts[i]) for i in idx)
        ids = torch.full((b, plen), pad, dtype=torch.long)
        mask = torch.zeros((b, plen), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, plen - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, plen - len(prompts[i]):] = 1
        ids, mask = ids.to(device), mask.to(device)
        pos = (mask.cumsum(-1) - 1).clamp_min(0)
        first = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        first_lp = torch.log_softmax(first.logits[:, -1].float(), -1)  # (b, V): the label's first token
        cache = getattr(first, "past_key_values", None) or first.cache
        cache.batch_repeat_interleave(n_labels)  # row r * n_labels + j: prompt r, label j
        lens = mask.sum(-1).repeat_interleave(n_labels)
        rest = model(input_ids=cont_ids.repeat(b, 1),
                     attention_mask=torch.cat([mask.repeat_interleave(n_labels, 0), cont_mask.repeat(b, 1)], 1),
                     position_ids=lens[:, None] + torch.arange(width, device=device), use_cache=True,
                     **_cache_kwarg(model, cache))
        rest_lp = torch.log_softmax(rest.logits[:, :-1].float(), -1)  # (b * n_labels, width - 1, V)
        nxt = cont_ids[:, 1:].repeat(b, 1)
        tok_lp = rest_lp.gather(-1, nxt[..., None])[..., 0] * cont_mask[:, 1:].repeat(b, 1)
        total = tok_lp.sum(-1).view(b, n_labels) + first_lp[:, cont_ids[:, 0]]
        for row, i in enumerate(idx):
            out[i] = total[row].tolist()
    return out
