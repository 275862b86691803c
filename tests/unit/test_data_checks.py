"""Each content check on planted positives and negatives, with precision and recall asserted."""

from tunewright.config import AuditSection, OutdatedRule
from tunewright.data.checks import CheckContext
from tunewright.data.format import FormatCheck
from tunewright.data.normalize import NormalizationCheck, fix_text, normalize_text, text_issues
from tunewright.data.outdated import CompiledRule, OutdatedCheck, replace_superseded
from tunewright.data.pii import PiiCheck, find_pii, iban_ok, luhn_ok, redact
from tunewright.data.quality import LanguageCheck, QualityCheck
from tunewright.records import Example


def ex(user: str, answer: str, **meta) -> Example:
    return Example(messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}], meta=meta)


def precision_recall(found: set, planted: set) -> tuple[float, float]:
    tp = len(found & planted)
    return (tp / len(found) if found else 1.0), (tp / len(planted) if planted else 1.0)


def flagged(check, examples, reason_prefix: str, ctx: CheckContext | None = None) -> set[int]:
    ctx = ctx or CheckContext(audit=AuditSection())
    return {v.index for v in check.run(examples, ctx) if v.reason.startswith(reason_prefix)}


def test_pii_kinds_with_checksums():
    positives = {
        "email": ["write to john.doe+loans@example.co.uk today", "cc: a_b@bank-x.com",
                  "Email : david . corre @ vringo . com"],  # tokenized, as in ner_finance
        "phone": ["call (555) 123-4567 now", "office +44 20 7946 0958", "cell 555.867.5309",
                  "Fax : ( 212 ) 688 - 5994", "Tel : + 86 - 10 - 6250 1312", "Fax : 86 ( 10 ) 8282 - 5058"],
        "card": ["card 4111 1111 1111 1111 on file", "paid with 5500-0000-0000-0004"],
        "iban": ["IBAN GB82 WEST 1234 5698 7654 32", "to DE89370400440532013000 please"],
        "ssn": ["SSN 123-45-6789"],
        "ip": ["server 192.168.1.20 is down", "v6 host 2001:db8::8a2e:370:7334"],
    }
    negatives = [
        "order number 1234 5678 9012 3456 shipped",  # 16 digits, fails Luhn
        "IBAN GB82 WEST 1234 5698 7654 33",            # fails mod-97
        "SSN 999-12-3456 is not issued",               # 9xx area numbers are never assigned
        "address 300.1.2.3 is not an IP",             # octet > 255
        "the year 2023 and the amount $1,234.56",
        "meet at 12:30 on 2024-05-01",
        "write to user at example dot com",
        "section 6.4.1 of the agreement",
        "loan no. 12345678",
        "Section 4 . 2 . 16 and 12 : 00 noon on March 31 , 2009",
        "items 1 2 3 4 5 6 7 8 9 10 11 12",
        "the fee is $ 1 , 250 , 000 . 00 at @ least",
    ]
    for kind, texts in positives.items():
        for t in texts:
            spans = find_pii(t)
            assert [s.type for s in spans] == [kind], (t, spans)
    for t in negatives:
        assert find_pii(t) == [], (t, find_pii(t))
    examples = [ex(t, "ok") for texts in positives.values() for t in texts] + [ex(t, "ok") for t in negatives]
    planted = set(range(sum(len(v) for v in positives.values())))
    p, r = precision_recall(flagged(PiiCheck(), examples, "pii_"), planted)
    assert p == 1.0 and r == 1.0


def test_pii_spans_and_redaction():
    t = "Mail jane@corp.com or call (555) 123-4567; card 4111111111111111."
    assert redact(t) == "Mail <EMAIL> or call <PHONE>; card <CARD>."
    v = [v for v in PiiCheck().run([ex(t, "fine")], CheckContext(audit=AuditSection())) if v.reason == "pii_email"][0]
    sp = v.spans[0]
    assert t[sp["start"]:sp["end"]] == "jane@corp.com" and sp["turn"] == 0
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")


