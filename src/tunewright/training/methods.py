"""Fine-tuning methods by name (STYLE.md #7). LoRA through peft for now; DoRA/QLoRA/full register here later."""

from __future__ import annotations

from tunewright.config import TrainingSection
from tunewright.registry import Registry

METHODS = Registry("training method", "training.method")


@METHODS.register("lora")
def apply_lora(model, cfg: TrainingSection):
    from peft import LoraConfig, TaskType, get_peft_model

    lcfg = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
    )
    return get_peft_model(model, lcfg)


def apply_method(model, cfg: TrainingSection):
    return METHODS.lookup(cfg.method)(model, cfg)


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; a tied embedding is counted once."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total
