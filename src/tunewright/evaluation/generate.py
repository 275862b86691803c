"""Batched greedy generation with left padding, stopping at EOS, under a token cap."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


@torch.no_grad()
def cut_at_stop(text: str, stop_strings: list[str]) -> str:
    """The text up to the first stop string (the stop string itself is not part of the answer)."""
    cut = min((i for s in stop_strings if (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


def generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int,
             desc: str = "generate", stop_strings: list[str] | None = None) -> list[str]:
    """Decode the answer to each tokenized prompt; order of the output matches ``prompts``.

    Generation stops at EOS, at any of ``stop_strings`` (transformers' stop-string criterion) or at the cap.
    """
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
        gen = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
            do_sample=False, pad_token_id=pad, eos_token_id=eos, **extra,
        )
        for row, i in enumerate(idx):
            out[i] = cut_at_stop(tokenizer.decode(gen[row, width:], skip_special_tokens=True), stop_strings).strip()
    return out
