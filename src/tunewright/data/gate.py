"""The data gate: pass, warn or fail from the audit's reason counts and the thresholds in ``audit.gate``.

Thresholds are shares of input records per reason (glob patterns allowed: ``pii_*``), so a new check's
reason is gated by naming it in config, with no code here.
"""

from __future__ import annotations

from fnmatch import fnmatch


def matches(reason: str, patterns) -> bool:
    return any(fnmatch(reason, p) for p in patterns)


def _share(reasons: dict[str, int], pattern: str, total: int) -> tuple[int, float]:
    n = sum(c for r, c in reasons.items() if fnmatch(r, pattern))
    return n, (n / total if total else 0.0)


def evaluate_gate(summary: dict, audit_cfg) -> dict:
    """{'verdict': pass|warn|fail, 'passed': bool, 'failures': [...], 'warnings': [...]} for an audit summary.

    The audit counts ``summary['reasons']`` per example, not per verdict (data/audit.py), so one example with
    three PII e-mails counts once.
    """
    total = summary["input_records"]
    reasons = summary["reasons"]
    failures, warnings = [], []
    used_fraction = summary["used"] / total if total else 0.0
    if used_fraction < audit_cfg.min_usable_fraction or summary["used"] == 0:
        failures.append(f"only {used_fraction:.0%} of records usable (min {audit_cfg.min_usable_fraction:.0%})")
    for pattern, limit in audit_cfg.gate.fail.items():
        n, share = _share(reasons, pattern, total)
        if n and share > limit:
            failures.append(f"{pattern}: {n} records ({share:.1%}) > {limit:.1%}")
    for pattern, limit in audit_cfg.gate.warn.items():
        n, share = _share(reasons, pattern, total)
        if n and share > limit:
            warnings.append(f"{pattern}: {n} records ({share:.1%}) > {limit:.1%}")
    warnings += summary.get("sufficiency", {}).get("warnings", [])
    verdict = "fail" if failures else ("warn" if warnings else "pass")
    return {"verdict": verdict, "passed": not failures, "failures": failures, "warnings": warnings,
            "used_fraction": round(used_fraction, 4), "min_usable_fraction": audit_cfg.min_usable_fraction}
