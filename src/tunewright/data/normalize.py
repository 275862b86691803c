"""Text normalization: what the audit reports and what ``curate`` rewrites.

Two levels. :func:`normalize_text` is the comparison key used for duplicate detection (NFKC, collapsed
whitespace, casefold): it loses information on purpose. :func:`fix_text` is the repair applied to the data
itself by ``tunewright data curate``: NFKC, mojibake (ftfy), control characters, leftover HTML, stray
whitespace; it keeps case, line breaks and indentation.
"""

from __future__ import annotations

import html
import re
import unicodedata

from tunewright.data.checks import CheckContext, TextCheck, Verdict, example_texts, register_check
from tunewright.data.keys import normalize_text  # re-exported: the comparison key (NFKC, whitespace, casefold)
from tunewright.records import Example

__all__ = ["normalize_text", "fix_text", "text_issues", "normalize_example", "example_texts", "NormalizationCheck"]

_WS = re.compile(r"\s+")
# C0/C1 controls except tab, newline, carriage return; plus zero-width and bidi marks that survive NFKC.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# Only real HTML tag names: "List<String>" or "<EMAIL>" placeholders are not markup.
_TAG_NAMES = (r"a|abbr|b|blockquote|body|br|code|div|em|font|h[1-6]|head|hr|html|i|img|li|link|meta|ol|p|pre|"
              r"script|small|span|strong|style|sub|sup|table|tbody|td|th|thead|title|tr|u|ul")
_HTML_TAG = re.compile(rf"</?(?:{_TAG_NAMES})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_HTML_ENTITY = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{2,6}|#x[0-9a-fA-F]{2,5});")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK = re.compile(r"\n{3,}")
_LEADING_BLANK = re.compile(r"[ \t]*\n")  # blank lines before the text (first-line indentation is kept)
_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)




def _has_mojibake(s: str) -> bool:
    if s.isascii():  # mojibake needs non-ASCII characters; most text takes this fast path
        return False
    import ftfy

    return ftfy.fix_encoding(s) != s


def text_issues(s: str) -> list[str]:
    """Reasons this text needs normalization (empty when it is clean)."""
    issues = []
    if not s.isascii() and not unicodedata.is_normalized("NFKC", s):
        issues.append("normalize_unicode")
    if s != s.rstrip() or _LEADING_BLANK.match(s) or "\r" in s or _TRAILING_SPACE.search(s) or _MANY_BLANK.search(s):
        issues.append("normalize_whitespace")
    if _CONTROL.search(s):
        issues.append("control_characters")
    if _has_mojibake(s):
        issues.append("mojibake")
    if ("<" in s and _HTML_TAG.search(s)) or ("&" in s and _HTML_ENTITY.search(s)):
        issues.append("html_markup")
    return issues


def fix_text(s: str, fix_mojibake: bool = True, strip_html: bool = True) -> str:
    """The repaired text: every issue :func:`text_issues` reports is gone, case and layout are kept."""
    if fix_mojibake and not s.isascii():
        import ftfy

        s = ftfy.fix_encoding(s)
    if strip_html:
        if "<" in s:
            s = _HTML_TAG.sub("", _SCRIPT_STYLE.sub("", s))
        if "&" in s:
            s = html.unescape(s)
    s = unicodedata.normalize("NFKC", s)
    s = _CONTROL.sub("", s.replace("\r\n", "\n").replace("\r", "\n"))
    s = _MANY_BLANK.sub("\n\n", _TRAILING_SPACE.sub("\n", s.rstrip()))
    return re.sub(r"^(?:[ \t]*\n)+", "", s)


def normalize_example(ex: Example, fix_mojibake: bool = True, strip_html: bool = True) -> Example:
    """A copy of the example with every text field repaired by :func:`fix_text` (a new id, same source)."""
    def f(s):
        return None if s is None else fix_text(s, fix_mojibake, strip_html)

    msgs = None if ex.messages is None else [{"role": m["role"], "content": f(m["content"])} for m in ex.messages]
    return Example(messages=msgs, prompt=f(ex.prompt), completion=f(ex.completion), text=f(ex.text),
                   label=ex.label, meta=dict(ex.meta), source=ex.source)


@register_check("normalization", default=True, order=7)
class NormalizationCheck(TextCheck):
    """Unicode (NFKC), whitespace, control characters, mojibake, HTML: one verdict per issue found."""

    def prepare(self, ctx: CheckContext):
        return self.memo(text_issues)

    def judge(self, index: int, ex: Example, texts: list[str], issues_of) -> list[Verdict]:
        found: dict[str, list[int]] = {}
        for t, s in enumerate(texts):
            for issue in issues_of(s):
                found.setdefault(issue, []).append(t)
        return [Verdict(index, False, issue, 1.0, f"in turn(s) {turns}; curate can fix it")
                for issue, turns in found.items()]
