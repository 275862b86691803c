"""``tunewright tune``: search training settings and forgetting mitigation together.

Every trial is a sub-run of the parent run (studies/subrun.py) with the overrides the sampler suggests for
``tuning.space``. Three objectives, as an Optuna multi-objective study:

- the task metric on the **validation** split (maximise); the test split is scored once, for the chosen
  configuration against the default, because choosing on test would flatter the result;
- the general suite's mean ability change (maximise; negative is forgetting), on a *tuning slice* of the
  general suite (the paragraphs and questions after the final evaluation's, so choosing never sees the final
  general numbers);
- cost: the trial's measured seconds (minimise), with the cost module's dollars at ``cost.gpu`` recorded.

The forgetting gate is a constraint (Optuna's ``constraints_func``: feasible when <= 0). The choice rule:
among trials that pass the gate, the best validation metric, ties (within ``TIE``) to the cheaper; the
``tuning.rerun_top`` best are re-run with other seeds and compared on their seed mean. The chosen overrides
are written as a config file ``tunewright run -c`` accepts, and evaluated on test against the default.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from tunewright.config import Config, SearchDim, config_to_dict
from tunewright.project import Run, atomic_write_text, write_json
from tunewright.studies.subrun import SubRun, run_subrun

TIE = 0.005  # validation metrics closer than this are a tie, broken by cost
DIRECTIONS = ["maximize", "maximize", "minimize"]  # task metric, ability change, seconds


@dataclass
class TrialRecord:
    number: int
    overrides: list[str]
    metric: float
    ability_change: float
    seconds: float
    usd: float
    gate: str
    path: str
    seed_metrics: list[float] = field(default_factory=list)
    rungs: dict[str, list[float]] = field(default_factory=dict)  # "rung_<step>" -> [metric, ability change]

    @property
    def feasible(self) -> bool:
        return self.gate != "fail"

    @property
    def mean_metric(self) -> float:
        return sum(self.seed_metrics) / len(self.seed_metrics) if self.seed_metrics else self.metric


def suggest(trial, space: dict[str, SearchDim]) -> list[str]:
    """The trial's overrides (``KEY=VALUE``) for every dimension of the space."""
    out = []
    for key, dim in space.items():
        if dim.choices is not None:
            v = trial.suggest_categorical(key, [_hashable(c) for c in dim.choices])
            v = _unhash(v)
        elif dim.integer:
            v = trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
        else:
            v = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
        out.append(f"{key}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}")
    return out


def default_params(cfg: Config, space: dict[str, SearchDim]) -> dict:
    """The config's own values of the searched keys, where the space holds them: enqueued as the study's first
    trial, so the default configuration is scored on validation like every other one (the choice can then only
    beat or equal it there)."""
    data = config_to_dict(cfg)
    out = {}
    for key, dim in space.items():
        node = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        if dim.choices is not None:
            if node in dim.choices:
                out[key] = _hashable(node)
        elif dim.low <= node <= dim.high:
            out[key] = node
    return out


def _fits(dim: SearchDim, value) -> bool:
    if dim.choices is not None:
        return _hashable(value) in [_hashable(c) for c in dim.choices]
    return dim.low <= value <= dim.high


def starting_points(cfg: Config, space: dict[str, SearchDim]) -> list[tuple[dict, str]]:
    """The trials a fresh study begins with, as (params, label): the default configuration, then (with
    ``tuning.start_from_mitigation_arms``) each arm of the auto-mitigation ladder applied to it, where the space
    holds every key the arm sets and its value fits. So a study always scores what ``training.mitigation: auto``
    would try. On the full demo (2026-12-02) a study without them sampled 4 settings at random (TPE's startup),
    none near the default learning rate with EWC; it chose lr 4.9e-5 (validation F1 0.078 over two seeds), which
    scored 0.009 on test against 0.352 for auto's first arm, EWC 0.02, whose validation F1 was 0.311 with the
    gate passing (docs/experiments.md)."""
    base = default_params(cfg, space)
    out = [(base, "default")]
    if not cfg.tuning.start_from_mitigation_arms:
        return out
    for arm in cfg.training.mitigation_arms:
        params = dict(base)
        for o in arm.overrides(cfg.training):
            key, raw = o.split("=", 1)
            value = yaml.safe_load(raw)
            if key not in space or not _fits(space[key], value):
                break
            params[key] = _hashable(value)
        else:
            if params not in [p for p, _ in out]:
                out.append((params, f"mitigation arm: {arm.label()}"))
    return out


def _hashable(v):  # Optuna's categorical choices must be None, bool, int, float or str
    return v if v is None or isinstance(v, (bool, int, float, str)) else yaml.safe_dump(v, default_flow_style=True).strip()


