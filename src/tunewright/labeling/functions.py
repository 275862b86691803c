"""The labeling-function API: Python functions and YAML keyword / regex rules that vote on examples.

Two kinds of function:

- ``class``: ``f(text) -> label | ABSTAIN`` for whole-example labels (classification).
- ``span``:  ``f(text) -> [(name, TYPE), ...] | ABSTAIN`` for entities, the ``NAME - TYPE`` answers of the
  extraction task. A span function may also vote ``(name, NOT_ENTITY)`` to say a candidate is not an entity,
  so the label model can learn to reject candidates and not only to type them.

Python functions are collected from a module named in config (``package.module`` or a ``.py`` path); YAML
rules are validated with file, rule number, line and field in every error.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tunewright.records import Example
from tunewright.errors import InputError

ABSTAIN = None
NOT_ENTITY = "O"  # a span function's "this candidate is not an entity" vote
Kind = Literal["class", "span"]


class LabelingError(InputError):
    """A labeling function or rule file that cannot be used; the message says where."""


@dataclass
class LabelingFunction:
    name: str
    fn: Callable[[str], Any]
    kind: Kind = "class"
    origin: str = ""  # "module:function" or "rules.yaml:line", shown in the analysis and review evidence

    def __call__(self, text: str) -> Any:
        out = self.fn(text)
        if out is ABSTAIN:
            return ABSTAIN
        if self.kind == "class":
            if not isinstance(out, str):
                raise LabelingError(f"labeling function {self.name} ({self.origin}) returned "
                                    f"{type(out).__name__}; a class function returns a str label or ABSTAIN")
            return out
        ents = []
        for e in out:
            if not (isinstance(e, (tuple, list)) and len(e) == 2 and all(isinstance(x, str) for x in e)):
                raise LabelingError(f"labeling function {self.name} ({self.origin}) returned {e!r}; a span "
                                    "function returns a list of (name, TYPE) pairs or ABSTAIN")
            if e[0].strip():
                ents.append((e[0].strip(), e[1]))
        return ents


def labeling_function(name: str | None = None, kind: Kind = "class") -> Callable[[Callable], LabelingFunction]:
    """Decorator: ``@labeling_function(name="kw_bank", kind="span")`` turns a function into a labeling function."""
    if kind not in ("class", "span"):
        raise LabelingError(f"labeling_function kind must be 'class' or 'span', got {kind!r}")

    def deco(fn: Callable) -> LabelingFunction:
        return LabelingFunction(name or fn.__name__, fn, kind, f"{fn.__module__}:{fn.__name__}")

    return deco


def example_text(ex: Example) -> str:
    """The text a function labels: the last user message, the prompt, or the text field."""
    if ex.messages is not None:
        users = [m["content"] for m in ex.messages if m["role"] == "user"]
        return users[-1] if users else ""
    if ex.prompt is not None:
        return ex.prompt
    return ex.text or ""


# -- loading Python functions ------------------------------------------------------------------------------
def load_module_functions(module: str, base_dir: Path | None = None) -> list[LabelingFunction]:
    """Every LabelingFunction defined at the top level of ``module`` (a dotted name or a .py file path)."""
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.exists():
            raise LabelingError(f"labeling.functions_module: file not found: {path}")
        mod_name = f"tunewright_lfs_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        spec.loader.exec_module(mod)
    else:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise LabelingError(f"labeling.functions_module: cannot import {module!r}: {e}") from e
    fns = [v for v in vars(mod).values() if isinstance(v, LabelingFunction)]
    if not fns:
        raise LabelingError(f"labeling.functions_module: {module} defines no @labeling_function")
    return fns


# -- YAML rules --------------------------------------------------------------------------------------------
class Rule(BaseModel):
    """One declarative rule: keywords (whole words, any of) or a regex; votes ``label`` (class) or ``type`` (span)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Function name, unique across all functions.")
    kind: Kind = Field("class", description="'class' votes label for the example; 'span' proposes entities.")
    keywords: list[str] = Field(default_factory=list, description="Whole words or phrases; any one matches.")
    regex: str | None = Field(None, description="A Python regex; for span rules, group 1 (or the match) is the name.")
    case_sensitive: bool = Field(False, description="Match keywords / regex with case.")
    label: str | None = Field(None, description="Class rules: the label voted when the rule matches.")
    type: str | None = Field(None, description="Span rules: the entity TYPE (or 'O' for not-an-entity).")

    @model_validator(mode="after")
    def _check(self):
        if bool(self.keywords) == bool(self.regex):
            raise ValueError("give exactly one of 'keywords' or 'regex'")
        if self.kind == "class" and not self.label:
            raise ValueError("a class rule needs 'label'")
        if self.kind == "span" and not self.type:
            raise ValueError("a span rule needs 'type'")
        if self.regex:
            try:
                re.compile(self.regex)
            except re.error as e:
                raise ValueError(f"regex does not compile: {e}") from None
        return self

    def pattern(self) -> re.Pattern:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        if self.regex:
            return re.compile(self.regex, flags)
        words = "|".join(re.escape(k) for k in sorted(self.keywords, key=len, reverse=True))
        return re.compile(rf"(?<!\w)(?:{words})(?!\w)", flags)

    def to_function(self, origin: str) -> LabelingFunction:
        pat = self.pattern()
        if self.kind == "class":
            label = self.label

            def fn(text: str):
                return label if pat.search(text) else ABSTAIN
        else:
            etype = self.type

            def fn(text: str):
                ents = [((m.group(1) if pat.groups else m.group(0)), etype) for m in pat.finditer(text)]
                return ents or ABSTAIN
        return LabelingFunction(self.name, fn, self.kind, origin)


def load_rules(path: Path) -> list[LabelingFunction]:
    """Rules from a YAML file ``rules: [{name, kind, keywords|regex, label|type}, ...]``."""
    if not path.exists():
        raise LabelingError(f"labeling.rules_file: file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        raise LabelingError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise LabelingError(f"{path}: expected a top-level 'rules:' list")
    rules_node = next(v for k, v in root.value if k.value == "rules")
    out = []
    for i, (item, node) in enumerate(zip(data["rules"], rules_node.value, strict=True)):
        where = f"{path}:{node.start_mark.line + 1}: rules[{i}]"
        try:
            rule = Rule.model_validate(item)
        except ValidationError as e:
            msgs = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'rule'}: {err['msg']}" for err in e.errors())
            raise LabelingError(f"{where}: {msgs}") from None
        out.append(rule.to_function(f"{path.name}:{node.start_mark.line + 1}"))
    return out


def check_names(fns: list[LabelingFunction]) -> list[LabelingFunction]:
    seen: dict[str, str] = {}
    for f in fns:
        if f.name in seen:
            raise LabelingError(f"labeling function name {f.name!r} is used twice ({seen[f.name]} and {f.origin})")
        seen[f.name] = f.origin
    return fns
