"""The Check interface and the first registered checks.

A check returns one :class:`Verdict` per example it has an opinion on: keep, or flag with a reason and a
score. The audit keeps every verdict, quarantines flagged examples with their reasons and counts reasons
(STYLE.md #3). New checks register by name (STYLE.md #7).

Checks see the data in batches, in input order, so that a million records never sit in memory at once:
``observe(batch, start, ctx)`` returns what can be judged from the batch (indices are global, ``start`` plus
the position in the batch) and keeps the compact state a comparison needs (64-bit keys, MinHash band keys,
class codes); ``finish(ctx)`` returns the verdicts that need every example. A per-example check
(:class:`Check`) only writes ``run`` over a batch; a comparing one (:class:`BatchCheck`) writes ``observe``
and ``finish``, and its ``run(examples, ctx)`` is both over one list.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunewright.data.keys import key64, normalized_answer, normalized_example_key, normalized_input
from tunewright.records import Example
from tunewright.registry import Registry


@dataclass(slots=True)  # a million-record audit holds hundreds of thousands of these
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
    token_lengths: "IndexedInts" = field(default_factory=lambda: IndexedInts())  # tokens by index (token_length)
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
    sources: "Sources" = field(default_factory=lambda: Sources())  # "file:line" of every example seen, by index

    def see(self, batch: list[Example], start: int) -> None:
        """Record the sources of a batch (once, whoever calls first): checks name other examples by them."""
        if len(self.sources) == start:
            self.sources.extend(ex.source or f"example #{start + k}" for k, ex in enumerate(batch))


class Sources:
    """The "file:line" of every example, by index: a file id and a line number (12 bytes) when the source has
    that form and the file was seen before, the string itself otherwise."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self._file_id: dict[str, int] = {}
        self.fid, self.line = array("i"), array("q")  # fid -1: the string is in self.other
        self.other: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.fid)

    def extend(self, sources) -> None:
        for src in sources:
            name, _, line = src.rpartition(":")
            if name and line.isdigit() and line == str(int(line)):
                k = self._file_id.get(name)
                if k is None:
                    k = self._file_id[name] = len(self.files)
                    self.files.append(name)
                self.fid.append(k)
                self.line.append(int(line))
            else:
                self.other[len(self.fid)] = src
                self.fid.append(-1)
                self.line.append(0)

    def __getitem__(self, i: int) -> str:
        k = self.fid[i]
        return self.other[i] if k < 0 else f"{self.files[k]}:{self.line[i]}"


class IndexedInts:
    """An int per example index, set batch by batch (8 bytes each; a dict of ints costs ~12x more)."""

    def __init__(self) -> None:
        self.values = np.full(0, -1, np.int64)

    def set(self, start: int, values) -> None:
        values = np.asarray(values, dtype=np.int64)
        end = start + values.size
        if end > self.values.size:
            grown = np.full(max(end, 2 * self.values.size), -1, np.int64)
            grown[: self.values.size] = self.values
            self.values = grown
        self.values[start:end] = values

    def __contains__(self, i: int) -> bool:
        return 0 <= i < self.values.size and self.values[i] >= 0

    def __getitem__(self, i: int) -> int:
        return int(self.values[i])

    def __len__(self) -> int:
        return int((self.values >= 0).sum())

    def array(self, n: int) -> np.ndarray:
        """Values of indices 0..n-1, -1 where none was set."""
        out = np.full(n, -1, np.int64)
        m = min(n, self.values.size)
        out[:m] = self.values[:m]
        return out


class Check:
    """A check that judges each example on its own: ``run`` over a batch gives its verdicts on that batch.
    ``poolable`` ones may run in worker processes (not those holding a tokenizer or a thread pool)."""

    name = ""
    per_example = True
    poolable = True

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        raise NotImplementedError

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        out = self.run(batch, ctx)
        for v in out:
            v.index += start
        return out

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        return []

    def revisit(self, batch: list[Example], start: int, ctx: CheckContext) -> None:
        """The audit's second pass over the data (after ``finish``): for report details that need the text
        of a few examples chosen in ``finish``, such as the near-duplicate clusters shown side by side."""


class BatchCheck(Check):
    """A check that compares examples: ``observe`` keeps what it needs per batch, ``finish`` judges."""

    per_example = False
    poolable = False

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        raise NotImplementedError

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        """Both steps over one list (a fresh instance per call: the state is per audit)."""
        ctx.see(examples, 0)
        out = self.observe(examples, 0, ctx) + self.finish(ctx)
        self.revisit(examples, 0, ctx)
        return out