def test_normalization_issues_and_fix():
    positives = {
        "mojibake": "caf\u00c3\u00a9 au lait",
        "html_markup": "<p>Hello <b>there</b></p>",
        "control_characters": "tab\u0000null and zero\u200bwidth",
        "normalize_whitespace": "  padded answer \r\n",
        "normalize_unicode": "\ufb01ne print",  # the fi ligature
    }
    negatives = ["List<String> is a generic type", "a < b and c > d", "Caf\u00e9 au lait", "line one\nline two",
                 "redacted to <EMAIL> here", "R&D budget", "    indented code\nstays"]
    for reason, text in positives.items():
        assert reason in text_issues(text), (reason, text_issues(text))
        assert text_issues(fix_text(text)) == [], (text, fix_text(text))
    for text in negatives:
        assert text_issues(text) == [], (text, text_issues(text))
    assert fix_text("caf\u00c3\u00a9 <p>x &amp; y</p>") == "caf\u00e9 x & y"
    examples = [ex(t, "answer") for t in positives.values()] + [ex(t, "answer") for t in negatives]
    p, r = precision_recall(flagged(NormalizationCheck(), examples, ""), set(range(len(positives))))
    assert p == 1.0 and r == 1.0
    assert normalize_text("  Hello\u00a0 WORLD\n") == "hello world"


def test_format_label_set_casing_and_structure():
    a = AuditSection()
    labels = ["positive", "negative", "neutral"]
    data = [ex(f"review {i}", labels[i % 3]) for i in range(30)]
    data += [ex("bad", "Positive"), ex("worse", "great")]  # wrong casing; outside the set
    ctx = CheckContext(audit=a, labels=labels)
    vs = FormatCheck().run(data, ctx)
    out_of_set = {v.index for v in vs if v.reason == "label_not_in_set"}
    assert out_of_set == {30, 31}
    assert any("did you mean 'positive'" in v.detail for v in vs if v.index == 30)
    casing = {v.index for v in vs if v.reason == "format_inconsistent"}
    assert casing == {30}  # 'great' is lower case like the rest; 'Positive' is not

    json_data = [ex(f"q{i}", '{"amount": %d}' % i) for i in range(20)] + [ex("q", "amount is 5"), ex("r", "[1, 2")]
    vs = FormatCheck().run(json_data, CheckContext(audit=a))
    hits = {v.index: v.detail for v in vs if v.reason == "format_inconsistent"}
    assert set(hits) == {20, 21} and "dominant format is json" in hits[20]

    req = AuditSection(required_fields=["doc_id"])
    vs = FormatCheck().run([ex("a b", "c", doc_id="1"), ex("a b", "c")], CheckContext(audit=req))
    assert [(v.index, v.reason) for v in vs] == [(1, "missing_field")]


def test_format_does_not_flag_a_frequent_constant_answer():
    data = [ex(f"s{i}", f"[Bank{i} - ORGANIZATION]") for i in range(20)] + [ex(f"t{i}", "No entities found")
                                                                         for i in range(8)]
    assert FormatCheck().run(data, CheckContext(audit=AuditSection())) == []


def test_quality_heuristics():
    long_ok = ("The borrower shall deliver audited financial statements to the bank within ninety days after the "
               "end of each fiscal year, prepared under GAAP and certified by a responsible officer.")
    positives = {
        "truncated": ex("Summarize the clause.", long_ok.rsplit(",", 1)[0] + ", prepared under the accounting"),
        "repetition": ex("Say something.", "I think that is right. " * 12),
        "symbol_ratio": ex("Draw.", "#### $$$$ @@@@ %%%% ^^^^ &&&& **** ~~~~ ||||"),
        "non_alphabetic": ex("Numbers?", "12 34 56 78 90 12 34 56 78 90 11 22 33"),
        "refusal": ex("Extract the names.", "As an AI language model, I cannot extract names from this text."),
        "boilerplate": ex("Describe the loan.", "Lorem ipsum dolor sit amet, consectetur adipiscing elit."),
    }
    negatives = [ex("Summarize the clause.", long_ok), ex("Count.", "3"),
                 ex("List entities.", "[Bank - ORGANIZATION, Bank - ORGANIZATION, Bank - ORGANIZATION, Borrower - "
                    "ORGANIZATION, Bank - ORGANIZATION, Bank - ORGANIZATION, Bank - ORGANIZATION]"),
                 ex("Code?", "```python\nprint('hi')\n```"), ex("Why?", "Because the contract says so.")]
    data = list(positives.values()) + negatives
    ctx = CheckContext(audit=AuditSection())
    vs = QualityCheck().run(data, ctx)
    for k, reason in enumerate(positives):
        assert reason in {v.reason for v in vs if v.index == k}, (reason, [(v.reason, v.detail) for v in vs])
    p, r = precision_recall({v.index for v in vs}, set(range(len(positives))))
    assert p == 1.0 and r == 1.0


