"""Evaluation settings: the task and its metric, intervals, the general suite and its gate.

Part of ``tunewright.yaml`` (tunewright/config.py assembles the sections); each stage owns its settings.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from tunewright.section import PRECISION_TOLERANCE, Section, registry_of as _registry


class StatsSection(Section):
    bootstrap_samples: int = Field(1000, ge=100, description="Bootstrap resamples for every interval.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Confidence level of the intervals.")
    seed: int = Field(0, description="Seed of the bootstrap resampling.")


class TaskSection(Section):
    type: str = Field(
        "generation",
        description="Task type: 'extraction' (entity-level micro P/R/F1 on NAME - TYPE lists), 'classification' "
        "(macro F1 over task.labels), 'generation' (task.metric: rouge_l, token_f1 or exact_match), "
        "'multiple_choice' (accuracy by log-likelihood of each record's 'choices').",
    )
    labels: list[str] = Field(default_factory=list, description="Classification: the label set.")
    metric: str | None = Field(None, description="Generation: the headline metric (default rouge_l), a registered "
                               "metric (tunewright.evaluation.metrics: exact_match, token_f1, rouge_l, ...).")
    judge: str | None = Field(
        None, description="Generation: 'module:function' called as f(prompt, output, reference) -> score in [0, 1] "
        "for each answer (an LLM judge, say); its mean is reported as 'judge'. Off by default.",
    )
    entity_types: list[str] = Field(
        default_factory=list,
        description="Extraction: the entity types the answer may use; other types make an entity unparseable.",
    )
    empty_answer: str = Field("No entities found", description="The answer that means 'no entities'.")
    max_new_tokens: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="Token cap for each generated answer; 'auto': the 99th percentile of the training "
        "answers' token lengths x 1.25 + 8 (the longest with under 100 answers), at most max_new_tokens_cap (the "
        "report shows the value, how it was derived and how many answers are longer).")
    max_new_tokens_cap: int = Field(256, ge=1, description="Upper bound of max_new_tokens=auto.")
    stop_when_done: bool = Field(
        True, description="Classification and extraction: a row stops generating as soon as its answer is done (a "
        "whole label, or no label's beginning; a closed [...] list or the empty answer) instead of running to EOS.")
    decoding: Literal["generate", "choices"] = Field(
        "generate", description="Classification: 'generate' decodes greedily and stops as soon as the answer is a "
        "whole label or can no longer become one; 'choices' scores every label by log-likelihood instead (no "
        "unparseable answers; one forward pass over the label set per batch, sharing the prompt's KV cache).")
    stop_strings: list[str] = Field(
        default_factory=list, description="Generation also stops at any of these strings (cut from the answer)."
    )
    batch_size: int = Field(16, ge=1, description="Examples per generation batch.")
    max_test_examples: int | None = Field(None, ge=1, description="Evaluate at most this many test examples.")

    @field_validator("type")
    @classmethod
    def _known_task(cls, v):
        return _registry("tasks").validate(v)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v):
        return v if v is None else _registry("metrics").validate(v)


class EvaluationSection(Section):
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="Precision of evaluation and generation, chosen like training.precision: 'auto' is bf16 "
        "where the device has fast bf16 and the self-check on validation examples passes, else fp32.")
    precision_tolerance: float = Field(
        PRECISION_TOLERANCE, ge=0, description="bf16 self-check tolerance of evaluation (see training).")


class MitigationStudy(Section):
    replay_fraction: float = Field(0.25, gt=0, lt=1, description="Replay share of the 'replay' arm.")
    ewc_lambda: float = Field(
        0.02, gt=0, description="EWC strength of the 'ewc' arm (Fisher normalised to mean 1; see docs/experiments.md "
        "for how 0.02 was picked).")
    l2sp_lambda: float = Field(0.0, ge=0, description="L2-SP strength of an 'l2sp' arm; 0 leaves the arm out.")


class ForgettingGate(Section):
    warn_mean_drop: float = Field(0.05, ge=0, description="Warn when the suite mean ability drops more than this (relative).")
    fail_mean_drop: float = Field(0.10, ge=0, description="Fail when the suite mean ability drops more than this (relative).")
    fail_task_drop: float = Field(
        0.10, ge=0, description="Fail when any one task drops more than this (relative) with an interval excluding zero."
    )


class GeneralTaskSpec(Section):
    name: str = Field(description="Task name in the report (must not be general_perplexity or mmlu).")
    file: str = Field(description="JSONL: {question, choices, answer (index or text)} for multiple_choice, "
                      "{prompt, answer} for generation. Relative to the config file.")
    type: Literal["multiple_choice", "generation"] = Field("multiple_choice", description="How items are scored.")
    metric: str = Field("exact_match", description="Generation metric: a registered metric (exact_match, token_f1, "
                        "rouge_l, ...).")
    max_items: int = Field(100, ge=1, description="Items from the start of the file.")
    max_new_tokens: int = Field(32, ge=1, description="Generation: token cap per answer.")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v):
        return _registry("metrics").validate(v)


class GeneralSection(Section):
    enabled: bool = Field(True, description="Run the general suite (forgetting) on the base and tuned models.")
    text_files: list[str] = Field(
        default_factory=lambda: [
            "pkg:evals/registry/data/schelling_point/wikipedia_5.jsonl",
            "pkg:evals/registry/data/schelling_point/owt_5.jsonl",
        ],
        description="General text for perplexity: JSONL whose field text_field holds one paragraph per line.",
    )
    text_field: str = Field("0", description="Field of each general-text line that holds the paragraph.")
    reserved_eval_lines: int = Field(
        200, ge=1, description="The first this-many lines of each text file are for evaluation only; replay "
        "data comes from the lines after them, so forgetting is never measured on trained text.",
    )
    perplexity_paragraphs: int = Field(
        60, ge=1, description="Paragraphs per file for perplexity, taken from the start of each file (the rest is "
        "reserved for replay so evaluation text is never trained on).",
    )
    max_seq_tokens: int = Field(256, ge=16, description="Paragraphs are truncated to this many tokens for perplexity.")
    mmlu_file: str | None = Field(
        "pkg:evals/registry/data/sandbagging/samples-all.jsonl",
        description="MMLU-style JSONL (question with A-D choices, 'answer' letter); null disables.",
    )
    mmlu_questions: int = Field(100, ge=1, description="Questions from the start of mmlu_file (after mmlu_offset).")
    perplexity_offset: int = Field(0, ge=0, description="Skip this many lines of each text file before the "
                                   "perplexity paragraphs (a tuning study scores on lines after the final "
                                   "evaluation's, so choosing never sees the final general numbers).")
    mmlu_offset: int = Field(0, ge=0, description="Skip this many questions of mmlu_file (as perplexity_offset).")
    batch_size: int = Field(8, ge=1, description="Sequences per forward pass in the general suite.")
    gate: ForgettingGate = Field(default_factory=ForgettingGate, description="Forgetting gate thresholds.")
    mitigation_study: MitigationStudy = Field(
        default_factory=MitigationStudy, description="Arms of 'tunewright eval --compare-mitigation': the run as "
        "trained (no mitigation) against replay and EWC (and L2-SP), each trained and evaluated the same way.")
    tasks: list[GeneralTaskSpec] = Field(default_factory=list, description="Your own general tasks (JSONL), run "
                                         "on base and tuned like the built-in ones and counted by the gate.")

    @model_validator(mode="after")
    def _eval_within_reserve(self):
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names) or {"general_perplexity", "mmlu"} & set(names):
            raise ValueError(f"tasks: names must be unique and not general_perplexity or mmlu, got {names}")
        if self.perplexity_offset + self.perplexity_paragraphs > self.reserved_eval_lines:
            raise ValueError(f"perplexity_offset + perplexity_paragraphs ({self.perplexity_offset} + "
                             f"{self.perplexity_paragraphs}) must not exceed reserved_eval_lines "
                             f"({self.reserved_eval_lines}): evaluation text would overlap replay")
        return self
