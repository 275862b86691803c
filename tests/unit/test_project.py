import json

import pytest

from tunewright.project import atomic_write_bytes, atomic_write_text, create_run, list_runs


def test_runs_never_overwrite_and_are_registered(tmp_path):
    a = create_run(tmp_path, "p", {"x": 1}, {"training": 1})
    b = create_run(tmp_path, "p", {"x": 1}, {"training": 1})
    assert a.path != b.path
    m = a.manifest()
    assert m["config"] == {"x": 1} and m["seeds"] == {"training": 1} and "torch" in m["packages"]
    assert {r["run_id"] for r in list_runs(tmp_path)} == {a.id, b.id}


def test_stage_records_timing_and_failure(tmp_path):
    run = create_run(tmp_path, "p", {}, {})
    with run.stage("ok"):
        pass
    with pytest.raises(ValueError):
        with run.stage("bad"):
            raise ValueError("boom")
    m = run.manifest()
    assert set(m["timings"]) == {"ok", "bad"} and m["status"] == "failed:bad" and "boom" in m["error"]


def test_atomic_write_leaves_no_partial_file(tmp_path):
    p = tmp_path / "f.json"
    atomic_write_text(p, json.dumps({"a": 1}))

    with pytest.raises(TypeError):  # fails inside the write, after the temporary file exists
        atomic_write_bytes(p, object())  # type: ignore[arg-type]
    assert json.loads(p.read_text()) == {"a": 1}
    assert [x.name for x in tmp_path.iterdir()] == ["f.json"]
