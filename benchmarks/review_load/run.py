"""Load on loopback: N concurrent reviewers x M submissions against a real uvicorn review server (SQLite WAL).

Counts lost judgments (acknowledged, not stored) and duplicated ones (a form stored twice, or one reviewer
twice on an item; every 5th form is posted twice on purpose), and reports throughput and p50/p95 latency of
a submission. Baseline in the same run: the same load with one reviewer (no contention), so the ratio says
what concurrency costs.

    PYTHONPATH=src:tests python benchmarks/review_load/run.py [--reviewers 20] [--submissions 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from review_helpers import Server, check_load, make_store, run_load  # noqa: E402
from tunewright.review.store import Store  # noqa: E402


def one(reviewers: int, submissions: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "review.db"
        store, _ = make_store(db, n_items=reviewers * submissions + 50)
        tokens = [store.add_reviewer(f"r{i:02d}") for i in range(reviewers)]
        with Server(f"sqlite:///{db}") as srv:
            result = run_load(srv.url, tokens, submissions)
        return {"reviewers": reviewers, "submissions_each": submissions, **check_load(Store(f"sqlite:///{db}"), result)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reviewers", type=int, default=20)
    p.add_argument("--submissions", type=int, default=50)
    a = p.parse_args()
    base = one(1, a.submissions)
    load = one(a.reviewers, a.submissions)
    out = {"date": time.strftime("%Y-%m-%d"), "baseline_one_reviewer": base, "concurrent": load,
           "throughput_ratio_vs_one_reviewer": round(load["throughput_posts_per_s"] / base["throughput_posts_per_s"], 2)}
    path = Path(__file__).parent / f"results-{out['date']}.json"
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
