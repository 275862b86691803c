"""The Example record: the contract every data stage consumes and yields.

One record flows through every data stage (STYLE.md #2). Content comes in one of three shapes: a chat
``messages`` list, ``prompt``/``completion``, or ``text`` with ``label``. The readers of user files live in
:mod:`tunewright.readers`, the writers and readers of a run's own files in :mod:`tunewright.writers`; both
are re-exported here, so ``from tunewright.records import read_files`` keeps working.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from tunewright.errors import InputError

ROLES = {"system", "user", "assistant"}
# A record over 10 MiB is no training example (a dumped document, a base64 blob): quarantined, not parsed.
MAX_RECORD_BYTES = 10 * 2**20


@dataclass
class Example:
    """One training or evaluation example: the record every data stage reads and yields.

    Exactly one content shape is set: ``messages`` (a chat ending in the assistant's answer), ``prompt`` with
    ``completion``, or ``text`` with ``label``. ``meta`` carries what a stage adds (choices, review, labels);
    ``source`` is the ``file:line`` it came from; ``id`` is the hash of the content (:meth:`content`), so it
    is stable across runs and is the key that pairs an example's rows (base vs tuned predictions, splits)."""

    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    completion: str | None = None
    text: str | None = None
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # "file:line"
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = content_hash(self.content())

    def content(self) -> dict[str, Any]:
        """The content fields only: what the id hashes and what duplicates are compared on."""
        if self.messages is not None:
            return {"messages": self.messages}
        if self.prompt is not None:
            return {"prompt": self.prompt, "completion": self.completion}
        return {"text": self.text, "label": self.label}

    def to_chat(self, system_prompt: str | None = None) -> list[dict[str, str]]:
        """The example as a chat whose last message is the assistant's answer.

        ``system_prompt`` replaces the example's own system message (or adds one), so that training and
        evaluation use one instruction for the whole dataset.
        """
        if self.messages is not None:
            msgs = [dict(m) for m in self.messages]
        elif self.prompt is not None:
            msgs = [{"role": "user", "content": self.prompt}, {"role": "assistant", "content": self.completion or ""}]
        else:
            msgs = [{"role": "user", "content": self.text or ""}, {"role": "assistant", "content": self.label or ""}]
        if system_prompt is not None:
            msgs = [m for m in msgs if m["role"] != "system"]
            msgs.insert(0, {"role": "system", "content": system_prompt})
        return msgs

    def input_key(self) -> str:
        """Hash of everything but the final answer: equal keys with different answers are a conflict."""
        msgs = self.to_chat()
        return content_hash({"input": [m for m in msgs[:-1] if m["role"] != "system"]})

    def answer(self) -> str:
        return self.to_chat()[-1]["content"]

    def to_json(self) -> dict[str, Any]:
        """The fields that are set, as a new dict whose lists and dicts are copies (what ``dataclasses.asdict``
        gives, built by hand: asdict's generic deep copy was a third of writing the clean set)."""
        d: dict[str, Any] = {}
        if self.messages is not None:
            d["messages"] = [dict(m) for m in self.messages]  # message values are strings (validated)
        for k in ("prompt", "completion", "text", "label"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        d["meta"] = copy.deepcopy(self.meta) if self.meta else {}
        d["source"] = self.source
        d["id"] = self.id
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Example":
        return cls(**d)


@dataclass
class Rejected:
    """A record that could not be used, with where it came from and why."""

    source: str
    reason: str
    detail: str
    raw: str | None = None
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k in ("source", "reason", "detail", "raw", "id") if (v := getattr(self, k)) is not None}


@dataclass
class ReadResult:
    examples: list[Example] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    input_records: int = 0


class NoUsableRecords(InputError):
    """A file (or set of files) in which no record could be used."""


_json_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes for a str (C when built)


def _chat_json(content: Any) -> str | None:
    """``json.dumps(content, sort_keys=True, ensure_ascii=False)`` for ``{"messages": [{"role", "content"}...]}``
    with string values, written directly (2x faster: the hash of every example, twice per audit); None for
    any other shape."""
    if len(content) != 1 or type(content.get("messages")) is not list:
        return None
    parts = []
    for m in content["messages"]:
        if type(m) is not dict or len(m) != 2:
            return None
        c, r = m.get("content"), m.get("role")
        if type(c) is not str or type(r) is not str:
            return None
        parts.append('{"content": ' + _json_str(c) + ', "role": ' + _json_str(r) + "}")
    return '{"messages": [' + ", ".join(parts) + "]}"


def content_hash(content: Any) -> str:
    text = _chat_json(content) if type(content) is dict else None
    if text is None:
        text = json.dumps(content, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _validate_messages(msgs: Any) -> str | None:
    if not isinstance(msgs, list) or not msgs:
        return "field 'messages' must be a non-empty list"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return f"messages[{i}] must be an object"
        if m.get("role") not in ROLES:
            return f"messages[{i}].role must be one of {sorted(ROLES)}, got {m.get('role')!r}"
        if not isinstance(m.get("content"), str):
            return f"messages[{i}].content must be a string"
    return None


def example_from_record(rec: Any, source: str) -> Example:
    """Build an Example from one parsed JSON object; raise ValueError naming the field when it does not fit."""
    if not isinstance(rec, dict):
        raise ValueError(f"record must be a JSON object, got {type(rec).__name__}")
    meta = dict(rec["meta"]) if isinstance(rec.get("meta"), dict) else {}
    if "choices" in rec:  # multiple choice: the answer must be one of these
        ch = rec["choices"]
        if not isinstance(ch, list) or len(ch) < 2 or not all(isinstance(c, str) for c in ch):
            raise ValueError("field 'choices' must be a list of at least two strings")
        meta["choices"] = ch
    if "messages" in rec or "input" in rec:
        key = "messages" if "messages" in rec else "input"
        msgs = rec[key]
        if key == "input" and isinstance(msgs, str):
            msgs = [{"role": "user", "content": msgs}]
        err = _validate_messages(msgs)
        if err:
            raise ValueError(err.replace("'messages'", f"'{key}'").replace("messages[", f"{key}["))
        msgs = [{"role": m["role"], "content": m["content"]} for m in msgs]
        ideal = rec.get("ideal", rec.get("label"))
        if ideal is not None:
            if isinstance(ideal, list):
                if not ideal or not all(isinstance(x, str) for x in ideal):
                    raise ValueError("field 'ideal' must be a string or a non-empty list of strings")
                if len(ideal) > 1:
                    meta = {**meta, "alternatives": ideal[1:]}
                ideal = ideal[0]
            if not isinstance(ideal, str):
                raise ValueError(f"field 'ideal' must be a string, got {type(ideal).__name__}")
            if msgs[-1]["role"] == "assistant":
                raise ValueError("record has both a final assistant message and an 'ideal' answer")
            msgs.append({"role": "assistant", "content": ideal})
        if msgs[-1]["role"] != "assistant":
            raise ValueError(f"field '{key}': the last message must be the assistant's answer (or give 'ideal')")
        if not msgs[-1]["content"].strip():
            raise ValueError(f"field '{key}': the assistant's answer is empty")
        return Example(messages=msgs, meta=meta, source=source)
    if "prompt" in rec or "completion" in rec:
        for f in ("prompt", "completion"):
            if f not in rec:
                raise ValueError(f"missing field '{f}'")
            if not isinstance(rec[f], str):
                raise ValueError(f"field '{f}' must be a string, got {type(rec[f]).__name__}")
        if not rec["completion"].strip():
            raise ValueError("field 'completion' is empty")
        return Example(prompt=rec["prompt"], completion=rec["completion"], meta=meta, source=source)
    if "text" in rec:
        if not isinstance(rec["text"], str):
            raise ValueError(f"field 'text' must be a string, got {type(rec['text']).__name__}")
        label = rec.get("label")
        if label is None:
            raise ValueError("missing field 'label'")
        if not isinstance(label, (str, int)):
            raise ValueError(f"field 'label' must be a string, got {type(label).__name__}")
        return Example(text=rec["text"], label=str(label), meta=meta, source=source)
    raise ValueError("no content field: expected 'messages', 'input'+'ideal', 'prompt'+'completion' or 'text'+'label'")


# The readers and writers moved out (issue 12); they import the contract above, so they are re-exported
# lazily (PEP 562) rather than imported here: ``from tunewright.records import read_files`` keeps working.
_MOVED = {name: "tunewright.readers" for name in (
    "binary_reason", "collect", "iter_csv", "iter_files", "iter_jsonl", "parse_jsonl_line", "read_files", "utf8_error")}
_MOVED.update({name: "tunewright.writers" for name in (
    "iter_examples", "jsonl_writer", "read_examples", "read_json_lines", "write_jsonl")})


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
