"""Benchmark: the short-text near-duplicate rule on the 100,000 records of benchmarks/data_audit_checks.

Those records recombine the 1,164 ner_finance sentences ("s1 (clause i) s2[:80]"): 64% are short inputs,
and every sentence opens ~86 of them, a worst case for the candidates of the character family. Both rules
run in one process, one after the other, on the distinct normalized inputs: the default (within 2 word
edits, LSH at 0.5) and the 2026-12-01 one (character 5-gram Jaccard >= 0.7). Candidates, confirmed pairs,
clustered inputs and seconds (a shared machine's seconds compare the two arms at best, nothing more).
Writes short-neardup-recombined-<date>.json beside this file.

    PYTHONPATH=src python benchmarks/data_audit/short_neardup_recombined.py [--records 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parents[1] / "data_audit_checks"))

from run import make_records  # noqa: E402
from tunewright.data.keys import normalize_text  # noqa: E402
from tunewright.data.neardup import NearDupParams, find_near_duplicates  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    args = ap.parse_args()
    recs, _ = make_records(args.records)
    texts = list(dict.fromkeys(normalize_text(r["messages"][0]["content"]) for r in recs))
    out = {"date": dt.date.today().isoformat(), "records": args.records, "distinct_inputs": len(texts), "arms": {}}
    for name, p in (("within 2 word edits (default 2026-12-02)", NearDupParams()),
                    ("char 5-grams, J >= 0.7 (default 2026-12-01)", NearDupParams(short_edit_words=0, short_threshold=0.7))):
        t0 = time.perf_counter()
        r = find_near_duplicates(texts, p)
        out["arms"][name] = {"seconds_shared_machine": round(time.perf_counter() - t0, 1), "candidate_pairs": r.candidates,
                             "confirmed_pairs": len(r.pairs), "in_clusters": int(sum(c.size for c in r.clusters())),
                             "short": r.stats.get("short"), "load_average": os.getloadavg()}
        print(name, out["arms"][name], flush=True)
    path = Path(__file__).with_name(f"short-neardup-recombined-{out['date']}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print("->", path)


if __name__ == "__main__":
    main()
