"""Run the review app under uvicorn. ``python -m tunewright.review.serve --db URL`` serves a store directly
(the tests and the load benchmark start real servers this way); ``tunewright review serve`` calls :func:`serve`."""

from __future__ import annotations

import argparse

from tunewright.review.app import create_app
from tunewright.review.service import label_validator
from tunewright.review.store import Store


def bind_names(host: str) -> list[str]:
    """The bound address is a name the server answers to, unless it is a wildcard."""
    return [] if host in ("0.0.0.0", "::", "") else [f"[{host}]" if ":" in host else host]


def serve(cfg, db_url: str, host: str | None = None, port: int | None = None, log_level: str = "warning") -> None:
    import uvicorn

    from tunewright.evaluation.tasks import task_type

    rv = cfg.review
    app = create_app(Store(db_url, lease_seconds=rv.lease_minutes * 60), label_validator(cfg),
                     secure_cookies=rv.secure_cookies, allowed_hosts=[*rv.allowed_hosts, *bind_names(host or rv.host)],
                     entity_types=cfg.task.entity_types if task_type(cfg.task).label_kind == "span" else [],
                     empty_answer=cfg.task.empty_answer)
    # one process, a thread pool for the sync routes: SQLite has one writer anyway, and the store commits
    # every judgment before the response leaves
    uvicorn.run(app, host=host or cfg.review.host, port=port or cfg.review.port, log_level=log_level,
                access_log=False)


def main(argv: list[str] | None = None) -> None:
    from tunewright.config import load_config

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", required=True, help="SQLAlchemy URL of the review store")
    p.add_argument("--config", default=None, help="tunewright.yaml (default: built-in defaults)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    a = p.parse_args(argv)
    serve(load_config(a.config), a.db, a.host, a.port)


if __name__ == "__main__":
    main()
