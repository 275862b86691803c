"""Token-level negative log-likelihood over labeled positions: held-out loss and perplexity share it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from tunewright.training.formats import IGNORE_INDEX, PadCollator


@torch.no_grad()
def sum_nll(model, rows: list[dict[str, list[int]]], pad_token_id: int, batch_size: int,
            desc: str = "loss") -> tuple[float, int, list[float]]:
    """Return (total NLL, labeled token count, mean NLL per row) over rows of input_ids/labels.

    Label at position t is predicted from logits at t-1 (the usual causal shift).
    """
    device = next(model.parameters()).device
    collate = PadCollator(pad_token_id)
    total, count = 0.0, 0
    per_row: list[float] = [0.0] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
        idx = order[start : start + batch_size]
        b = collate([rows[i] for i in idx])
        logits = model(input_ids=b["input_ids"].to(device), attention_mask=b["attention_mask"].to(device)).logits
        logits = logits[:, :-1].float()  # (B, T-1, V)
        labels = b["labels"][:, 1:].to(device)  # (B, T-1)
        nll = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none")  # (B, T-1)
        valid = labels != IGNORE_INDEX
        for r, i in enumerate(idx):
            n = int(valid[r].sum())
            s = float(nll[r][valid[r]].sum())
            per_row[i] = s / n if n else 0.0
            total += s
            count += n
    return total, count, per_row