def test_language_other_than_declared():
    en = ["The borrower shall deliver audited financial statements to the bank within ninety days of year end.",
          "All property policies will have a loss payable endorsement showing the bank as an additional payee."]
    other = ["Der Kreditnehmer verpflichtet sich, der Bank innerhalb von neunzig Tagen einen Bericht vorzulegen.",
             "L'emprunteur doit remettre a la banque ses etats financiers certifies dans les quatre-vingt-dix jours.",
             "El prestatario debera entregar al banco los estados financieros auditados dentro de noventa dias."]
    data = [ex(t, "Noted.") for t in en + other] + [ex("Kurz.", "Ja.")]  # too short to judge
    got = flagged(LanguageCheck(), data, "wrong_language")
    assert got == {2, 3, 4}


def test_short_texts_are_language_checked_by_default():
    from tunewright.config import QualitySection

    short = [ex("Der Vertrag endet am Jahresende.", "Ja."), ex("La banque paie les frais du dossier.", "Oui."),
             ex("The Borrower shall repay 5,000,000 to SVB by May 2021.", "ok"),  # English, names and numbers
             ex("Kurz.", "Ja.")]  # under 20 letters: never judged
    assert flagged(LanguageCheck(), short, "wrong_language") == {0, 1}
    off = AuditSection(quality=QualitySection(language_short_min_chars=None))
    assert flagged(LanguageCheck(), short, "wrong_language", CheckContext(audit=off)) == set()
    # headings and lines of numbers are what the short-text detector misreads as French: skipped
    headings = [ex("Section 7 . 2 Indemnification .", "[]"), ex("6 AFFIRMATIVE COVENANTS", "[]"),
                ex("ARTICLE VII NO RECOURSE TO ISSUER ; INDEMNIFICATION", "[]"), ex("( 212 ) 688 - 5994 ext 12", "[]")]
    assert flagged(LanguageCheck(), headings + short, "wrong_language") == {4, 5}


def test_short_english_with_foreign_names_is_not_foreign():
    from tunewright.data.quality import _detector, has_english_only_word

    # the high-accuracy detector reads this line as Italian; its English words ("It", "to") keep it
    text = "It stands as a tribute to Italian inventor Guglielmo Marconi."
    det = _detector(("de", "en", "es", "fr", "it", "nl", "pt"), 0.25)
    assert det.detect_language_of(text).iso_code_639_1.name.lower() != "en"
    assert has_english_only_word(text)
    assert flagged(LanguageCheck(), [ex(text, "ok")], "wrong_language") == set()
    # the words are whole words: "He" (helium) and "Até" (Portuguese) are not English-only words
    assert not has_english_only_word("Até pensei em te responder, mas depois lembrei.")
    assert not has_english_only_word("Zwei Deuteriumkerne verbinden sich zu einem 3 He-Isotop.")
    assert has_english_only_word("The clause") and not has_english_only_word("Théâtre du Soleil")


def test_looks_like_heading():
    from tunewright.data.quality import looks_like_heading

    assert looks_like_heading("Section 6 . 1 Maintenance of Existence .") and looks_like_heading("12 . 8 - 14 -")
    assert not looks_like_heading("Der Vertrag endet am Jahresende.")  # German nouns, but not 3 words in 4
    assert not looks_like_heading("The Borrower shall repay 5,000,000 to SVB by May 2021.")


def test_outdated_rules():
    a = AuditSection(outdated=[
        OutdatedRule(name="libor", pattern=r"\bLIBOR\b"),
        OutdatedRule(name="old_doc", date_field="date", before="2020-01-01"),
        OutdatedRule(name="regs", superseded={"Regulation Q": "Regulation YY"}),
    ])
    data = [ex("Interest accrues at LIBOR plus 2%.", "ok"), ex("A clause.", "ok", date="2018-06-30"),
            ex("Under Regulation Q the bank...", "ok"), ex("Interest accrues at SOFR plus 2%.", "ok", date="2023-01-01"),
            ex("Regulation QX is something else", "ok"), ex("A clause.", "ok", date="yesterday")]
    vs = OutdatedCheck().run(data, CheckContext(audit=a))
    got = {(v.index, v.reason) for v in vs}
    assert got == {(0, "outdated:libor"), (1, "outdated:old_doc"), (2, "outdated:regs"), (5, "outdated:old_doc")}
    assert "Regulation YY" in [v.detail for v in vs if v.index == 2][0]
    rules = [CompiledRule(r) for r in a.outdated]
    assert replace_superseded("Under Regulation Q.", rules) == "Under Regulation YY."
