"""Does mitigation reduce forgetting, and what does it cost the task? The run as trained (no mitigation) against
the same training with replay, with EWC (and with L2-SP when configured).

Each arm is a sub-run under ``RUN/mitigation/<arm>`` trained on the same split with the same budget, then
evaluated on the same test items and general suite; the base evaluation is the parent run's, so every arm is
compared with the same base items (paired intervals, the same forgetting gate). A finished arm is reused
when the command is run again. Writes ``RUN/mitigation.json``; the report shows it as a table and a plot.
"""

from __future__ import annotations

import shutil

from tunewright.config import Config
from tunewright.evaluation.forgetting import forgetting_verdict, general_comparison, task_comparison
from tunewright.evaluation.tasks import make_task
from tunewright.project import Run, read_json, write_json


def arms(cfg: Config) -> dict[str, list[str]]:
    st = cfg.general.mitigation_study
    out = {"replay": [f"training.replay_fraction={st.replay_fraction}"],
           "ewc": [f"training.ewc_lambda={st.ewc_lambda}"]}
    if st.l2sp_lambda > 0:
        out["l2sp"] = [f"training.l2sp_lambda={st.l2sp_lambda}"]
    return out


def _summary(cfg: Config, path, train_result: dict) -> dict:
    task = task_comparison(path, cfg)
    general_names = sorted(p.stem[len("general_"):] for p in (path / "eval" / "tuned").glob("general_*.jsonl"))
    higher = {n: read_json(path / "eval" / "tuned" / "metrics.json")["general"][n]["higher_is_better"]
              for n in general_names}
    general = general_comparison(path, cfg, general_names, higher)
    return {
        "task": {"metric": make_task(cfg.task).metric, **task},
        "general": {n: {"ability_change": c["ability_change"], "tuned_ci": c["tuned_ci"], "base_ci": c["base_ci"]}
                    for n, c in general.items()},
        "forgetting": forgetting_verdict(general, cfg.general.gate),
        "training": {k: train_result.get(k) for k in ("steps", "seconds", "replay_examples", "penalties",
                                                     "final_loss")},
    }


def compare_mitigations(cfg: Config, run: Run, session) -> dict:
    from tunewright.config import apply_overrides
    from tunewright.evaluation.evaluate import evaluate_model
    from tunewright.models import load_adapter_model, load_model
    from tunewright.pipeline import _load_split
    from tunewright.training.trainer import train_model

    if not (run.eval_dir / "base").is_dir() or not (run.eval_dir / "tuned").is_dir():
        raise FileNotFoundError(f"{run.path}: compare-mitigation needs eval/base and eval/tuned; run 'tunewright eval'")
    if cfg.training.replay_fraction > 0 or cfg.training.ewc_lambda > 0 or cfg.training.l2sp_lambda > 0:
        raise ValueError("compare-mitigation compares against the run as trained, which must use no mitigation "
                         "(training.replay_fraction, ewc_lambda and l2sp_lambda all 0)")
    train, test, validation = _load_split(run, "train"), _load_split(run, "test"), _load_split(run, "validation")
    results = {"none": _summary(cfg, run.path, read_json(run.path / "train_result.json"))}
    for name, overrides in arms(cfg).items():
        sub_cfg = Config.model_validate({**apply_overrides(cfg.model_dump(), overrides)})
        sub_cfg.base_dir = cfg.base_dir
        sub = Run(run.path / "mitigation" / name)
        want = {"parent": run.id, "overrides": overrides}
        done = sub.manifest_path.exists() and read_json(sub.manifest_path).get("want") == want
        if not done:
            shutil.rmtree(sub.path, ignore_errors=True)
            sub.path.mkdir(parents=True)
            write_json(sub.manifest_path, {"want": None, "status": "running"})  # "done" only once evaluated
            shutil.copytree(run.eval_dir / "base", sub.eval_dir / "base")  # the same base items for every arm
            model = load_model(session.model_ref(), cfg.model)
            result = train_model(sub_cfg, sub, train, model, session.tok())
            write_json(sub.path / "train_result.json", result.to_json())
            del model
            tuned = load_adapter_model(session.model_ref(), cfg.model, sub.model_dir)
            evaluate_model(sub_cfg, sub, "tuned", tuned, session.tok(), test, validation, train=train)
            del tuned
            write_json(sub.manifest_path, {"want": want, "status": "done"})
        results[name] = _summary(sub_cfg, sub.path, read_json(sub.path / "train_result.json"))
        results[name]["overrides"] = overrides
    out = {"arms": results}
    write_json(run.path / "mitigation.json", out)
    return out
