"""Forgetting mitigation. Replay: mix general text into the training set so the model keeps practising it.

Replay text comes from the general text files *after* the lines reserved for evaluation
(``general.reserved_eval_lines``), so the forgetting score is never measured on text that was trained on.
A replay row trains every token (plain language modelling); domain rows train only the answer.
"""

from __future__ import annotations

import json
import random

from tunewright.assets import resolve_path
from tunewright.config import Config


def load_replay_texts(cfg: Config, n: int) -> list[str]:
    """n paragraphs, round-robin over the general text files, in a seeded order, past the eval reserve."""
    g = cfg.general
    pools: list[list[str]] = []
    for f in g.text_files:
        pool = []
        with open(resolve_path(f), encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if line_no <= g.reserved_eval_lines or not line.strip():
                    continue
                text = json.loads(line).get(g.text_field)
                if isinstance(text, str) and text.strip():
                    pool.append(text.strip())
        random.Random(cfg.training.seed).shuffle(pool)
        pools.append(pool)
    out: list[str] = []
    while len(out) < n and any(pools):
        for pool in pools:
            if pool and len(out) < n:
                out.append(pool.pop())
    return out


def replay_rows(cfg: Config, tokenizer, n_domain: int) -> list[dict[str, list[int]]]:
    """Token rows for replay so that replay makes up ``replay_fraction`` of all training rows."""
    frac = cfg.training.replay_fraction
    if frac <= 0 or n_domain == 0:
        return []
    n = round(n_domain * frac / (1 - frac))
    rows = []
    for text in load_replay_texts(cfg, n):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][: cfg.training.replay_max_tokens]
        rows.append({"input_ids": ids, "labels": list(ids)})
    return rows
