"""Labeling functions, vote matrix, analysis, label model vs majority on planted votes, agreement statistics."""

import json

import numpy as np
import pytest

from tunewright.config import load_config
from tunewright.pipeline import load_demo_config
from tunewright.labeling.agreement import agreement_report, cohen_kappa, krippendorff_alpha
from tunewright.labeling.analysis import disagreement, function_summary
from tunewright.labeling.functions import (ABSTAIN, NOT_ENTITY, LabelingError, labeling_function,
                                           load_module_functions, load_rules)
from tunewright.labeling.label_model import fit_predict, planted_votes
from tunewright.labeling.queue import rank_for_review
from tunewright.labeling.run import label_examples
from tunewright.labeling.votes import apply_functions, place_entities
from tunewright.records import Example


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("model", ["one_coin_dawid_skene", "dawid_skene"])
def test_label_model_beats_majority_when_accuracies_differ(model, seed):
    # two good functions with low coverage, five weak ones with high coverage: majority follows the weak crowd
    L, y = planted_votes(2000, [0.9, 0.85, 0.55, 0.5, 0.45, 0.45, 0.4], [0.5, 0.4, 0.9, 0.9, 0.9, 0.9, 0.9], 3, seed)
    acc = {m: float((fit_predict(m, L, 3).argmax(1) == y).mean()) for m in ("majority", model)}
    assert acc[model] > acc["majority"] + 0.05, acc


def test_majority_equals_label_model_when_functions_are_alike():
    L, y = planted_votes(1000, [0.7] * 5, [1.0] * 5, 2, seed=3)
    a_maj = (fit_predict("majority", L, 2).argmax(1) == y).mean()
    a_lm = (fit_predict("one_coin_dawid_skene", L, 2).argmax(1) == y).mean()
    assert abs(a_maj - a_lm) < 0.02


def test_function_summary_by_hand():
    # items x functions; -1 abstain
    L = np.array([[0, 0, -1], [0, 1, -1], [-1, 1, 1], [-1, -1, -1]])
    gold = np.array([0, 1, 1, -1])
    rows = {r["function"]: r for r in function_summary(L, ["a", "b", "c"], gold)}
    assert rows["a"]["coverage"] == 0.5 and rows["a"]["overlap"] == 0.5 and rows["a"]["conflict"] == 0.25
    assert rows["a"]["accuracy"] == 0.5  # right on item 0, wrong on item 1
    assert rows["b"]["coverage"] == 0.75 and rows["b"]["overlap"] == 0.75 and rows["b"]["conflict"] == 0.25
    assert rows["b"]["accuracy"] == 1.0
    assert rows["c"]["conflict"] == 0.0 and rows["c"]["accuracy"] == 1.0
    assert disagreement(L).tolist() == [0.0, 0.5, 0.0, 0.0]


def test_decorator_and_abstain():
    @labeling_function(name="has_refund")
    def f(text):
        return "billing" if "refund" in text else ABSTAIN

    assert f.name == "has_refund" and f("a refund") == "billing" and f("hello") is ABSTAIN

    @labeling_function(kind="class")
    def bad(text):
        return 3

    with pytest.raises(LabelingError, match="bad"):
        bad("x")


def test_rules_yaml_errors_name_file_line_and_field(tmp_path):
    p = tmp_path / "rules.yaml"
    p.write_text("rules:\n  - name: ok\n    keywords: [refund]\n    label: billing\n  - name: broken\n    kind: span\n"
                 "    regex: 'Bank'\n", encoding="utf-8")
    with pytest.raises(LabelingError, match=r"rules.yaml:5: rules\[1\].*needs 'type'"):
        load_rules(p)
    p.write_text("rules:\n  - name: r\n    regex: '(unclosed'\n    label: x\n", encoding="utf-8")
    with pytest.raises(LabelingError, match="rules.yaml:2.*does not compile"):
        load_rules(p)


