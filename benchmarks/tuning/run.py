"""Grid against `tune` on a subset of the demo task (issue 14).

The same parent run (the quick demo's data and split, trained once with the default configuration) is copied
three times and studied three ways, each a real `tunewright.studies.tune.tune` call whose trials are sub-runs
scored on validation and on the general slice that is disjoint from the final suite (``--real-tpe`` adds the
second):

- grid: every combination of the space's choices (G of them; Optuna's GridSampler), each trial also scored at
  the pruning rung (keep_fraction 1: nothing is pruned, so every rung value is known);
- tpe (``--real-tpe``): the default sampler with at most G/3 trials, no pruning.

The space (since the fourth session of 2026-12-02): learning rate {1e-4, 3e-4, 1e-3, 3e-3} x ewc_lambda
{0, 0.02, 0.1} x replay_fraction {0, 0.1}, G = 24, so G/3 = 8 trials; the general slice is tuning's default
(20 paragraphs per file, 40 MMLU questions). The first version (3 x 3, a 4-paragraph slice) measured the
slice's noise more than the sampler.

Hypervolume is over (validation metric up, general ability change up) from the reference point (0, worst
ability change of the grid - 0.01). Compute is the trials' measured seconds (training plus evaluation).

Because training is deterministic for a seed, the grid's trials are a lookup table of what any trial of this
space would score. On that table the script replays many sampler seeds (real Optuna samplers, ask/tell), each
study starting with the default configuration as `tune` does: random search and TPE with G/3 trials (TPE with
Optuna's 10 startup trials, and with ``n_startup_trials`` 2 and 3), and each TPE with the Pareto successive
halving of `tune` (tuning.rungs, keep_fraction, min_peers) at the same compute budget as its no-pruning
replay. A pruned trial costs its training up to the rung plus the rung's evaluation (both measured on the
grid's trials). The replay is what the distribution over seeds comes from; the real tpe study checks that the
table holds (its trials must reproduce the grid's numbers for the same settings).

Each change against its baseline (n_startup_trials against Optuna's 10, pruning against none) is also given as a
paired interval: the mean over seeds of the seed's ratio with the change minus without, bootstrapped over seeds.
``--replay-from results.json`` redoes only the replays on an earlier run's table (seconds, no training).

    PYTHONPATH=src python benchmarks/tuning/run.py [--steps 16] [--replays 200] [--tag=-g24]
    PYTHONPATH=src python benchmarks/tuning/run.py --replay-from benchmarks/tuning/results-2026-12-03-g24.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from tunewright.pipeline import Session, load_demo_config, run_all  # noqa: E402
from tunewright.precision import cpu_model  # noqa: E402
from tunewright.project import Run  # noqa: E402
from tunewright.studies.subrun import child_config  # noqa: E402
from tunewright.studies.tune import keep_at_rung, tune  # noqa: E402

LRS = [1e-4, 3e-4, 1e-3, 3e-3]
EWC = [0.0, 0.02, 0.1]
REPLAY = [0.0, 0.1]
SPACE = {"training.learning_rate": LRS, "training.ewc_lambda": EWC, "training.replay_fraction": REPLAY}
DEFAULT = (1e-3, 0.0, 0.0)  # the demo's own values: `tune` enqueues them as trial 0, and so does every replay
STARTUPS = (None, 2, 3)  # TPE's n_startup_trials in the replays (None: Optuna's default, 10)
G = math.prod(len(v) for v in SPACE.values())  # the grid's size; studies get G // 3 trials
KEEP_FRACTION, MIN_PEERS = 0.5, 3  # tune's pruning defaults, used by the pruned replays


def hypervolume(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` (both coordinates maximised) above ``ref``."""
    pts = sorted({p for p in points if p[0] > ref[0] and p[1] > ref[1]}, key=lambda p: (-p[0], -p[1]))
    area, best_y = 0.0, ref[1]
    for x, y in pts:  # sweep from the largest metric down; each point adds the strip its ability change opens
        if y > best_y:
            area += (x - ref[0]) * (y - best_y)
            best_y = y
    return area


