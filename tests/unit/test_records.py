import json

import pytest

from helpers import chat, write_lines
from tunewright.records import NoUsableRecords, read_files


def test_chat_evals_and_prompt_completion_formats(tmp_path):
    f = write_lines(tmp_path / "a.jsonl", [
        chat("hi", "hello", system="be brief"),
        {"input": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], "ideal": "[A - PERSON]"},
        {"input": [{"role": "user", "content": "q2"}], "ideal": ["first", "second"]},
        {"prompt": "p", "completion": "c"},
    ])
    r = read_files([f])
    assert r.input_records == 4 and not r.rejected
    ex = r.examples
    assert ex[0].messages[-1] == {"role": "assistant", "content": "hello"}
    assert ex[1].answer() == "[A - PERSON]" and ex[1].source == f"{f}:2"
    assert ex[2].answer() == "first" and ex[2].meta["alternatives"] == ["second"]
    assert ex[3].to_chat("sys") == [{"role": "system", "content": "sys"}, {"role": "user", "content": "p"},
                                    {"role": "assistant", "content": "c"}]
    assert len({e.id for e in ex}) == 4


def test_malformed_lines_are_all_accounted_for(tmp_path):
    f = write_lines(tmp_path / "bad.jsonl", [
        chat("ok", "fine"),                              # 1 good
        '{"messages": [',                                # 2 bad JSON
        json.dumps({"prompt": "only prompt"}),           # 3 missing field
        json.dumps({"prompt": 3, "completion": "x"}),    # 4 wrong type
        b'{"prompt": "caf\xe9", "completion": "x"}',     # 5 invalid UTF-8
        "",                                              # 6 empty line in the middle
        json.dumps({"messages": [{"role": "user", "content": "no answer"}]}),  # 7 no assistant answer
        json.dumps({"messages": [{"role": "robot", "content": "x"}]}),         # 8 bad role
        json.dumps([1, 2]),                              # 9 not an object
        chat("ok2", "fine2"),                            # 10 good
    ])
    r = read_files([f])
    assert r.input_records == 10
    assert len(r.examples) == 2
    got = {int(x.source.rsplit(":", 1)[1]): x for x in r.rejected}
    assert sorted(got) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert got[2].reason == "bad_json"
    assert "missing field 'completion'" in got[3].detail
    assert "field 'prompt' must be a string" in got[4].detail
    assert got[5].reason == "invalid_utf8"
    assert got[6].reason == "empty_line"
    assert "last message must be the assistant" in got[7].detail
    assert "role must be one of" in got[8].detail
    assert got[9].reason == "bad_record"
    assert all(x.source.startswith(str(f)) for x in r.rejected)


def test_file_without_usable_record_is_an_error_with_reasons(tmp_path):
    f = write_lines(tmp_path / "none.jsonl", ["not json", json.dumps({"x": 1})])
    with pytest.raises(NoUsableRecords) as e:
        read_files([f])
    msg = str(e.value)
    assert f"{f}: no usable record" in msg and f"{f}:1: bad_json" in msg and f"{f}:2: bad_record" in msg


def test_empty_file_is_an_error(tmp_path):
    f = tmp_path / "empty.jsonl"
    f.write_text("")
    with pytest.raises(NoUsableRecords, match="file is empty"):
        read_files([f])


def test_csv_reader_keeps_lines_and_rejects_bad_rows(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text('prompt,completion,source_id\n"multi\nline prompt",answer one,7\nshort row\n,,\nq,a,9\n', encoding="utf-8")
    r = read_files([f])
    assert [e.source for e in r.examples] == [f"{f}:3", f"{f}:6"]
    assert r.examples[0].prompt == "multi\nline prompt" and r.examples[0].meta == {"source_id": "7"}
    assert [x.source for x in r.rejected] == [f"{f}:4", f"{f}:5"]
    assert r.input_records == 4


def test_csv_missing_column_names_it(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("question,answer\nq,a\n")
    with pytest.raises(NoUsableRecords, match="missing column 'prompt'"):
        read_files([f])


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_files([tmp_path / "nope.jsonl"])