def _unhash(v):
    return yaml.safe_load(v) if isinstance(v, str) and v[:1] in "[{" else v


def tuning_overrides(cfg: Config) -> list[str]:
    """What every trial shares: the tuning slice of the general suite, disjoint from the final evaluation."""
    g, t = cfg.general, cfg.tuning
    o = [f"general.perplexity_offset={g.perplexity_offset + g.perplexity_paragraphs}",
         f"general.perplexity_paragraphs={min(t.general_paragraphs, g.reserved_eval_lines - g.perplexity_offset - g.perplexity_paragraphs)}",
         f"general.mmlu_offset={g.mmlu_offset + g.mmlu_questions}", f"general.mmlu_questions={t.general_mmlu}",
         "general.tasks=[]"]
    if t.max_validation_examples:
        o.append(f"task.max_test_examples={t.max_validation_examples}")
    return o


def score_subrun(sub: SubRun) -> dict:
    """Validation metric, ability change and gate verdict, seconds and estimated GPU dollars of one sub-run."""
    from tunewright.evaluation.artifacts import EvalArtifacts
    from tunewright.evaluation.forgetting import gate_verdict

    art = EvalArtifacts.load(sub.run.eval_dir)
    m = art.metrics["tuned"]
    verdict = gate_verdict(art, sub.cfg)
    tr = sub.train_result()
    seconds = float(tr["seconds"]) + sum(float(v) for v in m.get("timings", {}).values()) \
        + float(tr.get("earlier_train_seconds", 0.0)) + float(tr.get("earlier_eval_seconds", 0.0))  # a rung's too
    return {"metric": float(m["task"]["value"]), "ability_change": float(verdict["suite_mean_ability_change"] or 0.0),
            "gate": verdict["verdict"], "seconds": seconds, "usd": gpu_usd(sub.cfg, tr)}


def gpu_usd(cfg: Config, train_result: dict, shape=None, gpu_name: str | None = None) -> float:
    """The trial's training at ``gpu_name`` (default cfg.cost.gpu), from its trained tokens and the cost module's
    FLOPs and MFU; ``shape`` (a cost.model_shape.ModelShape) when the caller has the model's own already."""
    from tunewright.cost.calibration import mfu_range
    from tunewright.cost.estimate import resolve_plan
    from tunewright.cost.flops import training_flops_per_token
    from tunewright.cost.hardware import load_hardware

    c = cfg.cost
    if shape is None:
        try:
            plan = resolve_plan(cfg.model_copy(update={"cost": c.model_copy(update={"dataset_tokens": 1})}))
        except Exception:  # a model the cost module cannot shape (it says so in 'tunewright cost'); no dollars then
            return float("nan")
        shape, table, seq = plan.shape, plan.table, plan.setup.seq
    else:
        table = load_hardware(cfg.resolve(c.hardware_file) if c.hardware_file else None)
        seq = c.seq_tokens or cfg.training.max_seq_tokens
    gpu = table.lookup(gpu_name or c.gpu)
    flops = training_flops_per_token(shape, seq, cfg.training.method, cfg.training.lora_r).train
    mfu = mfu_range(cfg.training.method, {})[0].expected
    hours = flops * float(train_result["train_tokens"]) / (gpu.peak_flops * mfu) / 3600
    return hours * (gpu.price_low + gpu.price_high) / 2


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """``a`` is at least as good as ``b`` in every objective (all higher-is-better) and better in one."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def pareto_layers(points: dict[int, tuple[float, ...]]) -> list[list[int]]:
    """Non-dominated sorting of objective tuples, all higher-is-better (at a rung: metric and ability change):
    layer 0 is the Pareto front."""
    left, layers = dict(points), []
    while left:
        front = [k for k, v in left.items() if not any(_dominates(v2, v) for k2, v2 in left.items() if k2 != k)]
        layers.append(sorted(front))
        for k in front:
            del left[k]
    return layers


def keep_at_rung(points: dict[int, tuple[float, float]], me: int, keep_fraction: float, min_peers: int) -> bool:
    """Successive halving on the Pareto front: keep ``me`` when it lies in the best Pareto layers that together
    hold ``keep_fraction`` of the trials scored at this rung (a layer that crosses the quota is kept whole).
    With fewer than ``min_peers`` scored, everyone goes on: there is nothing to compare with yet."""
    if len(points) < min_peers:
        return True
    quota, kept = math.ceil(keep_fraction * len(points)), 0
    for layer in pareto_layers(points):
        if me in layer:
            return True
        kept += len(layer)
        if kept >= quota:
            return False
    return False


def choose(records: list[TrialRecord]) -> TrialRecord | None:
    """Best (seed-mean) validation metric among trials that pass the gate; ties to the cheaper."""
    ok = [r for r in records if r.feasible and not math.isnan(r.metric)]
    if not ok:
        return None
    best = max(r.mean_metric for r in ok)
    tied = [r for r in ok if r.mean_metric >= best - TIE]
    return min(tied, key=lambda r: (r.seconds, -r.mean_metric))


def pareto_front(records: list[TrialRecord]) -> list[int]:
    """Trial numbers not dominated on (metric up, ability change up, seconds down), in record order."""
    points = [(r.metric, r.ability_change, -r.seconds) for r in records]
    return [r.number for r, v in zip(records, points) if not any(_dominates(o, v) for o in points if o is not v)]


@contextlib.contextmanager
def _schema_lock(url: str):
    """A PostgreSQL advisory lock held while Optuna creates its schema: two workers creating it at once collide
    on ``CREATE TYPE`` (a unique violation in ``pg_type``), which ``create_all``'s check-then-create does not
    guard against."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEMA_LOCK_KEY})
    finally:
        engine.dispose()


