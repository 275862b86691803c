"""Generation that stops when the answer is done, the auto token cap, and label scoring with a shared prompt
prefix, on a tiny random-init Llama with the real SmolLM2 tokenizer."""

import math

import pytest
import torch

from tiny_train import tiny_llama
from tunewright.config import TaskSection
from tunewright.evaluation.choices import choice_logprobs, label_logprobs
from tunewright.evaluation.generate import auto_max_new_tokens, generate
from tunewright.evaluation.tasks import make_task
from tunewright.training.formats import prompt_ids


@pytest.fixture
def model(smol_tokenizer):
    m = tiny_llama(len(smol_tokenizer), seed=3)
    # an untied random head: the tied one keeps repeating the prompt's last token (a newline) under greedy decoding
    m.lm_head.weight = torch.nn.Parameter(torch.randn_like(m.lm_head.weight))
    m.eval()
    return m


def _prompts(tok):
    texts = ["Is this positive?", "A much longer sentence about a loan agreement between two banks in Paris.", "Hi"]
    return [prompt_ids(tok, [{"role": "user", "content": t}]) for t in texts]


def test_auto_max_new_tokens_is_longest_answer_times_1_25_plus_8_capped(smol_tokenizer):
    answers = ["[Acme Bank - ORGANIZATION, John Smith - PERSON]", "No entities found"]
    longest = max(len(smol_tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
    n, note = auto_max_new_tokens(smol_tokenizer, answers, cap=256)
    assert n == math.ceil(longest * 1.25) + 8 and str(longest) in note
    assert auto_max_new_tokens(smol_tokenizer, answers, cap=10)[0] == 10
    assert auto_max_new_tokens(smol_tokenizer, [], cap=256)[0] == 96


def test_auto_max_new_tokens_ignores_the_longest_percent_of_answers(smol_tokenizer):
    short = "[Acme Bank - ORGANIZATION]"
    outlier = ", ".join(f"Party {k} - ORGANIZATION" for k in range(40))
    answers = [short] * 199 + [outlier]  # the outlier is the longest 0.5%
    n_short = len(smol_tokenizer(short, add_special_tokens=False)["input_ids"])
    n, note = auto_max_new_tokens(smol_tokenizer, answers, cap=256)
    assert n == math.ceil(n_short * 1.25) + 8 and "1 answer(s) longer" in note
    # with fewer than 100 answers the 99th percentile is the longest
    n_out = len(smol_tokenizer(outlier, add_special_tokens=False)["input_ids"])
    assert auto_max_new_tokens(smol_tokenizer, [short] * 9 + [outlier], cap=1000)[0] == math.ceil(n_out * 1.25) + 8


def test_classification_answer_is_done_when_complete_or_impossible():
    task = make_task(TaskSection(type="classification", labels=["pos", "positive", "Negative"]))
    assert not task.answer_done("")
    assert not task.answer_done(" po")  # may become pos or positive
    assert not task.answer_done("pos")  # complete, but 'positive' continues it
    assert not task.answer_done("Posit")
    assert task.answer_done("positive") and task.answer_done(' "negative')  # complete, nothing continues them
    assert task.answer_done("pos.") and task.parse("pos.") == "pos"
    assert task.answer_done("The answer")  # no label starts like this: stop, it is unparseable anyway
    ex = make_task(TaskSection(type="extraction", entity_types=["PERSON", "ORGANIZATION", "LOCATION"]))
    assert not ex.answer_done("[Acme - ORGANIZATION,") and ex.answer_done("[Acme - ORGANIZATION] and more")
    assert ex.answer_done("No entities found")


def test_a_row_stops_where_its_answer_is_done_and_the_rest_keep_going(model, smol_tokenizer):
    prompts = _prompts(smol_tokenizer)
    free = generate(model, smol_tokenizer, prompts, max_new_tokens=12, batch_size=3)
    assert all(free)  # a random model rambles to the cap
    # stop row by row once 3 characters exist; greedy decoding makes each answer a prefix of the free one
    stopped = generate(model, smol_tokenizer, prompts, max_new_tokens=12, batch_size=3, done=lambda t: len(t) >= 3)
    for s, f in zip(stopped, free):
        assert f.startswith(s) or f.startswith(s.strip())
    assert sum(map(len, stopped)) < sum(map(len, free))


def test_shared_prefix_label_scores_equal_full_sequence_scores(model, smol_tokenizer):
    prompts = _prompts(smol_tokenizer)
    labels = ["positive", "negative", "pos"]
    shared = label_logprobs(model, smol_tokenizer, prompts, labels, batch_size=2)
    eos = smol_tokenizer.eos_token
    full = choice_logprobs(model, smol_tokenizer, prompts, [[lab + eos for lab in labels]] * len(prompts), 1)
    for s_row, f_row in zip(shared, full):
        assert s_row == pytest.approx([lp for lp, _ in f_row], abs=2e-3)


def test_evaluate_with_label_choices_has_no_unparseable_answers_and_says_how(model, smol_tokenizer, tmp_path):
    from tunewright.config import load_config
    from tunewright.evaluation.evaluate import evaluate_model
    from tunewright.project import create_run
    from tunewright.records import Example

    cfg = load_config(None, ["task.type=classification", "task.labels=[bank, other]", "general.enabled=false",
                             "task.decoding=choices", "evaluation.precision=fp32"])
    test = [Example(prompt=f"Sentence {i} names a bank?", completion="bank" if i % 2 else "other") for i in range(6)]
    run = create_run(tmp_path, "decoding", {}, {})
    m = evaluate_model(cfg, run, "base", model, smol_tokenizer, test, [])
    assert m["decoding"]["mode"] == "choices" and m["task"]["unparseable"] == 0 and m["task"]["n"] == 6
    assert m["precision"]["used"] == "fp32" and run.manifest()["evaluation"]["base"]["decoding"]["mode"] == "choices"
    gen = load_config(None, ["task.type=classification", "task.labels=[bank, other]", "general.enabled=false",
                             "evaluation.precision=fp32"])
    m = evaluate_model(gen, run, "tuned", model, smol_tokenizer, test, [], train=test)
    d = m["decoding"]
    assert d["mode"] == "generate" and d["stops_at"].startswith("answer complete") and d["max_new_tokens"] >= 9
