"""What a dataset looks like, read from a sample: its format, its system prompts, and the task its answers
imply. ``tunewright init --data`` writes a config from it, and ``tunewright run`` checks a config against it
before spending compute (:mod:`tunewright.data.preflight`).

The task is inferred from the answers, in this order (the first rule that holds wins):

1. records carry a ``choices`` field: multiple choice;
2. at least ``SHARE`` of the answers are ``[NAME - TYPE, ...]`` lists (or one repeated "none" answer):
   extraction, with the types seen;
3. at least ``SHARE`` of the prompts end in option lines (``a) ...``, ``B. ...``) and the answer is one of
   them, by letter or in full: multiple choice with ``data.choices_from_prompt``;
4. few distinct short answers (at most ``MAX_LABELS``, each at most ``MAX_LABEL_WORDS`` words, each used
   ``MIN_LABEL_REPEAT`` times on average): classification with those labels;
5. otherwise generation, scored by exact match (answers of a few words), token F1 or ROUGE-L (long ones).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from tunewright.records import Example, Rejected, iter_files

SAMPLE = 2000  # records read; enough to see every label of a classification set of ordinary size
SHARE = 0.8  # share of answers a rule must hold for
MAX_LABELS = 50
MAX_LABEL_WORDS = 6
MIN_LABEL_REPEAT = 3
CHARS_PER_TOKEN = 4  # English BPE averages about 4 characters per token; init adds headroom on top

# "[Bank - ORGANIZATION, Jane Doe - PERSON]": a lazy name, " - ", an upper-case type; the whole list bracketed.
_ENTITY = re.compile(r"\s*(.+?)\s+-\s+([A-Z][A-Z0-9_]*)\s*(?:,|$)")
_LIST = re.compile(r"^\s*\[([^\[\]]*)\]\s*$")
# An option line of a multiple-choice prompt: "a) text", "(B) text", "C. text", "D: text"
_OPTION = re.compile(r"^\s*\(?([A-Ha-h])[\).:]\s+(\S.*?)\s*$")


@dataclass
class Finding:
    """One inferred setting (or one observation), and the evidence for it in plain words."""

    key: str
    value: Any
    why: str


@dataclass
class DataProfile:
    files: list[str]
    records: int = 0  # usable records in the sample
    rejected: int = 0
    format: str = "chat"
    system_prompts: Counter = field(default_factory=Counter)  # system message text -> records
    with_choices: int = 0
    task_type: str = "generation"
    labels: list[str] = field(default_factory=list)
    entity_types: list[str] = field(default_factory=list)
    empty_answer: str | None = None
    metric: str | None = None
    choices_from_prompt: bool = False
    answer_tokens_p99: int = 0
    max_new_tokens: int = 32
    findings: list[Finding] = field(default_factory=list)


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def parse_entity_list(answer: str) -> list[tuple[str, str]] | None:
    """``[NAME - TYPE, ...]`` as (name, type) pairs; None when the answer is not such a list."""
    m = _LIST.match(answer)
    if m is None:
        return None
    content, pos, out = m.group(1).strip(), 0, []
    while pos < len(content):
        e = _ENTITY.match(content, pos)
        if e is None:
            return None
        out.append((e.group(1), e.group(2)))
        pos = e.end()
    return out


def prompt_options(ex: Example) -> dict[str, str]:
    """Letter -> option line of the option lines (at least two) that end the last user message, before at most
    two short cue lines such as "Answer:"; {} when there are none."""
    user = [m["content"] for m in ex.to_chat() if m["role"] == "user"]
    if not user:
        return {}
    lines = user[-1].strip().splitlines()
    for _ in range(2):  # a short cue after the options ("Answer:") is not an option
        if lines and _OPTION.match(lines[-1]) is None and len(lines[-1]) <= 40:
            lines.pop()
    opts: dict[str, str] = {}
    for line in reversed(lines):
        m = _OPTION.match(line)
        if m is None:
            break
        opts[m.group(1)] = line.strip()
    return dict(reversed(list(opts.items()))) if len(opts) >= 2 else {}


def choices_from_prompt(ex: Example) -> list[str] | None:
    """The choices a prompt's option lines offer, in the form the answer uses: the letters when the answer is a
    letter, the full lines when it is a full line. None when the answer is neither."""
    opts = prompt_options(ex)
    answer = ex.answer().strip()
    if not opts:
        return None
    if answer in opts or answer.upper() in {k.upper() for k in opts}:
        return list(opts) if answer in opts else [k.upper() for k in opts]
    if answer in opts.values():
        return list(opts.values())
    return None


def with_prompt_choices(items: Iterator[Example | Rejected]) -> Iterator[Example | Rejected]:
    """``data.choices_from_prompt``: give each example without a 'choices' field the choices of its prompt; an
    example whose answer is none of them becomes a Rejected (quarantined with its source), not a silent loss."""
    for item in items:
        if isinstance(item, Example) and "choices" not in item.meta:
            ch = choices_from_prompt(item)
            if ch is None:
                item = Rejected(item.source, "no_choices", "data.choices_from_prompt: the prompt ends in no option "
                                "lines that the answer is one of", item.answer()[:200], item.id)
            else:
                item.meta["choices"] = ch
        yield item


def sample_examples(paths: list[str], display: list[str], fmt: str = "auto", prompt_column: str = "prompt",
                    completion_column: str = "completion", limit: int = SAMPLE,
                    columns: dict[str, str] | None = None) -> tuple[list[Example], int]:
    """Up to ``limit`` usable examples from the start of the files, and how many records were rejected."""
    items = iter_files(paths, format=fmt, prompt_column=prompt_column, completion_column=completion_column,
                       max_records=limit, display_names=dict(zip(paths, display)), columns=columns)
    examples, rejected = [], 0
    for item in islice(items, limit * 2):
        if isinstance(item, Example):
            examples.append(item)
        else:
            rejected += 1
    return examples, rejected


def profile_examples(examples: list[Example], files: list[str], rejected: int = 0) -> DataProfile:
    p = DataProfile(files=files, records=len(examples), rejected=rejected)
    if not examples:
        return p
    first = examples[0]
    p.format = "csv" if files[0].lower().endswith(".csv") else ("chat" if first.messages is not None else
                                                                 "prompt_completion")
    from tunewright.data.hf_datasets import dataset_kind

    if dataset_kind(files[0]):  # datasets folders, Parquet, Arrow, hub ids: recognised whatever data.format says
        p.format = "auto"

    for ex in examples:
        sys_msgs = [m["content"] for m in ex.to_chat() if m["role"] == "system"]
        if sys_msgs:
            p.system_prompts[sys_msgs[0]] += 1
        p.with_choices += "choices" in ex.meta
    answers = [ex.answer().strip() for ex in examples]
    n = len(answers)
    _infer_task(p, examples, answers)
    lengths = sorted(estimate_tokens(a) for a in answers)
    p.answer_tokens_p99 = lengths[min(n - 1, int(0.99 * n))]
    if p.task_type != "multiple_choice":  # scored by likelihood: nothing is generated
        # 1.5x the 99th-percentile answer plus 8, rounded up to a multiple of 8: headroom for the estimate
        p.max_new_tokens = int(math.ceil((1.5 * p.answer_tokens_p99 + 8) / 8) * 8)
        p.findings.append(Finding("task.max_new_tokens", p.max_new_tokens,
                                  f"99% of answers are at most ~{p.answer_tokens_p99} tokens (about "
                                  f"{CHARS_PER_TOKEN} characters a token); 1.5x that plus 8 leaves room"))
    _system_finding(p)
    return p


def _infer_task(p: DataProfile, examples: list[Example], answers: list[str]) -> None:
    n = len(answers)
    counts = Counter(answers)
    if p.with_choices:
        p.task_type = "multiple_choice"
        p.findings.append(Finding("task.type", "multiple_choice", f"{p.with_choices} of {n} records carry a "
                                  "'choices' field; answers are scored by the likelihood of each choice"))
        return
    parsed = [parse_entity_list(a) for a in answers]
    lists = sum(x is not None for x in parsed)
    others = Counter(a for a, x in zip(answers, parsed) if x is None)
    empty, n_empty = (others.most_common(1)[0] if others else (None, 0))
    if lists and (lists + n_empty) / n >= SHARE:
        types = Counter(t for x in parsed if x for _, t in x)
        p.task_type, p.entity_types = "extraction", [t for t, _ in types.most_common()]
        p.findings.append(Finding("task.type", "extraction", f"{lists} of {n} answers are [NAME - TYPE, ...] lists"
                                  + (f" and {n_empty} are {empty!r}" if n_empty else "")))
        p.findings.append(Finding("task.entity_types", p.entity_types, "the types those lists use: " + ", ".join(
            f"{t} ({c})" for t, c in types.most_common())))
        if n_empty and empty is not None and len(empty) <= 80:
            p.empty_answer = empty
            p.findings.append(Finding("task.empty_answer", empty, f"the answer of the {n_empty} records without a list"))
        return
    mc = [choices_from_prompt(ex) for ex in examples]
    n_mc = sum(c is not None for c in mc)
    if n_mc / n >= SHARE:
        p.task_type, p.choices_from_prompt = "multiple_choice", True
        form = "letters" if all(len(c[0]) == 1 for c in mc if c) else "full option lines"
        p.findings.append(Finding("task.type", "multiple_choice", f"{n_mc} of {n} prompts end in option lines "
                                  f"(a) ..., B. ...) and the answer is one of them ({form}); answers are scored by "
                                  "the likelihood of each option"))
        p.findings.append(Finding("data.choices_from_prompt", True, "the records have no 'choices' field, so the "
                                  "options are read from the prompt's option lines"))
        return
    short = all(len(a.split()) <= MAX_LABEL_WORDS for a in counts)
    if len(counts) <= MAX_LABELS and short and n >= MIN_LABEL_REPEAT * len(counts) and len(counts) >= 2:
        p.task_type = "classification"
        p.labels = sorted(counts, key=lambda a: (-counts[a], a))
        p.findings.append(Finding("task.type", "classification", f"{n} answers take only {len(counts)} distinct "
                                  f"values of at most {MAX_LABEL_WORDS} words"))
        p.findings.append(Finding("task.labels", p.labels, "the distinct answers, most frequent first: " + ", ".join(
            f"{lab} ({counts[lab]})" for lab in p.labels[:12]) + (" ..." if len(p.labels) > 12 else "")))
        return
    words = sorted(len(a.split()) for a in answers)
    median = words[n // 2]
    p.metric = "exact_match" if median <= 3 else ("token_f1" if median <= 20 else "rouge_l")
    p.findings.append(Finding("task.type", "generation", f"{len(counts)} distinct answers in {n} records: not a "
                              "label set, not entity lists, no choices"))
    p.findings.append(Finding("task.metric", p.metric, f"the median answer has {median} words (exact_match up to 3, "
                              "token_f1 up to 20, rouge_l above)"))


def _system_finding(p: DataProfile) -> None:
    with_sys = sum(p.system_prompts.values())
    if not with_sys:
        p.findings.append(Finding("data.system_prompt", None, "the records carry no system message; set "
                                  "data.system_prompt to give them one"))
        return
    top, c = p.system_prompts.most_common(1)[0]
    shape = "the same system message" if len(p.system_prompts) == 1 else f"{len(p.system_prompts)} different ones"
    p.findings.append(Finding("data.system_prompt", None, f"{with_sys} of {p.records} records carry {shape} "
                              f"(most common: {_short(top)!r}); null keeps each record's own"))


def _short(text: str, n: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def profile_files(files: list[str], base_dir: Path | None = None, **read: Any) -> DataProfile:
    """Profile the start of the files (``pkg:`` and relative paths resolved against ``base_dir``)."""
    from tunewright.assets import resolve_path

    base = base_dir or Path.cwd()
    paths = [str(resolve_path(f if f.startswith("pkg:") or Path(f).is_absolute() else str(base / f))) for f in files]
    examples, rejected = sample_examples(paths, files, **read)
    return profile_examples(examples, files, rejected)
