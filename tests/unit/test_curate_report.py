"""Curation (normalize, redact, superseded; JSONL = Parquet), the process pool, flag-vs-drop, and the
escaped audit page."""

import json

from helpers import chat, write_lines
from tunewright.config import load_config
from tunewright.data.audit import audit_data
from tunewright.data.checks import CheckContext
from tunewright.data.curate import curate_data, read_parquet
from tunewright.data.parallel import run_all_checks
from tunewright.records import Example, read_examples
from tunewright.reporting.audit_section import write_audit_html


def test_curate_repairs_redacts_and_replaces(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [
        chat("Contact jane@corp.com about the caf\u00c3\u00a9 loan", "Rate is LIBOR plus 2%."),
        chat("<p>What is the term?</p>", "Five years."),
        chat("Plain question here", "Plain answer."),
    ])
    cfg = load_config(None, [f"data.train_files=[{f}]", "data.system_prompt=null", "audit.pii.redact_in_curate=true",
                             "audit.outdated=[{name: libor, superseded: {LIBOR: SOFR}}]", "audit.min_usable_fraction=0",
                             "audit.gate.warn={}"])
    res = curate_data(cfg, tmp_path / "out")
    s = res.audit.summary
    # normalization, PII and outdated content are flags: the examples stay, curate repairs them
    assert s["used"] == 3 and s["quarantined"] == 0 and s["flagged_kept"] == 2
    assert s["reasons"] == {"mojibake": 1, "pii_email": 1, "outdated:libor": 1, "html_markup": 1}
    assert res.changes == {"normalized": 2, "pii_redacted": 1, "superseded_replaced": 1}
    got = [ex.to_chat() for ex in read_examples(tmp_path / "out" / "curated.jsonl")]
    assert got[0][0]["content"] == "Contact <EMAIL> about the caf\u00e9 loan"
    assert got[0][1]["content"] == "Rate is SOFR plus 2%."
    assert got[1][0]["content"] == "What is the term?" and got[2][0]["content"] == "Plain question here"
    assert [e.to_json() for e in read_parquet(tmp_path / "out" / "curated.parquet")] == \
        [e.to_json() for e in read_examples(tmp_path / "out" / "curated.jsonl")]
    q = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert {r["action"] for r in q} == {"flagged"}
    pii = [r for r in q if "pii_email" in r["reasons"]][0]
    assert pii["spans"][0]["reason"] == "pii_email" and pii["spans"][0]["start"] == 8


def test_drop_reasons_override_keep_reasons(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [chat("Mail bob@x.org now", "Done."), chat("Hello there", "Hi.")])
    cfg = load_config(None, [f"data.train_files=[{f}]", "audit.drop_reasons=[pii_*]", "audit.min_usable_fraction=0",
                             "audit.gate.warn={}"])
    s = audit_data(cfg, tmp_path / "out").summary
    assert s["used"] == 1 and s["dropped_reasons"] == {"pii_email": 1}


def test_process_pool_gives_the_same_verdicts(tmp_path):
    texts = ["Mail a@b.com", "plain", "<b>x</b>", "As an AI language model, I cannot", "ok ok ok ok " * 10]
    examples = [Example(prompt=f"{texts[i % 5]} #{i % 350}", completion=f"answer {texts[(i * 3) % 5]}")
                for i in range(400)]
    # pooled checks (forked workers) and in-process ones (duplicates), which run at the same time
    names = ["normalization", "exact_duplicate", "quality", "conflicting_duplicate", "pii"]
    ctx = CheckContext()
    serial, _ = run_all_checks(examples, ctx, names, workers=1)
    pooled, secs = run_all_checks(examples, ctx, names, workers=2, min_parallel=10)
    key = lambda v: (v.index, v.reason, v.detail)  # noqa: E731
    assert "per_example_checks_pool" in secs and len(serial) > 100
    assert {v.reason for v in serial} >= {"exact_duplicate", "pii_email"}
    assert list(map(key, pooled)) == list(map(key, serial))  # the same verdicts in the same order


