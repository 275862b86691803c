"""Typed results of the stages (STYLE.md #14): what a stage hands back to its caller and what the CLI prints.

The artifacts a stage writes (audit.json, report.json, ...) stay JSON; these classes are the in-process view
of them, so a renderer reads ``result.used`` rather than ``summary["used"]`` and a new field is one edit a
type checker can follow. Each ``from_*`` builds one from the JSON the stage wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AuditOutcome:
    """``tunewright data audit`` / ``data curate``: the counts, the gate, where the files are."""

    run_path: Path
    input_records: int
    used: int
    quarantined: int
    flagged_kept: int
    reasons: dict[str, int]
    token_lengths: dict[str, Any]
    gate_verdict: str
    passed: bool
    warnings: list[str]
    gate_message: str
    near_duplicates: dict[str, Any] | None = None
    leakage: dict[str, Any] | None = None
    curated_examples: int | None = None
    curate_changes: dict[str, int] | None = None
    summary: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole audit.json summary

    @classmethod
    def from_summary(cls, run_path: Path, s: dict[str, Any], gate_message: str, passed: bool) -> AuditOutcome:
        g = s["gate"]
        cur = s.get("curate") or {}
        return cls(run_path=Path(run_path), input_records=s["input_records"], used=s["used"],
                   quarantined=s["quarantined"], flagged_kept=s.get("flagged_kept", 0), reasons=dict(s["reasons"]),
                   token_lengths=s["token_lengths"], gate_verdict=g.get("verdict", "pass" if g["passed"] else "fail"),
                   passed=passed, warnings=list(g.get("warnings", [])), gate_message=gate_message,
                   near_duplicates=s.get("near_duplicates"), leakage=s.get("leakage"),
                   curated_examples=cur.get("examples"), curate_changes=cur.get("changes"), summary=s)


@dataclass(frozen=True)
class EvalOutcome:
    """``tunewright eval``: the task metric and the general suite of one model on the test split."""

    which: str
    metric: str
    value: float
    n: int
    unparseable: int
    general: dict[str, float]
    metrics: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole eval/<which>/metrics.json

    @classmethod
    def from_metrics(cls, which: str, m: dict[str, Any]) -> EvalOutcome:
        t = m["task"]
        return cls(which=which, metric=t["metric"], value=t["value"], n=t["n"], unparseable=t["unparseable"],
                   general={k: v["value"] for k, v in m["general"].items()}, metrics=m)


@dataclass(frozen=True)
class GeneralChange:
    name: str
    metric: str
    base: float
    tuned: float
    rel_change: float | None


@dataclass(frozen=True)
class Headline:
    """The report's headline (``tunewright report`` / ``run`` / ``demo``)."""

    run_path: Path
    metric: str
    base: float
    tuned: float
    change: float
    ci_low: float
    ci_high: float
    ci_level: float
    significant: bool
    n: int
    general: list[GeneralChange]
    forgetting_verdict: str
    forgetting_reasons: list[str]
    heldout_base: float | None
    heldout_tuned: float | None
    trainable_params: int
    total_params: int
    trainable_share: float
    wall_seconds: float | None
    data_gate_forced: bool = False
    data_gate_failures: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole report.json

    @property
    def report_html(self) -> Path:
        return self.run_path / "report.html"

    @classmethod
    def from_report(cls, run_path: Path, rep: dict[str, Any], data_gate: dict[str, Any] | None = None) -> Headline:
        t, tr, c = rep["task"], rep["training"], rep["task"]["change_ci"]
        ho = rep.get("heldout") or {}
        gate = data_gate or {}
        return cls(run_path=Path(run_path), metric=t["metric"], base=t["base"], tuned=t["tuned"], change=t["change"],
                   ci_low=c["low"], ci_high=c["high"], ci_level=c["level"], significant=t["significant"], n=t["n"],
                   general=[GeneralChange(k, g["metric"], g["base"], g["tuned"], g["rel_change"])
                            for k, g in rep["general"].items()],
                   forgetting_verdict=rep["forgetting"]["verdict"], forgetting_reasons=list(rep["forgetting"]["reasons"]),
                   heldout_base=ho.get("base"), heldout_tuned=ho.get("tuned"),
                   trainable_params=tr["trainable_params"], total_params=tr["total_params"],
                   trainable_share=tr["trainable_share"], wall_seconds=rep["headline"].get("wall_seconds"),
                   data_gate_forced=bool(gate.get("forced")), data_gate_failures=list(gate.get("failures", [])),
                   report=rep)


