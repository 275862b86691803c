"""``tunewright review ...``: the human review of programmatic labels (queue, web app, rounds, export,
agreement, interop with Label Studio and Argilla, tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunewright.cli.common import ConfigOpt, SetOpt, command, load, out, overrides

review_app = typer.Typer(help="Human review of programmatic labels: queue, web app, rounds, export, agreement.",
                         no_args_is_help=True)
RunReq = Annotated[Path, typer.Option("--run", help="Run directory that was labeled ('tunewright label').")]


@command(review_app, "init")
def review_init(run: RunReq, reviewer: Annotated[Optional[list[str]], typer.Option(
                    "--reviewer", help="Create a reviewer with this name (repeatable); tokens are printed once.")] = None,
                config: ConfigOpt = None, set_: SetOpt = None):
    """Queue the review.budget most valuable examples in the review store and create reviewers."""
    from tunewright.labeling.stage import stage_review_init

    cfg, r = load(config, overrides(set_), run)
    res = stage_review_init(cfg, r, list(reviewer or []))
    out.print(f"queued {res.queued} new items ({res.items} in the store)")
    for name, token in res.tokens.items():
        out.print(f"reviewer {name}: token {token}")


@command(review_app, "serve")
def review_serve(run: RunReq, host: Annotated[Optional[str], typer.Option(help="Bind address (default review.host, "
                                                                          "127.0.0.1).")] = None,
                 port: Annotated[Optional[int], typer.Option(help="Port (default review.port).")] = None,
                 config: ConfigOpt = None, set_: SetOpt = None):
    """Serve the review app (one item per page, keyboard shortcuts a / c / s)."""
    from tunewright.labeling.stage import review_store
    from tunewright.review.serve import serve

    cfg, r = load(config, overrides(set_), run)
    store = review_store(cfg, r)
    out.print(f"review app on http://{host or cfg.review.host}:{port or cfg.review.port}/login")
    serve(cfg, store.url, host, port)


@command(review_app, "export")
def review_export(run: RunReq, out_path: Annotated[Optional[Path], typer.Option(
                      "--out", help="Output JSONL (default RUN/data/reviewed.jsonl).")] = None,
                  config: ConfigOpt = None, set_: SetOpt = None):
    """Write every example with its reviewed (or label-model) answer and provenance in meta."""
    from tunewright.labeling.stage import stage_review_export

    cfg, r = load(config, overrides(set_), run)
    res = stage_review_export(cfg, r, out_path)
    out.print(f"{res.examples} examples, {res.reviewed} reviewed ({res.changed} changed): {res.path}")
    _print_problems(res.problems)


def _print_problems(problems: list[dict]) -> None:
    for p in problems:
        out.print(f"[yellow]left out[/yellow] judgment {p['judgment_id']} on {p['example_id']} ({p['reviewer']}): "
                  f"{p['reason']}")


@command(review_app, "agreement")
def review_agreement(run: RunReq, config: ConfigOpt = None, set_: SetOpt = None):
    """Cohen's kappa per reviewer pair, Krippendorff's alpha, confusion, accuracy on gold items."""
    from tunewright.labeling.stage import stage_review_agreement

    cfg, r = load(config, overrides(set_), run)
    rep = stage_review_agreement(cfg, r)
    out.print(f"Krippendorff's alpha: {'-' if rep.krippendorff_alpha is None else f'{rep.krippendorff_alpha:.3f}'}")
    for p in rep.pairs:
        k = "-" if p.kappa is None else f"{p.kappa:.3f}"
        out.print(f"{p.reviewers[0]} / {p.reviewers[1]}: {p.items} items, kappa {k}, "
                  f"agreement {p.percent_agreement:.1%}")
    for name, (accuracy, items) in rep.gold_accuracy.items():
        out.print(f"{name}: accuracy {accuracy:.1%} on {items} gold items")


@command(review_app, "transfer")
def review_transfer(run: RunReq,
                    direction: Annotated[str, typer.Argument(help="'export' or 'import'.")],
                    path: Annotated[Path, typer.Argument(help="The Label Studio JSON or Argilla JSONL file.")],
                    fmt: Annotated[str, typer.Option("--format", help="labelstudio or argilla.")] = "labelstudio",
                    config: ConfigOpt = None, set_: SetOpt = None):
    """Export the queue (suggestions + judgments) to, or import judgments from, Label Studio or Argilla."""
    from tunewright.errors import InputError
    from tunewright.labeling.stage import stage_review_interop

    if direction not in ("export", "import"):
        raise InputError("direction must be export or import")
    cfg, r = load(config, overrides(set_), run)
    res = stage_review_interop(cfg, r, direction, fmt, path)
    out.print(f"{direction}ed {res.count} {'records' if direction == 'export' else 'judgments'} ({fmt}): {path}")
    _print_problems(res.problems)


@command(review_app, "revoke")
def review_revoke(run: RunReq, reviewer: Annotated[str, typer.Option("--reviewer", help="Whose token to retire.")],
                  reissue: Annotated[bool, typer.Option("--reissue", help="Print a new token for them.")] = False,
                  config: ConfigOpt = None, set_: SetOpt = None):
    """Retire a reviewer's token and sign them out everywhere (optionally issue a new token)."""
    from tunewright.labeling.stage import stage_review_revoke

    cfg, r = load(config, overrides(set_), run)
    token = stage_review_revoke(cfg, r, reviewer, reissue)
    out.print(f"reviewer {reviewer}: token revoked, sessions ended")
    if token:
        out.print(f"reviewer {reviewer}: new token {token}")


@command(review_app, "next")
def review_next(run: RunReq, n: Annotated[int, typer.Option("--n", min=1, help="How many items this round.")] = 50,
                config: ConfigOpt = None, set_: SetOpt = None):
    """Queue the next review round: uncertain, disputed and audit-flagged examples not yet queued."""
    from tunewright.labeling.stage import stage_review_next

    cfg, r = load(config, overrides(set_), run)
    res = stage_review_next(cfg, r, n)
    out.print(f"queued {res.added} items for review ({res.items} in the store, {res.left_unqueued} "
              "examples never queued)")
    for c in res.chosen[:10]:
        why = ", ".join(f"{k} {v}" for k, v in c.items() if k not in ("example_id", "audit_reasons"))
        out.print(f"  {c['example_id'][:12]}  {why}" + (f"  audit: {'; '.join(c['audit_reasons'])[:80]}"
                                                         if c["audit_reasons"] else ""), highlight=False)
