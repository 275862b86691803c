"""Data stages' settings: input files, the audit and its checks, the split.

Part of ``tunewright.yaml`` (tunewright/config.py assembles the sections); each stage owns its settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tunewright.section import Section, registry_of as _registry


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
        20, ge=1, description="Also check texts from this many letters up to language_min_chars, with lingua's "
        "high-accuracy models and a minimum relative distance (language_short_min_distance) that leaves an unsure "
        "text undecided. Skipped: headings and lines of numbers (three words in four capitalised, or under half "
        "letters) and, when English is declared, texts holding an English word the other candidates do not spell "
        "('the', 'with', 'which', ...). Measured on real 20-79 letter sentences (benchmarks/language_short, "
        "2026-12-02): finds 96.6% of French/German/Spanish/Italian/Portuguese ones; flags 0 of 351 English "
        "loan-agreement lines and 0.38% of 7,548 English legal, medical and encyclopedic ones (a quarter of "
        "those are foreign sentences inside the English sources; the rest Latin medical answer options such as "
        "'a) Salmonella typhimurium'). The models take up to ~5 s and ~200 MB to load, only when a short text "
        "is left to judge. Null: short texts are not checked.")
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
        0.5, gt=0, le=1, description="Lowest Jaccard of character n-gram sets at which two short inputs can be "
        "near-duplicates, and the threshold their LSH bands are derived from; with short_edit_words 0 it is the "
        "whole rule (0.7 before 2026-12-02).")
    short_edit_words: int = Field(
        2, ge=0, description="Short inputs are near-duplicates when they are at most this many word edits apart "
        "(and one per 4 words of the shorter input: 6-7 word inputs get one) by two signals: at most that many "
        "distinct words of either are missing from the other, and their character n-gram Jaccard is at least "
        "(S - D) / (S + D), S the smaller n-gram count, D = short_edit_words * (short_edit_chars + char_ngram - "
        "1), so the threshold rises with the length (short_threshold up to ~10 words, 0.84 at 40). Calibrated on "
        "one set of real sentences and reported on another (benchmarks/data_audit/short_neardup.py). 0: character "
        "Jaccard >= short_threshold only.")
    short_band_threshold: float | None = Field(
        0.6, gt=0, le=1, description="The Jaccard the short inputs' LSH bands are tuned for (null: "
        "short_threshold). Only 6-10 word pairs can be near-duplicates below 0.6; bands for 0.6 find 2.5x fewer "
        "candidates to confirm at a recall 0.001-0.003 lower (benchmarks/data_audit/short_neardup.py).")
    short_edit_chars: int = Field(
        6, ge=1, description="Bytes one edited word is taken to change, its separator included (words average 5 "
        "bytes in the benchmark's sentences): sets D above.")
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
