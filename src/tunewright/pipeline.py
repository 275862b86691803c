"""The stages wired together. Each ``stage_*`` is a plain function on a config and a run directory; the CLI
and ``tunewright run`` / ``tunewright demo`` only call these."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tunewright.config import Config, config_to_dict
from tunewright.data.audit import AuditResult, audit_data
from tunewright.data.split import SplitResult, split_examples, write_split
from tunewright.data.dedup import params_from_config
from tunewright.models import ResolvedModel, load_adapter_model, load_model, load_tokenizer, resolve_model
from tunewright.project import Run, create_run, file_sha256, register_run, write_json
from tunewright.records import read_examples

# The demo runs on the built-in defaults (SmolLM2-135M-Instruct, ner_finance); these keep it within its time
# budget on a 2-core CPU (~200 trained tokens/s). --quick is the test-sized variant.
DEMO_OVERRIDES = ["project.name=demo", "training.max_steps=100"]
QUICK_OVERRIDES = [
    "project.name=demo-quick",
    "training.max_steps=12",
    "training.logging_steps=2",
    "task.max_test_examples=24",
    "general.perplexity_paragraphs=8",
    "general.mmlu_questions=24",
]


def demo_overrides(quick: bool) -> list[str]:
    return list(QUICK_OVERRIDES if quick else DEMO_OVERRIDES)


class GateFailed(RuntimeError):
    pass


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


def runs_dir(cfg: Config) -> Path:
    return Path(cfg.resolve(cfg.project.runs_dir))


def new_run(cfg: Config) -> Run:
    return create_run(runs_dir(cfg), cfg.project.name, config_to_dict(cfg),
                      seeds={"split": cfg.split.seed, "training": cfg.training.seed}, cwd=cfg.base_dir)


def stage_audit(cfg: Config, run: Run, session: Session | None = None, force: bool = False,
                curate: bool = False) -> AuditResult:
    """Audit (and, with ``curate``, write the curated set); a failed data gate raises unless ``force``."""
    session = session or Session(cfg)
    with run.stage("audit"):
        if curate:
            from tunewright.data.curate import curate_data

            result = curate_data(cfg, run.data_dir, get_tokenizer=session.tok).audit
        else:
            result = audit_data(cfg, run.data_dir, get_tokenizer=session.tok)
        hashes = {}
        from tunewright.assets import resolve_path

        for f in [*cfg.data.train_files, *cfg.data.test_files]:
            hashes[f] = file_sha256(resolve_path(cfg.resolve(f)))
        run.update_manifest(data_hashes=hashes, audit=result.summary)
        from tunewright.reporting.audit_section import write_audit_html

        write_audit_html(run.data_dir)
        run.record_artifact("audit", run.data_dir / "clean.jsonl", run.data_dir / "quarantine.jsonl",
                            run.data_dir / "audit.json", run.data_dir / "audit.html")
    if not result.passed:
        msg = data_gate_message(result.summary, run.data_dir)
        if not force:
            raise GateFailed(msg)
        result.summary["gate"]["forced"] = True
        run.update_manifest(audit=result.summary)
    return result


def data_gate_message(summary: dict, data_dir: Path) -> str:
    g = summary["gate"]
    return (f"data audit gate failed: {'; '.join(g.get('failures') or ['see audit.json'])} "
            f"(see {data_dir / 'quarantine.jsonl'}; 'tunewright run --force' goes on anyway)")


def stage_split(cfg: Config, run: Run) -> SplitResult:
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


def _load_split(run: Run, name: str):
    path = run.data_dir / f"{name}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run 'tunewright split' for this run first")
    return read_examples(path)


def stage_eval(cfg: Config, run: Run, which: str, session: Session | None = None) -> dict:
    from tunewright.evaluation.evaluate import evaluate_model

    session = session or Session(cfg)
    if which == "tuned" and not run.model_dir.is_dir():
        raise FileNotFoundError(f"{run.model_dir}: no trained model; run 'tunewright train' for this run first")
    with run.stage(f"eval_{which}"):
        ref, tok = session.model_ref(), session.tok()
        model = load_model(ref, cfg.model) if which == "base" else load_adapter_model(ref, cfg.model, run.model_dir)
        metrics = evaluate_model(cfg, run, which, model, tok, _load_split(run, "test"), _load_split(run, "validation"))
        del model
    return metrics


def stage_train(cfg: Config, run: Run, session: Session | None = None, resume: bool = False):
    from tunewright.training.methods import check_method_available, quantization_config
    from tunewright.training.trainer import train_model

    check_method_available(cfg.training.method)  # before minutes of loading
    session = session or Session(cfg)
    with run.stage("train"):
        model = load_model(session.model_ref(), cfg.model,
                           quantization_config=quantization_config(cfg.training.method))
        result = train_model(cfg, run, _load_split(run, "train"), model, session.tok(), resume=resume)
        write_json(run.path / "train_result.json", result.to_json())
        run.update_manifest(training={k: v for k, v in result.to_json().items() if k != "loss_curve"})
        run.record_artifact("train", run.model_dir, run.path / "train_result.json")
        del model
    return result


def stage_export(cfg: Config, run: Run, out: Path, fmt: str = "merged", gguf_types: list[str] | None = None,
                 vllm_mode: str = "merged", verify: bool = True, session: Session | None = None):
    """Write the export ``fmt`` into ``out``, read it back and score it (serving.export.export_run)."""
    from tunewright.serving.export import ExportSource, export_run

    session = session or Session(cfg)
    ref = session.model_ref()
    src = ExportSource(cfg, run, ref.path, ref.origin if ref.gguf_sha256 else None)
    return export_run(src, fmt, out, gguf_types, vllm_mode, verify)


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


def stage_compare_mitigation(cfg: Config, run: Run, session: Session | None = None) -> dict:
    from tunewright.evaluation.mitigation_study import compare_mitigations

    session = session or Session(cfg)
    with run.stage("compare_mitigation"):
        result = compare_mitigations(cfg, run, session)
        run.record_artifact("compare_mitigation", run.path / "mitigation.json")
    return result


def stage_learning_curve(cfg: Config, run: Run, session: Session | None = None) -> dict:
    from tunewright.evaluation.learning_curve import learning_curve

    session = session or Session(cfg)
    with run.stage("learning_curve"):
        result = learning_curve(cfg, run, session)
        run.record_artifact("learning_curve", run.path / "learning_curve.json")
    return result


def stage_export_harness(cfg: Config, run: Run, out_dir: Path, session: Session | None = None) -> list[Path]:
    from tunewright.evaluation.harness import export_harness

    session = session or Session(cfg)
    return export_harness(cfg, session.tok(), _load_split(run, "test"), out_dir)


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
                raise FileNotFoundError(f"{run.model_dir}: no trained adapter; run 'tunewright train' first")
            out[which] = run_harness(session.model_ref().path, adapter, tasks, include_path, limit, cfg.task.batch_size)
            write_json(run.eval_dir / which / "harness.json", out[which])
    return out


def stage_report(cfg: Config, run: Run) -> dict:
    from tunewright.reporting.report import write_report

    with run.stage("report"):
        report = write_report(run)
        run.record_artifact("report", run.path / "report.json", run.path / "report.html")
    register_run(runs_dir(cfg), run, status="done", headline=report.get("headline"))
    return report


def enforce_gates(report: dict) -> None:
    """Raise GateFailed when the forgetting gate failed (the report is already written)."""
    f = report.get("forgetting", {})
    if f.get("verdict") == "fail":
        raise GateFailed("forgetting gate failed: " + "; ".join(f["reasons"]))


def run_all(cfg: Config, run: Run | None = None, force: bool = False) -> tuple[Run, dict]:
    """Every stage from one config into one run directory: audit, split, base eval, train, eval, report.

    A failed data gate stops the run (GateFailed) unless ``force``."""
    run = run or new_run(cfg)
    session = Session(cfg)
    t0 = time.perf_counter()
    stage_audit(cfg, run, session, force=force)
    stage_split(cfg, run)
    stage_eval(cfg, run, "base", session)
    stage_train(cfg, run, session)
    stage_eval(cfg, run, "tuned", session)
    run.update_manifest(wall_seconds=round(time.perf_counter() - t0, 1))
    report = stage_report(cfg, run)
    return run, report
