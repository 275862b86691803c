"""Experiment tracking: one tiny run logs its training curve (transformers' integrations) and tunewright's own
numbers and report files into a real MLflow tracking server started on loopback, W&B in offline mode and
TensorBoard event files."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import chat, write_lines  # noqa: E402
from tiny_train import tiny_model_dir  # noqa: E402

from tunewright.config import load_config  # noqa: E402
from tunewright.pipeline import run_all  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--serve-artifacts",
         "--artifacts-destination", str(tmp_path / "mlflow-artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
        start_new_session=True)  # its own process group: the server's workers are stopped with it
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300  # a busy machine starts it slowly
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                _stop(proc)
                pytest.fail(f"mlflow server did not start (exit {proc.poll()})")
            time.sleep(0.5)
    yield url
    _stop(proc)


def _stop(proc):
    """SIGTERM to the server's own process group (it and its workers), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def test_mlflow_server_wandb_offline_and_tensorboard(tmp_path, smol_tokenizer, mlflow_server, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    data = write_lines(tmp_path / "d.jsonl", [chat(f"Which number comes after {i}?", str(i + 1)) for i in range(40)])
    model = tiny_model_dir(tmp_path, smol_tokenizer)
    cfg = load_config(None, [f"data.train_files=[{data}]", f"model.name_or_path={model}", "model.gguf_file=null",
                             f"project.runs_dir={tmp_path / 'runs'}", "project.name=tracked",
                             "audit.checks=[schema, exact_duplicate, conflicting_duplicate]", "general.enabled=false",
                             "training.max_steps=4", "training.logging_steps=1", "task.max_new_tokens=4",
                             "task.max_test_examples=6", "task.metric=exact_match",
                             "tracking.report_to=[mlflow, wandb, tensorboard]",
                             f"tracking.mlflow_tracking_uri={mlflow_server}"])
    run, headline = run_all(cfg)
    report = headline.report
    ids = json.loads((run.path / "manifest.json").read_text())["tracking"]

    # MLflow: the Trainer's loss curve and tunewright's numbers in one run, the report as artifacts
    client = MlflowClient(mlflow_server)
    r = client.get_run(ids["mlflow"])
    assert r.info.run_name == run.id and r.info.status == "FINISHED"
    assert client.get_experiment(r.info.experiment_id).name == "tracked"
    assert len(client.get_metric_history(r.info.run_id, "loss")) == 4  # logging_steps=1, 4 steps
    t = report["task"]
    assert r.data.metrics["task/exact_match/tuned"] == pytest.approx(t["tuned"])
    assert r.data.metrics["task/exact_match/change_ci_low"] == pytest.approx(t["change_ci"]["low"])
    assert r.data.metrics["audit/input_records"] == 40 and "forgetting/verdict_code" in r.data.metrics
    assert r.data.tags["tunewright.forgetting"] == report["forgetting"]["verdict"]
    arts = {a.path for a in client.list_artifacts(r.info.run_id, "tunewright")}
    assert {"tunewright/report.html", "tunewright/report.json", "tunewright/audit.json"} <= arts
    html = Path(client.download_artifacts(r.info.run_id, "tunewright/report.html", str(tmp_path / "dl")))
    assert html.read_bytes() == (run.path / "report.html").read_bytes()

    # W&B offline: one local run with the id kept in the manifest
    offline = list((run.path / "wandb").glob(f"offline-run-*-{ids['wandb']}"))
    assert offline and list(offline[0].glob("*.wandb"))

    # TensorBoard: the Trainer's events and tunewright's scalars in the run folder
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(ids["tensorboard"])
    ea.Reload()
    tags = ea.Tags()["scalars"]
    assert "train/loss" in tags and "task/exact_match/tuned" in tags
    assert ea.Scalars("task/exact_match/tuned")[0].value == pytest.approx(t["tuned"])
    assert os.environ.get("MLFLOW_RUN_ID") is None  # the training environment was restored
