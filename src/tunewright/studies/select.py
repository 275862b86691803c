"""``tunewright select``: fine-tune several candidate base models on the run's task and put quality,
forgetting and serving cost on one front.

Every candidate is a sub-run of the parent run (studies/subrun.py) with ``model.*`` overrides, so all of them
train on the same audited training split and are scored on the same test items. Per candidate:

1. (``selection.screening``) nested-subset learning curves, a rectified scaling law, and dominated
   candidates dropped before anything below runs for them (studies/screening.py);
2. a fair budget: its own small search of ``selection.budget.space`` (default: three learning rates) on the
   validation split, Optuna through tune.py's ``suggest``; the best setting is kept, and its trained weights are
   reused for the final sub-run when its training settings are the same;
3. the final sub-run, ``RUN/select/<name>/final``: the candidate's own base model evaluated zero-shot on the
   test split, the tuned model with its interval, the general suite on both (forgetting), training seconds
   measured here and dollars at the training GPU (cost module FLOPs and MFU prior);
4. serving measured on this machine (serving/speed.py) and estimated on the configured GPUs from memory
   bandwidth (cost/decode.py), with the bandwidth utilisation calibrated from the measurement.

Then the verdict (studies/verdict.py): the Pareto set on (tuned metric, serving $/month on each candidate's
cheapest GPU) and the recommendation, from paired bootstrap comparisons on the same test items. Writes
``RUN/select/selection.json``; a second call reuses every finished sub-run and measurement.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import numpy as np

from tunewright.config import Config, ConfigError
from tunewright.errors import InputError
from tunewright.project import Run, read_json, write_json
from tunewright.studies.selection_settings import Candidate
from tunewright.studies.subrun import SubRun, child_config, run_subrun, want_key

KIND = "select"
DEFAULT_REQUESTS = 1_000_000  # per month, when neither selection.serving nor cost.serving names a traffic
SCREEN_UTILIZATION = 0.5  # bandwidth share used to rank serving costs at screening time (before measuring)


class CandidateSession:
    """A session (model reference and tokenizer, resolved once) for one candidate: what run_subrun asks of
    pipeline.Session, with the candidate's chat template and its pinned GGUF hash checked before loading."""

    def __init__(self, parent_cfg: Config, cand: Candidate):
        self.cand = cand
        self.overrides = cand.config_overrides(parent_cfg.model.cache_dir)  # the candidate's model.* and others
        self.cfg = child_config(parent_cfg, self.overrides)
        self._ref = self._tok = None

    def model_ref(self):
        from tunewright.assets import join_parts, resolve_path
        from tunewright.models import resolve_model
        from tunewright.project import file_sha256

        if self._ref is None:
            m = self.cfg.model
            if self.cand.parts:  # joined once into the cache and checked against the pinned hash there
                join_parts(self.cand.parts, m.gguf_file, self.cand.sha256, m.cache_dir)
            elif self.cand.sha256:
                path = resolve_path(m.name_or_path) / m.gguf_file
                digest = file_sha256(path)
                if digest != self.cand.sha256:
                    raise InputError(f"candidate {self.cand.name}: {path} has sha256 {digest}, not the pinned "
                                     f"{self.cand.sha256}; refusing to load it")
            self._ref = resolve_model(m)
        return self._ref

    def tok(self):
        from tunewright.models import load_tokenizer

        if self._tok is None:
            self._tok = load_tokenizer(self.model_ref(), self.cfg.model, self.cand.chat_template)
        return self._tok