@dataclass(frozen=True)
class CurvePoint:
    fraction: float
    train_examples: int
    value: float


@dataclass(frozen=True)
class CurvePrediction:
    multiple: str
    size: int
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class LearningCurveOutcome:
    """``tunewright eval learning-curve``: measured points and the extrapolation at 2x and 4x the data."""

    metric: str
    points: list[CurvePoint]
    predictions: list[CurvePrediction]
    warnings: list[str]

    @classmethod
    def from_json(cls, lc: dict[str, Any]) -> LearningCurveOutcome:
        return cls(metric=lc["metric"],
                   points=[CurvePoint(p["fraction"], p["train_examples"], p["value"]) for p in lc["points"]],
                   predictions=[CurvePrediction(k, p["size"], p["value"], p["low"], p["high"])
                                for k, p in lc["predictions"].items()],
                   warnings=list(lc["warnings"]))


@dataclass(frozen=True)
class MitigationArm:
    name: str
    metric: str
    value: float
    low: float
    high: float
    suite_change: float | None
    verdict: str


@dataclass(frozen=True)
class MitigationOutcome:
    """``tunewright eval compare-mitigation``: each arm's task metric and forgetting."""

    arms: list[MitigationArm]

    @classmethod
    def from_json(cls, res: dict[str, Any]) -> MitigationOutcome:
        arms = []
        for name, a in res["arms"].items():
            ci, g = a["task"]["tuned_ci"], a["forgetting"]
            arms.append(MitigationArm(name, a["task"]["metric"], ci["value"], ci["low"], ci["high"],
                                      g["suite_mean_ability_change"], g["verdict"]))
        return cls(arms)


@dataclass(frozen=True)
class FunctionRow:
    function: str
    coverage: float
    overlap: float
    conflict: float
    accuracy: float | None


@dataclass(frozen=True)
class LabelOutcome:
    """``tunewright label``: per-function analysis and the label model's scores against gold."""

    run_path: Path
    examples: int
    functions: list[FunctionRow]
    scores: dict[str, dict[str, Any] | None]
    paths: dict[str, Path]


@dataclass(frozen=True)
class ReviewInitOutcome:
    queued: int
    items: int
    tokens: dict[str, str]


@dataclass(frozen=True)
class ReviewExportOutcome:
    examples: int
    reviewed: int
    changed: int
    path: Path
    problems: list[dict[str, Any]] = field(default_factory=list)  # stored labels left out: they no longer read


@dataclass(frozen=True)
class ReviewNextOutcome:
    """``tunewright review next``: the round queued, and why each item was chosen (its nonzero value terms,
    e.g. uncertainty, disagreement, audit; and the audit's reasons)."""

    added: int
    items: int  # in the store after the round
    left_unqueued: int  # examples never queued
    chosen: list[dict[str, Any]] = field(default_factory=list)  # {"example_id", <term>: value, "audit_reasons"}


@dataclass(frozen=True)
class InteropOutcome:
    """``tunewright review transfer``: records exported or judgments imported, and what an export left out."""

    count: int
    problems: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ReviewerPair:
    reviewers: tuple[str, str]
    items: int
    kappa: float | None
    percent_agreement: float


