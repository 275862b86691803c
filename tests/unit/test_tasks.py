import numpy as np
import pytest

from tunewright.config import TaskSection
from tunewright.evaluation.stats import STATISTICS
from tunewright.evaluation.tasks import make_task


def rows_for(task, pairs):
    out = []
    for pred_text, gold_text in pairs:
        parsed, gold = task.parse(pred_text), task.parse(gold_text)
        out.append({"parsed": parsed, "gold_parsed": gold, "parse_ok": parsed is not None, **task.item_row(parsed, gold)})
    return out


def test_classification_task_parses_scores_and_bootstraps_consistently():
    task = make_task(TaskSection(type="classification", labels=["Positive", "Negative", "Neutral"]))
    assert task.parse(" positive. ") == "Positive" and task.parse("maybe") is None
    rows = rows_for(task, [("positive", "Positive"), ("negative", "Positive"), ("neutral", "Neutral"),
                           ("gibberish", "Negative"), ("Negative", "Negative")])
    m = task.score(rows)
    assert m["accuracy"] == pytest.approx(3 / 5)
    items = np.array([task.item_vector(r) for r in rows])
    assert float(STATISTICS[task.statistic](items)) == pytest.approx(m["macro_f1"])
    assert m["confusion_matrix"][0] == [1, 1, 0]  # true Positive: one right, one called Negative


def test_classification_needs_labels():
    with pytest.raises(ValueError, match="task.labels"):
        make_task(TaskSection(type="classification"))


def test_generation_task_metrics_and_headline():
    task = make_task(TaskSection(type="generation", metric="token_f1"))
    rows = rows_for(task, [("The loan is repaid.", "loan is repaid"), ("no", "yes")])
    m = task.score(rows)
    assert m["exact_match"] == 0.5 and m["token_f1"] == 0.5 and 0 < m["rouge_l"] <= 1
    items = np.array([task.item_vector(r) for r in rows])
    assert float(STATISTICS[task.statistic](items)) == pytest.approx(m["token_f1"])
    with pytest.raises(ValueError, match="task.metric"):
        make_task(TaskSection(type="generation", metric="bleu"))


def test_extraction_rows_score_lenient_and_per_type():
    task = make_task(TaskSection(type="extraction", entity_types=["PERSON", "ORGANIZATION", "LOCATION"]))
    rows = rows_for(task, [("[bank - ORGANIZATION, Joe - PERSON]", "[Bank - ORGANIZATION, Joe - PERSON]"),
                           ("nonsense", "[Ohio - LOCATION]")])
    m = task.score(rows)
    assert m["entity_f1"] == pytest.approx(0.4) and m["entity_f1_lenient"] == pytest.approx(2 * 2 / (2 + 3))
    assert m["per_type"]["PERSON"]["f1"] == 1.0 and m["per_type"]["LOCATION"]["recall"] == 0.0


def test_stop_strings_cut_the_answer():
    from tunewright.evaluation.generate import cut_at_stop

    assert cut_at_stop("[A - PERSON]\nExplanation: ...", ["\n", "Explanation"]) == "[A - PERSON]"
    assert cut_at_stop("no stop here", ["###"]) == "no stop here"


def test_every_detail_number_has_a_statistic_that_reproduces_it():
    cases = {
        "extraction": (TaskSection(type="extraction", entity_types=["PERSON", "ORGANIZATION", "LOCATION"]), [("[bank - ORGANIZATION, Joe - PERSON]", "[Bank - ORGANIZATION, Joe - PERSON]"),
                                       ("nonsense", "[Ohio - LOCATION]"), ("No entities found", "No entities found")]),
        "classification": (TaskSection(type="classification", labels=["a", "b", "c"]),
                           [("a", "a"), ("b", "a"), ("zzz", "c"), ("c", "c")]),
        "generation": (TaskSection(type="generation"), [("the loan", "a loan"), ("x", "y")]),
    }
    for name, (cfg, pairs) in cases.items():
        task = make_task(cfg)
        rows = rows_for(task, pairs)
        scored = task.score(rows)
        stats = task.detail_statistics()
        assert set(stats) == set(task.detail_keys()), name
        for key, (stat, vector) in stats.items():
            items = np.array([vector(r) for r in rows], float)
            assert float(STATISTICS[stat](items)) == pytest.approx(scored[key]), (name, key)