def check_selection(cfg: Config) -> dict:
    """Everything select needs, validated before any compute: two candidates or more whose overrides make a
    valid config, and GPU names the hardware table knows. Returns the GPUs and the training GPU."""
    from tunewright.cost.hardware import load_hardware

    s = cfg.selection
    if len(s.candidates) < 2:
        raise ConfigError(f"selection.candidates: {len(s.candidates)} given; select compares two or more base "
                          "models (each {name, model, ...})")
    table = load_hardware(cfg.resolve(cfg.cost.hardware_file) if cfg.cost.hardware_file else None)
    names = [*s.serving.gpus, s.serving.train_gpu or cfg.cost.gpu]
    keys = ["selection.serving.gpus"] * len(s.serving.gpus) + [
        "selection.serving.train_gpu" if s.serving.train_gpu else "cost.gpu"]
    gpus = []
    for key, name in zip(keys, names):
        try:
            gpus.append(table.lookup(name))
        except InputError:
            raise ConfigError(f"{key}: unknown GPU {name!r}{_nearest_gpu(name, table)}; known: "
                              f"{', '.join(table.known())} (add yours with cost.hardware_file)") from None
    if not s.serving.gpus:
        raise ConfigError("selection.serving.gpus is empty: name the GPUs to estimate serving on")
    for c in s.candidates:
        if c.sha256 and not c.gguf_file:
            raise ConfigError(f"selection.candidates.{c.name}.sha256 pins a GGUF file; set gguf_file too")
        try:
            child_config(cfg, c.config_overrides(cfg.model.cache_dir))
        except (ConfigError, InputError) as e:
            raise ConfigError(f"selection.candidates.{c.name}: {e}") from None
        if c.chat_template:
            from tunewright.training.chat_templates import resolve_chat_template

            resolve_chat_template(c.chat_template)
    return {"gpus": gpus[:-1], "train_gpu": gpus[-1], "table": table}


def _nearest_gpu(name: str, table) -> str:
    """' (did you mean X?)' for the closest GPU name or alias, compared without case and punctuation."""
    import difflib

    norm = lambda x: "".join(c for c in x.lower() if c.isalnum())  # noqa: E731
    names = {norm(a): g.name for g in table.gpus.values() for a in (g.name, *g.aliases)}
    close = difflib.get_close_matches(norm(name), list(names), n=1, cutoff=0.5)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""


def selection_traffic(cfg: Config):
    """The traffic serving is priced at: selection.serving, else cost.serving (stated in the result)."""
    from tunewright.cost.decode import Traffic
    from tunewright.cost.pricing import Span

    s, c = cfg.selection.serving, cfg.cost.serving
    req = s.requests_per_month or c.requests_per_month or DEFAULT_REQUESTS
    return Traffic(req, s.prompt_tokens if s.prompt_tokens is not None else c.prompt_tokens,
                   s.answer_tokens or c.answer_tokens or 1, s.concurrent_sequences or c.concurrent_sequences,
                   Span.of(c.utilization), c.always_on if s.always_on is None else s.always_on)


