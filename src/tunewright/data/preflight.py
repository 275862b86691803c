"""Check the config against a sample of the data before any compute is spent (``tunewright run``): the task
the config names must fit the answers the data holds. Each finding is a plain sentence that says what to
change; ``stop`` findings end the run (``--force`` goes on), ``warn`` findings are printed and recorded.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from tunewright.config import Config
from tunewright.data.profile import SAMPLE, choices_from_prompt, estimate_tokens, sample_examples
from tunewright.records import Example


@dataclass
class PreflightFinding:
    level: str  # "stop" or "warn"
    check: str
    message: str


@dataclass
class Preflight:
    examples: int = 0
    findings: list[PreflightFinding] = field(default_factory=list)

    @property
    def stops(self) -> list[PreflightFinding]:
        return [f for f in self.findings if f.level == "stop"]

    @property
    def warnings(self) -> list[PreflightFinding]:
        return [f for f in self.findings if f.level == "warn"]

    def to_json(self) -> dict:
        return {"examples": self.examples, "findings": [f.__dict__ for f in self.findings]}


class PreflightFailed(ValueError):
    """The config does not fit the data; the message says what to change."""


def _examples_of(bad: list[Example], n: int = 3) -> str:
    return "; ".join(f"{ex.source}: {ex.answer()[:60]!r}" for ex in bad[:n])


def check_config_against_data(cfg: Config, limit: int = SAMPLE) -> Preflight:
    """Findings from the first ``limit`` usable training records."""
    from tunewright.assets import resolve_path
    from tunewright.evaluation.tasks import make_task

    out = Preflight()
    if not cfg.data.train_files:
        out.findings.append(PreflightFinding("stop", "no_data", "data.train_files is empty: point it at your data, "
                                             "or write a config from it with 'tunewright init --data FILE'"))
        return out
    paths = [str(resolve_path(cfg.resolve(f))) for f in cfg.data.train_files]
    d = cfg.data
    examples, _ = sample_examples(paths, cfg.data.train_files, d.format, d.prompt_column, d.completion_column, limit,
                                  d.columns)
    out.examples = n = len(examples)
    if not n:
        return out  # the audit reports unreadable files with their lines
    add = out.findings.append
    t = cfg.task
    try:
        task = make_task(t)
    except ValueError as e:
        add(PreflightFinding("stop", "task_config", str(e)))
        return out
    if t.type == "extraction":
        bad = [ex for ex in examples if task.parse(ex.answer()) is None]
        if len(bad) == n:
            add(PreflightFinding("stop", "extraction_unparsed", f"task.type is extraction, but none of {n} answers "
                f"parse as [NAME - TYPE, ...] with TYPE in {t.entity_types} or as {t.empty_answer!r} (e.g. "
                f"{_examples_of(bad)}); set task.type and task.entity_types to fit the answers ('tunewright init "
                "--data FILE' infers them)"))
        elif len(bad) > 0.1 * n:
            add(PreflightFinding("warn", "extraction_unparsed", f"{len(bad)} of {n} answers do not parse as "
                f"[NAME - TYPE, ...] with TYPE in {t.entity_types} (e.g. {_examples_of(bad)}); they score as "
                "unparseable: check task.entity_types and task.empty_answer"))
    elif t.type == "classification":
        missing = Counter(ex.answer().strip() for ex in examples if task.parse(ex.answer()) is None)
        if missing:
            first = next(ex for ex in examples if task.parse(ex.answer()) is None)
            shown = ", ".join(f"{a!r} ({c})" for a, c in missing.most_common(8))
            add(PreflightFinding("stop", "labels_missing", f"{sum(missing.values())} of {n} answers are labels "
                f"missing from task.labels: {shown} (first at {first.source}); add them to task.labels, or fix "
                "those records"))
    elif t.type == "multiple_choice":
        lacking = [ex for ex in examples if "choices" not in ex.meta
                   and not (d.choices_from_prompt and choices_from_prompt(ex))]
        if lacking:
            hint = ("set data.choices_from_prompt: true to read them from the prompts' option lines"
                    if any(choices_from_prompt(ex) for ex in lacking) else "give each record a 'choices' list")
            add(PreflightFinding("stop" if len(lacking) == n else "warn", "choices_missing",
                f"{len(lacking)} of {n} records have no choices for a multiple_choice task (first at "
                f"{lacking[0].source}); {hint}"))
    if t.type != "multiple_choice":  # generated answers: the cap must fit them
        lengths = sorted(estimate_tokens(ex.answer()) for ex in examples)
        median, p90 = statistics.median(lengths), lengths[int(0.9 * (n - 1))]
        # 'auto' derives the cap from the training answers, up to task.max_new_tokens_cap: that is the limit
        auto = t.max_new_tokens == "auto"
        cap, key = (t.max_new_tokens_cap, "task.max_new_tokens_cap") if auto else (t.max_new_tokens,
                                                                                   "task.max_new_tokens")
        if median > cap:
            add(PreflightFinding("stop", "answers_too_long", f"the median answer is ~{median:.0f} tokens but "
                f"{key} is {cap}: most answers would be cut; raise {key} to about {int(1.5 * p90) + 8}"))
        elif p90 > 1.5 * cap:
            add(PreflightFinding("warn", "answers_too_long", f"a tenth of the answers are over ~{p90} tokens, far "
                f"more than {key} ({cap}); they will be cut at evaluation"))
    if d.system_prompt is not None:
        own = [ex for ex in examples if any(m["role"] == "system" and m["content"] != d.system_prompt
                                            for m in ex.to_chat())]
        if own:
            sys_text = next(m["content"] for m in own[0].to_chat() if m["role"] == "system")
            add(PreflightFinding("warn", "system_prompt_replaced", f"data.system_prompt replaces the data's own "
                f"system message in {len(own)} of {n} records (e.g. {own[0].source}: {sys_text[:60]!r}); set "
                "data.system_prompt: null to keep theirs"))
    inputs = Counter(ex.input_key() for ex in examples)
    if n >= 10 and len(inputs) <= n // 2 and any(
            sum(m["role"] == "system" for m in ex.to_chat()) > 1 for ex in examples):
        add(PreflightFinding("warn", "input_in_system_message", f"{n} records have only {len(inputs)} distinct "
            "non-system messages and carry more than one system message: the audit compares inputs without "
            "system messages, so records that differ only there look like duplicates or conflicts; move the "
            "content into the user message"))
    return out


def enforce_preflight(result: Preflight, force: bool = False) -> None:
    if result.stops and not force:
        raise PreflightFailed("the config does not fit the data (checked before any training):\n" + "\n".join(
            f"  - {f.message}" for f in result.stops) + "\n('tunewright run --force' goes on anyway)")
