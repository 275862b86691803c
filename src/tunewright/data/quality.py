"""Quality heuristics for SFT pairs: truncated answers, repetition, symbol and letter ratios, boilerplate and
refusals, and a language other than the declared one.

Too short / too long in the target model's tokens is the ``token_length`` check (it needs the tokenizer,
and batches it). The thresholds follow the Gopher rules (Rae et al. 2021, appendix A) adapted to short
SFT answers; every one is in ``audit.quality``.
"""

from __future__ import annotations

import random
import re

from tunewright.data.checks import BatchCheck, CheckContext, TextCheck, Verdict, register_check
from tunewright.records import Example

# Answers that refuse or talk about being a model teach the model to do the same.
_REFUSAL = re.compile(
    r"\b(?:as an ai(?: language model)?|as a (?:large )?language model|i(?: am|'m) (?:just )?an ai\b"
    r"|i(?:'m| am) sorry,? but i (?:can(?:no|')t|am unable|won't)|i (?:cannot|can't|am unable to|won't) "
    r"(?:help|assist|provide|fulfill|comply|answer)|i (?:do not|don't) have (?:personal )?(?:opinions|feelings)"
    r"|my (?:knowledge|training) (?:cutoff|data))",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"(?:lorem ipsum|click here to|subscribe to (?:our|my) (?:newsletter|channel)|all rights reserved"
    r"|cookie policy|terms (?:of service|and conditions)|\bTODO\b|\bFIXME\b|insert (?:answer|text) here"
    r"|\{\{\s*\w+\s*\}\})",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_LETTER = re.compile(r"[^\W\d_]")
_SYMBOL = re.compile(r"[^\w\s.,;:!?'\"()\[\]\-/]")
_ASCII_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DROP_LETTERS = str.maketrans("", "", _ASCII_LETTERS)
_ASCII_SYMBOLS = "".join(chr(c) for c in range(128) if _SYMBOL.match(chr(c)))
_KEEP_SYMBOLS = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in _ASCII_SYMBOLS))
# Frequent English function words: text that is ASCII and full of them is English without asking lingua.
_EN_STOP = frozenset("the of and to in a is that for on with as by be are this or it at from an shall not any "
                     "such will which have has may its was were been their other all under if no".split())
# English words that are not words of the other default candidate languages (no "in", "is", "of", "was",
# "a", "on", "as", "an", "for", "die", "he", "we", "been", "her": Dutch, German, Romance or chemistry spell them
# too: Dutch "we" and "been" (leg), German "hin und her"). A short text
# that holds one is not judged foreign: benchmarks/language_short, 2026-12-02 (English false positives
# 0.72% -> 0.38%, recall unchanged to the third decimal).
_EN_ONLY = frozenset("the and to with that this these those by at from are were its which be it not shall "
                     "should would their they them she you your our his who whom what when where there "
                     "than then into upon between because about after before such may can must could".split())
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_CLOSERS = tuple(".!?\"')]}>`*:;") + ("\u3002", "\u201d")


def letter_count(text: str) -> int:
    """Letters in any script; str.translate (C speed) for ASCII text, the regex otherwise."""
    if text.isascii():
        return len(text) - len(text.translate(_DROP_LETTERS))
    return len(_LETTER.findall(text))


def clearly_english(text: str) -> bool:
    words = text.lower().split()
    return text.isascii() and len(words) >= 8 and sum(map(_EN_STOP.__contains__, words)) >= 0.2 * len(words)


def has_english_only_word(text: str) -> bool:
    """Whether ``text`` holds a frequent English word that French, German, Spanish, Italian, Portuguese and
    Dutch do not spell (``_EN_ONLY``): the second signal that keeps short English lines full of foreign
    names and Latin terms ("Felbermayr was born in Steyr, Austria", "Ortolani's test is done for") from
    being dropped as foreign."""
    return any(w in _EN_ONLY for w in _WORD.findall(text.lower()))