def space_yaml() -> str:
    return "{" + ", ".join(f"{k}: {{choices: [" + ", ".join(f"{v:g}" for v in vs) + "]}" for k, vs in SPACE.items()) + "}"


def key_of(overrides: list[str]) -> tuple[float, ...]:
    d = dict(o.split("=", 1) for o in overrides)
    return tuple(float(d[k]) for k in SPACE)


def replay(table: dict, n_trials: int, seed: int, sampler: str, budget: float | None, rung_key: str,
           keep_fraction: float, min_peers: int, startup: int | None = None) -> dict:
    """One study on the lookup table, the default configuration first (as `tune` enqueues it): n_trials (no
    pruning) or, with ``budget``, trials until the compute is spent with Pareto successive halving at the rung."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kw = {} if startup is None else {"n_startup_trials": startup}
    s = (optuna.samplers.TPESampler(seed=seed, multivariate=True, **kw) if sampler == "tpe"
         else optuna.samplers.RandomSampler(seed=seed))
    study = optuna.create_study(directions=["maximize", "maximize"], sampler=s)
    study.enqueue_trial(dict(zip(SPACE, DEFAULT)))
    spent, done, rungs = 0.0, [], {}
    while (budget is None and len(done) < n_trials) or (budget is not None and spent < budget):
        tr = study.ask()
        k = tuple(tr.suggest_categorical(name, vs) for name, vs in SPACE.items())
        row = table[k]
        if budget is not None:
            rungs[tr.number] = tuple(row["rungs"][rung_key])
            if not keep_at_rung(rungs, tr.number, keep_fraction, min_peers):
                spent += row["rung_cost"]
                study.tell(tr, state=optuna.trial.TrialState.PRUNED)
                continue
        spent += row["seconds"] + (row["rung_eval_seconds"] if budget is not None else 0.0)  # a pruning run scores the rung too
        study.tell(tr, [row["metric"], row["ability_change"]])
        done.append(k)
    return {"trials": done, "seconds": spent, "points": [(table[k]["metric"], table[k]["ability_change"]) for k in done],
            "pruned": len(study.trials) - len(done)}


def replays(table: dict, k: int, n: int, rung_key: str) -> dict[str, list[dict]]:
    """``n`` seeds of random search and of TPE (each startup setting), with and without pruning at the same compute."""
    rep: dict[str, list[dict]] = {"random": []}
    for seed in range(n):
        rep["random"].append(replay(table, k, seed, "random", None, rung_key, KEEP_FRACTION, MIN_PEERS))
        for st in STARTUPS:
            name = "tpe" if st is None else f"tpe_startup_{st}"
            no_prune = replay(table, k, seed, "tpe", None, rung_key, KEEP_FRACTION, MIN_PEERS, st)
            rep.setdefault(name, []).append(no_prune)
            rep.setdefault(name + "_pruned_same_budget", []).append(
                replay(table, k, seed, "tpe", no_prune["seconds"], rung_key, KEEP_FRACTION, MIN_PEERS, st))
    return rep


def paired(a: list[float], b: list[float], n: int = 5000) -> list[float]:
    """Mean of a - b over seeds and its 95% bootstrap interval (resampling seeds)."""
    import random

    rng = random.Random(0)
    d = [x - y for x, y in zip(a, b)]
    means = sorted(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(n))
    return [sum(d) / len(d), means[int(0.025 * n)], means[int(0.975 * n)]]


def summarize(rep: dict[str, list[dict]], table: dict, ref: tuple[float, float]) -> dict:
    grid_pts = [(r["metric"], r["ability_change"]) for r in table.values()]
    hv_grid, grid_s = hypervolume(grid_pts, ref), sum(r["seconds"] for r in table.values())
    ratios = {name: [hypervolume(r["points"], ref) / hv_grid for r in rows] for name, rows in rep.items()}

    def summary(name: str, rows: list[dict]) -> dict:
        hv = sorted(ratios[name])
        cr = sorted(r["seconds"] / grid_s for r in rows)
        return {"hypervolume_ratio_median": hv[len(hv) // 2], "hypervolume_ratio_mean": sum(hv) / len(hv),
                "share_reaching_95pct": sum(h >= 0.95 for h in hv) / len(hv),
                "compute_ratio_median": cr[len(cr) // 2], "mean_completed_trials": sum(len(r["trials"]) for r in rows) / len(rows),
                "mean_pruned": sum(r["pruned"] for r in rows) / len(rows)}

    diffs = {f"{name}_minus_tpe": paired(ratios[name], ratios["tpe"]) for name in ratios if name.startswith("tpe_startup")
             and not name.endswith("same_budget")}
    diffs.update({f"{name}_minus_unpruned": paired(ratios[name], ratios[name[:-len("_pruned_same_budget")]])
                  for name in ratios if name.endswith("_pruned_same_budget")})
    return {"replay": {name: summary(name, rows) for name, rows in rep.items()},
            "paired_mean_hypervolume_ratio": diffs}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--validation", type=int, default=24)
    p.add_argument("--paragraphs", type=int, default=20, help="general slice: perplexity paragraphs per file")
    p.add_argument("--mmlu", type=int, default=40, help="general slice: MMLU questions")
    p.add_argument("--tag", default="", help="suffix of the results file (results-<date><tag>.json)")
    p.add_argument("--replays", type=int, default=200)
    p.add_argument("--real-tpe", action="store_true", help="also run a real TPE study of G/3 trials (3 more "
                   "trainings) and check that its trials reproduce the grid's numbers")
    p.add_argument("--out", default=None)
    p.add_argument("--replay-from", type=Path, default=None, help="skip training: replay on the grid table of this "
                   "results file and print the replay summaries")
    a = p.parse_args()
    if a.replay_from is not None:
        old = json.loads(a.replay_from.read_text(encoding="utf-8"))
        table = {tuple(r[k] for k in SPACE): r for r in old["grid"]["table"]}
        rung_key = next(iter(old["grid"]["table"][0]["rungs"]))
        rep = replays(table, G // 3, a.replays, rung_key)
        out = summarize(rep, table, tuple(old["setup"]["hypervolume_reference"]))
        print(json.dumps(out, indent=2))
        return
    date = time.strftime("%Y-%m-%d")
    out_dir = Path(a.out or Path("/tmp") / f"tw-tuning-{date}")
    k = G // 3
    common = [f"project.runs_dir={out_dir / 'runs'}", "project.name=tuning-bench", f"training.max_steps={a.steps}",
              "training.mitigation=off", f"tuning.general_paragraphs={a.paragraphs}", f"tuning.general_mmlu={a.mmlu}",
              f"tuning.max_validation_examples={a.validation}", f"tuning.space={space_yaml()}", "tuning.rerun_top=0",
              f"tuning.min_peers={MIN_PEERS}", f"tuning.keep_fraction={KEEP_FRACTION}", "tuning.rungs=[0.5]"]
    cfg = load_demo_config(True, common)
    t0 = time.perf_counter()
    parent, _ = run_all(cfg, force=True)  # the default configuration, trained and evaluated (no auto-mitigation)
    session = Session(cfg)
    setup_s = time.perf_counter() - t0

    runs = {}
    arms = ("grid", "tpe") if a.real_tpe else ("grid",)
    for arm in arms:
        d = parent.path.parent / f"{parent.id}-{arm}"
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(parent.path, d)
        runs[arm] = Run(d)
    arm_cfg = {"grid": child_config(cfg, ["tuning.sampler=grid", f"tuning.trials={G}", "tuning.keep_fraction=1.0"]),
               "tpe": child_config(cfg, ["tuning.sampler=tpe", f"tuning.trials={k}", "tuning.rungs=[]"])}
    results, wall = {}, {}
    for arm in arms:
        t = time.perf_counter()
        results[arm] = tune(arm_cfg[arm], runs[arm], session, test=False)
        wall[arm] = time.perf_counter() - t
        print(arm, f"{wall[arm]:.0f} s", flush=True)

    rung_step = results["grid"]["rungs"][0]
    rung_key = f"rung_{rung_step}"
    table = {}
    for tr in results["grid"]["trials"]:
        sub = Run(Path(tr["path"]))
        r = json.loads((sub.path / "train_result.json").read_text())
        train_s = float(r["seconds"]) + float(r.get("earlier_train_seconds", 0.0))  # the whole training
        rung_eval = float(r.get("earlier_eval_seconds", 0.0))
        eval_s = tr["seconds"] - train_s - rung_eval  # the final evaluation
        table[key_of(tr["overrides"])] = {
            "metric": tr["metric"], "ability_change": tr["ability_change"],
            "seconds": train_s + eval_s,  # a trial of a study without pruning
            "rung_cost": float(r.get("earlier_train_seconds", 0.0)) + rung_eval,  # trained to the rung and scored
            "rung_eval_seconds": rung_eval, "train_seconds": train_s, "eval_seconds": eval_s, "rungs": tr["rungs"]}
    assert len(table) == G, f"grid has {len(table)} of {G} settings"
    grid_pts = [(r["metric"], r["ability_change"]) for r in table.values()]
    ref = (0.0, min(y for _, y in grid_pts) - 0.01)
    hv_grid = hypervolume(grid_pts, ref)
    grid_s = sum(r["seconds"] for r in table.values())

    real = None
    if a.real_tpe:
        tpe_trials = results["tpe"]["trials"]
        tpe_pts = [(t["metric"], t["ability_change"]) for t in tpe_trials]
        reproduce = [{"setting": key_of(t["overrides"]), "tpe": [t["metric"], t["ability_change"]],
                      "grid": [table[key_of(t["overrides"])]["metric"],
                               table[key_of(t["overrides"])]["ability_change"]]} for t in tpe_trials]
        real = {"trials": len(tpe_trials), "hypervolume_ratio": hypervolume(tpe_pts, ref) / hv_grid,
                "compute_ratio": sum(t["seconds"] for t in tpe_trials) / grid_s, "reproduces_grid": reproduce}

    rep = replays(table, k, a.replays, rung_key)
    res = {"date": date, "setup": {"task": "ner_finance (quick demo subset)", "model": cfg.model.name_or_path,
                                   "steps": a.steps, "rung_step": rung_step, "validation_examples": a.validation,
                                   "general_slice": {"paragraphs_per_file": a.paragraphs, "mmlu": a.mmlu},
                                   "space": SPACE, "default": DEFAULT, "grid_size": G,
                                   "cpu": cpu_model(), "load_average_after": os.getloadavg(),
                                   "tune_trials": k, "replays": a.replays, "hypervolume_reference": ref,
                                   "setup_seconds": round(setup_s), "wall_seconds": {k_: round(v) for k_, v in wall.items()}},
           "grid": {"hypervolume": hv_grid, "seconds": grid_s,
                    "table": [{**dict(zip(SPACE, key)), **r} for key, r in table.items()]},
           "tpe_real_study": real,
           **summarize(rep, table, ref)}
    path = Path(__file__).parent / f"results-{date}{a.tag}.json"
    path.write_text(json.dumps(res, indent=2, default=lambda o: list(o) if isinstance(o, tuple) else str(o)) + "\n",
                    encoding="utf-8")
    print(json.dumps({k_: res[k_] for k_ in ("grid", "tpe_real_study", "replay")}, indent=2, default=str))


if __name__ == "__main__":
    main()