def test_token_length_in_the_pool_gives_the_same_lengths(smol_tokenizer):
    """token_length runs in the forked workers with the real (Rust) tokenizer, after this process has used its
    thread pool: the same verdicts and the same lengths come back, and nothing hangs."""
    long = "clause " * 300
    examples = [Example(prompt=f"{'Mail a@b.com' if i % 7 == 0 else 'plain'} {long if i % 11 == 0 else ''} #{i}",
                        completion="ok") for i in range(300)]
    names = ["pii", "token_length"]
    results = []
    for workers in (1, 2):
        ctx = CheckContext(tokenizer=smol_tokenizer, max_seq_tokens=256)
        smol_tokenizer.backend_tokenizer.encode_batch(["warm the thread pool"] * 64)  # the parent has used it
        got, secs = run_all_checks(examples, ctx, names, workers=workers, min_parallel=10)
        results.append(([(v.index, v.reason, v.detail) for v in got], ctx.token_lengths.array(len(examples))))
    (serial, serial_len), (pooled, pooled_len) = results
    assert {r for _, r, _ in serial} == {"pii_email", "too_long"}
    assert pooled == serial and (pooled_len == serial_len).all() and (serial_len > 0).all()


def test_audit_page_escapes_untrusted_text(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [chat("<script>alert(1)</script> hi", "x"), chat("<script>alert(1)</script> hi", "x"),
                                           chat("fine question", "fine")])
    cfg = load_config(None, [f"data.train_files=[{f}]", "audit.min_usable_fraction=0"])
    audit_data(cfg, tmp_path / "out")
    page = write_audit_html(tmp_path / "out").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "exact_duplicate" in page


def test_gate_stops_the_stage_unless_forced(tmp_path):
    import pytest

    from tunewright.pipeline import GateFailed, new_run, stage_audit

    rows = [chat(f"question {i} about the loan", f"answer {i}") for i in range(20)]
    f = write_lines(tmp_path / "d.jsonl", rows + [chat("rate?", "five"), chat("rate?", "six")])
    cfg = load_config(None, [f"data.train_files=[{f}]", f"project.runs_dir={tmp_path / 'runs'}",
                             "audit.checks=[schema, exact_duplicate, conflicting_duplicate]"])
    with pytest.raises(GateFailed, match=r"conflicting_duplicate: 2 records \(9.1%\) > 2.0%"):
        stage_audit(cfg, new_run(cfg))
    run = new_run(cfg)
    res = stage_audit(cfg, run, force=True)
    assert not res.passed and run.manifest()["audit"]["gate"]["forced"]


def test_audit_page_shows_clusters_side_by_side(tmp_path):
    from tunewright.project import write_json
    from tunewright.reporting.audit_section import build_audit_section, render_audit_html

    out = tmp_path / "data"
    out.mkdir()
    write_json(out / "audit.json", {"input_records": 3, "used": 1, "quarantined": 2, "reasons": {"near_duplicate": 2},
                                    "gate": {"verdict": "warn", "passed": True, "failures": [], "warnings": []}})
    rows = [{"source": f"d.jsonl:{k}", "action": "dropped", "reasons": ["near_duplicate"], "details": ["close"],
             "clusters": [7], "example": chat(f"the same clause <{k}>", "x")} for k in (2, 3)]
    (out / "quarantine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    section = build_audit_section(out)
    assert section["clusters"] == [{"id": 7, "members": [
        {"source": "d.jsonl:2", "reasons": ["near_duplicate"], "text": "user: the same clause <2> | assistant: x"},
        {"source": "d.jsonl:3", "reasons": ["near_duplicate"], "text": "user: the same clause <3> | assistant: x"}]}]
    page = "".join(render_audit_html(section))
    assert "Near-duplicate cluster 7" in page and "the same clause <mark>&lt;3&gt;</mark>" in page


def test_audit_page_marks_the_edited_words_of_near_duplicate_pairs(tmp_path):
    from tunewright.project import write_json
    from tunewright.reporting.audit_section import build_audit_section, render_audit_html

    out = tmp_path / "data"
    out.mkdir()
    members = [{"source": "d.jsonl:1", "input": "the borrower shall repay the loan on the maturity date"},
               {"source": "d.jsonl:9", "input": "the borrower must repay the <b>loan</b> on the maturity date"}]
    write_json(out / "audit.json", {"input_records": 2, "used": 1, "quarantined": 1, "reasons": {"near_duplicate": 1},
                                    "near_duplicates": {"sample_clusters": [{"kept": "d.jsonl:1", "members": members}]},
                                    "gate": {"verdict": "pass", "passed": True, "failures": [], "warnings": []}})
    page = "".join(render_audit_html(build_audit_section(out)))
    assert "Near-duplicates of d.jsonl:1" in page and "d.jsonl:1</b> (kept)" in page
    assert "the borrower <mark>shall</mark> repay the <mark>loan</mark> on" in page  # the kept side
    assert "the borrower <mark>must</mark> repay the <mark>&lt;b&gt;loan&lt;/b&gt;</mark> on" in page  # escaped
