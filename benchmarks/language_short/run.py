"""Benchmark: language detection on short records (issue 16): which lingua setting is reliable under 80 letters.

Real sentences shipped offline in the ``evals`` package: the question stems (text before the first answer
option) of french-, german-, spanish-, italian- and portuguese-exams-qa, and portuguese-sarcasm; English:
the ner_finance inputs (loan-agreement sentences full of names, numbers and section marks). Only texts of
``--min-letters`` to 79 letters are kept (what ``audit.quality.language_min_chars`` skipped). Each setting
decides "not English" among the configured candidate languages (en, de, fr, es, it, pt, nl); recall per
language and the false-positive rate on English are reported. Writes results-<date>.json beside this file.

    PYTHONPATH=src python benchmarks/language_short/run.py [--min-letters 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import time
from pathlib import Path

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

from tunewright.assets import resolve_path
from tunewright.data.quality import letter_count

SOURCES = {"fr": ["french-exams-qa"], "de": ["german-exams-qa"], "es": ["spanish-exams-qa"],
           "it": ["italian-exams-qa"], "pt": ["portuguese-exams-qa", "portuguese-sarcasm"], "en": ["ner_finance"]}
CANDIDATES = ["en", "de", "fr", "es", "it", "pt", "nl"]


def short_texts(lang: str, lo: int, hi: int = 80) -> list[str]:
    out = []
    for name in SOURCES[lang]:
        with open(resolve_path(f"pkg:evals/registry/data/{name}/samples.jsonl"), encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
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
    args = ap.parse_args()
    data = {lang: short_texts(lang, args.min_letters) for lang in SOURCES}
    settings = {"low accuracy (the audit's setting for 80+ letters)": (False, 0.0),
                "low accuracy, min relative distance 0.1": (False, 0.1),
                "high accuracy": (True, 0.0),
                "high accuracy, min relative distance 0.1": (True, 0.1),
                "high accuracy, min relative distance 0.25": (True, 0.25)}
    out = {"date": dt.date.today().isoformat(), "min_letters": args.min_letters, "max_letters": 79,
           "texts": {k: len(v) for k, v in data.items()}, "candidates": CANDIDATES, "load_average": os.getloadavg(),
           "settings": {}}
    for name, (high, dist) in settings.items():
        t0 = time.perf_counter()
        det = detector(high, dist)
        res = {}
        for lang, texts in data.items():
            got = det.detect_languages_in_parallel_of(texts)
            codes = [g.iso_code_639_1.name.lower() if g is not None else None for g in got]
            flagged = sum(c is not None and c != "en" for c in codes)
            res[lang] = {"flagged_not_english": round(flagged / max(len(texts), 1), 4),
                         "correct_language": round(sum(c == lang for c in codes) / max(len(texts), 1), 4),
                         "undecided": round(sum(c is None for c in codes) / max(len(texts), 1), 4)}
        foreign = [k for k in data if k != "en"]
        tp = sum(res[k]["flagged_not_english"] * len(data[k]) for k in foreign)
        fp = res["en"]["flagged_not_english"] * len(data["en"])
        res["summary"] = {"recall_foreign": round(tp / sum(len(data[k]) for k in foreign), 4),
                          "false_positive_rate_english": res["en"]["flagged_not_english"],
                          "precision": round(tp / max(tp + fp, 1e-9), 4), "seconds": round(time.perf_counter() - t0, 1)}
        out["settings"][name] = res
        print(name, res["summary"], flush=True)
    path = Path(__file__).with_name(f"results-{out['date']}.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(out["texts"], "->", path)


if __name__ == "__main__":
    main()
