"""Text normalization used to compare examples: two texts that differ only in Unicode form, spacing or case
are the same text for duplicate, near-duplicate and leakage checks.

NFKC folds compatibility forms (full-width letters, ligatures, non-breaking spaces) into their plain
equivalents; ``casefold`` is the Unicode-correct lower-casing (German sharp s, Greek final sigma); every run
of whitespace, newlines included, becomes one space.
"""

from __future__ import annotations

import re
import unicodedata

from tunewright.records import Example, content_hash

_SPACE = re.compile(r"\s+")


def normalize_text(s: str) -> str:
    """NFKC, casefold, whitespace runs collapsed to one space, ends stripped."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", s).casefold()).strip()


def normalized_chat(ex: Example, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The example as it will be trained (system prompt applied), every turn's content normalized."""
    return [{"role": m["role"], "content": normalize_text(m["content"])} for m in ex.to_chat(system_prompt)]


def normalized_input(ex: Example) -> str:
    """Everything but the final answer and the system turn, normalized: what near-duplicate and leakage
    checks compare. The system prompt is left out because it is usually shared by the whole dataset and would
    make unrelated examples look alike."""
    msgs = ex.to_chat()
    return "\n".join(normalize_text(m["content"]) for m in msgs[:-1] if m["role"] != "system")


def normalized_answer(ex: Example) -> str:
    return normalize_text(ex.answer())


def normalized_example_key(ex: Example, system_prompt: str | None = None) -> str:
    """Identity of the whole example after normalization: equal keys are exact duplicates."""
    return content_hash(normalized_chat(ex, system_prompt))


def normalized_input_key(ex: Example) -> str:
    """Identity of the input after normalization: equal keys with different answers are a conflict."""
    return content_hash({"input": normalized_input(ex)})
