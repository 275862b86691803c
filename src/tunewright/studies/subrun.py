"""The sub-run primitive: a child run of a parent run with config overrides.

Every study (learning curve, mitigation comparison, tuning trials, base-model candidates) is a set of
sub-runs. A sub-run lives in ``PARENT/<kind>/<name>/`` and is a run like any other: a real manifest (the
child's full config, seeds, the parent's id, data hashes and split, package versions), ``model/``,
``train_result.json``, ``eval/base`` and ``eval/tuned``, so the report reads it like a run.

It trains on the parent's training split (``train_examples`` of it, when given) and evaluates on the
parent's test split, or on its validation split for studies that must not look at test (tuning). The
parent's base evaluation of the same items is reused (copied), so every arm is compared with the same base.

What a sub-run is asked to do is its ``want`` (the overrides, the share of the data, the split it is scored
on, the parent). A finished sub-run with the same want is reused; an unfinished one with the same want
resumes from its last complete checkpoint; a different want starts it afresh.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from tunewright.config import Config, apply_overrides, config_to_dict
from tunewright.errors import MissingArtifact
from tunewright.project import Run, package_versions, read_json, write_json


@dataclass(frozen=True)
class SubRun:
    run: Run
    cfg: Config
    overrides: tuple[str, ...]
    reused: bool

    def metrics(self) -> dict:
        return read_json(self.run.eval_dir / "tuned" / "metrics.json")

    def train_result(self) -> dict:
        return read_json(self.run.path / "train_result.json")


@dataclass(frozen=True)
class _Trained:  # what run_subrun reads of a TrainResult when the weights were copied from another sub-run
    steps: int


def _earlier_seconds(sub: Run) -> dict:
    """What a sub-run resumed after a rung spent before it: its training up to the rung and the rung's evaluation
    (train_result.json and eval/tuned are overwritten by the resumed training), so a trial's cost stays whole."""
    p = sub.path / "train_result.json"
    if not p.exists():
        return {}
    old = read_json(p)
    m = sub.eval_dir / "tuned" / "metrics.json"
    ev = sum(float(v) for v in read_json(m).get("timings", {}).values()) if m.exists() else 0.0
    return {"earlier_train_seconds": round(float(old["seconds"]) + float(old.get("earlier_train_seconds", 0.0)), 2),
            "earlier_eval_seconds": round(ev + float(old.get("earlier_eval_seconds", 0.0)), 2)}


def parent_as_subrun(run: Run, cfg: Config) -> SubRun:
    """The parent run seen as a finished sub-run (its own model and train_result), for ``model_from``."""
    return SubRun(run, cfg, (), reused=True)


