import pytest

from tunewright.config import TaskSection
from tunewright.evaluation.metrics import entity_f1
from tunewright.evaluation.tasks import make_task

task = make_task(TaskSection(type="extraction", entity_types=["PERSON", "ORGANIZATION", "LOCATION"]))


@pytest.mark.parametrize("text,want", [
    ("[Bank - ORGANIZATION, Borrower - PERSON]", [("Bank", "ORGANIZATION"), ("Borrower", "PERSON")]),
    ("No entities found", []),
    ("no entities found.", []),
    ("[]", []),
    ("Thinking... final: [Silicon Valley Bank, N.A. - ORGANIZATION]",
     [("Silicon Valley Bank, N.A.", "ORGANIZATION")]),
    ("[California - chartered bank - ORGANIZATION]", [("California - chartered bank", "ORGANIZATION")]),
    ("[Bank - ORG]", None),  # unknown type
    ("[Bank ORGANIZATION]", None),
    ("The sentence is from a loan agreement.", None),
    ("[A - PERSON, garbage]", None),
])
def test_parse(text, want):
    assert task.parse(text) == want


def test_entity_f1_micro_multiset():
    gold = [[("Bank", "ORGANIZATION"), ("Bank", "ORGANIZATION"), ("Ohio", "LOCATION")], []]
    pred = [[("Bank", "ORGANIZATION"), ("Ohio", "PERSON")], [("Joe", "PERSON")]]
    m = entity_f1(pred, gold)
    # one true positive (the multiset has Bank twice in gold, once in pred); Ohio has the wrong type
    assert (m["tp"], m["predicted"], m["gold"]) == (1, 3, 3)
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(1 / 3)


def test_entity_f1_edge_cases():
    assert entity_f1([[]], [[]])["f1"] == 1.0  # nothing to find, nothing found
    assert entity_f1([[]], [[("A", "PERSON")]])["f1"] == 0.0
    assert entity_f1([[("A", "PERSON")] * 2], [[("A", "PERSON")]])["precision"] == 0.5
    with pytest.raises(ValueError):
        entity_f1([[]], [[], []])


def test_number_f1_added_in_one_file_is_a_task_metric():
    """A metric registered in evaluation/metrics.py alone is usable as task.metric (the registry's point)."""
    from tunewright.config import load_config
    from tunewright.evaluation.metrics import number_f1, numbers_in
    from tunewright.evaluation.tasks import make_task

    assert numbers_in("USD 1,250.00 at 4.50% until 2031") == ["1250", "4.5%", "2031"]
    assert number_f1("The rate is 4.5% on $1,250", "1250 dollars at 4.50%") == 1.0
    assert number_f1("1250 at 5%", "1250 at 4.5%") == pytest.approx(0.5)
    assert number_f1("no figure", "none either") == 1.0 and number_f1("12", "no figure") == 0.0
    cfg = load_config(None, ["task.type=generation", "task.metric=number_f1"])
    task = make_task(cfg.task)
    row = task.item_row("due 2031-06-30", "2031-06-30")
    assert task.metric == "number_f1" and row["number_f1"] == 1.0 and {"rouge_l", "exact_match"} <= set(row)
