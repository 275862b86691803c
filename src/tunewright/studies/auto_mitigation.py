"""``training.mitigation: auto``: a run does not hand over a model that fails the forgetting gate when a
mitigation it has would fix it.

When the model as first trained fails the gate on the final general suite, the arms of
``training.mitigation_arms`` are tried in order, each a sub-run (studies/subrun.py) under
``RUN/mitigation_auto/``:

1. every arm is scored on the **validation** split and on the general slice the tuning study uses (after the
   final suite's items, so disjoint from them); the model as first trained is scored on the same items;
2. an arm is accepted when its gate does not fail there and its task metric shows no significant loss against
   the first model (the paired interval of the difference does not lie wholly below zero);
3. the accepted arm's model is then scored on **test** and the final general suite, as the first model was;
   if the gate passes there too it is handed over, else the next arm is tried.

Choosing on validation and confirming on test keeps test out of the choice (a rule that kept the first arm that
looks good on test would flatter it). Handing over means the run's ``model/``, ``eval/tuned`` and
``train_result.json`` become the accepted arm's; the first model moves to ``RUN/mitigation_auto/unmitigated``
(a run directory like any other), and ``RUN/mitigation_auto.json`` records every arm, the rule and the
decision, which the report shows. When no arm passes, the first model stays and the gate fails as before.
"""

from __future__ import annotations

import shutil

from tunewright.config import Config
from tunewright.project import Run, read_json, write_json

RESULT = "mitigation_auto.json"
KIND = "mitigation_auto"


def _verdict(run_eval_dir, cfg: Config) -> dict:
    from tunewright.evaluation.artifacts import EvalArtifacts
    from tunewright.evaluation.forgetting import gate_verdict

    art = EvalArtifacts.load(run_eval_dir)
    return gate_verdict(art, cfg) | {"task": float(art.metrics["tuned"]["task"]["value"])}


def _paired_change(cfg: Config, first_eval, arm_eval) -> dict:
    """The arm's task metric minus the first model's, on the same items (paired bootstrap interval)."""
    from tunewright.evaluation.artifacts import EvalArtifacts
    from tunewright.evaluation.forgetting import paired_task_change

    return paired_task_change(cfg, EvalArtifacts.load(first_eval).predictions["tuned"],
                              EvalArtifacts.load(arm_eval).predictions["tuned"])["change_ci"]


def _hand_over(run: Run, chosen: Run) -> None:
    """The run's model, tuned evaluation and train result become ``chosen``'s; the first ones move to
    RUN/mitigation_auto/unmitigated (with a copy of the base evaluation, so it reads like a run)."""
    keep = run.path / KIND / "unmitigated"
    if not (keep / "manifest.json").exists():  # copied, not moved, and the manifest last: a crash loses nothing
        shutil.rmtree(keep, ignore_errors=True)
        (keep / "eval").mkdir(parents=True)
        for src, dst in ((run.eval_dir / "base", keep / "eval" / "base"), (run.eval_dir / "tuned", keep / "eval" / "tuned"),
                         (run.model_dir, keep / "model")):
            shutil.copytree(src, dst)
        shutil.copy2(run.path / "train_result.json", keep / "train_result.json")
        write_json(keep / "manifest.json", {"run_id": f"{run.id}/{KIND}/unmitigated", "parent": run.id,
                                            "kind": KIND, "status": "done", "config": run.manifest()["config"]})
    for src, dst in ((chosen.model_dir, run.model_dir), (chosen.eval_dir / "tuned", run.eval_dir / "tuned")):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    shutil.copy2(chosen.path / "train_result.json", run.path / "train_result.json")


def unmitigated_dir(run: Run):
    """Where the model as first trained lives: RUN/mitigation_auto/unmitigated after a hand-over, else RUN."""
    p = run.path / RESULT
    if p.exists() and read_json(p).get("handed_over"):
        return run.path / KIND / "unmitigated"
    return run.path


def auto_mitigate(cfg: Config, run: Run, session, notify=None) -> dict | None:
    """Apply the rule of the module doc to a trained and evaluated run; None when the gate passed (or
    ``training.mitigation`` is off, or no general suite ran). Reruns reuse every finished arm."""
    from tunewright.studies.subrun import parent_as_subrun, run_subrun
    from tunewright.studies.tune import tuning_overrides

    if cfg.training.mitigation != "auto" or not cfg.general.enabled:
        return None
    if (run.path / RESULT).exists():
        done = read_json(run.path / RESULT)
        if done.get("handed_over"):  # idempotent: finishes a hand-over a crash interrupted
            _hand_over(run, Run(run.path / done["handed_over"]["path"]))
        return done
    first = _verdict(run.eval_dir, cfg)
    if first["verdict"] != "fail":
        return None
    say = notify or (lambda _m: None)
    say(f"forgetting gate failed ({'; '.join(first['reasons'])}); trying {len(cfg.training.mitigation_arms)} "
        "mitigation arms (training.mitigation: auto)")
    shared = tuning_overrides(cfg)
    none = run_subrun(run, cfg, KIND, "first-validation", shared, session, eval_split="validation",
                      model_from=parent_as_subrun(run, cfg))
    out = {"rule": "arms in order; accept the first whose gate does not fail on the validation split and the "
                   "tuning slice of the general suite and whose task metric shows no significant loss against "
                   "the first model there (paired 95% interval not wholly below zero); confirm on test and the "
                   "final suite, where its gate must not fail; else try the next",
           "first": {"test": first, "validation": _verdict(none.run.eval_dir, none.cfg)}, "arms": [],
           "handed_over": None}
    for i, arm in enumerate(cfg.training.mitigation_arms):
        overrides = arm.overrides(cfg.training)
        name = f"arm{i + 1}"
        sub = run_subrun(run, cfg, KIND, f"{name}-validation", [*shared, *overrides], session, eval_split="validation")
        v = _verdict(sub.run.eval_dir, sub.cfg)
        change = _paired_change(cfg, none.run.eval_dir, sub.run.eval_dir)
        rec = {"arm": name, "label": arm.label(), "overrides": overrides, "validation": v, "task_change": change,
               "seconds": float(sub.train_result().get("seconds", 0.0)),
               "accepted": v["verdict"] != "fail" and change["high"] >= 0}
        say(f"  {name} ({arm.label()}): validation gate {v['verdict']}, task change {change['value']:+.3f} "
            f"[{change['low']:+.3f}, {change['high']:+.3f}]" + (" -> confirm on test" if rec["accepted"] else ""))
        if rec["accepted"]:
            test = run_subrun(run, cfg, KIND, f"{name}-test", overrides, session, eval_split="test", model_from=sub)
            rec["test"] = _verdict(test.run.eval_dir, test.cfg)
            rec["test_task_change"] = _paired_change(cfg, run.eval_dir, test.run.eval_dir)
            say(f"  {name} on test: gate {rec['test']['verdict']}, task {first['task']:.4f} -> {rec['test']['task']:.4f}")
            if rec["test"]["verdict"] != "fail":
                out["arms"].append(rec)
                out["handed_over"] = {"arm": name, "label": arm.label(), "overrides": overrides,
                                      "path": str(test.run.path.relative_to(run.path))}
                write_json(run.path / RESULT, out)
                _hand_over(run, test.run)
                run.update_manifest(mitigation_auto={"arm": name, "overrides": overrides})
                return out
        out["arms"].append(rec)
    if out["handed_over"] is None:
        say("  no arm passed; the model as first trained is kept and the gate fails")
    write_json(run.path / RESULT, out)
    return out
