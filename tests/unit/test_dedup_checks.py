"""The duplicate checks in the audit: exact and conflicting duplicates on normalized text, near-duplicate
clusters (planted positives and negatives, precision and recall), near-duplicate conflicts, keep rules."""

import json
import random

from helpers import chat, write_lines
from tunewright.config import load_config
from tunewright.data.audit import audit_data
from tunewright.data.normalize import normalize_text

BASE = ("the borrower shall repay the outstanding principal amount of each loan on the maturity date together "
        "with all accrued and unpaid interest thereon and any other amounts then due under this agreement")


def sentences(n: int, seed: int, words: int = 40) -> list[str]:
    rng = random.Random(seed)
    vocab = BASE.split() + [f"term{i}" for i in range(2000)]
    return [" ".join(rng.choice(vocab) for _ in range(words)) for _ in range(n)]


def audit(tmp_path, rows, *overrides):
    f = write_lines(tmp_path / "d.jsonl", rows)
    cfg = load_config(None, [f"data.train_files=[{f}]", "data.system_prompt=null", "audit.min_usable_fraction=0",
                             "audit.checks=[exact_duplicate, conflicting_duplicate, near_duplicate]", *overrides])
    return f, audit_data(cfg, tmp_path / "out")


def test_normalized_exact_and_conflicting_duplicates(tmp_path):
    f, res = audit(tmp_path, [
        chat("Ｔｈｅ  Borrower pays", "x"),
        chat("the borrower\u00a0pays", "x"),        # same after NFKC, whitespace and case folding
        chat("The Borrower Pays ", "y"),            # same input, different answer
        chat("the lender pays", "z"),
    ])
    q = {row["source"].rsplit(":", 1)[1]: row["reasons"] for row in res.quarantine}
    assert q == {"2": ["exact_duplicate", "conflicting_duplicate"], "1": ["conflicting_duplicate"],
                 "3": ["conflicting_duplicate"]}
    assert res.summary["used"] == 1


def test_near_duplicates_flagged_with_precision_and_recall(tmp_path):
    base = sentences(60, seed=1)
    rows, planted = [], set()
    for k, s in enumerate(base):
        rows.append(chat(s, f"answer {k}"))
    for k in range(30):  # 30 variants: one word changed near the end (Jaccard 31/41 or more)
        ws = base[k].split()
        ws[-2] = "changed"
        rows.append(chat(" ".join(ws), f"answer {k}"))
        planted.add(len(rows))  # 1-based line of the variant
    for k in range(30, 40):  # 10 negatives: half the words replaced (Jaccard well below 0.8)
        ws = base[k].split()
        ws[::2] = [f"other{i}" for i in range(len(ws[::2]))]
        rows.append(chat(" ".join(ws), f"answer {k}"))
    _, res = audit(tmp_path, rows)
    flagged = {int(r["source"].rsplit(":", 1)[1]) for r in res.quarantine if "near_duplicate" in r["reasons"]}
    tp = len(flagged & planted)
    assert tp / len(planted) >= 0.95 and tp / max(len(flagged), 1) >= 0.98
    row = next(r for r in res.quarantine if "near_duplicate" in r["reasons"])
    assert "kept" in row["details"][0] and "Jaccard" in row["details"][0]
    nd = res.summary["near_duplicates"]
    assert nd["clusters"] == nd["flagged"] == len(flagged) and nd["conflict_pairs"] == 0
    assert (nd["bands"], nd["rows"]) == (16, 8) and nd["sample_clusters"]


def test_near_duplicate_conflicts_reported_and_dropped_when_asked(tmp_path):
    a, b = sentences(2, seed=3)
    near_a = a.replace(a.split()[-1], "tail", 1)
    rows = [chat(a, "A - ORGANIZATION"), chat(near_a, "No entities found"), chat(b, "B - PERSON")]
    _, res = audit(tmp_path, rows)
    nd = res.summary["near_duplicates"]
    assert nd["conflict_pairs"] == 1 and nd["conflict_examples"] == 2
    # conflicts are reported (flagged, kept) by default; only the near-duplicate copy is dropped
    assert res.summary["reasons"] == {"near_duplicate": 1, "near_duplicate_conflict": 2}
    assert res.summary["used"] == 2 and res.summary["flagged_kept"] == 1
    _, res2 = audit(tmp_path, rows, "audit.near_duplicates.drop_conflicts=true")
    assert res2.summary["dropped_reasons"] == {"near_duplicate": 1, "near_duplicate_conflict": 2}
    assert res2.summary["used"] == 1
    q = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert any("different answer" in d for row in q for d in row["details"])


def test_keep_rule_longest_and_disabled(tmp_path):
    s = sentences(1, seed=4, words=60)[0]
    longer = s + " and one more clause"
    _, res = audit(tmp_path, [chat(s, "x"), chat(longer, "x")], "audit.near_duplicates.keep=longest")
    assert [r["source"].rsplit(":", 1)[1] for r in res.quarantine] == ["1"]
    _, off = audit(tmp_path, [chat(s, "x"), chat(longer, "x")], "audit.near_duplicates.enabled=false")
    assert off.summary["quarantined"] == 0 and "near_duplicates" not in off.summary


def test_normalize_text():
    assert normalize_text("  Ｆｕｌｌ\u00a0WIDTH\n\ttext  ") == "full width text"
    assert normalize_text("STRASSE Straße") == "strasse strasse"


def test_normalized_views_follow_replaced_content():
    from tunewright.data.keys import normalized_answer, normalized_input
    from tunewright.records import Example

    ex = Example(prompt="Hello  World", completion="X")
    assert (normalized_input(ex), normalized_answer(ex)) == ("hello world", "x")
    ex.prompt, ex.completion = "Other", "Y"  # a curate step that rewrites content gets fresh views
    assert (normalized_input(ex), normalized_answer(ex)) == ("other", "y")
    assert "_tw_normalized" not in ex.to_json()
