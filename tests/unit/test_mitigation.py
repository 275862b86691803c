import json

import pytest

from tunewright.config import ConfigError, load_config
from tunewright.evaluation.suites import load_general_paragraphs
from tunewright.training.mitigation import load_replay_texts, replay_rows


def _general(tmp_path, name, n):
    f = tmp_path / name
    f.write_text("".join(json.dumps({"0": f"{name} paragraph {i}", "1": "shuffled"}) + "\n" for i in range(1, n + 1)))
    return str(f)


def test_replay_never_overlaps_the_evaluation_text(tmp_path, toy_tokenizer):
    a, b = _general(tmp_path, "a.jsonl", 10), _general(tmp_path, "b.jsonl", 10)
    cfg = load_config(None, [f"general.text_files=[{a}, {b}]", "general.reserved_eval_lines=4",
                             "general.perplexity_paragraphs=4", "training.replay_fraction=0.5"])
    evaluated = {p["text"] for p in load_general_paragraphs(cfg.general)}
    replay = load_replay_texts(cfg, 100)
    assert len(evaluated) == 8 and len(replay) == 12  # 6 lines left in each file
    assert not evaluated & set(replay)
    assert all(int(t.rsplit(" ", 1)[1]) > 4 for t in replay)
    rows = replay_rows(cfg, toy_tokenizer, n_domain=6)
    assert len(rows) == 6 and all(r["labels"] == r["input_ids"] for r in rows)  # 50% of all rows


def test_replay_off_by_default(toy_tokenizer):
    assert replay_rows(load_config(None), toy_tokenizer, 100) == []


def test_evaluation_cannot_reach_into_replay_lines():
    with pytest.raises(ConfigError, match="reserved_eval_lines"):
        load_config(None, ["general.perplexity_paragraphs=300"])


def test_user_general_task_errors_name_file_and_line(tmp_path):
    from tunewright.config import GeneralTaskSpec
    from tunewright.evaluation.suites import load_user_task

    f = tmp_path / "t.jsonl"
    f.write_text('{"question": "q", "choices": ["a", "b"], "answer": "a"}\n{"question": "q", "choices": ["a"]}\n')
    spec = GeneralTaskSpec(name="t", file=str(f))
    with pytest.raises(ValueError, match=f"{f}:2: needs 'question'"):
        load_user_task(spec, lambda p: p)
    f.write_text('{"question": "q", "choices": ["a", "b"], "answer": "c"}\n')
    with pytest.raises(ValueError, match="field 'answer' must be a choice"):
        load_user_task(spec, lambda p: p)
    with pytest.raises(ConfigError, match="names must be unique"):
        load_config(None, [f"general.tasks=[{{name: mmlu, file: {f}}}]"])
