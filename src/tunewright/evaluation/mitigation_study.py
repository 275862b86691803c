"""Does mitigation reduce forgetting, and what does it cost the task? The run as trained (no mitigation) against
the same training with replay, with EWC (and with L2-SP when configured).

Each arm is a sub-run under ``RUN/mitigation/<arm>`` trained on the same split with the same budget, then
evaluated on the same test items and general suite; the base evaluation is the parent run's, so every arm is
compared with the same base items (paired intervals, the same forgetting gate). A finished arm is reused
when the command is run again. Writes ``RUN/mitigation.json``; the report shows it as a table and a plot.
"""

from __future__ import annotations

from tunewright.config import Config
from tunewright.evaluation.artifacts import EvalArtifacts
from tunewright.evaluation.forgetting import forgetting_verdict, general_comparison, task_comparisons
from tunewright.evaluation.tasks import make_task
from tunewright.project import Run, read_json, write_json
from tunewright.errors import InputError, MissingArtifact


def arms(cfg: Config) -> dict[str, list[str]]:
    st = cfg.general.mitigation_study
    out = {"replay": [f"training.replay_fraction={st.replay_fraction}"],
           "ewc": [f"training.ewc_lambda={st.ewc_lambda}"]}
    if st.l2sp_lambda > 0:
        out["l2sp"] = [f"training.l2sp_lambda={st.l2sp_lambda}"]
    return out


def _summary(cfg: Config, path, train_result: dict) -> dict:
    art = EvalArtifacts.load(path / "eval")
    task, _ = task_comparisons(art, cfg)
    general_names = sorted(art.general["tuned"])
    higher = {n: art.metrics["tuned"]["general"][n]["higher_is_better"] for n in general_names}
    general = general_comparison(art, cfg, general_names, higher)
    return {
        "task": {"metric": make_task(cfg.task).metric, **task},
        "general": {n: {"ability_change": c["ability_change"], "tuned_ci": c["tuned_ci"], "base_ci": c["base_ci"]}
                    for n, c in general.items()},
        "forgetting": forgetting_verdict(general, cfg.general.gate),
        "training": {k: train_result.get(k) for k in ("steps", "seconds", "replay_examples", "penalties",
                                                     "final_loss")},
    }


def compare_mitigations(cfg: Config, run: Run, session) -> dict:
    """Each arm as a sub-run (studies/subrun.py) of the run, against the run as trained; writes mitigation.json."""
    from tunewright.studies.auto_mitigation import unmitigated_dir
    from tunewright.studies.subrun import run_subrun

    if not (run.eval_dir / "base").is_dir() or not (run.eval_dir / "tuned").is_dir():
        raise MissingArtifact(f"{run.path}: compare-mitigation needs eval/base and eval/tuned; run 'tunewright eval'")
    if cfg.training.replay_fraction > 0 or cfg.training.ewc_lambda > 0 or cfg.training.l2sp_lambda > 0:
        raise InputError("compare-mitigation compares against the run as trained, which must use no mitigation "
                         "(training.replay_fraction, ewc_lambda and l2sp_lambda all 0)")
    first = unmitigated_dir(run)  # the model as first trained, also after training.mitigation: auto handed over another
    results = {"none": _summary(cfg, first, read_json(first / "train_result.json"))}
    for name, overrides in arms(cfg).items():
        sub = run_subrun(run, cfg, "mitigation", name, overrides, session)
        results[name] = _summary(sub.cfg, sub.run.path, sub.train_result())
        results[name]["overrides"] = overrides
    out = {"arms": results}
    write_json(run.path / "mitigation.json", out)
    return out