_SCHEMA_LOCK_KEY = 0x7475_6E65  # "tune"


def _storage(run: Run, cfg: Config):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if cfg.tuning.storage:
        if cfg.tuning.storage.startswith("postgresql"):
            # a worker that dies mid-trial stops beating; after the grace period its trial is failed and
            # re-queued with the same parameters (RetryHeartbeatStaleTrialCallback), and the next worker runs it
            import warnings

            hb = cfg.tuning.heartbeat_seconds
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
            with _schema_lock(cfg.tuning.storage):  # workers starting together race to create the tables
                return optuna.storages.RDBStorage(cfg.tuning.storage, engine_kwargs={"pool_pre_ping": True},
                                                  heartbeat_interval=hb, grace_period=3 * hb,
                                                  heartbeat_stale_trial_callback=retry)
        return cfg.tuning.storage
    (run.path / "tuning").mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(run.path / "tuning" / "journal.log")))


def _sampler(cfg: Config):
    """The configured sampler; constraints come from each trial's ``set_constraint`` (Optuna >= 5)."""
    import optuna

    t = cfg.tuning
    if t.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=t.seed)
    if t.sampler == "gp":
        return optuna.samplers.GPSampler(seed=t.seed)
    if t.sampler == "grid":  # every combination of the choices, in a seeded order (a baseline for the others)
        ranged = [k for k, d in t.space.items() if d.choices is None]
        if ranged:
            from tunewright.config import ConfigError
            raise ConfigError(f"tuning.sampler grid needs choices for every dimension; {', '.join(ranged)} "
                              "has a range")
        return optuna.samplers.GridSampler({k: [_hashable(c) for c in d.choices] for k, d in t.space.items()},
                                           seed=t.seed)
    kw = {} if t.n_startup_trials is None else {"n_startup_trials": t.n_startup_trials}
    return optuna.samplers.TPESampler(seed=t.seed, multivariate=True, **kw)


def open_study(run: Run, cfg: Config):
    """The run's study, created by whichever worker comes first; workers starting together on one database
    race to create it, so a loser of that race loads the winner's."""
    import optuna

    storage = _storage(run, cfg)
    name = f"tune-{run.id}"
    for attempt in range(5):
        try:
            return optuna.create_study(study_name=name, storage=storage, sampler=_sampler(cfg), directions=DIRECTIONS,
                                       load_if_exists=True)
        except Exception:  # IntegrityError / DuplicatedStudyError from a concurrent create
            time.sleep(0.5 * (attempt + 1))
            try:
                return optuna.load_study(study_name=name, storage=storage, sampler=_sampler(cfg))
            except KeyError:
                continue
    return optuna.load_study(study_name=name, storage=storage, sampler=_sampler(cfg))


