"""The ``selection`` section of tunewright.yaml (``tunewright select``): candidate base models, the budget each
gets, how serving is measured here and estimated on GPUs, and optional screening.

Kept beside the study (as cost/settings.py is beside the cost stage); config.py only adds the field.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from tunewright.section import Section, registry_of

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a candidate's name is a folder name
SHA256 = re.compile(r"^[0-9a-f]{64}$")

# Unmerged LoRA serving costs 25-40% of decode throughput in vLLM (vllm#2829, vllm#10062): 0.7 is the middle.
UNMERGED_THROUGHPUT = 0.7


class Candidate(Section):
    """One base model to fine-tune and compare; every candidate gets the parent run's audited data and split."""

    name: str = Field(description="Short name: the sub-run folder (RUN/select/<name>) and the label in the report.")
    model: str = Field(description="Hugging Face model id, local folder, or 'pkg:<package>[/<path>]' (offline "
                       "assets); becomes model.name_or_path of the candidate's sub-run.")
    gguf_file: str | None = Field(None, description="GGUF file inside 'model' (converted once to safetensors and "
                                  "cached, as model.gguf_file); null for safetensors checkpoints.")
    sha256: str | None = Field(None, description="Pin the GGUF file: any other content is refused before it is "
                               "loaded (use it for third-party repacks).")
    parts: list[str] = Field(default_factory=list, description="A GGUF split across packages: 'pkg:' paths (or "
                             "files) joined in this order into gguf_file in the model cache, once; needs sha256. "
                             "'model' is then only the candidate's label.")
    chat_template: str | None = Field(None, description="Chat template for a base model that has none: a "
                                      "built-in name ('chatml', 'gemma') or a Jinja template; null keeps the "
                                      "tokenizer's own.")
    method: str | None = Field(None, description="training.method for this candidate (lora, dora, qlora, full); "
                               "null keeps the run's.")
    lora_r: int | None = Field(None, ge=1, description="training.lora_r for this candidate; null keeps the run's.")
    learning_rate: float | None = Field(None, gt=0, description="Pin training.learning_rate for this candidate "
                                        "and skip its search (selection.budget); null searches.")
    overrides: list[str] = Field(default_factory=list, description="Any other KEY=VALUE config overrides for "
                                 "this candidate's sub-runs (e.g. training.batch_size=4).")
    note: str | None = Field(None, description="Shown beside the name in the report (e.g. 'unverified "
                             "third-party repack').")

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not NAME.match(v):
            raise ValueError(f"{v!r}: use letters, digits, '.', '_' and '-' (at most 64), starting with a letter "
                             "or digit; it names a folder")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v):
        if v is not None and not SHA256.match(v.lower()):
            raise ValueError(f"{v!r}: expected 64 hex digits")
        return None if v is None else v.lower()

    @field_validator("method")
    @classmethod
    def _method(cls, v):
        return v if v is None else registry_of("methods").validate(v)

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, v):
        for o in v:
            if "=" not in o:
                raise ValueError(f"override {o!r}: expected KEY=VALUE")
            if o.split("=", 1)[0].strip().startswith("model."):
                raise ValueError(f"override {o!r}: set the model with the candidate's model/gguf_file fields")
        return v

    @model_validator(mode="after")
    def _parts(self):
        if self.parts and not (self.sha256 and self.gguf_file):
            raise ValueError(f"candidate {self.name}: parts are joined into gguf_file and trusted by sha256 only; "
                             "set both")
        return self

    def config_overrides(self, cache_dir: str = "~/.cache/tunewright/models") -> list[str]:
        """The candidate as sub-run overrides (KEY=VALUE; values are read as YAML, hence the quoting). A
        multi-part GGUF's folder is where assets.join_parts puts it under ``cache_dir`` (model.cache_dir)."""
        import json

        from tunewright.assets import parts_folder

        folder = str(parts_folder(self.sha256, cache_dir)) if self.parts else self.model
        o = [f"model.name_or_path={json.dumps(folder)}",
             f"model.gguf_file={json.dumps(self.gguf_file) if self.gguf_file else 'null'}"]
        if self.method:
            o.append(f"training.method={self.method}")
        if self.lora_r:
            o.append(f"training.lora_r={self.lora_r}")
        if self.learning_rate:
            o.append(f"training.learning_rate={self.learning_rate}")
        return o + list(self.overrides)


def _default_budget_space() -> dict[str, Any]:
    return {"training.learning_rate": {"choices": [3e-4, 1e-3, 3e-3]}}


