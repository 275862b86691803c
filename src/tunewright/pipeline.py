"""The stages wired together. Each ``stage_*`` is a plain function on a config and a run directory; the CLI
and ``tunewright run`` / ``tunewright demo`` only call these."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tunewright.config import Config
from tunewright.data.audit import audit_data
from tunewright.data.split import SplitResult, read_split, split_examples, write_split
from tunewright.data.neardup import params_from_config
from tunewright.models import ResolvedModel, load_adapter_model, load_model, load_tokenizer, resolve_model
from tunewright.project import Run, new_run, register_run, runs_root, write_json
from tunewright.records import read_examples
from tunewright.results import (AuditOutcome, EvalOutcome, Headline, LearningCurveOutcome,
                                MitigationOutcome, SelectOutcome, TuneOutcome)
from tunewright.errors import GateFailed, MissingArtifact  # noqa: F401 (GateFailed re-exported)

if TYPE_CHECKING:
    from tunewright.training.trainer import TrainResult

# The demo's own config (SmolLM2-135M-Instruct, ner_finance, its instruction and step count), shipped in the
# package; examples/demo.yaml links to it. --quick is the test-sized variant, these overrides on top of it.
DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
QUICK_OVERRIDES = [
    "project.name=demo-quick",
    "training.max_steps=12",
    "training.logging_steps=2",
    "task.max_test_examples=24",
    "general.perplexity_paragraphs=8",
    "general.mmlu_questions=24",
    # training.mitigation: auto scores its arms on a slice this size (and test-sized studies use it too)
    "tuning.general_paragraphs=8",
    "tuning.general_mmlu=24",
    "tuning.max_validation_examples=24",
]


# `demo --tune`: a small study (6 trials, the best re-run with a second seed, 60 validation examples; no new trial
# starts after an hour). Quick: 3 trials on 16 validation examples and a small general slice.
DEMO_TUNE = ["tuning.trials=6", "tuning.rerun_top=1", "tuning.max_validation_examples=60", "tuning.max_hours=1"]
QUICK_TUNE = ["tuning.trials=3", "tuning.rerun_top=1", "tuning.general_paragraphs=4", "tuning.general_mmlu=8",
              "tuning.max_validation_examples=16"]


def load_demo_config(quick: bool = False, overrides: list[str] | None = None) -> Config:
    """The demo's config (``demo.yaml``, plus QUICK_OVERRIDES with ``quick``); runs land under the current
    folder, not beside the shipped file."""
    from tunewright.config import load_config

    cfg = load_config(DEMO_CONFIG, (QUICK_OVERRIDES if quick else []) + list(overrides or []))
    cfg.base_dir = Path.cwd()
    return cfg


@dataclass
class Session:
    """Per-process cache of the resolved model and tokenizer, shared by the stages of one run."""

    cfg: Config
    resolved: ResolvedModel | None = None
    tokenizer: object = None

    def model_ref(self) -> ResolvedModel:
        if self.resolved is None:
            self.resolved = resolve_model(self.cfg.model)
        return self.resolved

    def tok(self):
        if self.tokenizer is None:
            self.tokenizer = load_tokenizer(self.model_ref(), self.cfg.model)
        return self.tokenizer




def with_train_files(cfg: Config, files: list[Path] | None) -> Config:
    """``cfg`` with ``data.train_files`` replaced by files named on the command line (relative to the current
    folder; kept as typed when that is the config's folder, so reports show what the user typed)."""
    if not files:
        return cfg
    here = Path.cwd().resolve() == Path(cfg.base_dir).resolve()
    cfg.data.train_files = [str(f) if here or f.is_absolute() else str(f.resolve()) for f in files]
    return cfg


def stage_audit(cfg: Config, run: Run, session: Session | None = None, force: bool = False,
                curate: bool = False) -> AuditOutcome:
    """Audit the input files into ``run/data`` (clean set, quarantine, audit.json and audit.html) and, with
    ``curate``, write the curated set. A failed data gate raises GateFailed unless ``force``; forced, the
    outcome says it failed and the manifest records that the run went on."""
    if not cfg.data.train_files:
        from tunewright.config import ConfigError

        raise ConfigError("data.train_files is empty: point it at your data, or write a config from it with "
                          "'tunewright init --data FILE'")
    session = session or Session(cfg)
    with run.stage("audit"):
        if curate:
            from tunewright.data.curate import curate_data

            result = curate_data(cfg, run.data_dir, get_tokenizer=session.tok).audit
        else:
            result = audit_data(cfg, run.data_dir, get_tokenizer=session.tok)
        hashes = {}
        from tunewright.assets import resolve_path
        from tunewright.data.hf_datasets import fingerprint

        for f in [*cfg.data.train_files, *cfg.data.test_files]:
            hashes[f] = fingerprint(str(resolve_path(cfg.resolve(f))))
        run.update_manifest(data_hashes=hashes, audit=result.summary)
        from tunewright.reporting.audit_section import write_audit_html

        write_audit_html(run.data_dir)
        run.record_artifact("audit", run.data_dir / "clean.jsonl", run.data_dir / "quarantine.jsonl",
                            run.data_dir / "audit.json", run.data_dir / "audit.html")
    msg = data_gate_message(result.summary, run.data_dir)
    if not result.passed:
        if not force:
            raise GateFailed(msg)
        result.summary["gate"]["forced"] = True
        run.update_manifest(audit=result.summary)
    return AuditOutcome.from_summary(run.path, result.summary, msg, result.passed)


def data_gate_message(summary: dict, data_dir: Path) -> str:
    """The failed gate in plain words: what failed, which records, where they are, and what to do next."""
    from tunewright.data.gate_advice import gate_advice

    g = summary["gate"]
    return (f"data audit gate failed: {'; '.join(g.get('failures') or ['see audit.json'])}\n"
            + gate_advice(summary, data_dir))


def stage_split(cfg: Config, run: Run) -> SplitResult:
    """Split the audited (or curated) set into train/validation/test files in ``run/data``: deterministic by
    ``split.seed``, near-duplicate clusters kept whole, a given test file used as the test split."""
    with run.stage("split"):
        curated = run.data_dir / "curated.jsonl"  # written by 'tunewright data curate'
        clean = read_examples(curated if curated.exists() else run.data_dir / "clean.jsonl")
        test_path = run.data_dir / "test_clean.jsonl"
        if (run.data_dir / "test_curated.jsonl").exists():
            test_path = run.data_dir / "test_curated.jsonl"
        test = read_examples(test_path) if test_path.exists() else None
        nd = cfg.audit.near_duplicates
        result = split_examples(clean, cfg.split, test, near_duplicates=params_from_config(nd) if nd.enabled else None)
        paths = write_split(result, run.data_dir)
        run.update_manifest(split=result.counts())
        run.record_artifact("split", *paths.values())
    return result


def stage_eval(cfg: Config, run: Run, which: str, session: Session | None = None) -> EvalOutcome:
    """Evaluate the base or the tuned model (``which``): the task metric on the test split with predictions
    per example, the held-out loss on validation and the general suite, into ``run/eval/<which>/``."""
    from tunewright.evaluation.evaluate import evaluate_model

    session = session or Session(cfg)
    if which == "tuned" and not run.model_dir.is_dir():
        raise MissingArtifact(f"{run.model_dir}: no trained model; run 'tunewright train' for this run first")
    with run.stage(f"eval_{which}"):
        ref, tok = session.model_ref(), session.tok()
        model = load_model(ref, cfg.model) if which == "base" else load_adapter_model(ref, cfg.model, run.model_dir)
        metrics = evaluate_model(cfg, run, which, model, tok, read_split(run, "test"), read_split(run, "validation"),
                                 train=read_split(run, "train"))
        del model
    return EvalOutcome.from_metrics(which, metrics)


def stage_train(cfg: Config, run: Run, session: Session | None = None, resume: bool = False) -> TrainResult:
    """Fine-tune on the training split (training.method) and save the adapter or weights into ``run/model``;
    ``resume`` continues from the latest complete checkpoint."""
    from tunewright.training.methods import check_method_available, quantization_config
    from tunewright.training.trainer import train_model

    check_method_available(cfg.training.method)  # before minutes of loading
    session = session or Session(cfg)
    with run.stage("train"):
        model = load_model(session.model_ref(), cfg.model,
                           quantization_config=quantization_config(cfg.training.method))
        result = train_model(cfg, run, read_split(run, "train"), model, session.tok(), resume=resume)
        write_json(run.path / "train_result.json", result.to_json())
        run.update_manifest(training={k: v for k, v in result.to_json().items() if k != "loss_curve"})
        run.record_artifact("train", run.model_dir, run.path / "train_result.json")
        del model
    return result


def stage_export(cfg: Config, run: Run, out: Path, fmt: str = "merged", gguf_types: list[str] | None = None,
                 vllm_mode: str = "merged", verify: bool = True, session: Session | None = None,
                 push_to_hub: str | None = None):
    """Write the export ``fmt`` into ``out``, read it back and score it (serving.export.export_run); with
    ``push_to_hub``, lay the folder out as a hub repository (model card, report, config) and upload it."""
    from tunewright.serving.export import ExportSource, export_run

    session = session or Session(cfg)
    ref = session.model_ref()
    src = ExportSource(cfg, run, ref.path, ref.origin if ref.gguf_sha256 else None)
    res = export_run(src, fmt, out, gguf_types, vllm_mode, verify)
    if push_to_hub:
        from tunewright.training.hub import hub_layout, push_to_hub as push

        res.files = hub_layout(run, Path(res.path))
        res.details["pushed"] = push(Path(res.path), push_to_hub)
    return res


def stage_serve(cfg: Config, run: Run, settings, limits, use_router: bool = True) -> None:
    """Serve the run's specialist and generalist (and ``auto`` where the run's router shipped) until interrupted."""
    from tunewright.serving.endpoint import check_bind, serve
    from tunewright.serving.engine import load_engine
    from tunewright.serving.router import load_shipped_router

    check_bind(settings)  # before minutes of loading
    router = load_shipped_router(run) if use_router else None
    serve(load_engine(cfg, run, limits, router), settings)


def stage_router(cfg: Config, run: Run):
    """Train the specialist/generalist router on the run's own evaluation and write RUN/router/."""
    from tunewright.serving.router import train_router

    with run.stage("router"):
        result = train_router(cfg, run)
        run.record_artifact("router", run.path / "router")
    return result


def stage_compare_mitigation(cfg: Config, run: Run, session: Session | None = None) -> MitigationOutcome:
    """Train and evaluate the run again with each mitigation arm (general.mitigation_study) and compare."""
    from tunewright.evaluation.mitigation_study import compare_mitigations

    session = session or Session(cfg)
    with run.stage("compare_mitigation"):
        result = compare_mitigations(cfg, run, session)
        run.record_artifact("compare_mitigation", run.path / "mitigation.json")
    return MitigationOutcome.from_json(result)


def stage_auto_mitigation(cfg: Config, run: Run, session: Session | None = None, notify=None) -> dict | None:
    """``training.mitigation: auto``: when the tuned model fails the forgetting gate, try the mitigation ladder
    and hand over the first arm that passes (studies/auto_mitigation.py); None when nothing was needed."""
    from tunewright.studies.auto_mitigation import RESULT, auto_mitigate

    if cfg.training.mitigation != "auto" or not cfg.general.enabled:
        return None
    session = session or Session(cfg)
    with run.stage("mitigation_auto"):
        result = auto_mitigate(cfg, run, session, notify)
    if result is not None:
        run.record_artifact("mitigation_auto", run.path / RESULT)
    return result


def stage_learning_curve(cfg: Config, run: Run, session: Session | None = None) -> LearningCurveOutcome:
    """Train on 25%, 50% and 100% of the training split and extrapolate the metric to 2x and 4x the data."""
    from tunewright.evaluation.learning_curve import learning_curve

    session = session or Session(cfg)
    with run.stage("learning_curve"):
        result = learning_curve(cfg, run, session)
        run.record_artifact("learning_curve", run.path / "learning_curve.json")
    return LearningCurveOutcome.from_json(result)


def stage_export_harness(cfg: Config, run: Run, out_dir: Path, session: Session | None = None) -> list[Path]:
    """Write the domain task and the general suite as lm-evaluation-harness task YAML into ``out_dir``."""
    from tunewright.evaluation.harness import export_harness

    session = session or Session(cfg)
    return export_harness(cfg, session.tok(), read_split(run, "test"), out_dir)


def stage_harness(cfg: Config, run: Run, tasks: list[str], include_path: Path | None, limit: int | None,
                  session: Session | None = None) -> dict:
    """lm-evaluation-harness tasks on the base and the tuned model; results land in eval/<which>/harness.json."""
    from tunewright.evaluation.harness import run_harness

    session = session or Session(cfg)
    out = {}
    with run.stage("harness"):
        for which in ("base", "tuned"):
            adapter = run.model_dir if which == "tuned" else None
            if which == "tuned" and not (run.model_dir / "adapter_config.json").exists():
                raise MissingArtifact(f"{run.model_dir}: no trained adapter; run 'tunewright train' first")
            out[which] = run_harness(session.model_ref().path, adapter, tasks, include_path, limit, cfg.task.batch_size)
            write_json(run.eval_dir / which / "harness.json", out[which])
    return out


def stage_tune(cfg: Config, run: Run, session: Session | None = None, join: bool = False) -> TuneOutcome | None:
    """Search tuning.space on the run's validation split (tunewright.studies.tune); the run's own training is
    the default configuration the chosen one is compared with on test (trained here first when missing).
    ``join``: run trials of a shared study as one of several workers and return None (no choice)."""
    from tunewright.studies.tune import tune

    session = session or Session(cfg)
    if not (run.eval_dir / "base" / "metrics.json").exists():
        stage_eval(cfg, run, "base", session)
    if not (run.eval_dir / "tuned" / "metrics.json").exists():
        stage_train(cfg, run, session)
        stage_eval(cfg, run, "tuned", session)
    if join:  # a worker: the parent's manifest is the coordinator's to write
        tune(cfg, run, session, join=True)
        return None
    with run.stage("tune"):
        result = tune(cfg, run, session)
        run.record_artifact("tune", run.path / "tuning" / "tuning.json")
    return TuneOutcome.from_json(result)


def stage_select(cfg: Config, run: Run, force: bool = False, progress: bool = True) -> SelectOutcome:
    """Fine-tune every selection.candidates model as a sub-run of ``run`` on its audited data and split (audited
    and split here first when the run has neither), measure and price serving, and recommend
    (tunewright.studies.select); writes RUN/select/selection.json and selection.html, and refreshes the run's
    report when it has one."""
    from tunewright.reporting.selection_section import write_selection_html
    from tunewright.studies.select import check_selection, select

    check_selection(cfg)  # before minutes of auditing
    if not audited(run):
        stage_audit(cfg, run, force=force)
    elif not (run.data_dir / "train.jsonl").exists():
        continue_from_audit(run, force)
    if not (run.data_dir / "train.jsonl").exists():
        stage_split(cfg, run)
    with run.stage("select"):
        result = select(cfg, run, progress=progress)
        html = write_selection_html(run)
        run.record_artifact("select", run.path / "select" / "selection.json", html)
    if (run.path / "report.json").exists():
        stage_report(cfg, run)
    return SelectOutcome.from_json(result, run.path / "select")


def stage_report(cfg: Config, run: Run) -> Headline:
    """Write report.json and report.html from the run's artifacts and register the run as done."""
    from tunewright.reporting.report import write_report

    with run.stage("report"):
        report = write_report(run)
        run.record_artifact("report", run.path / "report.json", run.path / "report.html")
        if cfg.tracking.report_to:
            from tunewright.tracking import log_report

            log_report(cfg, run, report)
    register_run(runs_root(cfg), run, status="done", headline=report.get("headline"))
    return Headline.from_report(run.path, report, run.manifest().get("audit", {}).get("gate"))


def enforce_gates(forgetting_verdict: str, reasons: list[str]) -> None:
    """Raise GateFailed when the forgetting gate failed (the report is already written)."""
    if forgetting_verdict == "fail":
        raise GateFailed("forgetting gate failed: " + "; ".join(reasons))


def stage_preflight(cfg: Config, run: Run, force: bool = False):
    """The config checked against a sample of the data before any compute; stops raise PreflightFailed."""
    from tunewright.data.preflight import check_config_against_data, enforce_preflight

    result = check_config_against_data(cfg)
    run.update_manifest(preflight={**result.to_json(), "forced": bool(result.stops and force)})
    enforce_preflight(result, force)
    return result


def audited(run: Run) -> bool:
    """The run already holds a finished audit (clean set, quarantine and summary)."""
    m = run.manifest()
    return "audit" in m and "gate" in m["audit"] and (run.data_dir / "clean.jsonl").exists()


def continue_from_audit(run: Run, force: bool) -> dict:
    """Reuse the run's finished audit instead of redoing it; its failed gate still stops unless ``force``."""
    summary = run.manifest()["audit"]
    if not summary["gate"]["passed"]:
        if not force:
            raise GateFailed(data_gate_message(summary, run.data_dir))
        summary["gate"]["forced"] = True
        run.update_manifest(audit=summary)
    return summary


def run_all(cfg: Config, run: Run | None = None, force: bool = False, notify=None) -> tuple[Run, Headline]:
    """Every stage from one config into one run directory: preflight, audit, split, base eval, train, eval,
    report; with a labeling section (functions), label and review first (labeling/stage.py:
    stage_training_labels). ``notify(message)`` hears the preflight's warnings as soon as they are known.

    A failed data gate stops the run (GateFailed) unless ``force``. Given a ``run`` that was audited already
    (one whose gate failed, say), the run continues from that audit instead of redoing it."""
    run = run or new_run(cfg)
    t0 = time.perf_counter()
    from tunewright.labeling.stage import labeling_configured, stage_training_labels

    if audited(run):
        continue_from_audit(run, force)
        session = Session(cfg)
    else:
        if labeling_configured(cfg):  # label -> review (where reviews exist) -> the labeled set the audit reads
            cfg, _ = stage_training_labels(cfg, run)
        for w in stage_preflight(cfg, run, force).findings:
            if notify:
                notify(f"{w.level}: {w.message}")
        session = Session(cfg)
        stage_audit(cfg, run, session, force=force)
    stage_split(cfg, run)
    stage_eval(cfg, run, "base", session)
    stage_train(cfg, run, session)
    stage_eval(cfg, run, "tuned", session)
    stage_auto_mitigation(cfg, run, session, notify)
    run.update_manifest(wall_seconds=round(time.perf_counter() - t0, 1))
    report = stage_report(cfg, run)
    return run, report


def run_demo(quick: bool = False, compare_mitigation: bool = False, extra_overrides: list[str] | None = None,
             tune: bool = False, notify=None) -> tuple[Headline, MitigationOutcome | None, TuneOutcome | None]:
    """The offline demo: its own config (demo.yaml; ``quick``: the test-sized subset),
    every stage; with ``compare_mitigation`` the replay and EWC arms, with ``tune`` a small study
    (DEMO_TUNE / QUICK_TUNE); the report includes them."""
    extra = list(extra_overrides or [])
    if tune:
        extra = (QUICK_TUNE if quick else DEMO_TUNE) + extra
    cfg = load_demo_config(quick, extra)
    run, headline = run_all(cfg, notify=notify)
    mitigation = tuned = None
    if compare_mitigation:
        mitigation = stage_compare_mitigation(cfg, run)
    if tune:
        tuned = stage_tune(cfg, run)
    if compare_mitigation or tune:
        headline = stage_report(cfg, run)
    return headline, mitigation, tuned