def tune(cfg: Config, run: Run, session, progress: bool = True, join: bool = False, test: bool = True) -> dict | None:
    """Run the study on ``run`` (split, base-evaluated and trained with the default config), choose, re-run the
    top trials with other seeds, evaluate the chosen configuration on test against the default; write
    RUN/tuning/tuning.json and RUN/tuning/chosen.yaml. ``join``: a worker of a shared study (several processes
    or machines on one storage): run trials until the study has ``tuning.trials``, then return None; the
    choice is made by a plain ``tune`` call afterwards. ``test=False`` leaves out the chosen configuration's
    training and test comparison (benchmarks/tuning compares studies, not their choices)."""
    import optuna
    from tqdm.auto import tqdm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t = cfg.tuning
    shared = tuning_overrides(cfg)
    study = open_study(run, cfg)
    t0 = time.perf_counter()
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = [tr for tr in study.trials if tr.state in finished]
    if not join and not study.trials and t.sampler != "grid":  # a fresh study: the default, then auto's arms
        for i, (params, label) in enumerate(starting_points(cfg, t.space)[: t.trials]):
            study.enqueue_trial(params, user_attrs={"default": True} if i == 0 else {"start": label})
    bar = tqdm(total=t.trials, initial=len(done), desc="tune: trials", unit="trial", disable=not progress)

    rung_steps = sorted({max(1, round(cfg.training.max_steps * f)) for f in t.rungs if 0 < f < 1}) \
        if cfg.training.max_steps > 0 else []  # epochs-based budgets are not pruned (no step count to cut at)

    def objective(trial):
        overrides = [*shared, *suggest(trial, t.space)]
        name = f"trial-{trial.number:03d}"
        for step in rung_steps:  # successive halving: score at each rung, stop if dominated by most peers there
            sub = run_subrun(run, cfg, "tuning", name, overrides, session, eval_split="validation", stop_at_step=step)
            r = score_subrun(sub)
            key = f"rung_{step}"
            trial.set_user_attr(key, [r["metric"], r["ability_change"]])
            peers = {tr.number: tuple(tr.user_attrs[key]) for tr in trial.study.get_trials(deepcopy=False)
                     if key in tr.user_attrs and tr.number != trial.number}
            peers[trial.number] = (r["metric"], r["ability_change"])
            if not keep_at_rung(peers, trial.number, t.keep_fraction, t.min_peers):
                trial.set_user_attr("overrides", overrides)
                trial.set_user_attr("pruned_at", step)
                raise optuna.TrialPruned(f"dominated at step {step} by most of {len(peers)} trials")
        sub = run_subrun(run, cfg, "tuning", name, overrides, session, eval_split="validation")
        s = score_subrun(sub)
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("path", str(sub.run.path))
        for k in ("gate", "usd"):
            trial.set_user_attr(k, s[k])
        # feasible (<= 0) when the suite mean drop stays within the gate's fail threshold
        trial.set_constraint("forgetting_gate", -s["ability_change"] - cfg.general.gate.fail_mean_drop)
        return s["metric"], s["ability_change"], s["seconds"]

    stop = {"now": False}  # set when tuning.max_hours or max_cost_usd is spent

    def budget(study_, trial_):
        bar.update(1)
        if trial_.state == optuna.trial.TrialState.PRUNED:
            bar.write(f"trial {trial_.number} pruned at step {trial_.user_attrs.get('pruned_at')}")
        recs = records(study_)
        best = choose(recs)
        elapsed = time.perf_counter() - t0
        left = (t.trials - len(recs)) * elapsed / max(1, len(recs) - len(done))
        bar.set_postfix_str(f"best {best.metric:.3f} (trial {best.number})" if best else "no trial passes the gate"
                            + f", ~{left / 60:.0f} min left")
        spent_usd = sum(r.usd for r in recs if not math.isnan(r.usd))
        if (t.max_hours and elapsed / 3600 >= t.max_hours) or (t.max_cost_usd and spent_usd >= t.max_cost_usd):
            stop["now"] = True

    def needed() -> bool:
        """Another trial is wanted: one is queued (a retried one), or finished + running is below the budget.
        Workers check this before each trial, so a shared study overshoots by at most one per worker."""
        from collections import Counter

        n = Counter(tr.state for tr in study.get_trials(deepcopy=False))
        S = optuna.trial.TrialState
        return n[S.WAITING] > 0 or n[S.COMPLETE] + n[S.PRUNED] + n[S.RUNNING] < t.trials

    while needed() and not stop["now"]:
        study.optimize(objective, n_trials=1, callbacks=[budget], catch=())
    bar.close()
    if join:
        return None
    recs = records(study)
    # re-run the best few with other seeds: a setting must beat the others on its seed mean, not one lucky seed
    ranked = sorted((r for r in recs if r.feasible), key=lambda r: -r.metric)[: t.rerun_top]
    for r in ranked:
        r.seed_metrics = [r.metric]
        for seed in t.rerun_seeds:
            sub = run_subrun(run, cfg, "tuning", f"trial-{r.number:03d}-seed{seed}",
                             [*r.overrides, f"training.seed={seed}"], session, eval_split="validation")
            r.seed_metrics.append(score_subrun(sub)["metric"])
    chosen = choose(ranked or recs) if ranked else choose(recs)
    result = {"objectives": ["validation " + cfg.task.type + " metric", "general ability change", "seconds"],
              "choice_rule": f"best seed-mean validation metric among trials that pass the forgetting gate, ties "
                             f"(within {TIE}) to the cheaper; top {t.rerun_top} re-run with seeds {t.rerun_seeds}",
              "trials": [asdict(r) | {"feasible": r.feasible, "mean_metric": r.mean_metric} for r in recs],
              "pruned": [{"number": tr.number, "at_step": tr.user_attrs.get("pruned_at"),
                          "overrides": tr.user_attrs.get("overrides", []),
                          "rungs": {k: v for k, v in tr.user_attrs.items() if k.startswith("rung_")}}
                         for tr in study.trials if tr.state == optuna.trial.TrialState.PRUNED],
              "rungs": rung_steps,
              "pareto_front": pareto_front(recs), "chosen": None, "importances": importances(study),
              "default_trial": next((tr.number for tr in study.trials if tr.user_attrs.get("default")), None),
              "started_from": {tr.number: tr.user_attrs["start"] for tr in study.trials if "start" in tr.user_attrs}}
    if chosen is not None:
        result["chosen"] = {"trial": chosen.number, "overrides": [o for o in chosen.overrides if o not in shared]}
        result["chosen_config"] = str(write_chosen_config(cfg, run, result["chosen"]["overrides"]))
        if test:
            result["test"] = compare_on_test(cfg, run, session, result["chosen"]["overrides"])
    write_json(run.path / "tuning" / "tuning.json", result)
    return result