def test_rules_and_module_functions(tmp_path):
    p = tmp_path / "rules.yaml"
    p.write_text("rules:\n  - {name: kw, keywords: [refund], label: billing}\n"
                 "  - {name: bank, kind: span, keywords: [Bank], case_sensitive: true, type: ORGANIZATION}\n",
                 encoding="utf-8")
    kw, bank = load_rules(p)
    assert kw("Refund please") == "billing" and kw("refunded") is ABSTAIN  # whole words only
    assert bank("the Bank and the bank") == [("Bank", "ORGANIZATION")]
    m = tmp_path / "lfs.py"
    m.write_text("from tunewright.labeling.functions import labeling_function\n"
                 "@labeling_function(name='x', kind='span')\ndef x(t):\n    return [('A', 'PERSON')]\n", encoding="utf-8")
    (fn,) = load_module_functions(str(m))
    assert fn.name == "x" and fn("t") == [("A", "PERSON")]


def test_place_entities_longest_first_in_order_with_repeats():
    text = "SILICON VALLEY BANK (\" BANK \") lends; BANK pays Borrower and Borrower."
    got = place_entities(text, {"BANK": "ORGANIZATION", "SILICON VALLEY BANK": "ORGANIZATION", "Borrower": "PERSON",
                                "lends": NOT_ENTITY})
    assert got == [("SILICON VALLEY BANK", "ORGANIZATION"), ("BANK", "ORGANIZATION"), ("BANK", "ORGANIZATION"),
                   ("Borrower", "PERSON"), ("Borrower", "PERSON")]


def _chat(text, answer):
    return Example(messages=[{"role": "user", "content": text}, {"role": "assistant", "content": answer}])


def test_span_labeling_end_to_end_scores_against_gold():
    @labeling_function(name="roles", kind="span")
    def roles(t):
        return [(w, "PERSON") for w in ("Borrower", "Lender") if w in t] or ABSTAIN

    @labeling_function(name="caps_org", kind="span")
    def caps_org(t):  # noisy: every capitalised word is an organization
        return [(w, "ORGANIZATION") for w in t.split() if w[:1].isupper()] or ABSTAIN

    exs = [_chat("The Borrower pays.", "[Borrower - PERSON]"), _chat("Lender lends to Borrower.",
           "[Lender - PERSON, Borrower - PERSON]"), _chat("nothing here", "No entities found")]
    cfg = load_demo_config(overrides=["labeling.label_model=majority"])
    votes = apply_functions(exs, [roles, caps_org], cfg.task.entity_types + [NOT_ENTITY], progress=False)
    assert votes.items[:2] == [(0, "Borrower"), (0, "The")]
    r = label_examples(cfg, exs, [roles, caps_org], progress=False)
    assert r.scores["function:roles"]["entity_f1"] == 1.0
    assert r.scores["function:caps_org"]["entity_f1"] < 1.0
    assert r.answers[2] == "No entities found"
    assert r.queue[0].index in (0, 1)  # conflicting votes outrank the example nobody disputes


def test_queue_budget_and_terms():
    q = rank_for_review(np.array([0.1, 0.9, 0.2]), np.array([0.0, 0.0, 0.5]), np.array([False, False, True]),
                        audit_reasons={0: ["label_noise"]}, budget=2)
    # values: 0.1 + 1 (audit) = 1.1; 0.9; 0.2 + 0.5 + 0.5 (no votes) = 1.2
    assert [x.index for x in q] == [2, 0] and q[1].audit_reasons == ["label_noise"]
    with pytest.raises(ValueError, match="unknown terms"):
        rank_for_review(np.zeros(1), np.zeros(1), np.zeros(1), weights={"bogus": 1.0})


def test_cohen_kappa_reference_values():
    # Wikipedia's worked example: 50 items, yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    x, y = rng.choice(list("abc"), 200).tolist(), rng.choice(list("abc"), 200).tolist()
    assert cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y))


