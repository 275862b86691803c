"""Fine-tuning methods by name (STYLE.md #7): LoRA, DoRA and QLoRA through peft, and full fine-tuning.

A method takes the loaded model and returns the model to train (a peft model for the adapter methods, the
model itself with every weight trainable for 'full'). QLoRA's 4-bit base is made at load time
(:func:`quantization_config`); it needs bitsandbytes on a CUDA GPU and says so plainly anywhere else.
"""

from __future__ import annotations

import torch

from tunewright.config import TrainingSection
from tunewright.errors import TunewrightError
from tunewright.registry import Registry

METHODS = Registry("training method", "training.method")


class MethodUnavailable(TunewrightError, RuntimeError):
    """The configured method cannot run on this machine (the message says why and what to do)."""


def lora_alpha(cfg: TrainingSection) -> int:
    return cfg.lora_alpha if cfg.lora_alpha is not None else 2 * cfg.lora_r


def _lora_config(cfg: TrainingSection, use_dora: bool):
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=cfg.lora_r,
        lora_alpha=lora_alpha(cfg),
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
        use_dora=use_dora,
    )


@METHODS.register("lora")
def apply_lora(model, cfg: TrainingSection):
    from peft import get_peft_model

    return get_peft_model(model, _lora_config(cfg, use_dora=False))


@METHODS.register("dora")
def apply_dora(model, cfg: TrainingSection):
    """DoRA: LoRA on the direction of each weight plus a trained magnitude vector (peft ``use_dora``)."""
    from peft import get_peft_model

    return get_peft_model(model, _lora_config(cfg, use_dora=True))


@METHODS.register("qlora")
def apply_qlora(model, cfg: TrainingSection):
    """LoRA on a base loaded in 4-bit NF4 (see quantization_config); peft prepares the k-bit model first."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    if not getattr(model, "is_loaded_in_4bit", False):
        raise MethodUnavailable("qlora needs the base model loaded in 4-bit; load it with quantization_config()")
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, _lora_config(cfg, use_dora=False))


@METHODS.register("full")
def apply_full(model, cfg: TrainingSection):
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def apply_method(model, cfg: TrainingSection):
    return METHODS.lookup(cfg.method)(model, cfg)


def check_method_available(method: str) -> None:
    """Fail early, before minutes of model loading, when a method cannot run here."""
    if method != "qlora":
        return
    if not torch.cuda.is_available():
        raise MethodUnavailable(
            "training.method=qlora needs a CUDA GPU: bitsandbytes' 4-bit NF4 kernels do not run on this machine's "
            "CPU. Use method 'lora' (same adapters on an fp32 base) here, or run on a GPU machine."
        )
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise MethodUnavailable("training.method=qlora needs bitsandbytes: pip install bitsandbytes")


def quantization_config(method: str):
    """The BitsAndBytesConfig to load the base with, or None for methods that train a full-precision base."""
    if method != "qlora":
        return None
    check_method_available(method)
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


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