def model_shapes(session: CandidateSession, name: str):
    """(DecodeShape, cost ModelShape) from the candidate's config on the meta device: no weights are read."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from tunewright.cost.decode import decode_shape
    from tunewright.cost.model_shape import shape_from_hf_config

    conf = AutoConfig.from_pretrained(session.model_ref().path, trust_remote_code=session.cfg.model.trust_remote_code)
    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(conf)
    return decode_shape(meta), shape_from_hf_config(conf, name, require_supported=False)


def _validation_overrides(cfg: Config) -> list[str]:
    n = cfg.selection.budget.max_validation_examples
    return [f"task.max_test_examples={n}"] if n else []


def _subrun_seconds(sub: SubRun) -> float:
    tr, m = sub.train_result(), sub.metrics()
    return float(tr["seconds"]) + sum(float(v) for v in m.get("timings", {}).values())


# ---- 1. screening --------------------------------------------------------------------------------------------

def screen(cfg: Config, run: Run, sessions: dict[str, CandidateSession], traffic, gpus) -> dict:
    """Nested-subset curves per candidate, the rectified-law prediction at the full split, and who is dropped."""
    from tunewright.cost.decode import estimate_gpu_serving
    from tunewright.data.split import read_split
    from tunewright.evaluation.evaluate import read_predictions
    from tunewright.evaluation.stats import STATISTICS
    from tunewright.evaluation.tasks import make_task
    from tunewright.studies.screening import dominated, predict_full

    sc, sv = cfg.selection.screening, cfg.selection.serving
    task = make_task(cfg.task)
    n_train = len(read_split(run, "train"))
    preds, cost, seconds = {}, {}, 0.0
    for name, ses in sessions.items():
        sizes, mats = [], []
        for frac in sc.fractions:
            n = max(1, round(n_train * frac))
            o = [*ses.overrides, *_validation_overrides(cfg)]
            if cfg.training.max_steps > 0:  # the same budget per example: steps scale with the share
                o.append(f"training.max_steps={max(1, math.ceil(cfg.training.max_steps * frac))}")
            sub = run_subrun(run, cfg, f"{KIND}/{name}/screen", f"{frac:g}", o, ses, train_examples=n,
                             eval_split="validation", general=False, with_base=False, heldout=False)
            seconds += _subrun_seconds(sub)
            rows = read_predictions(sub.run.eval_dir / "tuned" / "predictions.jsonl")
            sizes.append(n)
            mats.append(np.array([task.item_vector(r) for r in rows], float))
        preds[name] = predict_full(sizes, mats, STATISTICS[task.statistic], n_train,
                                   min(cfg.stats.bootstrap_samples, 200), cfg.stats.confidence, cfg.stats.seed)
        shape, _ = model_shapes(ses, name)
        est = [estimate_gpu_serving(shape, g, traffic, sv.bandwidth_utilization or SCREEN_UTILIZATION,
                                    sv.weight_bytes_per_param, sv.kv_bytes_per_value) for g in gpus]
        cost[name] = min((e.usd_per_month.expected, e.usd_per_million_tokens.expected) for e in est)
    return {"predictions": preds, "serving_cost_estimate": {k: list(v) for k, v in cost.items()},
            "dropped": dominated(preds, cost, sc.margin), "seconds": seconds, "target_examples": n_train,
            "law": "validation error = B / (D_l + D^beta) + E (Lin et al. 2024, arXiv 2402.02314)"}


# ---- 2. the fair budget --------------------------------------------------------------------------------------

def search_candidate(cfg: Config, run: Run, ses: CandidateSession) -> dict:
    """The candidate's own search on validation; {'chosen': overrides, 'trials': [...], 'sub': best SubRun}."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from tunewright.studies.tune import TIE, suggest

    b, cand = cfg.selection.budget, ses.cand
    space = {k: d for k, d in b.space.items() if not (k == "training.learning_rate" and cand.learning_rate)}
    if not b.search or not space:
        return {"chosen": [], "trials": [], "sub": None, "seconds": 0.0}
    grid = all(d.choices is not None for d in space.values())
    size = math.prod(len(d.choices) for d in space.values()) if grid else None
    n_trials = min(b.trials or size, size) if grid else (b.trials or 4)  # a grid point is never run twice
    folder = run.path / KIND / cand.name / "search"
    folder.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    sampler = optuna.samplers.GridSampler({k: d.choices for k, d in space.items()}, seed=b.seed) if grid \
        else optuna.samplers.TPESampler(seed=b.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # one study per search as asked: a changed space, candidate or validation cap starts a new one
    key = want_key({"space": {k: d.model_dump() for k, d in space.items()}, "overrides": ses.overrides,
                    "validation": b.max_validation_examples, "seed": b.seed, "parent": run.id})
    study = optuna.create_study(study_name=f"select-{cand.name}-{key}", storage=storage, sampler=sampler,
                                direction="maximize", load_if_exists=True)
    subs: dict[int, SubRun] = {}

    def objective(trial):
        searched = suggest(trial, space)
        trial.set_user_attr("searched", searched)
        sub = run_subrun(run, cfg, f"{KIND}/{cand.name}/search", f"trial-{trial.number:03d}",
                         [*ses.overrides, *searched, *_validation_overrides(cfg)], ses,
                         eval_split="validation", general=False, with_base=False, heldout=False)
        subs[trial.number] = sub
        trial.set_user_attr("seconds", _subrun_seconds(sub))
        return float(sub.metrics()["task"]["value"])

    done = lambda: sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)  # noqa: E731
    for _ in range(2 * n_trials):  # bounded: a trial left RUNNING by a killed process is not waited for
        if done() >= n_trials:
            break
        study.optimize(objective, n_trials=1)
    trials = [{"number": t.number, "searched": t.user_attrs["searched"], "metric": t.value,
               "seconds": t.user_attrs["seconds"]} for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    top = max(t["metric"] for t in trials)
    best = min((t for t in trials if t["metric"] >= top - TIE), key=lambda t: t["seconds"])  # ties to the cheaper
    sub = subs.get(best["number"]) or run_subrun(  # a second call: reused, nothing trains
        run, cfg, f"{KIND}/{cand.name}/search", f"trial-{best['number']:03d}",
        [*ses.overrides, *best["searched"], *_validation_overrides(cfg)], ses,
        eval_split="validation", general=False, with_base=False, heldout=False)
    return {"chosen": best["searched"], "trials": trials, "sub": sub, "seconds": sum(t["seconds"] for t in trials),
            "rule": f"best validation {cfg.task.type} metric over {len(trials)} trials, ties (within {TIE}) to the "
                    f"cheaper", "space": {k: d.model_dump(exclude_none=True) for k, d in space.items()}}


def _same_training(a: Config, b: Config) -> bool:
    """Both configs train identically (general text is only read by replay and EWC)."""
    t = a.training
    return (a.training == b.training and a.data == b.data and a.model == b.model
            and t.replay_fraction == 0 and t.ewc_lambda == 0 and t.l2sp_lambda == 0)


# ---- 3 and 4. the candidate measured ------------------------------------------------------------------------

def measure_serving(cfg: Config, run: Run, ses: CandidateSession, sub: SubRun) -> dict:
    """Serving speed of the tuned (merged) model on this machine; cached beside the final sub-run."""
    import gc

    from tunewright.data.split import read_split
    from tunewright.models import load_adapter_model
    from tunewright.serving.speed import PeakMemory, measure_generation
    from tunewright.training.formats import prompt_ids

    m = cfg.selection.serving.measure
    key = {"final": read_json(sub.run.manifest_path)["want_key"], "measure": m.model_dump()}
    path = run.path / KIND / ses.cand.name / "serving.json"
    if path.exists() and (old := read_json(path)).get("key") == key:
        return old["measured"]
    tok = ses.tok()
    test = read_split(run, "test")[: m.prompts]
    prompts = [prompt_ids(tok, ex.to_chat(cfg.data.system_prompt)[:-1]) for ex in test]
    gc.collect()
    import psutil

    rss0 = psutil.Process().memory_info().rss
    model = load_adapter_model(ses.model_ref(), sub.cfg.model, sub.run.model_dir)
    gc.collect()
    device = next(model.parameters()).device
    with PeakMemory(device) as mem:
        speed = measure_generation(model, tok, prompts, m.new_tokens, m.batch, m.rounds)
    param = next(model.parameters())
    out = {**speed.to_json(), "dtype": str(param.dtype).replace("torch.", ""), "element_bytes": param.element_size(),
           "peak_memory_bytes": int(mem.peak - (0 if mem.cuda else rss0)),
           "peak_memory_kind": "CUDA allocated" if mem.cuda else "process RSS added by loading and generating"}
    del model
    gc.collect()
    write_json(path, {"key": key, "measured": out})
    return out


def summarise(cfg: Config, ses: CandidateSession, sub: SubRun, search: dict, train_gpu) -> dict:
    """Task metric (zero-shot base and tuned, paired), forgetting and training cost of the final sub-run."""
    from tunewright.evaluation.artifacts import EvalArtifacts
    from tunewright.evaluation.forgetting import forgetting_verdict, general_comparison, task_comparisons
    from tunewright.studies.tune import gpu_usd

    art = EvalArtifacts.load(sub.run.eval_dir)
    task, _ = task_comparisons(art, sub.cfg)
    base = art.metrics["base"]
    names = sorted(base["general"])
    general = general_comparison(art, sub.cfg, names, {n: base["general"][n]["higher_is_better"] for n in names})
    verdict = forgetting_verdict(general, sub.cfg.general.gate)
    tr = sub.train_result()
    decode, shape = model_shapes(ses, ses.cand.name)
    return {
        "name": ses.cand.name, "model": ses.cand.model, "gguf_file": ses.cand.gguf_file, "note": ses.cand.note,
        "params": decode.n_params, "path": str(sub.run.path), "overrides": list(sub.overrides),
        "chosen": search["chosen"], "search": {k: v for k, v in search.items() if k != "sub"},
        "task": {"metric": art.metrics["tuned"]["task"]["metric"], "n": task["n"], "base": task["base_ci"],
                 "tuned": task["tuned_ci"], "change": task["change_ci"], "significant": task["significant"]},
        "forgetting": {"verdict": verdict["verdict"], "suite_mean_ability_change": verdict["suite_mean_ability_change"],
                       "reasons": verdict["reasons"],
                       "tasks": {n: g["ability_change"] for n, g in general.items()}},
        "training": {"method": tr["method"], "steps": tr["steps"], "seconds": tr["seconds"],
                     "train_tokens": tr["train_tokens"], "tokens_per_second": tr["tokens_per_second"],
                     "gpu": train_gpu.name, "usd_at_gpu": gpu_usd(sub.cfg, tr, shape=shape, gpu_name=train_gpu.name),
                     "search_seconds": search["seconds"],
                     "reused_search_weights": "model_from" in read_json(sub.run.manifest_path)["want"]},
        "decode_shape": decode.to_json(),
    }


def price_serving(cands: dict[str, dict], gpus, traffic, sv, bandwidth: float) -> dict:
    """GPU estimates per candidate, with the bandwidth utilisation calibrated from this machine's measurement."""
    from tunewright.cost.decode import DecodeShape, bandwidth_utilization, estimate_gpu_serving

    for c in cands.values():
        m, shape = c["serving"]["measured"], DecodeShape(**{k: (tuple(v) if k == "windows" else v)
                                                            for k, v in c["decode_shape"].items()})
        context = round(m["prompt_tokens_mean"] + m["new_tokens"] / 2)
        per_token = (shape.read_params + shape.kv_values(context)) * m["element_bytes"]
        m["bytes_read_per_token"] = per_token
        m["bandwidth_utilization"] = bandwidth_utilization(m["batch1_decode_tokens_per_second"], per_token, bandwidth)
    measured = statistics.median(c["serving"]["measured"]["bandwidth_utilization"] for c in cands.values())
    util = sv.bandwidth_utilization or min(1.0, measured)
    source = (f"selection.serving.bandwidth_utilization = {util:.3f} (configured)" if sv.bandwidth_utilization else
              f"{util:.3f}: the median over candidates of measured batch-1 decode tokens/s x bytes read per token "
              f"/ this machine's measured memory bandwidth ({bandwidth / 1e9:.1f} GB/s)")
    for c in cands.values():
        shape = DecodeShape(**{k: (tuple(v) if k == "windows" else v) for k, v in c["decode_shape"].items()})
        c["serving"]["gpus"] = {g.name: estimate_gpu_serving(shape, g, traffic, util, sv.weight_bytes_per_param,
                                                             sv.kv_bytes_per_value, sv.unmerged_throughput).to_json()
                                for g in gpus}
        cheapest = min(c["serving"]["gpus"].values(), key=lambda e: (e["usd_per_month"]["expected"],
                                                                     e["usd_per_million_tokens"]["expected"]))
        c["serving"]["cheapest_gpu"] = cheapest["gpu"]
        c["serving"]["usd_per_month"] = cheapest["usd_per_month"]["expected"]
        c["serving"]["usd_per_million_tokens"] = cheapest["usd_per_million_tokens"]["expected"]
    return {"bandwidth_utilization": util, "measured_utilization": measured, "utilization_source": source,
            "machine_bandwidth_bytes_per_s": bandwidth}


def decide(cfg: Config, cands: dict[str, dict]) -> dict:
    """Pareto set and recommendation from paired comparisons with the best on the same test items."""
    from tunewright.evaluation.artifacts import EvalArtifacts, pair_by_id
    from tunewright.evaluation.forgetting import compare
    from tunewright.evaluation.tasks import make_task
    from tunewright.studies.verdict import Paired, Point, best_of, recommend

    points = [Point(n, c["task"]["tuned"]["value"], c["serving"]["usd_per_month"],
                    c["serving"]["usd_per_million_tokens"], c["serving"]["measured"]["peak_memory_bytes"])
              for n, c in cands.items()]
    best = best_of(points).name
    task = make_task(cfg.task)
    rows = {n: EvalArtifacts.load(Path(c["path"]) / "eval").predictions["tuned"] for n, c in cands.items()}
    paired = {}
    for n in cands:
        if n == best:
            continue
        p = compare(pair_by_id(rows[best], rows[n]), task.statistic, task.item_vector, cfg, True)  # n - best
        ch = p["change_ci"]
        paired[n] = Paired(ch["value"], ch["low"], ch["high"], p["n"], ch["level"])
        cands[n]["vs_best"] = {"best": best, **p}
    v = recommend(points, paired, cands[best]["task"]["metric"])
    return v.to_json()


def select(cfg: Config, run: Run, progress: bool = True) -> dict:
    """Run the selection on ``run`` (audited and split) and write RUN/select/selection.json (module doc)."""
    from tunewright.serving.speed import cores, measure_bandwidth

    t0 = time.perf_counter()
    checked = check_selection(cfg)
    s, traffic = cfg.selection, selection_traffic(cfg)
    sessions = {c.name: CandidateSession(cfg, c) for c in s.candidates}
    say = print if progress else (lambda *a, **k: None)
    screening = None
    if s.screening.enabled:
        say("select: screening", ", ".join(sessions))
        screening = screen(cfg, run, sessions, traffic, checked["gpus"])
    dropped = (screening or {}).get("dropped", {})
    cands = {}
    for name, ses in sessions.items():
        if name in dropped:
            say(f"select: {name} dropped by screening: {dropped[name]}")
            continue
        say(f"select: {name}: search and fine-tune")
        search = search_candidate(cfg, run, ses)
        overrides = [*ses.overrides, *search["chosen"]]
        trial = search["sub"]
        reuse = trial if trial is not None and _same_training(trial.cfg, child_config(cfg, overrides)) else None
        sub = run_subrun(run, cfg, f"{KIND}/{name}", "final", overrides, ses, own_base=True, model_from=reuse)
        cands[name] = summarise(cfg, ses, sub, search, checked["train_gpu"])
        say(f"select: {name}: serving measured on this machine")
        cands[name]["serving"] = {"measured": measure_serving(cfg, run, ses, sub)}
    from tunewright.models import pick_device

    bandwidth = measure_bandwidth(device=pick_device())
    pricing = price_serving(cands, checked["gpus"], traffic, s.serving, bandwidth)
    verdict = decide(cfg, cands)
    result = {
        "candidates": cands, "dropped": {n: {"reason": r, "model": sessions[n].cand.model,
                                             "prediction": screening["predictions"][n]} for n, r in dropped.items()},
        "screening": screening, "verdict": verdict, "traffic": traffic.to_json(),
        "traffic_source": "selection.serving" if s.serving.requests_per_month else (
            "cost.serving" if cfg.cost.serving.requests_per_month else f"default {DEFAULT_REQUESTS:,} requests/month"),
        "serving_assumptions": {**pricing, "weight_bytes_per_param": s.serving.weight_bytes_per_param,
                                "kv_bytes_per_value": s.serving.kv_bytes_per_value,
                                "unmerged_throughput": s.serving.unmerged_throughput,
                                "unmerged_source": "vllm#2829, vllm#10062: unmerged LoRA costs 25-40% of throughput",
                                "cores": cores(), "gpus": [g.name for g in checked["gpus"]]},
        "budget": {"search": s.budget.search, "space": {k: d.model_dump(exclude_none=True)
                                                         for k, d in s.budget.space.items()},
                   "steps": cfg.training.max_steps},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(run.path / KIND / "selection.json", result)
    return result