def looks_like_heading(text: str) -> bool:
    """A heading or a line of numbers, not a sentence: under half of its non-space characters are letters, or
    three quarters of its words with letters start with a capital ("Section 7 . 2 Indemnification .",
    "6 AFFIRMATIVE COVENANTS"). Such short lines are what the short-text detector reads as French or
    German in English data (benchmarks/language_short); German sentences capitalise their nouns, but rarely
    three words in four."""
    words = [w for w in text.split() if any(c.isalpha() for c in w)]
    if not words or 2 * letter_count(text) < len(text) - text.count(" "):
        return True
    caps = sum(next(c for c in w if c.isalpha()).isupper() for w in words)
    return 4 * caps >= 3 * len(words)


def duplicate_ngram_fraction(words: list[str], n: int) -> float:
    """Share of the text's word n-grams that repeat an earlier one (0: none, near 1: one phrase looped)."""
    if len(words) < n:
        return 0.0
    grams = list(zip(*(words[k:] for k in range(n))))  # (len - n + 1) n-grams, built in C
    return 1.0 - len(set(grams)) / len(grams)


def looks_truncated(answer: str, min_words: int) -> str:
    """Why the answer looks cut off, or '' when it does not."""
    s = answer.rstrip()
    if s.count("```") % 2 == 1:
        return "unclosed code fence"
    opened = s.count("[") + s.count("{") + s.count("(")
    closed = s.count("]") + s.count("}") + s.count(")")
    if opened - closed >= 1 and s[:1] in "[{":
        return f"{opened - closed} unclosed bracket(s)"
    if len(s.split()) >= min_words and not s.endswith(_CLOSERS) and "\n" not in s[-40:]:
        return f"a {len(s.split())}-word answer ends mid-sentence: ...{s[-30:]!r}"
    return ""


def text_quality(text: str, q, repetition: bool = True) -> list[tuple[str, float, str]]:
    """(reason, score, detail) for repetition and character ratios of one text."""
    out = []
    words = text.split()
    if repetition and len(words) >= q.repetition_min_words:
        frac = duplicate_ngram_fraction(text.lower().split(), q.ngram)
        if frac > q.max_duplicate_ngram_fraction:
            out.append(("repetition", frac, f"{frac:.0%} of its word {q.ngram}-grams are repeats"))
    if "```" in text:  # code is symbols by nature; judge only the prose around it
        text = _FENCE.sub(" ", text)
    chars = len(text) - text.count(" ") - text.count("\n")
    if chars >= q.ratio_min_chars:
        symbols = (len(text.translate(_KEEP_SYMBOLS)) if text.isascii() else len(_SYMBOL.findall(text))) / chars
        if symbols > q.max_symbol_ratio:
            out.append(("symbol_ratio", symbols, f"{symbols:.0%} symbols (max {q.max_symbol_ratio:.0%})"))
        letters = letter_count(text) / chars
        if letters < q.min_alpha_ratio:
            out.append(("non_alphabetic", 1 - letters, f"{letters:.0%} letters (min {q.min_alpha_ratio:.0%})"))
    return out


@register_check("quality", default=True, order=8)
class QualityCheck(TextCheck):
    """truncated, repetition, symbol_ratio, non_alphabetic, refusal, boilerplate."""

    def prepare(self, ctx: CheckContext):
        q = ctx.settings().quality
        extra = re.compile("|".join(f"(?:{p})" for p in q.boilerplate_patterns), re.IGNORECASE) \
            if q.boilerplate_patterns else None
        return q, extra

    def judge(self, index: int, ex: Example, texts: list[str], state) -> list[Verdict]:
        q, extra = state
        i, out = index, []
        chat = ex.to_chat()  # the answer and the prompt without system turns, not every text as written
        answer = chat[-1]["content"]
        prompt = "\n".join(m["content"] for m in chat[:-1] if m["role"] != "system")
        why = looks_truncated(answer, q.truncation_min_words)
        if why:
            out.append(Verdict(i, False, "truncated", 1.0, why))
        for where, text in (("answer", answer), ("prompt", prompt)):
            # list items and JSON keys repeat by nature ("Bank - ORGANIZATION, Bank - ORGANIZATION")
            structured = text.lstrip()[:1] in "[{"
            for reason, score, detail in text_quality(text, q, repetition=not structured):
                out.append(Verdict(i, False, reason, score, f"{where}: {detail}"))
        m = _REFUSAL.search(answer)
        if m:
            out.append(Verdict(i, False, "refusal", 1.0, f"answer says {m.group()!r}",
                               [{"turn": len(chat) - 1, "start": m.start(), "end": m.end()}]))
        m = _BOILERPLATE.search(answer) or (extra.search(answer) if extra else None)
        if m:
            out.append(Verdict(i, False, "boilerplate", 1.0, f"answer contains {m.group()!r}"))
        return out


