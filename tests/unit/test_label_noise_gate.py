"""Label noise (k-fold + cleanlab) with planted flips, the per-reason data gate, and sufficiency warnings."""

import random

from tunewright.config import AuditSection, DataGateSection, SufficiencySection
from tunewright.data.checks import CheckContext
from tunewright.data.gate import evaluate_gate
from tunewright.data.label_noise import LabelNoiseCheck
from tunewright.data.sufficiency import assess_sufficiency
from tunewright.records import Example

TOPICS = {
    "loan": "borrower lender interest principal repayment collateral default covenant maturity rate",
    "insurance": "policy premium insurer claim coverage deductible beneficiary underwriting payout insured",
    "employment": "employee salary employer vacation termination overtime payroll hiring contract duties",
}


def make_dataset(n: int, flips: int, seed: int = 0) -> tuple[list[Example], set[int]]:
    rng = random.Random(seed)
    labels = list(TOPICS)
    examples, truth = [], []
    for i in range(n):
        lab = labels[i % 3]
        words = TOPICS[lab].split()
        text = " ".join(rng.choice(words) for _ in range(8)) + " " + " ".join(
            rng.choice("the a of to and in for on".split()) for _ in range(4))
        truth.append(lab)
        examples.append(Example(text=text, label=lab))
    flipped = set(rng.sample(range(n), flips))
    for i in flipped:
        wrong = [x for x in labels if x != truth[i]]
        examples[i] = Example(text=examples[i].text, label=rng.choice(wrong))
    return examples, flipped


def test_label_noise_finds_planted_flips():
    examples, flipped = make_dataset(300, 15)
    ctx = CheckContext(audit=AuditSection())
    vs = LabelNoiseCheck().run(examples, ctx)
    found = {v.index for v in vs}
    tp = len(found & flipped)
    precision, recall = tp / max(len(found), 1), tp / len(flipped)
    assert recall >= 0.9 and precision >= 0.8, (precision, recall)
    suspects = ctx.artifacts["label_suspects"]
    assert [s["rank"] for s in suspects] == list(range(1, len(suspects) + 1))
    top = suspects[0]
    assert top["index"] in flipped and top["suggested"] != top["given"]
    assert ctx.artifacts["label_noise"]["features"] == "tfidf"


def test_label_noise_skips_free_text_answers():
    examples = [Example(prompt=f"question {i}", completion=f"a long free answer number {i} with words") for i in range(60)]
    ctx = CheckContext(audit=AuditSection())
    assert LabelNoiseCheck().run(examples, ctx) == []
    assert "skipped" in ctx.artifacts["label_noise"]


def summary(reasons: dict, n: int = 1000, used: int = 900) -> dict:
    return {"input_records": n, "used": used, "reasons": reasons}


def test_gate_fails_on_leakage_and_conflicts_and_warns_on_near_duplicates():
    a = AuditSection()
    assert evaluate_gate(summary({}), a)["verdict"] == "pass"
    g = evaluate_gate(summary({"leakage_exact": 1}), a)
    assert g["verdict"] == "fail" and not g["passed"] and "leakage_exact" in g["failures"][0]
    assert evaluate_gate(summary({"conflicting_duplicate": 20}), a)["verdict"] == "pass"  # 2.0% is not > 2%
    assert evaluate_gate(summary({"conflicting_duplicate": 21}), a)["verdict"] == "fail"
    g = evaluate_gate(summary({"near_duplicate": 51}), a)
    assert g["verdict"] == "warn" and g["passed"] and "near_duplicate: 51 records (5.1%)" in g["warnings"][0]
    g = evaluate_gate(summary({"pii_email": 1, "pii_phone": 2}), a)
    assert g["verdict"] == "warn" and "pii_*: 3 records" in g["warnings"][0]
    custom = AuditSection(gate=DataGateSection(fail={"outdated:*": 0.01}, warn={}))
    assert evaluate_gate(summary({"outdated:libor": 11}), custom)["verdict"] == "fail"
    assert evaluate_gate(summary({}, used=100), a)["verdict"] == "fail"  # 10% usable < min_usable_fraction


def test_sufficiency_counts_classes_and_warns():
    a = AuditSection(sufficiency=SufficiencySection(min_examples=50, min_per_class=10, max_imbalance=5))
    clean = [Example(text=f"t{i}", label="big") for i in range(60)] + [Example(text=f"s{i}", label="small")
                                                                      for i in range(6)]
    s = assess_sufficiency(clean, 70, a)
    assert s["per_class"] == {"big": 60, "small": 6} and s["imbalance"] == 10.0
    assert any("class 'small': 6" in w for w in s["warnings"]) and any("imbalance 10.0x" in w for w in s["warnings"])
    few = assess_sufficiency(clean[:5], 70, a)
    assert any("only 5 usable examples" in w for w in few["warnings"])
    tasks = [Example(prompt=f"p{i}", completion=f"a long answer {i} here now ok", meta={"task": "qa" if i < 55 else "sum"})
             for i in range(60)]
    s = assess_sufficiency(tasks, 60, a)
    assert s["per_task"] == {"qa": 55, "sum": 5} and "per_class" not in s
    assert any("task 'sum': 5" in w for w in s["warnings"])


def test_label_noise_abstains_when_inputs_do_not_predict_labels():
    rng = random.Random(3)
    words = " ".join(TOPICS.values()).split()
    examples = [Example(text=" ".join(rng.choice(words) for _ in range(10)), label=rng.choice("ABCD"))
                for _ in range(200)]  # like MMLU answer letters: nothing in the text says which
    ctx = CheckContext(audit=AuditSection())
    assert LabelNoiseCheck().run(examples, ctx) == []
    info = ctx.artifacts["label_noise"]
    assert info["skill"] < 0.2 and "cannot predict the labels" in info["skipped"]
