"""The ``cost`` section of tunewright.yaml: the whole project's cost, every uncertain figure a range.

Kept here rather than in config.py so the cost stage owns its settings; config.py only adds the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tunewright.section import Section, registry_of




class Range(Section):
    """A figure we do not know exactly: low <= expected <= high. YAML: [low, expected, high] or one number."""

    low: float = Field(0.0, ge=0, description="Optimistic value.")
    expected: float = Field(0.0, ge=0, description="Most likely value.")
    high: float = Field(0.0, ge=0, description="Pessimistic value.")

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, v: Any):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return {"low": v, "expected": v, "high": v}
        if isinstance(v, (list, tuple)):
            if len(v) != 3:
                raise ValueError(f"a range is [low, expected, high], got {list(v)!r}")
            return dict(zip(("low", "expected", "high"), v))
        return v

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low <= self.expected <= self.high:
            raise ValueError(f"needs low <= expected <= high, got [{self.low}, {self.expected}, {self.high}]")
        return self


def rng(low: float, expected: float, high: float) -> Range:
    return Range(low=low, expected=expected, high=high)


class LabelingCostSection(Section):
    items: int = Field(0, ge=0, description="Examples that need a label (0: the data is already labelled).")
    seconds_per_item: Range = Field(default_factory=lambda: rng(20, 40, 90),
                                    description="Human seconds to label one item.")
    overlap: float = Field(1.0, ge=1, description="Annotators per manually labelled item (2 = double labelling).")
    hourly_rate_usd: Range = Field(default_factory=lambda: rng(20, 35, 60), description="Annotator cost per hour, USD.")
    programmatic_share: float = Field(0.0, ge=0, le=1, description="Share of items labelled by labeling functions "
                                      "(tunewright.labeling); the rest is labelled by hand.")
    review_share: float = Field(0.1, ge=0, le=1, description="Share of programmatically labelled items a human "
                                "reviews once.")


class RoleSpec(Section):
    role: str = Field(description="Who (ML engineer, domain expert, ...).")
    days: Range = Field(description="Working days on this project.")
    day_rate_usd: Range = Field(description="Fully loaded cost per day, USD.")


def _default_people() -> list[RoleSpec]:
    return [RoleSpec(role="ML engineer", days=rng(5, 10, 20), day_rate_usd=rng(600, 900, 1300)),
            RoleSpec(role="domain expert", days=rng(2, 4, 8), day_rate_usd=rng(500, 800, 1200))]


class ServingSection(Section):
    requests_per_month: int = Field(0, ge=0, description="Requests served per month (0: no serving cost).")
    prompt_tokens: int = Field(800, ge=0, description="Prompt tokens per request (prefill: compute-bound).")
    answer_tokens: int = Field(200, ge=0, description="Generated tokens per request (decode: memory-bound).")
    months: int = Field(12, ge=0, description="Months of serving to budget.")
    gpu: str | None = Field(None, description="Serving GPU (default: cost.gpu).")
    concurrent_sequences: int = Field(32, ge=1, description="Sequences decoded together (continuous batching).")
    utilization: Range = Field(default_factory=lambda: rng(0.3, 0.5, 0.8),
                               description="Share of the serving GPUs' throughput real traffic uses (0-1).")
    always_on: bool = Field(True, description="Keep at least the GPUs that hold the model running all month.")


class ScenarioSpec(Section):
    name: str = Field(description="Column name in the scenario table.")
    set: dict[str, Any] = Field(default_factory=dict, description="Cost fields to change, dotted keys, e.g. "
                                "{model: llama-2-70b, labeling.programmatic_share: 0}.")


class CostSection(Section):
    model: str | None = Field(None, description="Model for the estimate: a preset (llama-2-7b, tinyllama-1.1b, "
                              "llama-2-70b, qwen3-8b, ...) or a folder with config.json (Llama, Mistral, Qwen2, "
                              "Qwen3); null uses model.name_or_path.")
    method: str | None = Field(None, description="Fine-tuning method (a registered training method: lora, dora, "
                               "qlora, full); null uses training.method.")

    @field_validator("method")
    @classmethod
    def _known_method(cls, v):
        return v if v is None else registry_of("methods").validate(v)

    gpu: str = Field("H100", description="Training GPU, by name in the hardware table (tunewright cost --gpu list).")
    n_gpus: int = Field(1, ge=1, description="GPUs per training run.")
    strategy: Literal["single", "ddp", "fsdp"] = Field("single", description="Multi-GPU strategy: ddp replicates, "
                                                        "fsdp shards weights, gradients and optimizer states.")
    hardware_file: str | None = Field(None, description="Your GPU table (YAML like tunewright/cost/hardware.yaml); "
                                      "its GPUs replace or extend the shipped ones.")
    precision: Literal["bf16", "fp32"] = Field("bf16", description="Weights and compute dtype on the GPU.")
    autocast: bool = Field(True, description="bf16 training under torch.autocast, as the Trainer's bf16=True runs "
                           "it; false: a plain bf16 model, where peft's fp32 adapters keep fp32 input copies.")
    quantization: Literal["none", "int8", "nf4"] = Field("none", description="Base weights for LoRA/DoRA: 8-bit "
                                                          "(LLM.int8) or 4-bit NF4; qlora is always nf4.")
    optimizer: Literal["adamw", "adamw_8bit"] = Field("adamw", description="Optimizer (states: 2 x dtype or 2 x 1 byte).")
    attn_implementation: Literal["sdpa", "flash_attention_2", "eager"] = Field("sdpa", description="Attention kernel.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward (less memory, 1.33x compute).")
    micro_batch: int | None = Field(None, ge=1, description="Sequences per GPU per step; null uses training.batch_size.")
    seq_tokens: int | None = Field(None, ge=1, description="Tokens per sequence; null uses training.max_seq_tokens.")
    dataset_tokens: int | None = Field(None, ge=1, description="Training tokens per epoch; null estimates them from "
                                       "data.train_files (characters / 4).")
    epochs: float | None = Field(None, gt=0, description="Epochs per training run; null uses training.epochs.")
    hp_trials: int = Field(8, ge=0, description="Hyperparameter trials per iteration, each a full training run.")
    iterations: int = Field(3, ge=1, description="Rounds of data fixes and retraining before release.")
    eval_gpu_hours: Range = Field(default_factory=lambda: rng(0.25, 1, 4),
                                  description="GPU-hours of evaluation per iteration (base, tuned, general suite).")
    retrainings: int = Field(2, ge=0, description="Retrainings (one run plus evaluation) after release, in the "
                             "serving period.")
    calibration_file: str = Field("calibration.json", description="Measured MFU and memory of past runs, relative to "
                                  "project.runs_dir; written by 'tunewright cost calibrate RUN'.")
    data_acquisition_usd: Range = Field(default_factory=lambda: rng(0, 0, 0), description="Buying or collecting data, USD.")
    labeling: LabelingCostSection = Field(default_factory=LabelingCostSection, description="Labeling effort.")
    people: list[RoleSpec] = Field(default_factory=_default_people, description="People on the project.")
    serving: ServingSection = Field(default_factory=ServingSection, description="Serving the tuned model.")
    contingency: Range = Field(default_factory=lambda: rng(0.1, 0.2, 0.3),
                               description="Extra share on top of everything for what goes wrong.")
    scenarios: list[ScenarioSpec] = Field(default_factory=list, description="Alternatives to compare side by side "
                                          "with the configured project (it is the first column).")
