"""Comparison keys (the cheap half of normalization; data/normalize.py holds the repairs ``curate`` applies): two texts that differ only in Unicode form, spacing or case
are the same text for duplicate, near-duplicate and leakage checks.

NFKC folds compatibility forms (full-width letters, ligatures, non-breaking spaces) into their plain
equivalents; ``casefold`` is the Unicode-correct lower-casing (German sharp s, Greek final sigma); every run
of whitespace, newlines included, becomes one space.
"""

from __future__ import annotations

import hashlib
import unicodedata

from tunewright.records import Example, content_hash


def normalize_text(s: str) -> str:
    """NFKC, casefold, whitespace runs collapsed to one space, ends stripped. (``str.split()`` splits on
    exactly the characters ``re``'s ``\\s`` matches in str patterns, and is ~5x faster than a regex sub.)"""
    return " ".join(unicodedata.normalize("NFKC", s).casefold().split())


def _views(ex: Example) -> tuple[str, str]:
    """(normalized input, normalized answer), computed once per example: several checks need them.

    Kept in a private attribute (not a dataclass field, so never written out) and recomputed when the
    example's content fields are replaced by other objects."""
    fields = (ex.messages, ex.prompt, ex.completion, ex.text, ex.label)
    memo = ex.__dict__.get("_tw_normalized")
    if memo is None or any(a is not b for a, b in zip(memo[0], fields)):
        msgs = ex.to_chat()
        inp = "\n".join(normalize_text(m["content"]) for m in msgs[:-1] if m["role"] != "system")
        memo = (fields, inp, normalize_text(msgs[-1]["content"]))
        ex.__dict__["_tw_normalized"] = memo
    return memo[1], memo[2]


def normalized_chat(ex: Example, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The example as it will be trained (system prompt applied), every turn's content normalized."""
    return [{"role": m["role"], "content": normalize_text(m["content"])} for m in ex.to_chat(system_prompt)]


def normalized_input(ex: Example) -> str:
    """Everything but the final answer and the system turn, normalized: what near-duplicate and leakage
    checks compare. The system prompt is left out because it is usually shared by the whole dataset and would
    make unrelated examples look alike."""
    return _views(ex)[0]


def normalized_answer(ex: Example) -> str:
    return _views(ex)[1]


def normalized_example_key(ex: Example, system_prompt: str | None = None) -> str:
    """Identity of the whole example after normalization: equal keys are exact duplicates. With a
    configured system prompt (the same for every example) only the rest of the chat needs comparing."""
    if system_prompt is not None:
        return content_hash([normalized_input(ex), normalized_answer(ex)])
    return content_hash(normalized_chat(ex, system_prompt))


def normalized_input_key(ex: Example) -> str:
    """Identity of the input after normalization: equal keys with different answers are a conflict."""
    return content_hash({"input": normalized_input(ex)})


def key64(s: str) -> int:
    """A 64-bit hash of a text (signed, to fit an int64 array): what streaming checks keep per example instead
    of the text. blake2b, so keys are the same in every process and run; two of a million distinct texts
    collide with probability ~3e-8."""
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little",
                          signed=True)