def child_config(parent_cfg: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """The parent's config with ``KEY=VALUE`` overrides applied (validated like any config)."""
    from tunewright.config import ConfigError
    from pydantic import ValidationError

    try:
        cfg = Config.model_validate(apply_overrides(config_to_dict(parent_cfg), list(overrides)))
    except ValidationError as e:
        raise ConfigError(f"sub-run overrides {list(overrides)}: {e}") from None
    cfg.base_dir = parent_cfg.base_dir
    return cfg


def want_of(parent: Run, overrides, train_examples: int | None, eval_split: str, general: bool) -> dict:
    return {"parent": parent.id, "overrides": list(overrides), "train_examples": train_examples,
            "eval_split": eval_split, "general": general}


def want_key(want: dict) -> str:
    return hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()[:12]


def base_eval_dir(parent: Run, eval_split: str, general: bool) -> Path:
    """Where the parent's base evaluation of ``eval_split`` lives: eval/base for test (as ``tunewright eval``
    writes it), a study folder of the parent for validation."""
    if eval_split == "test" and general:
        return parent.eval_dir / "base"
    return parent.path / "studies_base" / f"{eval_split}{'' if general else '-nogeneral'}" / "eval" / "base"


def ensure_base_eval(parent: Run, cfg: Config, session, eval_split: str, general: bool) -> Path:
    """The base model's evaluation on the items a sub-run is scored on, computed once per parent."""
    from tunewright.data.split import read_split
    from tunewright.evaluation.evaluate import evaluate_model
    from tunewright.models import load_model

    import fcntl

    d = base_eval_dir(parent, eval_split, general)
    if (d / "metrics.json").exists():
        return d
    if d == parent.eval_dir / "base":
        raise MissingArtifact(f"{parent.path}: no base evaluation; run 'tunewright eval --run {parent.path}' first")
    holder = Run(d.parent.parent)
    holder.path.mkdir(parents=True, exist_ok=True)
    with open(holder.path / ".lock", "w") as lock:  # several workers of one study: one evaluates, the rest wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (d / "metrics.json").exists():
            return d
        if not holder.manifest_path.exists():
            write_json(holder.manifest_path, {"parent": parent.id, "config": config_to_dict(cfg), "status": "base"})
        model = load_model(session.model_ref(), cfg.model)
        evaluate_model(cfg, holder, "base", model, session.tok(), read_split(parent, eval_split), [],
                   train=read_split(parent, "train"))
        del model
    return d


def run_subrun(parent: Run, parent_cfg: Config, kind: str, name: str, overrides: list[str], session, *,
               train_examples: int | None = None, eval_split: str = "test", general: bool | None = None,
               with_base: bool = True, heldout: bool = True, stop_at_step: int | None = None,
               own_base: bool = False, model_from: SubRun | None = None) -> SubRun:
    """Train and evaluate the child ``PARENT/<kind>/<name>`` of ``parent`` with ``overrides`` (see module doc).

    ``general=False`` leaves the general suite out; ``with_base=False`` skips the base evaluation (a study
    that only compares children with each other, like the learning curve); ``heldout=False`` skips the
    validation loss. ``stop_at_step`` trains only that far (a tuning rung) and evaluates; the same call
    without it later resumes from that checkpoint to the end.

    ``own_base``: the child's base model is not the parent's (a candidate of ``select``, whose overrides
    change ``model``), so its base is evaluated here on the same items instead of copied; ``session`` must
    then resolve the child's model. ``model_from``: a finished sub-run whose training is this one's (same
    model, data and training settings, scored on another split); its weights are copied, not retrained. It may be
    the parent itself (``parent_as_subrun``): the parent's own model scored on another split."""
    from tunewright.data.split import read_split
    from tunewright.evaluation.evaluate import evaluate_model
    from tunewright.models import load_adapter_model, load_model
    from tunewright.training.trainer import train_model

    overrides = list(overrides)
    if general is False:
        overrides.append("general.enabled=false")
    cfg = child_config(parent_cfg, overrides)
    general = cfg.general.enabled
    want = want_of(parent, overrides, train_examples, eval_split, general) | {"base": with_base, "heldout": heldout}
    if own_base:  # only when set, so the wants (and reuse) of existing studies are unchanged
        want["own_base"] = True
    if model_from is not None:
        src = model_from.run.path
        want["model_from"] = {"path": str(src.relative_to(parent.path) if src.is_relative_to(parent.path) else src),
                              "want_key": read_json(model_from.run.manifest_path).get("want_key", "run")}
    sub = Run(parent.path / kind / name)
    old = read_json(sub.manifest_path) if sub.manifest_path.exists() else None
    if old and old.get("want") == want and (old.get("status") == "done" or (
            stop_at_step is not None and old.get("status") == f"rung:{stop_at_step}")):
        return SubRun(sub, cfg, tuple(overrides), reused=True)
    resume = bool(old and old.get("want") == want and (sub.path / "checkpoints").is_dir())
    if not resume:
        shutil.rmtree(sub.path, ignore_errors=True)
        sub.path.mkdir(parents=True)
    pm = parent.manifest()
    write_json(sub.manifest_path, {
        "run_id": sub.id, "parent": parent.id, "kind": kind, "want": want, "want_key": want_key(want),
        "status": "running", "config": config_to_dict(cfg), "config_dir": str(cfg.base_dir),
        "seeds": {"split": cfg.split.seed, "training": cfg.training.seed},
        "data_hashes": pm.get("data_hashes", {}), "split": pm.get("split", {}), "audit": pm.get("audit", {}),
        "versions": package_versions(),
    })
    full_train = read_split(parent, "train")  # task.max_new_tokens auto reads the parent's training answers
    if with_base and own_base and not (sub.eval_dir / "base" / "metrics.json").exists():
        with sub.stage("eval_base"):
            model = load_model(session.model_ref(), cfg.model)
            validation = read_split(parent, "validation") if eval_split == "test" and heldout else []
            evaluate_model(cfg, sub, "base", model, session.tok(), read_split(parent, eval_split), validation,
                           train=full_train)
            del model
    elif with_base and not (sub.eval_dir / "base").exists():
        base = ensure_base_eval(parent, parent_cfg if eval_split == "test" and general else cfg, session,
                                eval_split, general)
        shutil.copytree(base, sub.eval_dir / "base")  # the same base items for every child
    train = full_train[:train_examples] if train_examples is not None else full_train
    with sub.stage("train"):
        if model_from is not None:
            shutil.rmtree(sub.model_dir, ignore_errors=True)
            shutil.copytree(model_from.run.model_dir, sub.model_dir)
            shutil.copy2(model_from.run.path / "train_result.json", sub.path / "train_result.json")
            result = _Trained(int(read_json(sub.path / "train_result.json")["steps"]))
        else:
            earlier = _earlier_seconds(sub) if resume else {}
            model = load_model(session.model_ref(), cfg.model)
            result = train_model(cfg, sub, train, model, session.tok(), resume=resume, stop_at_step=stop_at_step)
            write_json(sub.path / "train_result.json", result.to_json() | earlier)
            del model
    with sub.stage("eval_tuned"):
        tuned = load_adapter_model(session.model_ref(), cfg.model, sub.model_dir)
        validation = read_split(parent, "validation") if eval_split == "test" and heldout else []
        evaluate_model(cfg, sub, "tuned", tuned, session.tok(), read_split(parent, eval_split), validation,
                       train=full_train)
        del tuned
    stopped = stop_at_step is not None and result.steps < cfg.training.max_steps
    sub.update_manifest(status=f"rung:{result.steps}" if stopped else "done")
    return SubRun(sub, cfg, tuple(overrides), reused=False)
