"""The one reader of plain JSONL files: a torn last line is skipped where the caller allows it; any other bad
line is an error naming file:line."""

import pytest

from tunewright.jsonl import JsonlError, iter_jsonl, read_jsonl
from tunewright.project import Run


def test_reads_values_with_line_numbers_skipping_blank_lines(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n[2]\n"three"\n', encoding="utf-8")
    assert list(iter_jsonl(p)) == [(1, {"a": 1}), (3, [2]), (4, "three")]
    assert read_jsonl(p) == [{"a": 1}, [2], "three"]


def test_a_torn_last_line_is_skipped_only_when_tolerated(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"st', encoding="utf-8")  # killed in the middle of an append
    assert read_jsonl(p, tolerate_torn_last_line=True) == [{"step": 1}, {"step": 2}]
    with pytest.raises(JsonlError, match=r"log.jsonl:3: not valid JSON"):
        read_jsonl(p)


def test_a_bad_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path):
    p = tmp_path / "mid.jsonl"
    p.write_text('{"a": 1}\n{"a": \n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"mid.jsonl:2: not valid JSON \(column"):
        read_jsonl(p, tolerate_torn_last_line=True)
    # a complete (newline-terminated) bad last line is not torn: it is an error too
    q = tmp_path / "end.jsonl"
    q.write_text('{"a": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"shown.jsonl:2"):
        read_jsonl(q, tolerate_torn_last_line=True, display="shown.jsonl")


def test_reading_stops_early_without_parsing_the_rest(tmp_path):
    p = tmp_path / "head.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\nbroken\n', encoding="utf-8")
    assert [rec for _, rec in iter_jsonl(p, max_lines=2)] == [{"a": 1}, {"a": 2}]
    first = next(iter_jsonl(p))  # a lazy reader: the bad line 3 is not reached
    assert first == (1, {"a": 1})


def test_log_metric_cuts_a_torn_tail_before_appending(tmp_path):
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.log_metric({"step": 1})
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        f.write('{"step": 2, "lo')  # the process was killed here; a resumed run appends next
    run.log_metric({"step": 3})
    assert read_jsonl(run.metrics_path) == [{"step": 1}, {"step": 3}]
    run.metrics_path.write_text('{"torn', encoding="utf-8")  # nothing but a torn line
    run.log_metric({"step": 4})
    assert read_jsonl(run.metrics_path) == [{"step": 4}]