@dataclass(frozen=True)
class AgreementOutcome:
    """``tunewright review agreement``."""

    krippendorff_alpha: float | None
    pairs: list[ReviewerPair]
    gold_accuracy: dict[str, tuple[float, int]]  # reviewer -> (accuracy, gold items)
    report: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, rep: dict[str, Any]) -> AgreementOutcome:
        return cls(krippendorff_alpha=rep["krippendorff_alpha"],
                   pairs=[ReviewerPair(tuple(p["reviewers"]), p["items"], p["kappa"], p["percent_agreement"])
                          for p in rep["pairs"]],
                   gold_accuracy={r: (a["accuracy"], a["gold_items"]) for r, a in rep["gold_accuracy"].items()},
                   report=rep)


@dataclass(frozen=True)
class CalibrationOutcome:
    """``tunewright cost calibrate``: the entry recorded for one run."""

    method: str
    tokens_per_second: float
    gpu: str | None
    mfu: float | None
    memory_ratio: float | None
    path: Path
    runs: int


@dataclass(frozen=True)
class TuneOutcome:
    """``tunewright tune``: the study, the choice and the chosen configuration against the default on test."""

    trials: int
    feasible: int
    pareto_front: list[int]
    chosen_trial: int | None
    chosen_overrides: list[str]
    chosen_config: Path | None
    metric: str | None = None
    default_test: tuple[float, float, float] | None = None  # value, low, high
    chosen_test: tuple[float, float, float] | None = None
    change: tuple[float, float, float] | None = None  # chosen - default, paired interval
    default_forgetting: str | None = None
    chosen_forgetting: str | None = None
    result: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, r: dict[str, Any]) -> TuneOutcome:
        ch = r.get("chosen") or {}
        t = r.get("test") or {}
        pair = t.get("default_vs_chosen") or {}

        def ci(d):
            return (d["value"], d["low"], d["high"]) if d else None
        return cls(trials=len(r["trials"]), feasible=sum(x["feasible"] for x in r["trials"]),
                   pareto_front=list(r["pareto_front"]), chosen_trial=ch.get("trial"),
                   chosen_overrides=list(ch.get("overrides", [])),
                   chosen_config=Path(r["chosen_config"]) if r.get("chosen_config") else None,
                   metric=t.get("metric"), default_test=ci(pair.get("base_ci")), chosen_test=ci(pair.get("tuned_ci")),
                   change=ci(pair.get("change_ci")), default_forgetting=(t.get("default") or {}).get("verdict"),
                   chosen_forgetting=(t.get("chosen") or {}).get("verdict"), result=r)


@dataclass(frozen=True)
class SelectCandidate:
    name: str
    params: int
    metric: str
    base: float  # zero-shot base on the test split
    tuned: float
    tuned_low: float
    tuned_high: float
    forgetting: str
    train_seconds: float
    usd_per_month: float  # serving at the traffic on its cheapest estimated GPU
    cheapest_gpu: str
    cpu_tokens_per_second: float  # measured here, batch 1


@dataclass(frozen=True)
class SelectOutcome:
    """``tunewright select``: each candidate's numbers, who was dropped by screening, and the verdict."""

    candidates: list[SelectCandidate]
    dropped: dict[str, str]  # name -> why screening dropped it
    pareto: list[str]
    recommended: str
    sentence: str
    utilization_source: str
    path: Path
    result: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, r: dict[str, Any], path: Path) -> SelectOutcome:
        cands = [SelectCandidate(n, c["params"], c["task"]["metric"], c["task"]["base"]["value"],
                                 c["task"]["tuned"]["value"], c["task"]["tuned"]["low"], c["task"]["tuned"]["high"],
                                 c["forgetting"]["verdict"], c["training"]["seconds"], c["serving"]["usd_per_month"],
                                 c["serving"]["cheapest_gpu"], c["serving"]["measured"]["batch1_tokens_per_second"])
                 for n, c in r["candidates"].items()]
        v = r["verdict"]
        return cls(cands, {n: d["reason"] for n, d in r["dropped"].items()}, list(v["pareto"]), v["recommended"],
                   v["sentence"], r["serving_assumptions"]["utilization_source"], Path(path), r)
