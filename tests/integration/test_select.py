"""`tunewright select` end to end on two random-init Llamas of two sizes (real tokenizer, real ner_finance
records): every candidate is a sub-run of one parent on its audited data and split, with its own zero-shot base,
its own learning-rate search on validation whose weights the final sub-run reuses, forgetting, serving measured
here and priced on three GPUs, screening, the verdict, the report section; a second call through the CLI reuses
everything."""

from __future__ import annotations

import json

import pytest

from tunewright.pipeline import load_demo_config, new_run, stage_select
from tunewright.project import read_json
from tiny_train import tiny_study_overrides

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bigger_model_dir(tmp_path_factory, smol_tokenizer):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from tiny_train import tiny_llama

    d = tmp_path_factory.mktemp("tiny-llama-big")
    tiny_llama(len(smol_tokenizer), seed=1, hidden=64, layers=3).save_pretrained(d, safe_serialization=True)
    smol_tokenizer.save_pretrained(d)
    return d


def _cfg(tmp_path, small, big):
    cands = [{"name": "small", "model": str(small)},
             {"name": "big", "model": str(big), "note": "<b>not bold</b>", "chat_template": "chatml"}]
    return load_demo_config(False, [
        *tiny_study_overrides(small, tmp_path / "runs"),
        f"selection.candidates={json.dumps(cands)}",
        "selection.budget.space={training.learning_rate: {choices: [0.001, 0.01]}}",
        "selection.budget.max_validation_examples=6",
        "selection.serving.measure={prompts: 2, new_tokens: 3, batch: 2, rounds: 1}",
        "selection.serving.gpus=[L4, A100-80GB, H100]",
        "selection.screening={enabled: true, fractions: [0.25, 0.5, 0.75], margin: 1.0}",  # measured, drops none
    ])