def test_krippendorff_alpha_reference_value():
    # Krippendorff (2011) "Computing Krippendorff's alpha-reliability", example C: nominal alpha = 0.691
    nan = None
    data = [[nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
            [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
            [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4]]
    ratings = {f"r{i}": {f"u{j}": str(v) for j, v in enumerate(row) if v is not None} for i, row in enumerate(data)}
    assert krippendorff_alpha(ratings) == pytest.approx(0.691, abs=5e-4)
    rep = agreement_report(ratings, gold={"u5": "3", "u6": "4"})
    assert rep["gold_accuracy"]["r0"]["accuracy"] == 1.0 and rep["gold_accuracy"]["r2"]["accuracy"] == 0.5
    assert {tuple(p["reviewers"]) for p in rep["pairs"]} == {("r0", "r1"), ("r0", "r2"), ("r1", "r2")}


def test_audit_suspects_from_quarantine_flags_and_suspects_file(tmp_path):
    from tunewright.labeling.run import audit_suspects

    exs = [_chat("a", "[A - PERSON]"), _chat("b", "[B - PERSON]"), _chat("c", "No entities found")]
    exs[2].meta["audit_reasons"] = ["near_duplicate"]
    q = tmp_path / "quarantine.jsonl"
    q.write_text(json.dumps({"id": exs[0].id, "action": "flagged", "reasons": ["label_issue"],
                             "details": ["rank 1: given 'x'"]}) + "\n"
                 + json.dumps({"source": "f.jsonl:9", "reason": "bad_json"}) + "\n", encoding="utf-8")
    s = tmp_path / "suspects.jsonl"
    s.write_text(json.dumps({"id": exs[1].id, "reasons": ["reviewer_flag"]}) + "\n", encoding="utf-8")
    assert audit_suspects(exs, s, q) == {0: ["label_issue: rank 1: given 'x'"], 1: ["reviewer_flag"],
                                         2: ["near_duplicate"]}
    s.write_text(json.dumps({"reasons": ["x"]}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="suspects.jsonl:1: missing field 'id'"):
        audit_suspects(exs, s, q)


def test_class_labeling_end_to_end_and_validator():
    from tunewright.review.service import label_validator

    @labeling_function(name="refund")
    def refund(t):
        return "billing" if "refund" in t else ABSTAIN

    @labeling_function(name="crash")
    def crash(t):
        return "bug" if "crash" in t else ABSTAIN

    @labeling_function(name="always_bug")
    def always_bug(t):
        return "bug"

    exs = [Example(text=t, label=g) for t, g in [("refund me", "billing"), ("app crash", "bug"),
                                                 ("refund after crash", "billing"), ("hello", "other")]]
    cfg = load_config(None, ["task.type=classification", "task.labels=[billing, bug, other]",
                             "labeling.label_model=majority"])
    r = label_examples(cfg, exs, [refund, crash, always_bug], progress=False)
    assert r.kind == "class" and r.answers[1] == "bug" and r.answers[3] == "bug"
    # alone, a function's abstentions count as wrong; in the analysis, accuracy is over the votes it cast
    assert r.scores["function:refund"] == {"accuracy": 0.5, "examples": 4}
    summary = {row["function"]: row for row in r.summary}
    assert summary["refund"]["accuracy"] == 1.0 and summary["refund"]["coverage"] == 0.5
    assert r.scores["function:always_bug"]["accuracy"] == 0.25
    check = label_validator(cfg)
    assert check("bug", "").label == "bug" and check("Bug ", "").label == "bug"
    assert "not one of the labels" in check("feature", "").error


def test_span_label_model_keeps_a_lone_vote_for_a_rare_type():
    """Issue 17: one model over TYPES + O let the many O votes overrule a lone vote for a rare type. Classes
    [PERSON, ORGANIZATION, O]: a wide function votes O on 600 candidates, a precise one votes ORGANIZATION alone
    on 100 others, a third votes PERSON on 200 (50 of them also voted O by the wide one)."""
    P_, ORG, O = 0, 1, 2
    L = np.full((900, 3), -1, dtype=int)
    L[:600, 0] = O
    L[600:700, 1] = ORG
    L[700:900, 2] = P_
    L[550:600, 2] = P_  # overlap: wide O vs PERSON
    span = fit_predict("span", L, 3).argmax(axis=1)
    one_coin = fit_predict("one_coin_dawid_skene", L, 3).argmax(axis=1)
    assert (span[600:700] == ORG).all() and (span[700:900] == P_).all() and (span[:550] == O).all()
    # what the span model fixes: one-coin over TYPES + O turns the PERSON function's 150 lone votes into O
    assert (one_coin[700:900] == O).all()
    P = fit_predict("span", L, 3)
    assert np.allclose(P.sum(axis=1), 1.0) and (P >= 0).all()
