"""Benchmark: language detection on short records (issue 16): which lingua setting is reliable under 80 letters.

Real sentences shipped offline in the ``evals`` package: the question stems (text before the first answer
option) of french-, german-, spanish-, italian- and portuguese-exams-qa, and portuguese-sarcasm; English:
the ner_finance inputs (loan-agreement sentences full of names, numbers and section marks) and, as a second
English set (``en2``, added 2026-12-02), the sentences of us_tort_law, illinois-law and medmcqa and of the
schelling_point Wikipedia / OpenWebText paragraphs. Only texts of ``--min-letters`` to 79 letters are kept
(what ``audit.quality.language_min_chars`` skipped). Each setting decides "not English" among the configured
candidate languages (en, de, fr, es, it, pt, nl); recall per language and the false-positive rate on English
are reported; "headings skipped" leaves out what ``quality.looks_like_heading`` calls a heading or a line of
numbers, as the audit does since 2026-12-02; "English words skipped" also leaves out texts holding an
English word the other candidates do not spell (``quality.has_english_only_word``), the audit's default
since the third session of 2026-12-02. The cost: the audit's short-text detector on 20,000 texts
(the sets cycled), and the share of each English set that the fast path (``clearly_english``) keeps from the
detector. Writes results-<date>.json beside this file.

    PYTHONPATH=src python benchmarks/language_short/run.py [--min-letters 20] [--tag TAG]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import time
from pathlib import Path

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

from tunewright.assets import resolve_path
from tunewright.data.quality import clearly_english, has_english_only_word, letter_count, looks_like_heading

SOURCES = {"fr": ["french-exams-qa"], "de": ["german-exams-qa"], "es": ["spanish-exams-qa"],
           "it": ["italian-exams-qa"], "pt": ["portuguese-exams-qa", "portuguese-sarcasm"], "en": ["ner_finance"],
           "en2": ["us_tort_law", "illinois-law", "medmcqa", "schelling_point/wikipedia_5", "schelling_point/owt_5"]}
ENGLISH = ("en", "en2")
CANDIDATES = ["en", "de", "fr", "es", "it", "pt", "nl"]


def short_texts(lang: str, lo: int, hi: int = 80) -> list[str]:
    out = []
    for name in SOURCES[lang]:
        path = name if "/" in name else f"{name}/samples"
        with open(resolve_path(f"pkg:evals/registry/data/{path}.jsonl"), encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if lang == "en2":  # every sentence (illinois-law's claim is a second system turn)
                    msgs = r.get("input") or [{"role": "user", "content": r.get("0", "")}]
                    text = " ".join(m["content"] for m in msgs if m["role"] == "user" or len(m["content"]) > 400)
                    out += [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if lo <= letter_count(s) < hi]
                    continue
                text = [m["content"] for m in r["input"] if m["role"] == "user"][-1]
                stem = re.split(r"\n\s*A[.)]", text)[0].strip()
                for s in [stem] + re.split(r"(?<=[.!?])\s+", stem):
                    if lo <= letter_count(s) < hi:
                        out.append(s)
                        break
    return list(dict.fromkeys(out))


def detector(high: bool, distance: float = 0.0):
    langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in CANDIDATES]
    b = LanguageDetectorBuilder.from_languages(*langs)
    if not high:
        b = b.with_low_accuracy_mode()
    if distance:
        b = b.with_minimum_relative_distance(distance)
    return b.build()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-letters", type=int, default=20)
    ap.add_argument("--tag", default="", help="suffix of the results file (results-<date><tag>.json)")
    args = ap.parse_args()
    data = {lang: short_texts(lang, args.min_letters) for lang in SOURCES}
    settings = {"low accuracy (the audit's setting for 80+ letters)": (False, 0.0, False),
                "low accuracy, min relative distance 0.1": (False, 0.1, False),
                "high accuracy": (True, 0.0, False),
                "high accuracy, min relative distance 0.1": (True, 0.1, False),
                "high accuracy, min relative distance 0.25": (True, 0.25, False),
                "high accuracy, min relative distance 0.25, headings skipped": (True, 0.25, True),
                "high accuracy, min relative distance 0.1, headings skipped": (True, 0.1, True),
                "high accuracy, min relative distance 0.25, headings and English words skipped": (True, 0.25, "en"),
                "high accuracy, min relative distance 0.1, headings and English words skipped": (True, 0.1, "en")}
    out = {"date": dt.date.today().isoformat(), "min_letters": args.min_letters, "max_letters": 79,
           "texts": {k: len(v) for k, v in data.items()}, "candidates": CANDIDATES, "load_average": os.getloadavg(),
           "headings": {k: sum(map(looks_like_heading, v)) for k, v in data.items()}, "settings": {}}
    # cost: the audit's short-text detector (built once; lingua runs its own threads) on 20,000 texts
    every = [t for v in data.values() for t in v]
    texts = [every[k % len(every)] for k in range(20_000)]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    det = detector(True, 0.25)
    det.detect_language_of("warm up")  # high-accuracy models load lazily: first, before any other arm
    load = time.perf_counter() - t0
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    judged = [t for t in texts if not (looks_like_heading(t) or has_english_only_word(t))]
    t0 = time.perf_counter()
    det.detect_languages_in_parallel_of(judged)
    out["cost_20000_texts"] = {"model_load_seconds": round(load, 1), "model_load_peak_rss_mb": round(rss),
                               "detect_seconds": round(time.perf_counter() - t0, 1),
                               "headings_and_english_skipped": len(texts) - len(judged), "cpu_count": os.cpu_count(),
                               "load_average": os.getloadavg()}
    print("cost:", out["cost_20000_texts"], flush=True)
    foreign = [k for k in data if k not in ENGLISH]
    for name, (high, dist, skip) in settings.items():
        t0 = time.perf_counter()
        det = detector(high, dist)
        res = {}
        for lang, texts in data.items():
            keep = [t for t in texts if not (skip and looks_like_heading(t))
                    and not (skip == "en" and has_english_only_word(t))]
            got = det.detect_languages_in_parallel_of(keep)
            codes = [g.iso_code_639_1.name.lower() if g is not None else None for g in got]
            flagged = sum(c is not None and c != "en" for c in codes)
            res[lang] = {"flagged_not_english": round(flagged / max(len(texts), 1), 4),
                         "correct_language": round(sum(c == lang for c in codes) / max(len(texts), 1), 4),
                         "undecided": round(sum(c is None for c in codes) / max(len(texts), 1), 4)}
            if lang in ENGLISH and skip:
                res[lang]["flagged_texts"] = [t for t, c in zip(keep, codes) if c is not None and c != "en"][:20]
        tp = sum(res[k]["flagged_not_english"] * len(data[k]) for k in foreign)
        fp = sum(res[k]["flagged_not_english"] * len(data[k]) for k in ENGLISH)
        res["summary"] = {"recall_foreign": round(tp / sum(len(data[k]) for k in foreign), 4),
                          "false_positive_rate_english": res["en"]["flagged_not_english"],
                          "false_positive_rate_english2": res["en2"]["flagged_not_english"],
                          "precision": round(tp / max(tp + fp, 1e-9), 4), "seconds": round(time.perf_counter() - t0, 1)}
        out["settings"][name] = res
        print(name, res["summary"], flush=True)
    out["fast_path_share"] = {k: round(sum(map(clearly_english, data[k])) / max(len(data[k]), 1), 4) for k in ENGLISH}
    print("fast path:", out["fast_path_share"])
    path = Path(__file__).with_name(f"results-{out['date']}{args.tag}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(out["texts"], "->", path)


if __name__ == "__main__":
    main()
