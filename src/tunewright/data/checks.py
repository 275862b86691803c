"""The Check interface and the first registered checks.

A check looks at all examples and returns one :class:`Verdict` per example it has an opinion on: keep, or
flag with a reason and a score. The audit keeps every verdict, quarantines flagged examples with their
reasons and counts reasons (STYLE.md #3). New checks register by name (STYLE.md #7).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from tunewright.data.keys import normalized_answer, normalized_example_key, normalized_input_key
from tunewright.records import Example
from tunewright.registry import Registry


@dataclass
class Verdict:
    index: int  # position in the examples list (ids are content hashes, so exact copies share one)
    keep: bool
    reason: str = ""
    score: float = 1.0
    detail: str = ""
    spans: list[dict[str, Any]] = field(default_factory=list)  # where in the example: {"turn", "start", "end", ...}
    cluster: int | None = None  # near-duplicate cluster id (the report shows a cluster's members side by side)


@dataclass
class CheckContext:
    """What checks may need beyond the examples: the chat instruction, a tokenizer, thresholds."""

    system_prompt: str | None = None
    tokenizer: Any = None
    max_seq_tokens: int = 1024
    drop_exact_duplicates: bool = True
    drop_conflicts: bool = True
    token_lengths: dict[int, int] = field(default_factory=dict)  # index -> tokens, filled by token_length
    audit: Any = None  # the config's AuditSection (thresholds of the newer checks); None means its defaults
    labels: list[str] = field(default_factory=list)  # the declared label set (task.labels), empty when none
    workers: int = 1
    artifacts: dict[str, Any] = field(default_factory=dict)  # extra outputs a check hands to the audit

    def settings(self):
        """The AuditSection in use (defaults when the context was built without a config)."""
        if self.audit is None:
            from tunewright.config import AuditSection

            self.audit = AuditSection()
        return self.audit
    config: Any = None  # the whole Config, for checks with their own section (near_duplicate, leakage)
    test_examples: list[Example] = field(default_factory=list)  # held-out test files, for leakage
    report: dict[str, Any] = field(default_factory=dict)  # check name -> counts merged into audit.json


class Check(Protocol):
    name: str

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]: ...


CHECKS = Registry("check", "audit.checks")


def register_check(name: str):
    """Register a Check class under ``name`` (which also becomes its ``name`` attribute)."""

    def deco(cls):
        cls.name = name
        return CHECKS.register(name)(cls)

    return deco


def duplicate_key(ex: Example, system_prompt: str | None) -> str:
    """Identity of the example as it will be trained: the chat after the system prompt is applied, each turn
    normalized (NFKC, whitespace, case), so copies that differ only in spacing or Unicode form are caught."""
    return normalized_example_key(ex, system_prompt)


@register_check("schema")
class SchemaCheck:
    """Chat structure: optional system first, then user/assistant alternating, ending with assistant; no empty turn."""

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        out = []
        for i_ex, ex in enumerate(examples):
            msgs = ex.to_chat(ctx.system_prompt)
            body = msgs[1:] if msgs and msgs[0]["role"] == "system" else msgs
            problem = ""
            for i, m in enumerate(body):
                want = "user" if i % 2 == 0 else "assistant"
                if m["role"] != want:
                    problem = f"turn {i}: expected {want}, got {m['role']}"
                    break
                if not m["content"].strip():
                    problem = f"turn {i} ({m['role']}) is empty"
                    break
            if not problem and (not body or body[-1]["role"] != "assistant"):
                problem = "conversation does not end with an assistant answer"
            out.append(Verdict(i_ex, not problem, "schema" if problem else "", 1.0, problem))
        return out


@register_check("exact_duplicate")
class ExactDuplicateCheck:
    """The same example again (after the configured system prompt and normalization): the first copy is kept."""

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        first: dict[str, Example] = {}
        out = []
        for i, ex in enumerate(examples):
            key = duplicate_key(ex, ctx.system_prompt)
            if key in first:
                out.append(Verdict(i, not ctx.drop_exact_duplicates, "exact_duplicate", 1.0,
                                   f"same as {first[key].source}"))
            else:
                first[key] = ex
        return out


@register_check("conflicting_duplicate")
class ConflictingDuplicateCheck:
    """The same input with different answers (both compared after normalization): nobody knows which is
    right, so every member is flagged."""

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, ex in enumerate(examples):
            groups[normalized_input_key(ex)].append(i)
        out = []
        for members in groups.values():
            answers = {normalized_answer(examples[i]) for i in members}
            if len(answers) < 2:
                continue
            where = ", ".join(examples[i].source for i in members[:5])
            for i in members:
                out.append(Verdict(i, not ctx.drop_conflicts, "conflicting_duplicate", 1.0,
                                   f"{len(answers)} different answers for one input at {where}"))
        return out


def chat_token_length(tokenizer, messages: list[dict[str, str]]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@register_check("token_length")
class TokenLengthCheck:
    """Length in the target model's tokens: longer than max_seq_tokens (chat template included) is too_long;
    prompt and answer together shorter than quality.min_tokens (no template) is too_short.

    Each distinct message text is tokenized once (the system prompt, shared by every example, once in all),
    and the template's own tokens are counted once per role sequence by rendering it with empty messages:
    length = template tokens + sum of message tokens. Special tokens bound every message, so this is exact
    for ChatML-style templates (SmolLM2, Qwen); examples within ``EXACT_MARGIN`` tokens of the limit are
    rendered and tokenized whole, so the too_long verdict never rests on the sum. 3-4x faster than
    rendering and tokenizing every example (benchmarks/data_audit_checks).
    """

    EXACT_MARGIN = 16

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        tok = ctx.tokenizer
        if tok is None:
            return []
        chats = [ex.to_chat(ctx.system_prompt) for ex in examples]
        texts = list(dict.fromkeys(m["content"] for c in chats for m in c))
        n_of = dict(zip(texts, batch_token_counts(tok, texts)))
        overhead: dict[tuple[str, ...], int] = {}
        min_tokens = ctx.settings().quality.min_tokens
        out = []
        for i, c in enumerate(chats):
            roles = tuple(m["role"] for m in c)
            if roles not in overhead:
                overhead[roles] = chat_token_length(tok, [{"role": r, "content": ""} for r in roles])
            n = overhead[roles] + sum(n_of[m["content"]] for m in c)
            if abs(n - ctx.max_seq_tokens) <= self.EXACT_MARGIN:
                n = chat_token_length(tok, c)
            ctx.token_lengths[i] = n
            if n > ctx.max_seq_tokens:
                out.append(Verdict(i, False, "too_long", n / ctx.max_seq_tokens,
                                   f"{n} tokens > max_seq_tokens {ctx.max_seq_tokens}"))
            content = sum(n_of[m["content"]] for m in c if m["role"] != "system")
            if content < min_tokens:
                out.append(Verdict(i, False, "too_short", 1.0, f"{content} tokens of content < min_tokens {min_tokens}"))
        return out


def batch_token_counts(tokenizer, texts: list[str], batch: int = 4096) -> list[int]:
    """Token counts, in batches: a fast (Rust) tokenizer spreads one call over its threads."""
    counts: list[int] = []
    backend = getattr(tokenizer, "backend_tokenizer", None)  # the Rust tokenizer: ~1.8x faster than the wrapper
    # encode_batch_fast (tokenizers >= 0.20) skips the character offsets we do not need: another ~1.7x
    encode = getattr(backend, "encode_batch_fast", None) or getattr(backend, "encode_batch", None)
    for start in range(0, len(texts), batch):
        chunk = texts[start:start + batch]
        if encode is not None:
            counts += [len(e.ids) for e in encode(chunk, add_special_tokens=False)]
            continue
        try:
            ids = tokenizer(chunk, add_special_tokens=False)["input_ids"]
            if len(ids) != len(chunk) or (ids and not isinstance(ids[0], list)):
                raise TypeError("tokenizer did not batch")
        except (TypeError, AttributeError):  # a tokenizer that takes one text at a time
            ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in chunk]
        counts += [len(x) for x in ids]
    return counts
