"""Training runs unchanged under ``accelerate launch``: 2 CPU processes (DDP over gloo) follow the 1-process
loss curve at the same global batch size (2 x 2 examples vs 1 x 4)."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two accelerate-launched training processes and a one-process baseline

SCRIPT = Path(__file__).resolve().parents[1] / "tiny_train.py"
COMMON = ["training.method=full", "training.learning_rate=0.003", "training.lora_dropout=0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sets(overrides):
    return [x for o in overrides for x in ("--set", o)]


def _curve(out: Path) -> tuple[list[float], dict]:
    res = json.loads((out / "result.json").read_text())
    return [row["loss"] for row in res["loss_curve"]], res


def test_two_process_ddp_matches_the_one_process_loss_curve(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    p = subprocess.run([sys.executable, str(SCRIPT), str(one), *_sets([*COMMON, "training.batch_size=4"])],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    # --multi_gpu is accelerate's name for its torchrun launcher; on a machine without CUDA it runs DDP on gloo
    p = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                        "--main_process_port", str(_free_port()), str(SCRIPT), str(two),
                        *_sets([*COMMON, "training.batch_size=2"])],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    c1, r1 = _curve(one)
    c2, r2 = _curve(two)
    assert r1["world_size"] == 1 and r2["world_size"] == 2
    assert r1["train_tokens"] == r2["train_tokens"]  # the same examples were trained, summed over processes
    assert len(c1) == len(c2) == 8
    assert c1[0] - c1[-1] > 0.3 and c2[0] - c2[-1] > 0.3  # both really learn
    assert max(abs(a - b) for a, b in zip(c1, c2)) < 0.1, (c1, c2)
    assert abs(c1[-1] - c2[-1]) < 0.05, (c1, c2)
    assert (two / "model" / "model.safetensors").is_file()  # saved once, by the main process
