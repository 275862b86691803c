"""Run the review app under uvicorn. ``python -m tunewright.review.serve --db URL`` serves a store directly
(the tests and the load benchmark start real servers this way); ``tunewright review serve`` calls :func:`serve`."""

from __future__ import annotations

import argparse

from tunewright.review.app import create_app
from tunewright.review.service import label_validator
from tunewright.review.store import Store


def serve(cfg, db_url: str, host: str | None = None, port: int | None = None, log_level: str = "warning") -> None:
    import uvicorn

    app = create_app(Store(db_url), label_validator(cfg))
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