def test_select_end_to_end_and_reuse(tmp_path, tiny_model_dir, bigger_model_dir):
    from typer.testing import CliRunner

    from tunewright.cli import app
    from tunewright.studies.verdict import Paired, Point, recommend

    cfg = _cfg(tmp_path, tiny_model_dir, bigger_model_dir)
    run = new_run(cfg)
    out = stage_select(cfg, run, force=True, progress=False)
    res = read_json(run.path / "select" / "selection.json")
    assert set(res["candidates"]) == {"small", "big"} and res["dropped"] == {}
    pm = run.manifest()
    test_ids = {json.loads(x)["id"] for x in open(run.data_dir / "test.jsonl")}
    val_ids = {json.loads(x)["id"] for x in open(run.data_dir / "validation.jsonl")}
    assert not (run.eval_dir / "base").exists()  # the parent's model was never evaluated: each base is the candidate's
    ids = {}
    for name, c in res["candidates"].items():
        final = run.path / "select" / name / "final"
        m = read_json(final / "manifest.json")
        assert m["parent"] == run.id and m["status"] == "done" and m["want"]["own_base"]
        assert m["data_hashes"] == pm["data_hashes"] and m["split"] == pm["split"]
        assert m["config"]["model"]["name_or_path"] == c["model"]
        for which in ("base", "tuned"):
            rows = [json.loads(x) for x in open(final / "eval" / which / "predictions.jsonl")]
            assert len(rows) == 8 and {r["id"] for r in rows} <= test_ids
            ids.setdefault(which, []).append([r["id"] for r in rows])
            assert (final / "eval" / which / "general_mmlu.jsonl").exists()  # forgetting measured on both
        t = c["task"]
        assert t["tuned"]["low"] <= t["tuned"]["value"] <= t["tuned"]["high"] and t["n"] == 8
        assert c["forgetting"]["verdict"] in ("pass", "warn", "fail") and c["forgetting"]["tasks"]
        # the fair budget: two learning rates on validation, the chosen one's weights reused for the final run
        trials = c["search"]["trials"]
        assert sorted(tr["searched"][0] for tr in trials) == ["training.learning_rate=0.001",
                                                              "training.learning_rate=0.01"]
        assert c["chosen"] in [tr["searched"] for tr in trials] and c["chosen"][0] in m["want"]["overrides"]
        assert c["training"]["reused_search_weights"]
        chosen = next(tr for tr in trials if tr["searched"] == c["chosen"])
        trial_dir = run.path / "select" / name / "search" / f"trial-{chosen['number']:03d}"
        rows = [json.loads(x) for x in open(trial_dir / "eval" / "tuned" / "predictions.jsonl")]
        assert rows and {r["id"] for r in rows} <= val_ids  # chosen on validation, never on test
        assert (trial_dir / "model" / "adapter_model.safetensors").read_bytes() == \
            (final / "model" / "adapter_model.safetensors").read_bytes()
        assert c["training"]["usd_at_gpu"] > 0 and c["training"]["gpu"] == "H100"
        # serving: measured here, estimated on three GPUs
        ms = c["serving"]["measured"]
        assert ms["new_tokens"] == 3 and ms["batch"] == 2 and ms["batch1_tokens_per_second"] > 0
        assert ms["batch1_latency_p50_s"] <= ms["batch1_latency_p95_s"] and ms["peak_memory_bytes"] > 0
        assert set(c["serving"]["gpus"]) == {"L4", "A100-80GB", "H100"}
        for est in c["serving"]["gpus"].values():
            assert est["batched_tokens_per_second"] > est["stream_tokens_per_second"] > 0
            assert est["unmerged_usd_per_million_tokens"]["expected"] > est["usd_per_million_tokens"]["expected"]
        sizes = res["screening"]["predictions"][name]["sizes"]
        assert len(sizes) == 3 and sizes == sorted(sizes) and len(list((run.path / "select" / name / "screen").glob(
            "*/eval/tuned/predictions.jsonl"))) == 3
    assert ids["base"][0] == ids["base"][1] and ids["tuned"][0] == ids["tuned"][1]  # the same test items
    small, big = res["candidates"]["small"], res["candidates"]["big"]
    assert big["params"] > small["params"]
    assert big["serving"]["gpus"]["H100"]["weight_bytes"] > small["serving"]["gpus"]["H100"]["weight_bytes"]
    assert "median over candidates" in res["serving_assumptions"]["utilization_source"]
    # the verdict follows its rule on the stored numbers
    v = res["verdict"]
    other = next(n for n in res["candidates"] if n != v["best"])
    vb = res["candidates"][other]["vs_best"]
    assert vb["best"] == v["best"] and vb["n"] == 8
    points = [Point(n, c["task"]["tuned"]["value"], c["serving"]["usd_per_month"],
                    c["serving"]["usd_per_million_tokens"], c["serving"]["measured"]["peak_memory_bytes"])
              for n, c in res["candidates"].items()]
    ch = vb["change_ci"]
    again = recommend(points, {other: Paired(ch["value"], ch["low"], ch["high"], vb["n"])}, small["task"]["metric"])
    assert again.recommended == v["recommended"] == out.recommended and again.sentence == v["sentence"]
    assert "Recommended: " + v["recommended"] in out.sentence
    # the report page: escaped, with the plot
    page = (run.path / "select" / "selection.html").read_text()
    assert "Base-model selection" in page and "selection Pareto plot" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold</b>" not in page

    # the full report carries the section when the run has one (a toy run with this selection copied in)
    import shutil
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
    from test_report_artifacts import make_run

    from tunewright.reporting.report import write_report

    toy = make_run(tmp_path / "toy")
    shutil.copytree(run.path / "select", toy.path / "select")
    report = write_report(toy)
    assert report["selection"]["verdict"]["recommended"] == v["recommended"]
    html = (toy.path / "report.html").read_text()
    assert "Base-model selection" in html and "&lt;b&gt;not bold&lt;/b&gt;" in html and "<b>not bold</b>" not in html

    # a second call, through the CLI: every sub-run and measurement is reused
    before = {str(p): p.stat().st_mtime for p in (run.path / "select").rglob("train_result.json")}
    assert len(before) == 2 * (2 + 1 + 3)  # per candidate: 2 trials, the final run, 3 screening subsets
    r = CliRunner().invoke(app, ["select", "--run", str(run.path)], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "Recommended:" in r.output and "Pareto set" in r.output
    after = {str(p): p.stat().st_mtime for p in (run.path / "select").rglob("train_result.json")}
    assert before == after
