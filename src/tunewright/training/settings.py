"""Training settings: method, hyperparameters, packing, mitigation, precision.

Part of ``tunewright.yaml`` (tunewright/config.py assembles the sections); each stage owns its settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tunewright.section import PRECISION_TOLERANCE, Section, registry_of as _registry


class MitigationArm(Section):
    """One step of the ``training.mitigation: auto`` ladder: the mitigation knobs it sets, and a factor on the
    run's learning rate (a smaller step keeps the weights nearer the base)."""

    ewc_lambda: float = Field(0.0, ge=0, description="EWC strength of this arm (training.ewc_lambda).")
    l2sp_lambda: float = Field(0.0, ge=0, description="L2-SP strength of this arm (training.l2sp_lambda).")
    replay_fraction: float = Field(0.0, ge=0, lt=1, description="Replay share of this arm (training.replay_fraction).")
    learning_rate_scale: float = Field(1.0, gt=0, le=1, description="This arm trains at the run's learning rate "
                                       "times this.")

    def overrides(self, training: "TrainingSection") -> list[str]:
        out = [f"training.{k}={getattr(self, k)}" for k in ("ewc_lambda", "l2sp_lambda", "replay_fraction")
               if getattr(self, k) > 0]
        if self.learning_rate_scale != 1.0:
            out.append(f"training.learning_rate={training.learning_rate * self.learning_rate_scale:.3g}")
        return out

    def label(self) -> str:
        parts = [f"{k.split('_')[0]} {getattr(self, k):g}" for k in ("ewc_lambda", "l2sp_lambda", "replay_fraction")
                 if getattr(self, k) > 0]
        if self.learning_rate_scale != 1.0:
            parts.append(f"lr x{self.learning_rate_scale:g}")
        return ", ".join(parts) or "as trained"


def _default_ladder() -> list[MitigationArm]:
    return [MitigationArm(ewc_lambda=0.02), MitigationArm(learning_rate_scale=0.25),
            MitigationArm(ewc_lambda=0.1, learning_rate_scale=0.25)]


class TrainingSection(Section):
    method: str = Field(
        "lora", description="Fine-tuning method: 'lora' and 'dora' (weight-decomposed LoRA) through peft; 'qlora' = LoRA "
        "on a 4-bit NF4 base (bitsandbytes, CUDA GPU only); 'full' trains every weight.",
    )
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int | None = Field(None, ge=1, description="LoRA alpha (scale = alpha / r); default 2 * lora_r.")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: str | list[str] = Field("all-linear", description="Modules that get adapters ('all-linear' or names).")
    learning_rate: float = Field(1e-3, gt=0, description="Peak learning rate (linear decay after warmup).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps spent warming up the learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training split (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Optimizer steps; -1 means derive from epochs.")
    batch_size: int = Field(8, ge=1, description="Examples per device micro-batch.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    max_seq_tokens: int = Field(512, ge=16, description="Longer training examples are handled by overlong (counted).")
    overlong: Literal["truncate", "drop"] = Field(
        "truncate", description="Examples over max_seq_tokens: cut to max_seq_tokens or dropped; both are counted "
        "in the training result and the report.",
    )
    packing: Literal["auto", "on", "off"] = Field(
        "auto", description="Pack each batch's examples into one row without pad (position ids restart per example; "
        "attention never crosses an example). 'auto' packs when a self-check on the model shows packed logits equal "
        "per-example logits, and pads otherwise.",
    )
    max_train_examples: int | None = Field(None, ge=1, description="Train on at most this many examples.")
    replay_fraction: float = Field(
        0.0, ge=0, lt=1, description="Share of training examples that are general text (replay against "
        "forgetting), taken from general.text_files after general.reserved_eval_lines.",
    )
    replay_max_tokens: int = Field(128, ge=8, description="Replay paragraphs are cut to this many tokens.")
    ewc_lambda: float = Field(
        0.0, ge=0, description="EWC strength: adds lambda * sum F (theta - theta*)^2 over trainable parameters, F the "
        "diagonal Fisher information estimated on general text (past general.reserved_eval_lines); 0 disables.",
    )
    ewc_samples: int = Field(32, ge=1, description="General paragraphs used to estimate the EWC Fisher information.")
    l2sp_lambda: float = Field(
        0.0, ge=0, description="L2-SP strength: adds lambda * sum (theta - theta0)^2, a pull toward the starting "
        "weights of the trainable parameters; 0 disables.",
    )
    mitigation: Literal["auto", "off"] = Field(
        "auto", description="'auto': when the trained model fails the forgetting gate, train the arms of "
        "mitigation_arms in order (sub-runs scored on the validation split and a general slice disjoint from the "
        "final one) and hand over the first that passes the gate with no significant task loss against the model "
        "as first trained, after confirming it on test and the final general suite; the first model is kept in "
        "RUN/mitigation_auto/unmitigated. Nothing extra runs when the gate passes. 'off': hand over the model as "
        "trained, whatever the gate says (docs/experiments.md has the three-task measurement).")
    mitigation_arms: list[MitigationArm] = Field(
        default_factory=_default_ladder, description="The auto-mitigation ladder, cheapest and mildest first: "
        "EWC 0.02, then a quarter of the learning rate, then both with EWC 0.1.")
    save_steps: int = Field(50, ge=1, description="Write a resumable checkpoint (weights or adapter, optimizer, "
                            "scheduler, RNG states, data position) every this many optimizer steps.")
    keep_checkpoints: bool = Field(False, description="Keep checkpoints after training finishes (they are always kept "
                                   "when training stops early, so that --resume can continue).")
    sampling: Literal["random", "group_by_length"] = Field(
        "group_by_length",
        description="Batch order. 'group_by_length' pads far less (1.61x effective tokens/s on ner_finance, CPU; "
        "benchmarks/train_sampling) at the price of batches of similar examples; 'random' is the plain shuffled order.",
    )
    logging_steps: int = Field(5, ge=1, description="Log the training loss every this many steps.")
    seed: int = Field(42, description="Seed for model init, data order and dropout.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="'auto': bf16 where the device computes it natively (a CUDA GPU with bf16, a CPU with "
        "amx_bf16 or avx512_bf16), after a self-check on the loaded model (bf16 loss and logits within "
        "precision_tolerance of fp32 on a few training examples), else fp32; the report says which and why. With "
        "LoRA/DoRA the frozen base is stored in bf16, adapters and optimizer state stay fp32. 'fp16': CUDA only."
    )
    precision_tolerance: float = Field(
        PRECISION_TOLERANCE, ge=0, description="bf16 self-check: the largest relative change of the loss, and the "
        "largest relative RMS error of the logits, that bf16 may show against fp32.")

    @field_validator("mitigation", mode="before")
    @classmethod
    def _yaml_off(cls, v):  # YAML reads a bare off as False (and on as True)
        return {False: "off", True: "auto"}.get(v, v) if isinstance(v, bool) else v

    @field_validator("method")
    @classmethod
    def _known_method(cls, v):
        return _registry("methods").validate(v)
