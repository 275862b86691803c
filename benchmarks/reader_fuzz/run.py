"""Benchmark: a long property-based fuzzing run of every reader (issue 16).

The strategies and invariants are tests/reader_fuzz.py (the unit suite runs 60 seeded cases per format);
this runs ``--cases`` cases per format (JSONL chat / evals / prompt-completion, CSV, Parquet) with a fixed
seed and writes results-<date>.json beside this file: cases run, failures (must be 0), the share of files
that were binary, how many records were used and quarantined, by reason.

    python benchmarks/reader_fuzz/run.py [--cases 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from reader_fuzz import FORMATS, LIMITS, check_reader  # noqa: E402
from tunewright.readers import iter_files, sniff  # noqa: E402
from tunewright.records import NoUsableRecords, Rejected  # noqa: E402


def run_format(fmt: str, cases: int, seed_value: int) -> dict:
    strategy, suffix = FORMATS[fmt]
    tally: Counter = Counter()
    reasons: Counter = Counter()
    kinds: Counter = Counter()

    @seed(seed_value)
    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy())
    def one(data: bytes):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"data{suffix}"
            path.write_bytes(data)
            counts = check_reader(path, fmt)
            tally["cases"] += 1
            tally.update(counts)
            kinds[sniff(path).kind] += 1
            try:
                for it in iter_files([path], limits=LIMITS):
                    if isinstance(it, Rejected):
                        reasons[it.reason] += 1
            except NoUsableRecords:
                pass

    t0 = time.perf_counter()
    error = None
    try:
        one()
    except Exception as e:  # a broken invariant: recorded, and the run exits non-zero
        error = f"{type(e).__name__}: {e}"[:2000]
    return {"cases": tally["cases"], "failures": int(error is not None), "error": error,
            "examples_used": tally["examples"], "records_quarantined": tally["rejected"],
            "file_kinds": dict(kinds), "reasons": dict(reasons.most_common()),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000, help="cases per format")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = {"date": dt.date.today().isoformat(), "cases_per_format": args.cases, "seed": args.seed,
           "limits": {"max_record_bytes": LIMITS.max_record_bytes, "max_depth": LIMITS.max_depth},
           "load_average": os.getloadavg(), "formats": {}}
    for fmt in sorted(FORMATS):
        out["formats"][fmt] = r = run_format(fmt, args.cases, args.seed)
        print(fmt, json.dumps({k: v for k, v in r.items() if k != "reasons"}), flush=True)
    out["total_cases"] = sum(r["cases"] for r in out["formats"].values())
    out["total_failures"] = sum(r["failures"] for r in out["formats"].values())
    path = Path(__file__).with_name(f"results-{out['date']}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{out['total_cases']} cases, {out['total_failures']} failures -> {path}")
    sys.exit(1 if out["total_failures"] else 0)


if __name__ == "__main__":
    main()