class Int64Parts:
    """An int64 column grown batch by batch (8 bytes per example; a list of ints costs ~5x more)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def add(self, values) -> None:
        self.parts.append(np.asarray(values, dtype=np.int64))

    def array(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.int64)


# Every module of tunewright.data may register checks; a new check is a class in one module of that package.
CHECKS = Registry("check", "audit.checks", packages=["tunewright.data"])


def register_check(name: str, *, default: bool = False, order: float | None = None):
    """Register a Check class under ``name`` (which also becomes its ``name`` attribute). ``default`` checks
    run when ``audit.checks`` is not set, in ``order``."""

    def deco(cls):
        cls.name = name
        return CHECKS.register(name, default=default, order=order)(cls)

    return deco


@register_check("schema", default=True, order=0)
class SchemaCheck(Check):
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


@register_check("exact_duplicate", default=True, order=2)
class ExactDuplicateCheck(BatchCheck):
    """The same example again (after the configured system prompt and normalization): the first copy is kept."""

    def __init__(self) -> None:
        self.keys = Int64Parts()

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        # identity of the example as it will be trained: the chat after the system prompt is applied, each turn
        # normalized (NFKC, whitespace, case), so copies that differ only in spacing or Unicode form are caught
        self.keys.add([key64(normalized_example_key(ex, ctx.system_prompt)) for ex in batch])
        return []

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        keys = self.keys.array()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)  # first: earliest index
        firsts = first[inverse]
        later = np.flatnonzero(firsts != np.arange(keys.size))
        return [Verdict(i, not ctx.drop_exact_duplicates, "exact_duplicate", 1.0, f"same as {ctx.sources[f]}")
                for i, f in zip(later.tolist(), firsts[later].tolist())]


@register_check("conflicting_duplicate", default=True, order=3)
class ConflictingDuplicateCheck(BatchCheck):
    """The same input with different answers (both compared after normalization): nobody knows which is
    right, so every member is flagged."""

    def __init__(self) -> None:
        self.inputs, self.answers = Int64Parts(), Int64Parts()

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        self.inputs.add([key64(normalized_input(ex)) for ex in batch])
        self.answers.add([key64(normalized_answer(ex)) for ex in batch])
        return []

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        inp, ans = self.inputs.array(), self.answers.array()
        pairs = np.unique(np.stack([inp, ans], axis=1), axis=0) if inp.size else np.zeros((0, 2), np.int64)
        groups, n_answers = np.unique(pairs[:, 0], return_counts=True)
        conflicted = groups[n_answers > 1]
        if conflicted.size == 0:
            return []
        members = np.flatnonzero(np.isin(inp, conflicted))  # input order
        by_input: dict[int, list[int]] = {}
        for i in members.tolist():
            by_input.setdefault(int(inp[i]), []).append(i)
        count = dict(zip(groups.tolist(), n_answers.tolist()))
        out = []
        for key, ms in by_input.items():
            where = ", ".join(ctx.sources[i] for i in ms[:5])
            for i in ms:
                out.append(Verdict(i, not ctx.drop_conflicts, "conflicting_duplicate", 1.0,
                                   f"{count[key]} different answers for one input at {where}"))
        out.sort(key=lambda v: v.index)
        return out


def chat_token_length(tokenizer, messages: list[dict[str, str]]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@register_check("token_length", default=True, order=4)
class TokenLengthCheck(Check):
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
    poolable = False  # the tokenizer stays in the main process (a forked Rust tokenizer can deadlock)

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        return self.run(batch, ctx, start)

    def run(self, examples: list[Example], ctx: CheckContext, start: int = 0) -> list[Verdict]:
        tok = ctx.tokenizer
        if tok is None:
            return []
        chats = [ex.to_chat(ctx.system_prompt) for ex in examples]
        texts = list(dict.fromkeys(m["content"] for c in chats for m in c))
        n_of = dict(zip(texts, batch_token_counts(tok, texts)))
        overhead: dict[tuple[str, ...], int] = {}
        min_tokens = ctx.settings().quality.min_tokens
        out, lengths = [], []
        for i, c in enumerate(chats):
            roles = tuple(m["role"] for m in c)
            if roles not in overhead:
                overhead[roles] = chat_token_length(tok, [{"role": r, "content": ""} for r in roles])
            n = overhead[roles] + sum(n_of[m["content"]] for m in c)
            if abs(n - ctx.max_seq_tokens) <= self.EXACT_MARGIN:
                n = chat_token_length(tok, c)
            lengths.append(n)
            if n > ctx.max_seq_tokens:
                out.append(Verdict(start + i, False, "too_long", n / ctx.max_seq_tokens,
                                   f"{n} tokens > max_seq_tokens {ctx.max_seq_tokens}"))
            content = sum(n_of[m["content"]] for m in c if m["role"] != "system")
            if content < min_tokens:
                out.append(Verdict(start + i, False, "too_short", 1.0, f"{content} tokens of content < min_tokens {min_tokens}"))
        ctx.token_lengths.set(start, lengths)
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