class BudgetSection(Section):
    search: bool = Field(True, description="Give each candidate its own small search (below) on the validation "
                         "split, then train the best setting; false trains every candidate with the run's settings "
                         "(one learning rate for all sizes favours one of them).")
    space: dict[str, Any] = Field(
        default_factory=_default_budget_space, validate_default=True, description="Dotted keys and ranges searched per candidate, as "
        "tuning.space ({choices: [...]} or {low, high, log}). Default: learning rate 3e-4, 1e-3, 3e-3 (a log grid "
        "over the range where LoRA optima of 100M-2B models lie). Add training.max_steps to search steps too. "
        "Every candidate gets the same trials.")
    trials: int | None = Field(None, ge=1, description="Trials per candidate; null: the whole grid when every "
                               "dimension is a list of choices, else 4 (TPE).")
    max_validation_examples: int | None = Field(None, ge=1, description="Score trials on at most this many "
                                                "validation examples.")
    seed: int = Field(0, description="Seed of the per-candidate sampler.")

    @field_validator("space")
    @classmethod
    def _space(cls, v):
        from tunewright.studies.settings import SearchDim

        return {k: SearchDim.model_validate(d) for k, d in v.items()}


class ServingMeasure(Section):
    prompts: int = Field(4, ge=1, description="Test prompts generated from when measuring serving on this machine.")
    new_tokens: int = Field(16, ge=2, description="Tokens generated per prompt (exactly: EOS is suppressed).")
    batch: int | None = Field(None, ge=1, description="The batched measurement's batch; null: one sequence per "
                              "CPU core this process may use (a batch that fills the cores).")
    rounds: int = Field(2, ge=1, description="Batched generations timed (latency p50/p95 over them).")


class SelectionServing(Section):
    gpus: list[str] = Field(default_factory=lambda: ["L4", "A10G", "A100-80GB", "H100"],
                            description="GPUs of the hardware table to estimate serving on (names or aliases).")
    train_gpu: str | None = Field(None, description="GPU for the training-cost estimate; null: cost.gpu.")
    requests_per_month: int | None = Field(None, ge=1, description="Traffic; null: cost.serving.requests_per_month "
                                           "(and 1,000,000 when that is 0).")
    prompt_tokens: int | None = Field(None, ge=0, description="Prompt tokens per request; null: cost.serving's.")
    answer_tokens: int | None = Field(None, ge=1, description="Generated tokens per request; null: cost.serving's.")
    concurrent_sequences: int | None = Field(None, ge=1, description="Sequences decoded together on a GPU "
                                             "(continuous batching); null: cost.serving's.")
    always_on: bool | None = Field(None, description="Keep the GPUs holding the model running all month (a floor "
                                   "of 730 GPU-hours each); null: cost.serving's.")
    weight_bytes_per_param: float = Field(2.0, gt=0, description="Bytes per weight as served on the GPU (2: bf16; "
                                          "~0.56 for 4-bit).")
    kv_bytes_per_value: float = Field(2.0, gt=0, description="Bytes per KV-cache element on the GPU (2: bf16).")
    bandwidth_utilization: float | None = Field(
        None, gt=0, le=1, description="Share of the GPU's memory bandwidth a decode step achieves. Null: calibrated "
        "from this run's measurement (measured batch-1 decode tokens/s x bytes read per token / this machine's "
        "measured memory bandwidth, median over candidates). Set it from a measurement on your serving stack.")
    unmerged_throughput: float = Field(UNMERGED_THROUGHPUT, gt=0, le=1, description="Decode throughput of an "
                                       "unmerged LoRA adapter relative to merged weights (vLLM: 0.6-0.75, "
                                       "vllm#2829, vllm#10062).")
    measure: ServingMeasure = Field(default_factory=ServingMeasure, description="The measurement on this machine.")


class ScreeningSection(Section):
    enabled: bool = Field(False, description="Before the full fine-tunes, train each candidate on nested subsets "
                          "of the training split, fit a rectified scaling law to its validation error and drop "
                          "candidates whose predicted full-data metric is clearly dominated.")
    fractions: list[float] = Field(default_factory=lambda: [0.125, 0.25, 0.5], description="Nested shares of the "
                                   "training split (steps scale with the share); at least 3.")
    margin: float = Field(0.0, ge=0, description="A candidate is dropped when another one at no higher serving cost "
                          "has a predicted interval whose low end exceeds its high end by more than this.")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v):
        if len(v) < 3 or any(not 0 < f < 1 for f in v) or sorted(set(v)) != list(v):
            raise ValueError(f"expected at least 3 increasing shares strictly between 0 and 1, got {v}")
        return v


class SelectionSection(Section):
    candidates: list[Candidate] = Field(default_factory=list, description="Base models to compare (at least two).")
    budget: BudgetSection = Field(default_factory=BudgetSection, description="The per-candidate budget.")
    serving: SelectionServing = Field(default_factory=SelectionServing, description="Serving: measured here, "
                                      "estimated on GPUs.")
    screening: ScreeningSection = Field(default_factory=ScreeningSection, description="Cheap screening by "
                                        "learning curves (off by default).")

    @model_validator(mode="after")
    def _unique(self):
        names = [c.name for c in self.candidates]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"candidate names must be unique; repeated: {dup}")
        return self
