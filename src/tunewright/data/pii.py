"""Personal data: e-mail addresses, phone numbers, payment cards, IBANs, US SSNs, IP addresses.

Regexes find candidates; checksums confirm the ones that have them (Luhn for cards, ISO 13616 mod-97 for
IBANs, octet ranges for IPv4), which is what keeps a 16-digit order number or a loan reference from being
reported as a card. ``curate`` can replace every span with a typed placeholder (``<EMAIL>``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from tunewright.data.checks import CheckContext, TextCheck, Verdict, register_check
from tunewright.records import Example

# Tokenized corpora (ner_finance among them) write "david . corre @ vringo . com": spaces around "." and "@"
# are allowed, symmetrically, and the top-level domain must then be lower case so a following sentence is not
# swallowed.
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9_%+-]*(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                    r"\.[A-Za-z]{2,}\b"
                    r"|(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9_%+-]*(?: \. [A-Za-z0-9_%+-]+)* @ [A-Za-z0-9-]+"
                    r"(?: \. [A-Za-z0-9-]+)* \. [a-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|(?::?[0-9A-Fa-f]{1,4}){1,6})(?![\w:])")
# +CC and digit groups ("+44 20 7946 0958", tokenized "+ 86 - 10 - 6250 1658"), an area code in parentheses
# ("(212) 688-5994", "86 ( 10 ) 8282 - 5058"), or ddd-ddd-dddd; 10 to 15 digits in all (checked after).
_PHONE = re.compile(
    r"(?<![\w+])(?:\+ ?\d{1,3}(?:[ .-]{1,3}\(?\d{1,4}\)?){2,5}"
    r"|(?:\d{1,3} ?)?\( ?\d{2,4} ?\) ?\d{3,4} ?[-.]? ?\d{3,4}"
    r"|\d{3}[ .-]\d{3}[ .-]\d{4})(?!\w)"
)
_DIGIT = re.compile(r"\d")
_DROP_DIGITS = str.maketrans("", "", "0123456789")

PLACEHOLDER = {"email": "<EMAIL>", "phone": "<PHONE>", "card": "<CARD>", "iban": "<IBAN>", "ssn": "<SSN>",
               "ip": "<IP>"}


@dataclass
class Span:
    type: str
    start: int
    end: int
    text: str


def luhn_ok(digits: str) -> bool:
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if k % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ip_ok(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def find_pii(text: str, types: list[str] | tuple[str, ...] = tuple(PLACEHOLDER)) -> list[Span]:
    """Every PII span in ``text``, without overlaps (earlier and more specific kinds win), in order."""
    found: list[Span] = []
    want = set(types)
    if "email" in want and "@" in text:
        found += [Span("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    # Cheap gates before the regexes (which try a match at every digit): how many digits the text has.
    n_digits = len(text) - len(text.translate(_DROP_DIGITS)) if text.isascii() else len(_DIGIT.findall(text))
    if n_digits >= 8 and "iban" in want:
        found += [Span("iban", m.start(), m.end(), m.group()) for m in _IBAN.finditer(text) if iban_ok(m.group())]
    if n_digits >= 13 and "card" in want:
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                found.append(Span("card", m.start(), m.end(), m.group()))
    if n_digits >= 9 and "ssn" in want and "-" in text:
        found += [Span("ssn", m.start(), m.end(), m.group()) for m in _SSN.finditer(text)]
    if n_digits >= 4 and "ip" in want and text.count(".") >= 3:
        found += [Span("ip", m.start(), m.end(), m.group()) for m in _IPV4.finditer(text) if _ip_ok(m.group())]
    if n_digits >= 8 and "phone" in want:
        for m in _PHONE.finditer(text):
            if 10 <= len(_DIGIT.findall(m.group())) <= 15:
                found.append(Span("phone", m.start(), m.end(), m.group()))
    if "ip" in want and ("::" in text or text.count(":") >= 4):
        found += [Span("ip", m.start(), m.end(), m.group()) for m in _IPV6.finditer(text) if _ip_ok(m.group())]
    found.sort(key=lambda s: (s.start, -(s.end - s.start)))
    out: list[Span] = []
    for s in found:  # drop a span inside one already taken (a phone inside a card, say)
        if out and s.start < out[-1].end:
            continue
        out.append(s)
    return out


def redact(text: str, types: list[str] | tuple[str, ...] = tuple(PLACEHOLDER)) -> str:
    """``text`` with each PII span replaced by its typed placeholder."""
    spans = find_pii(text, types)
    for s in reversed(spans):
        text = text[: s.start] + PLACEHOLDER[s.type] + text[s.end:]
    return text


def redact_example(ex: Example, types: list[str]) -> Example:
    def r(s):
        return None if s is None else redact(s, types)

    msgs = None if ex.messages is None else [{"role": m["role"], "content": r(m["content"])} for m in ex.messages]
    return Example(messages=msgs, prompt=r(ex.prompt), completion=r(ex.completion), text=r(ex.text),
                   label=ex.label, meta=dict(ex.meta), source=ex.source)


@register_check("pii", default=True, order=10)
class PiiCheck(TextCheck):
    """One verdict per PII kind found in an example (reason pii_<kind>), with every span."""

    def prepare(self, ctx: CheckContext):
        types = ctx.settings().pii.types
        return self.memo(lambda text: find_pii(text, types))

    def judge(self, index: int, ex: Example, texts: list[str], spans_of) -> list[Verdict]:
        by_type: dict[str, list[dict]] = {}
        for t, text in enumerate(texts):
            for s in spans_of(text):
                by_type.setdefault(s.type, []).append({"turn": t, "start": s.start, "end": s.end})
        return [Verdict(index, False, f"pii_{kind}", 1.0,
                        f"{len(spans)} {kind} span(s); curate can redact to {PLACEHOLDER[kind]}", spans)
                for kind, spans in by_type.items()]