_DETECTORS: dict[tuple, object] = {}


def _detector(codes: tuple[str, ...], short_distance: float | None = None):
    """A lingua detector restricted to ``codes`` (cached: building one loads its language models).

    ``short_distance`` None: low accuracy mode (trigrams only), which loads in 0.15 s instead of 5.8 s and on
    texts of 80+ letters (quality.language_min_chars) is nearly as accurate (lingua's README, accuracy tables).
    Otherwise the detector for short texts: high-accuracy models and that minimum relative distance, so an
    unsure text is undecided rather than guessed (benchmarks/language_short)."""
    key = (codes, short_distance)
    if key not in _DETECTORS:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in codes]
        b = LanguageDetectorBuilder.from_languages(*langs)
        if short_distance is None:
            b = b.with_low_accuracy_mode()
        elif short_distance:
            b = b.with_minimum_relative_distance(short_distance)
        _DETECTORS[key] = b.build()
    return _DETECTORS[key]


@register_check("language", default=True, order=9)
class LanguageCheck(BatchCheck):
    """wrong_language, on the examples long enough to judge: all of them, or a uniform sample of
    quality.language_sample (a seeded reservoir, so memory holds the sample, not the data).

    Not per-example on purpose: lingua runs its own thread pool, which must not be forked."""

    def __init__(self) -> None:
        self.sample: list[tuple[int, str]] = []
        self.seen = 0
        self.rng = random.Random(0)

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        q = ctx.settings().quality
        if not q.language:
            return []
        cap = q.language_sample
        for k, ex in enumerate(batch):
            t = language_text(ex, q)
            if t is None:
                continue
            self.seen += 1
            if cap is None or len(self.sample) < cap:
                self.sample.append((start + k, t))
            else:
                j = self.rng.randrange(self.seen)
                if j < cap:
                    self.sample[j] = (start + k, t)
        return []

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        q = ctx.settings().quality
        ctx.artifacts["language_checked"] = ctx.artifacts.get("language_checked", 0) + len(self.sample)
        if not q.language or not self.sample:
            return []
        codes = tuple(sorted({q.language, *q.candidate_languages}))
        sample = sorted(self.sample)
        out = []
        for short in (False, True):
            part = [(i, t) for i, t in sample if (letter_count(t) < q.language_min_chars) == short]
            if not part:
                continue
            det = _detector(codes, q.language_short_min_distance if short else None)
            for (i, _), lang in zip(part, det.detect_languages_in_parallel_of([t for _, t in part])):
                code = lang.iso_code_639_1.name.lower() if lang is not None else None
                if code is not None and code != q.language:
                    how = " (short text: high-accuracy models)" if short else ""
                    out.append(Verdict(i, False, "wrong_language", 1.0,
                                       f"detected {code}, declared {q.language}{how}"))
        out.sort(key=lambda v: v.index)
        return out


def language_text(ex: Example, q) -> str | None:
    """The text to detect the language of, or None when it is too short or plainly English (when English is
    declared: the fast path that skips the detector for most records of an English dataset)."""
    # structured answers (entity lists, JSON) are names and keys, not language
    t = " ".join(m["content"] for m in ex.to_chat() if m["role"] != "system"
                 and m["content"].lstrip()[:1] not in "[{")[:400]
    least = min(q.language_min_chars, q.language_short_min_chars or q.language_min_chars)
    letters = letter_count(t)
    if len(t) < least or letters < least:
        return None
    if letters < q.language_min_chars and (looks_like_heading(t) or (q.language == "en" and has_english_only_word(t))):
        return None
    if q.language == "en" and clearly_english(t):
        return None
    return t
