"""How results are printed: one function per result type (tunewright.results), shared by the commands."""

from __future__ import annotations

from tunewright.cli.common import out
from tunewright.results import (AuditOutcome, Headline, LearningCurveOutcome, MitigationOutcome, SelectOutcome,
                                TuneOutcome)


def audit(a: AuditOutcome) -> None:
    out.print(f"input records {a.input_records}, used {a.used}, quarantined {a.quarantined}, "
              f"flagged but kept {a.flagged_kept}")
    for reason, n in a.reasons.items():
        out.print(f"  {reason}: {n}", highlight=False)
    if nd := a.near_duplicates:
        out.print(f"near-duplicates: {nd['clusters']} clusters ({nd['flagged']} flagged), {nd['conflict_pairs']} "
                  f"pairs with different answers; LSH {nd['bands']} bands x {nd['rows']} rows")
    if lk := a.leakage:
        out.print(f"leakage: {lk['exact']} exact and {lk['near']} near copies of test inputs; {lk['contaminated']} "
                  f"examples share a {lk['contamination_ngram']}-gram with evaluation text")
    out.print(f"token lengths: {a.token_lengths}")
    if a.curated_examples is not None:
        data = a.run_path / "data"
        out.print(f"curated: {a.curated_examples} examples, changes {a.curate_changes} -> "
                  f"{data / 'curated.jsonl'}, {data / 'curated.parquet'}")
    for w in a.warnings:
        out.print(f"warning: {w}", highlight=False)
    out.print(f"data gate: [bold]{a.gate_verdict.upper()}[/]", highlight=False)
    out.print(f"run: {a.run_path}")


def headline(h: Headline) -> None:
    sig = "significant" if h.significant else "not significant"
    out.print(f"[bold]{h.metric}[/]: base {h.base:.3f} -> tuned {h.tuned:.3f} ({h.change:+.3f}, "
              f"{h.ci_level:.0%} interval {h.ci_low:+.3f} to {h.ci_high:+.3f}, {sig}) on {h.n} test examples")
    for g in h.general:
        rel = "" if g.rel_change is None else f" ({g.rel_change:+.1%})"
        out.print(f"{g.name} ({g.metric}): base {g.base:.3f} -> tuned {g.tuned:.3f}{rel}")
    out.print(f"forgetting gate: [bold]{h.forgetting_verdict.upper()}[/] - " + "; ".join(h.forgetting_reasons),
              highlight=False)
    auto = h.report.get("mitigation_auto")
    if auto:
        first = auto["first"]["test"]
        if auto["handed_over"]:
            out.print(f"mitigation (auto): the first model failed the gate ({first['verdict']}, task {first['task']:.3f}); "
                      f"handed over {auto['handed_over']['arm']} ({auto['handed_over']['label']}); the first model is "
                      "in mitigation_auto/unmitigated", highlight=False, markup=False)
        else:
            out.print(f"mitigation (auto): no arm of {len(auto['arms'])} passed the gate; the first model is kept",
                      highlight=False, markup=False)
    if h.heldout_base is not None and h.heldout_tuned is not None:
        out.print(f"held-out loss: base {h.heldout_base:.3f} -> tuned {h.heldout_tuned:.3f}")
    out.print(f"trainable: {h.trainable_params:,} of {h.total_params:,} parameters ({h.trainable_share:.2%})")
    if h.wall_seconds is not None:
        out.print(f"wall time: {h.wall_seconds:.0f} s")
    if h.data_gate_forced:
        out.print("data gate FAILED, run went on because of --force: " + "; ".join(h.data_gate_failures),
                  highlight=False)
    out.print(f"report: {h.report_html}")


def learning_curve(lc: LearningCurveOutcome) -> None:
    for p in lc.points:
        out.print(f"{p.train_examples} examples ({p.fraction:.0%}): {lc.metric} {p.value:.4f}")
    for p in lc.predictions:
        out.print(f"predicted at {p.multiple} ({p.size} examples): {p.value:.4f} [{p.low:.4f}, {p.high:.4f}]")
    for w in lc.warnings:
        out.print(f"caution: {w}")


def mitigation(res: MitigationOutcome) -> None:
    for a in res.arms:
        suite = "n/a" if a.suite_change is None else f"{a.suite_change:+.1%}"
        out.print(f"{a.name}: {a.metric} {a.value:.4f} [{a.low:.4f}, {a.high:.4f}]; general suite {suite}; "
                  f"forgetting gate {a.verdict}")


def tune(t: TuneOutcome) -> None:
    out.print(f"tune: {t.trials} trials, {t.feasible} pass the forgetting gate; Pareto front: trials "
              f"{', '.join(map(str, t.pareto_front)) or '-'}")
    if t.chosen_trial is None:
        out.print("no trial passes the forgetting gate: nothing chosen (widen tuning.space or the mitigation knobs)")
        return
    out.print(f"chosen: trial {t.chosen_trial}: {' '.join(t.chosen_overrides)}", highlight=False)
    if t.default_test and t.chosen_test and t.change:
        d, c, ch = t.default_test, t.chosen_test, t.change
        out.print(f"test {t.metric}: default {d[0]:.3f} [{d[1]:.3f}, {d[2]:.3f}] -> chosen {c[0]:.3f} "
                  f"[{c[1]:.3f}, {c[2]:.3f}], change {ch[0]:+.3f} [{ch[1]:+.3f}, {ch[2]:+.3f}]; forgetting gate "
                  f"default {t.default_forgetting}, chosen {t.chosen_forgetting}")
    out.print(f"chosen config: {t.chosen_config} (tunewright run -c {t.chosen_config})")


def select(s: SelectOutcome) -> None:
    for c in s.candidates:
        out.print(f"{c.name} ({c.params / 1e6:.0f}M): {c.metric} zero-shot {c.base:.3f} -> tuned {c.tuned:.3f} "
                  f"[{c.tuned_low:.3f}, {c.tuned_high:.3f}]; forgetting {c.forgetting}; trained {c.train_seconds:.0f} s "
                  f"here; {c.cpu_tokens_per_second:.1f} tokens/s here (batch 1); serving ${c.usd_per_month:,.0f}/month "
                  f"on {c.cheapest_gpu}", highlight=False)
    for name, why in s.dropped.items():
        out.print(f"{name}: dropped by screening: {why}", highlight=False)
    out.print(f"Pareto set (task metric vs serving $/month): {', '.join(s.pareto)}", highlight=False)
    out.print(f"bandwidth utilisation: {s.utilization_source}", highlight=False)
    from rich.markup import escape

    out.print(f"[bold]{escape(s.sentence)}[/]", highlight=False)
    out.print(f"selection: {s.path / 'selection.json'}, {s.path / 'selection.html'}")
