"""Experiment tracking (``tracking.report_to``: mlflow, wandb, tensorboard).

Training curves go through transformers' own integrations (the Trainer's ``report_to``); tunewright adds
what only it knows once the report is written: the task metric with its interval, the forgetting verdict
and the general suite, the audit counts and the cost, and the report files as artifacts. Both land in one
tracker run per tunewright run: its id is kept in the manifest (``tracking``), so ``tunewright report`` in
a later process logs into the run that training started.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable

from tunewright.config import Config
from tunewright.project import Run


def _experiment(cfg: Config) -> str:
    return cfg.tracking.experiment or cfg.project.name


def _mlflow_uri(cfg: Config) -> str:
    uri = cfg.tracking.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    return uri or (Path(cfg.resolve(cfg.project.runs_dir)).resolve() / "mlruns").as_uri()


def tracker_ids(cfg: Config, run: Run) -> dict[str, str]:
    """The tracker run ids of this tunewright run, created on first use and kept in the manifest."""
    ids = dict(run.manifest().get("tracking", {}))
    todo = [t for t in cfg.tracking.report_to if t not in ids]
    if "mlflow" in todo:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(_mlflow_uri(cfg))
        exp = client.get_experiment_by_name(_experiment(cfg))
        exp_id = exp.experiment_id if exp else client.create_experiment(_experiment(cfg))
        ids["mlflow"] = client.create_run(exp_id, run_name=run.id, tags={"tunewright.run_dir": str(run.path)}).info.run_id
    if "wandb" in todo:
        ids["wandb"] = secrets.token_hex(4)
    if "tensorboard" in todo:
        ids["tensorboard"] = str(run.path / "tensorboard")
    if todo:
        run.update_manifest(tracking=ids)
    return ids


def apply_training_env(cfg: Config, run: Run) -> Callable[[], None]:
    """Set the environment the Trainer's integrations read (when the Trainer is built and when training
    begins), so they log into this run's tracker runs; returns the function that restores it."""
    if not cfg.tracking.report_to:
        return lambda: None
    ids = tracker_ids(cfg, run)
    env = {}
    if "mlflow" in ids:
        env |= {"MLFLOW_TRACKING_URI": _mlflow_uri(cfg), "MLFLOW_RUN_ID": ids["mlflow"],
                "MLFLOW_EXPERIMENT_NAME": _experiment(cfg)}
    if "wandb" in ids:
        env |= {"WANDB_PROJECT": _experiment(cfg), "WANDB_RUN_ID": ids["wandb"], "WANDB_RESUME": "allow",
                "WANDB_DIR": str(run.path)}
    if "tensorboard" in ids:
        env["TENSORBOARD_LOGGING_DIR"] = ids["tensorboard"]
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)

    def restore() -> None:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    return restore


def report_metrics(report: dict) -> dict[str, float]:
    """tunewright's own numbers from report.json, flat: task metric with interval, forgetting, audit, cost."""
    out: dict[str, float] = {}
    t = report.get("task", {})
    for k in ("base", "tuned", "change"):
        if isinstance(t.get(k), (int, float)):
            out[f"task/{t['metric']}/{k}"] = t[k]
    for k in ("base_ci", "tuned_ci", "change_ci"):
        ci = t.get(k) or {}
        for end in ("low", "high"):
            if isinstance(ci.get(end), (int, float)):
                out[f"task/{t['metric']}/{k}_{end}"] = ci[end]
    if "n" in t:
        out["task/n"] = t["n"]
    f = report.get("forgetting", {})
    if f.get("verdict"):
        out["forgetting/verdict_code"] = {"pass": 0, "warn": 1, "fail": 2}.get(f["verdict"], -1)
    for name, g in report.get("general", {}).items():
        for k in ("base", "tuned", "rel_change"):
            if isinstance(g.get(k), (int, float)):
                out[f"general/{name}/{k}"] = g[k]
    d = report.get("data", {})
    for k in ("input_records", "used", "quarantined"):
        if isinstance(d.get(k), (int, float)):
            out[f"audit/{k}"] = d[k]
    for reason, n in (d.get("reasons") or {}).items():
        out[f"audit/reason/{reason}"] = n
    _numbers(report.get("cost") or {}, "cost", out, depth=3)
    return out


def _numbers(node, prefix: str, out: dict, depth: int) -> None:
    """Every number in a (nested) dict, keyed by its path; lists are left out."""
    if depth < 0 or not isinstance(node, dict):
        return
    for k, v in node.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            out[f"{prefix}/{k}"] = v
        elif isinstance(v, dict):
            _numbers(v, f"{prefix}/{k}", out, depth - 1)


def _mlflow_key(key: str) -> str:  # MLflow keys: alphanumerics, _ - . space / only
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in key)


def log_report(cfg: Config, run: Run, report: dict) -> dict[str, str]:
    """Log the report's numbers and files to every configured tracker; returns the tracker run ids."""
    if not cfg.tracking.report_to:
        return {}
    ids = tracker_ids(cfg, run)
    metrics = report_metrics(report)
    files = [p for p in (run.path / "report.html", run.path / "report.json", run.data_dir / "audit.json",
                         run.path / "manifest.json") if p.exists()]
    f = report.get("forgetting", {})
    if "mlflow" in ids:
        from mlflow.entities import Metric, RunTag
        from mlflow.tracking import MlflowClient

        client = MlflowClient(_mlflow_uri(cfg))
        import time

        now = int(time.time() * 1000)
        client.log_batch(ids["mlflow"], metrics=[Metric(_mlflow_key(k), float(v), now, 0) for k, v in metrics.items()],
                         tags=[RunTag("tunewright.forgetting", str(f.get("verdict"))),
                               RunTag("tunewright.metric", str(report.get("task", {}).get("metric")))])
        for p in files:
            client.log_artifact(ids["mlflow"], str(p), artifact_path="tunewright")
        client.set_terminated(ids["mlflow"])
    if "wandb" in ids:
        import wandb

        r = wandb.run if wandb.run is not None and wandb.run.id == ids["wandb"] else wandb.init(
            project=_experiment(cfg), id=ids["wandb"], resume="allow", dir=str(run.path), name=run.id)
        r.summary.update(metrics)
        r.summary["forgetting/verdict"] = f.get("verdict")
        art = wandb.Artifact(f"tunewright-report-{run.id}", type="report")
        for p in files:
            art.add_file(str(p))
        r.log_artifact(art)
        r.finish()
    if "tensorboard" in ids:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(ids["tensorboard"]) as w:
            for k, v in metrics.items():
                w.add_scalar(k, v, 0)
            w.add_text("tunewright/report", f"forgetting gate: {f.get('verdict')}; report: {run.path / 'report.html'}")
    return ids
