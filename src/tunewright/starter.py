"""``tunewright init --data FILE``: a short config holding only what differs from the neutral defaults,
inferred from a sample of the data (:mod:`tunewright.data.profile`), each choice with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tunewright.config import Config, ConfigError
from tunewright.data.profile import DataProfile, Finding, profile_files

DEFAULT_MODEL = Config().model.name_or_path


@dataclass
class StarterConfig:
    path: Path
    text: str
    profile: DataProfile
    findings: list[Finding]  # what was inferred and why, in the order it was decided


def _relative(file: str, config_dir: Path) -> str:
    """The path as the config should hold it: relative to the config's folder when inside it, else absolute."""
    if file.startswith("pkg:"):
        return file
    p = Path(file).resolve()
    try:
        return str(p.relative_to(config_dir.resolve()))
    except ValueError:
        return str(p)


def starter_values(profile: DataProfile, train: list[str], test: list[str], model: str | None) -> dict:
    """The config fields that differ from the defaults, as a nested dict ready for YAML."""
    data: dict = {"train_files": train}
    if test:
        data["test_files"] = test
    if profile.format != "auto":
        data["format"] = profile.format
    if profile.choices_from_prompt:
        data["choices_from_prompt"] = True
    task: dict = {"type": profile.task_type}
    if profile.labels:
        task["labels"] = profile.labels
    if profile.entity_types:
        task["entity_types"] = profile.entity_types
    if profile.empty_answer and profile.empty_answer != Config().task.empty_answer:
        task["empty_answer"] = profile.empty_answer
    if profile.metric:
        task["metric"] = profile.metric
    if profile.task_type != "multiple_choice":
        task["max_new_tokens"] = profile.max_new_tokens
    out: dict = {}
    if model and model != DEFAULT_MODEL:
        # a hub id or a local folder of safetensors; only the default packaged model is a GGUF
        out["model"] = {"name_or_path": model, "gguf_file": None}
    out["data"] = data
    out["task"] = task
    return out


def write_starter_config(data: list[str], out: Path, test: list[str] | None = None,
                         model: str | None = None) -> StarterConfig:
    """Profile ``data``, write the short config to ``out`` (never over an existing file) and say why."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; tunewright init does not overwrite a config (remove it or pick "
                              "another path)")
    profile = profile_files(data)
    if not profile.records:
        raise ConfigError(f"{', '.join(data)}: no usable record in the first lines to infer a config from")
    train = [_relative(f, out.parent) for f in data]
    tests = [_relative(f, out.parent) for f in (test or [])]
    values = starter_values(profile, train, tests, model)
    Config.model_validate(values)  # what we write must load
    findings = [Finding("data.format", profile.format, f"read {profile.records} records from the start of "
                        f"{', '.join(data)}" + (f" ({profile.rejected} unreadable)" if profile.rejected else ""))]
    findings += profile.findings
    if tests:
        findings.append(Finding("data.test_files", tests, "held out as given; the split then only carves validation"))
    if model and model != DEFAULT_MODEL:
        findings.append(Finding("model.name_or_path", model, "as given (a hub id or a folder of safetensors)"))
    header = [
        "# tunewright.yaml written by 'tunewright init --data' from a sample of the data.",
        "# Only what differs from the defaults is here; 'tunewright config --full' lists every field, its default",
        "# and what it means. data.system_prompt is unset (null): each record keeps its own system message.",
        "",
    ]
    text = "\n".join(header) + yaml.safe_dump(values, sort_keys=False, allow_unicode=True, width=110,
                                                 default_flow_style=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "x", encoding="utf-8") as f:  # 'x': a file that appeared meanwhile is not overwritten
        f.write(text)
    return StarterConfig(out, text, profile, findings)