def records(study) -> list[TrialRecord]:
    import optuna

    out = []
    for tr in study.trials:
        if tr.state != optuna.trial.TrialState.COMPLETE:
            continue
        metric, change, seconds = tr.values
        out.append(TrialRecord(tr.number, tr.user_attrs["overrides"], metric, change, seconds,
                               tr.user_attrs.get("usd", float("nan")), tr.user_attrs.get("gate", "pass"),
                               tr.user_attrs.get("path", ""),
                               rungs={k: v for k, v in tr.user_attrs.items() if k.startswith("rung_")}))
    return out


def importances(study) -> dict[str, float]:
    """Importances of each searched value for the validation metric (Optuna's default evaluator, which ranks
    what achieves low target values: hence the minus); empty with too few trials."""
    import optuna

    try:
        return {k: round(v, 4) for k, v in optuna.importance.get_param_importances(
            study, target=lambda t: -t.values[0]).items()}
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def write_chosen_config(cfg: Config, run: Run, overrides: list[str]) -> Path:
    """The parent's config with the chosen overrides, as a YAML ``tunewright run -c`` accepts (file paths
    made absolute so it runs from anywhere)."""
    from tunewright.studies.subrun import child_config

    chosen = child_config(cfg, overrides)
    data = config_to_dict(chosen)
    data["data"]["train_files"] = [cfg.resolve(f) for f in chosen.data.train_files]
    data["data"]["test_files"] = [cfg.resolve(f) for f in chosen.data.test_files]
    data["project"]["runs_dir"] = cfg.resolve(chosen.project.runs_dir)
    path = run.path / "tuning" / "chosen.yaml"
    atomic_write_text(path, "# tunewright tune: the chosen configuration (" + ", ".join(overrides) + ")\n"
                      + yaml.safe_dump(data, sort_keys=False))
    return path


def compare_on_test(cfg: Config, run: Run, session, overrides: list[str]) -> dict:
    """The chosen configuration trained as a sub-run and scored on test, against the run's own (default) tuned
    model on the same items: both metrics with intervals and the paired interval on the difference."""
    from tunewright.evaluation.artifacts import EvalArtifacts
    from tunewright.evaluation.forgetting import forgetting_verdict, general_comparison, paired_task_change
    from tunewright.evaluation.tasks import make_task

    sub = run_subrun(run, cfg, "tuning", "chosen", overrides, session, eval_split="test")
    task = make_task(cfg.task)
    default, chosen = EvalArtifacts.load(run.eval_dir), EvalArtifacts.load(sub.run.eval_dir)
    # "base" of this comparison is the default configuration's tuned model, paired by example id
    paired = paired_task_change(cfg, default.predictions["tuned"], chosen.predictions["tuned"])
    base = default.metrics["base"]
    names = list(base["general"])
    hib = {n: base["general"][n]["higher_is_better"] for n in names}
    out = {"metric": task.metric, "default_vs_chosen": paired}
    for name, art in (("default", default), ("chosen", chosen)):
        out[name] = forgetting_verdict(general_comparison(art, cfg, names, hib), cfg.general.gate)
    return out
