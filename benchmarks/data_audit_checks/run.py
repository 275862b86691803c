"""Benchmark: the full data audit (every check but the embedding-based ones) on 100,000 realistic records.

Records are ner_finance sentences (the demo's data) recombined into unique chat examples, with planted
problems: exact duplicates, conflicts, PII, HTML, mojibake, refusals, German text, truncated answers. The
audit reads the JSONL, runs the checks with the SmolLM2 tokenizer (chat template included) and writes the
clean set, quarantine and audit.json, as ``tunewright data audit`` does. Target: under 60 s on 2 CPU cores.

Baseline, in the same run: the token_length check as it was before this issue (one apply_chat_template and
one tokenizer call per example), timed on a 10,000-record slice and scaled to records/s. Also timed: the
same audit with ``audit.workers=2`` (per-example checks in a process pool). Planted problems are counted
back as recall. Writes results-<date>.json beside this file.

    python benchmarks/data_audit_checks/run.py [--records 100000]

Speed against a baseline checkout (``--compare-src``: its ``src``), arms interleaved, each a child process;
writes compare-<date>.json:

    python benchmarks/data_audit_checks/run.py --compare-src /tmp/tw-bf84d80/src --rounds 2 [--tag=-xeon]

Memory (``--memory-records 1000000``): the same generator writes 1,000,000 records, and the full audit runs in
a child process per arm whose peak RSS (ru_maxrss) is the result; target 4 GB. Baseline arm, same run: the
in-memory audit as it was before streaming (``--baseline-src``: the ``src`` folder of a checkout of commit
8c6c3fd, e.g. ``git worktree add /tmp/tw-8c6c3fd 8c6c3fd``).

    python benchmarks/data_audit_checks/run.py --memory-records 1000000 --baseline-src /tmp/tw-8c6c3fd/src
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tunewright.assets import resolve_path
from tunewright.config import ModelSection
from tunewright.pipeline import load_demo_config
from tunewright.data.audit import audit_data, read_inputs
from tunewright.data.token_length import chat_token_length
from tunewright.models import load_tokenizer, resolve_model
from tunewright.precision import cpu_model

PLANTS = {  # reason the audit should report -> how to damage a record
    "pii_email": lambda u, a, r: (u + f" Contact {r.choice(['ann', 'bo', 'cy'])}.{r.randint(1, 999)}@lender.com.", a),
    "html_markup": lambda u, a, r: (f"<p>{u}</p>", a),
    "mojibake": lambda u, a, r: (u + " The caf\u00c3\u00a9 premises are collateral.", a),
    "refusal": lambda u, a, r: (u, "As an AI language model, I cannot extract entities from legal text."),
    "wrong_language": lambda u, a, r: ("Der Kreditnehmer verpflichtet sich, der Bank innerhalb von neunzig Tagen "
                                       "nach dem Ende jedes Geschaeftsjahres einen geprueften Jahresabschluss "
                                       f"vorzulegen. Vertrag Nummer {r.randint(1, 10**6)}.", "No entities found"),
    "truncated": lambda u, a, r: (u, "The borrower shall deliver to the bank within thirty days after the end of "
                                     "each month a balance sheet and an income statement covering the borrower and"),
}


def make_records(n: int, seed: int = 0) -> tuple[list[dict], dict[str, int]]:
    rows = [json.loads(x) for x in resolve_path("pkg:evals/registry/data/ner_finance/samples.jsonl").read_text().splitlines()]
    sents = [(r["input"][1]["content"], r["ideal"]) for r in rows]
    rng = random.Random(seed)
    out, planted = [], {k: 0 for k in [*PLANTS, "exact_duplicate"]}
    for i in range(n):
        if out and rng.random() < 0.02:
            out.append(dict(out[rng.randrange(len(out))]))
            planted["exact_duplicate"] += 1
            continue
        (s1, a1), (s2, _) = rng.choice(sents), rng.choice(sents)
        user, answer = f"{s1} (clause {i}) {s2[:80]}", a1
        if rng.random() < 0.03:
            kind = rng.choice(list(PLANTS))
            user, answer = PLANTS[kind](user, answer, rng)
            planted[kind] += 1
        out.append({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]})
    return out, planted


def child(data: str, out: str, workers: str = "1") -> None:
    """One audit of ``data`` in this process; prints seconds, peak RSS and the counts as JSON."""
    tok = load_tokenizer(resolve_model(ModelSection()), ModelSection())
    cfg = load_demo_config(overrides=[f"data.train_files=[{data}]", f"audit.workers={workers}"])
    t0 = time.perf_counter()
    s = audit_data(cfg, Path(out), get_tokenizer=lambda: tok).summary
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": round(secs, 1), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "input_records": s["input_records"], "used": s["used"], "quarantined": s["quarantined"],
                      "reasons": s["reasons"], "check_seconds": s["check_seconds"],
                      "code": str(Path(audit_data.__code__.co_filename).parents[2])}))


def memory(n: int, baseline_src: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tw-audit-mem-"))
    data = tmp / "data.jsonl"
    records, planted = make_records(n)
    with open(data, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    del records
    arms = {}
    here = str(Path(__file__).resolve().parents[2] / "src")
    for name, src in (("streaming", here), ("in_memory_8c6c3fd", baseline_src)):
        if src is None:
            continue
        env = {**os.environ, "PYTHONPATH": src}
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, __file__, "--child", str(data), str(tmp / name)], env=env,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            arms[name] = {"failed": p.returncode, "stderr_tail": p.stderr[-2000:], "wall_seconds": round(wall, 1)}
        else:
            arms[name] = json.loads(p.stdout.strip().splitlines()[-1])
        print(name, json.dumps(arms[name])[:300], flush=True)
    result = {"date": dt.date.today().isoformat(), "records": n, "file_mb": round(data.stat().st_size / 2**20),
              "planted": planted, "arms": arms, "target_peak_rss_mb": 4096,
              "cpu": cpu_model(), "cores": os.cpu_count(),
              "load_average_after": os.getloadavg()}
    if "in_memory_8c6c3fd" in arms and "peak_rss_mb" in arms.get("in_memory_8c6c3fd", {}):
        result["rss_ratio_streaming_vs_baseline"] = round(
            arms["streaming"]["peak_rss_mb"] / arms["in_memory_8c6c3fd"]["peak_rss_mb"], 3)
        result["same_counts"] = all(arms["streaming"][k] == arms["in_memory_8c6c3fd"][k]
                                    for k in ("used", "quarantined", "reasons"))
    out = Path(__file__).with_name(f"memory-{result['date']}.json")
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def compare(n: int, baseline_src: str, rounds: int, tag: str = "") -> None:
    """Wall seconds of the full audit, baseline code against this code, arms interleaved in one run."""
    tmp = Path(tempfile.mkdtemp(prefix="tw-audit-cmp-"))
    records, _ = make_records(n)
    data = tmp / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    del records
    here = str(Path(__file__).resolve().parents[2] / "src")
    arms: dict[str, list] = {}
    for r in range(rounds):
        for name, src, workers in (("baseline workers=1", baseline_src, 1), ("workers=2", here, 2),
                                   ("workers=1", here, 1)):
            p = subprocess.run([sys.executable, __file__, "--child", str(data), str(tmp / f"{r}-{workers}-{len(src)}"),
                                str(workers)], env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True)
            got = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {"failed": p.stderr[-2000:]}
            arms.setdefault(name, []).append(got)
            print(name, got.get("seconds"), flush=True)
    best = {k: min(a["seconds"] for a in v) for k, v in arms.items()}
    result = {"date": dt.date.today().isoformat(), "records": n, "baseline_src": baseline_src, "rounds": rounds,
              "seconds": {k: [a.get("seconds") for a in v] for k, v in arms.items()}, "best_seconds": best,
              "speedup_vs_baseline": {k: round(best["baseline workers=1"] / v, 2) for k, v in best.items()},
              "same_counts_workers_1_and_2": len({json.dumps([a["used"], a["quarantined"], a["reasons"]])
                                                 for k, v in arms.items() if "baseline" not in k for a in v}) == 1,
              "counts": {k: {"used": v[0]["used"], "quarantined": v[0]["quarantined"], "reasons": v[0]["reasons"]}
                         for k, v in arms.items()},
              "check_seconds": {k: v[0]["check_seconds"] for k, v in arms.items()}, "target_seconds": 30,
              "cpu": cpu_model(), "cores": os.cpu_count(),
              "load_average_after": os.getloadavg()}
    out = Path(__file__).with_name(f"compare-{result['date']}{tag}.json")
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("best_seconds", "speedup_vs_baseline", "same_counts_workers_1_and_2")},
                     indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--baseline-records", type=int, default=10_000)
    ap.add_argument("--memory-records", type=int)
    ap.add_argument("--baseline-src")
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--compare-src", help="speed against another checkout's src (the baseline): arms baseline "
                    "workers=1, this workers=2, this workers=1, each a child process, --rounds times interleaved")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--tag", default="", help="suffix of the compare file (compare-<date><tag>.json)")
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    if args.compare_src:
        return compare(args.records, args.compare_src, args.rounds, args.tag)
    if args.memory_records:
        return memory(args.memory_records, args.baseline_src)
    tmp = Path(tempfile.mkdtemp(prefix="tw-audit-bench-"))
    records, planted = make_records(args.records)
    data = tmp / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    tok = load_tokenizer(resolve_model(ModelSection()), ModelSection())
    arms = {}
    for workers in (1, 2):
        cfg = load_demo_config(overrides=[f"data.train_files=[{data}]", f"audit.workers={workers}"])
        t0 = time.perf_counter()
        res = audit_data(cfg, tmp / f"out-w{workers}", get_tokenizer=lambda: tok)
        secs = time.perf_counter() - t0
        s = res.summary
        arms[f"workers={workers}"] = {"seconds": round(secs, 2), "records_per_s": round(args.records / secs),
                                      "check_seconds": s["check_seconds"], "used": s["used"],
                                      "quarantined": s["quarantined"], "flagged_kept": s["flagged_kept"],
                                      "reasons": s["reasons"]}
        print(f"workers={workers}: {secs:.1f} s", flush=True)
    found = arms["workers=1"]["reasons"]
    recall = {k: round(min(found.get(k, 0), n) / n, 4) for k, n in planted.items() if n}
    cfg = load_demo_config(overrides=[f"data.train_files=[{data}]", f"data.max_records={args.baseline_records}"])
    sub = read_inputs(cfg, cfg.data.train_files).examples
    t0 = time.perf_counter()
    for ex in sub:
        chat_token_length(tok, ex.to_chat(cfg.data.system_prompt))
    base_secs = time.perf_counter() - t0
    base_rate = len(sub) / base_secs
    tl = arms["workers=1"]["check_seconds"]["token_length"]
    result = {
        "date": dt.date.today().isoformat(), "records": args.records, "planted": planted, "recall_of_planted": recall,
        "arms": arms,
        "baseline_token_length_per_example": {"records": len(sub), "seconds": round(base_secs, 2),
                                               "records_per_s": round(base_rate)},
        "token_length_batched_records_per_s": round(args.records / tl) if tl else None,
        "token_length_speedup": round((args.records / tl) / base_rate, 2) if tl else None,
        "target_seconds": 60, "cpu": cpu_model(), "cores": os.cpu_count(),
        "load_average_after": os.getloadavg(),  # the 2 cores are shared with other work: > 2 means contention
    }
    out = Path(__file__).with_name(f"results-{result['date']}.json")
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
