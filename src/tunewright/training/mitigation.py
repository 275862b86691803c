"""Forgetting mitigation. Replay: mix general text into the training set so the model keeps practising it.
EWC and L2-SP: a penalty that pulls the trainable weights back toward where they started.

Replay text comes from the general text files *after* the lines reserved for evaluation
(``general.reserved_eval_lines``), so the forgetting score is never measured on text that was trained on.
A replay row trains every token (plain language modelling); domain rows train only the answer.
"""

from __future__ import annotations

import random

import torch

from tunewright.assets import resolve_path
from tunewright.config import Config
from tunewright.errors import InputError
from tunewright.jsonl import iter_jsonl


def load_replay_texts(cfg: Config, n: int) -> list[str]:
    """n paragraphs, round-robin over the general text files, in a seeded order, past the eval reserve."""
    g = cfg.general
    pools: list[list[str]] = []
    for f in g.text_files:
        pool = []
        for line_no, rec in iter_jsonl(resolve_path(f), display=f):
            if line_no <= g.reserved_eval_lines:
                continue
            text = rec.get(g.text_field) if isinstance(rec, dict) else None
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


class AnchorPenalty:
    """lambda * sum_i w_i (theta_i - anchor_i)^2 over the trainable parameters.

    L2-SP: anchor = starting weights, w = 1. EWC: anchor = theta* (the weights before domain training),
    w = diagonal Fisher information on general text. The Fisher is rescaled to mean 1 over all entries, so
    lambda has the same scale for EWC as for L2-SP (raw squared gradients are ~1e-8 and would need a lambda
    that depends on the model); the relative weighting between parameters, which is what EWC is for, is kept.
    """

    def __init__(self, name: str, lam: float, params: dict[str, torch.nn.Parameter],
                 weights: dict[str, torch.Tensor] | None = None):
        self.name = name
        self.lam = lam
        self.params = params
        self.anchors = {n: p.detach().clone() for n, p in params.items()}
        self.weights = weights
        self.last = 0.0  # the value at the latest step, for the loss log

    def __call__(self) -> torch.Tensor:
        total = None
        for n, p in self.params.items():
            d = (p - self.anchors[n]).pow(2)
            if self.weights is not None:
                d = d * self.weights[n]
            s = d.sum()
            total = s if total is None else total + s
        value = self.lam * total
        self.last = float(value.detach())
        return value


def trainable_named(model) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def l2sp_penalty(model, lam: float) -> AnchorPenalty:
    return AnchorPenalty("l2sp", lam, trainable_named(model))


def estimate_fisher(model, rows: list[list[int]]) -> dict[str, torch.Tensor]:
    """Empirical diagonal Fisher: mean over paragraphs of the squared gradient of their mean token loss.

    One paragraph per backward pass (per-example gradients; a batch gradient squared would underestimate F).
    Dropout is off (eval mode) so F describes the model itself.
    """
    from tqdm.auto import tqdm

    params = trainable_named(model)
    fisher = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for ids in tqdm(rows, desc="EWC Fisher", unit="paragraph", leave=False):
            model.zero_grad(set_to_none=True)
            t = torch.tensor([ids], device=device)
            model(input_ids=t, labels=t).loss.backward()
            for n, p in params.items():
                if p.grad is not None:
                    fisher[n] += p.grad.detach().float().pow(2) / len(rows)
        model.zero_grad(set_to_none=True)
    finally:
        model.train(was_training)
    mean = torch.stack([f.sum() for f in fisher.values()]).sum() / sum(f.numel() for f in fisher.values())
    if mean > 0:
        fisher = {n: f / mean for n, f in fisher.items()}
    return fisher


def ewc_penalty(model, cfg: Config, tokenizer) -> AnchorPenalty:
    tc = cfg.training
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"][: tc.replay_max_tokens]
            for t in load_replay_texts(cfg, tc.ewc_samples)]
    rows = [r for r in rows if len(r) >= 2]
    if not rows:
        raise InputError("EWC needs general text past general.reserved_eval_lines; none was found")
    return AnchorPenalty("ewc", tc.ewc_lambda, trainable_named(model), estimate_fisher(model, rows))


def penalties(model, cfg: Config, tokenizer) -> list[AnchorPenalty]:
    out = []
    if cfg.training.ewc_lambda > 0:
        out.append(ewc_penalty(model, cfg, tokenizer))
    if cfg.training.l2sp_lambda > 0:
        out.append(l2sp_penalty(model, cfg.training.l2sp_lambda))
    return out
