"""Fine-tuning methods by name (STYLE.md #7): LoRA, DoRA and QLoRA through peft, and full fine-tuning.

A method is one registered :class:`Method`: how it turns the loaded model into the model to train (a peft
model for the adapter methods, the model itself with every weight trainable for 'full'), what its base is
loaded as (QLoRA's 4-bit NF4 base, made at load time by :func:`quantization_config`; it needs bitsandbytes
on a CUDA GPU and says so plainly anywhere else), and the factors the cost estimate needs (adapter or full,
extra activations, the prior of its measured GPU utilisation). Adding a method is one ``@register_method``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tunewright.config import TrainingSection
from tunewright.errors import TunewrightError
from tunewright.registry import Registry

METHODS = Registry("training method", "training.method")


class MethodUnavailable(TunewrightError, RuntimeError):
    """The configured method cannot run on this machine (the message says why and what to do)."""


@dataclass(frozen=True)
class Method:
    name: str
    apply: Callable  # (model, TrainingSection) -> model to train
    adapter: bool  # trains a low-rank adapter on a frozen base (else every weight)
    base_quantization: str = "none"  # how the frozen base is stored: 'none' or 'nf4' (4-bit)
    keeps_base_output: bool = False  # DoRA: the magnitude rescale keeps each adapted layer's base output
    needs_cuda: bool = False
    mfu_prior: tuple[float, float, float] = (0.2, 0.3, 0.42)  # low, expected, high GPU utilisation (cost)

    def __call__(self, model, cfg: TrainingSection):
        return self.apply(model, cfg)


def register_method(name: str, **factors) -> Callable:
    def deco(fn: Callable) -> Callable:
        METHODS.register(name)(Method(name, fn, **factors))
        return fn

    return deco


def get_method(name: str) -> Method:
    return METHODS.lookup(name)


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


@register_method("lora", adapter=True, mfu_prior=(0.20, 0.30, 0.42))
def apply_lora(model, cfg: TrainingSection):
    from peft import get_peft_model

    return get_peft_model(model, _lora_config(cfg, use_dora=False))


@register_method("dora", adapter=True, keeps_base_output=True, mfu_prior=(0.12, 0.20, 0.30))
def apply_dora(model, cfg: TrainingSection):
    """DoRA: LoRA on the direction of each weight plus a trained magnitude vector (peft ``use_dora``)."""
    from peft import get_peft_model

    return get_peft_model(model, _lora_config(cfg, use_dora=True))


@register_method("qlora", adapter=True, base_quantization="nf4", needs_cuda=True,
                 mfu_prior=(0.10, 0.18, 0.28))
def apply_qlora(model, cfg: TrainingSection):
    """LoRA on a base loaded in 4-bit NF4 (see quantization_config); peft prepares the k-bit model first."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    if not getattr(model, "is_loaded_in_4bit", False):
        raise MethodUnavailable("qlora needs the base model loaded in 4-bit; load it with quantization_config()")
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, _lora_config(cfg, use_dora=False))


@register_method("full", adapter=False, mfu_prior=(0.30, 0.40, 0.50))
def apply_full(model, cfg: TrainingSection):
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def apply_method(model, cfg: TrainingSection):
    return get_method(cfg.method)(model, cfg)


def check_method_available(method: str) -> None:
    """Fail early, before minutes of model loading, when a method cannot run here."""
    import torch

    if not get_method(method).needs_cuda:
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
    import torch

    if get_method(method).base_quantization != "nf4":
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
