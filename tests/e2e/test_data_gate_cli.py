"""The data gate from the command line: 'data audit' prints its findings and exits 1 on a failed gate,
'run' stops before any model work and says why, 'data curate' writes JSONL and Parquet. The checks here
leave out token_length, so no model is loaded."""

import json
import re
import sys
from pathlib import Path

from helpers import chat, write_lines
from test_cli_stages import tw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_train import tiny_model_dir  # noqa: E402

CHECKS = "audit.checks=[schema, format, exact_duplicate, conflicting_duplicate, normalization, quality, pii]"


def _data(tmp_path):
    rows = [chat(f"question number {i} about the loan", f"answer {i}") for i in range(40)]
    rows += [chat("what is the rate?", "five"), chat("what is the rate?", "six")]  # a conflict: 2 of 42 > 2%
    rows += [chat("mail me at a.b@example.com", "sure")]
    return write_lines(tmp_path / "d.jsonl", rows)


def test_run_stops_on_a_failed_data_gate_and_says_why(tmp_path):
    f = _data(tmp_path)
    p = tw("run", "--set", f"data.train_files=[{f}]", "--set", CHECKS, "--runs-dir", tmp_path / "runs",
           cwd=tmp_path, check=False)
    assert p.returncode == 1, p.stderr
    assert "data audit gate failed" in p.stderr and "conflicting_duplicate: 2 records" in p.stderr
    assert "--force" in p.stderr


def test_failed_gate_says_what_to_do_and_force_continues_from_that_audit(tmp_path, smol_tokenizer):
    f = _data(tmp_path)
    model = tiny_model_dir(tmp_path, smol_tokenizer)
    small = [f"data.train_files=[{f}]", CHECKS, f"model.name_or_path={model}", "model.gguf_file=null",
             "training.max_steps=2", "task.max_test_examples=4", "task.max_new_tokens=8",
             "general.perplexity_paragraphs=2", "general.mmlu_questions=4"]
    sets = [x for s in small for x in ("--set", s)]
    p = tw("run", *sets, "--runs-dir", tmp_path / "runs", cwd=tmp_path, check=False)
    assert p.returncode == 1, p.stderr
    err = " ".join(p.stderr.split())
    # which records, where the quarantine is, how to fix them, which threshold to raise, how to go on
    assert "relabel those records so they agree" in err and f"{f}:41, {f}:42" in err
    assert "quarantine.jsonl" in err and "--set audit.gate.fail.conflicting_duplicate=0.047" in err
    run = Path(re.search(r"tunewright run --run (\S+) --force", err).group(1))
    audit_json = (run / "data" / "audit.json").stat().st_mtime_ns
    audit_time = json.loads((run / "manifest.json").read_text())["timings"]["audit"]

    p = tw("run", "--run", run, "--force", cwd=tmp_path, check=False)
    assert p.returncode in (0, 1), p.stderr  # 1 only if the forgetting gate fails on the random model
    assert "data gate FAILED, run went on because of --force" in p.stdout
    m = json.loads((run / "manifest.json").read_text())
    assert m["audit"]["gate"]["forced"] is True and (run / "report.json").exists()
    assert m["timings"]["audit"] == audit_time and (run / "data" / "audit.json").stat().st_mtime_ns == audit_json
    assert len([d for d in (tmp_path / "runs").iterdir() if d.is_dir()]) == 1  # the same run, not a new one


def test_audit_prints_findings_then_fails_and_curate_writes_parquet(tmp_path):
    f = _data(tmp_path)
    p = tw("data", "audit", "--set", f"data.train_files=[{f}]", "--set", CHECKS, "--runs-dir", tmp_path / "runs",
           "--workers", "2", cwd=tmp_path, check=False)
    assert p.returncode == 1
    assert "conflicting_duplicate: 2" in p.stdout and "pii_email: 1" in p.stdout and "FAIL" in p.stdout
    p = tw("data", "curate", "--set", f"data.train_files=[{f}]", "--set", CHECKS, "--set", "audit.gate.fail={}",
           "--set", "audit.pii.redact_in_curate=true", "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    run = next(d for d in sorted((tmp_path / "runs").iterdir()) if (d / "data" / "curated.parquet").exists())
    curated = [json.loads(x) for x in (run / "data" / "curated.jsonl").read_text().splitlines()]
    assert len(curated) == 41 and any("<EMAIL>" in r["messages"][0]["content"] for r in curated)
    assert (run / "data" / "audit.html").exists() and "pii_redacted" in p.stdout


def test_audit_takes_files_as_arguments_and_a_bad_line_costs_that_line(tmp_path):
    rows = [chat(f"question number {i} about the loan", f"answer {i}") for i in range(20)]
    f = write_lines(tmp_path / "export.jsonl", [*rows[:10], b'{"messages": [\x00]}', "[" * 5000, *rows[10:]])
    p = tw("data", "audit", "export.jsonl", "--set", CHECKS, "--runs-dir", tmp_path / "runs", cwd=tmp_path,
           check=False)
    assert p.returncode == 0, p.stderr
    assert "input records 22, used 20, quarantined 2" in p.stdout
    assert "nul_byte: 1" in p.stdout and "too_deep: 1" in p.stdout and "Traceback" not in p.stderr
    run = next(d for d in (tmp_path / "runs").iterdir() if (d / "data").is_dir())
    q = [json.loads(x) for x in (run / "data" / "quarantine.jsonl").read_text().splitlines()]
    assert sorted(r["source"] for r in q) == ["export.jsonl:11", "export.jsonl:12"]
    assert f.exists()
