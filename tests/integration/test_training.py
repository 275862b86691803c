"""Training on a tiny random-init Llama (real SmolLM2 tokenizer, real ner_finance chats, the real Trainer):
reproducibility, exact resume after SIGKILL, clean stops on SIGINT and on a non-finite loss, methods, penalties.
"""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_train import tiny_llama, train_tiny  # noqa: E402

pytestmark = pytest.mark.slow  # real Trainer runs, some killed and resumed in subprocesses: minutes on CPU

SCRIPT = Path(__file__).resolve().parents[1] / "tiny_train.py"
LONG = ["training.max_steps=12", "training.save_steps=3"]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    files = list((run_dir / "model").glob("*.safetensors"))
    assert len(files) == 1, files
    return load_file(files[0])


def _assert_bitwise_equal(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _start(out: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, str(SCRIPT), str(out)]
    for o in extra:
        args += ["--set", o] if "=" in o else [o]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_step(out: Path, step: int, proc: subprocess.Popen, timeout: float = 180):
    metrics = out / "metrics.jsonl"
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"training ended before step {step}: {proc.stdout.read()[-2000:]}")
        if metrics.exists():
            steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines() if x.strip()]
            if steps and max(steps) >= step:
                return
        time.sleep(0.01)
    raise AssertionError(f"step {step} not reached")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    proc = _start(out, *LONG)
    assert proc.wait(timeout=300) == 0, proc.stdout.read()[-2000:]
    return out


def test_same_seed_gives_bitwise_identical_weights(tmp_path):
    a = train_tiny(tmp_path / "a")
    b = train_tiny(tmp_path / "b")
    _assert_bitwise_equal(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    assert a.loss_curve == b.loss_curve
    c = train_tiny(tmp_path / "c", ["training.seed=7"])
    assert any(not torch.equal(x, y) for x, y in zip(_weights(tmp_path / "a").values(),
                                                     _weights(tmp_path / "c").values()))
    assert c.packing and c.selective_logits  # the default path is what is being checked


def test_sigkill_at_a_random_step_then_resume_gives_the_uninterrupted_weights(tmp_path, uninterrupted):
    kill_at = random.Random().randint(4, 10)  # any step after the first checkpoint (step 3)
    proc = _start(tmp_path, *LONG)
    _wait_for_step(tmp_path, kill_at, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "model").exists()
    resumed = _start(tmp_path, *LONG, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read()[-2000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["resumed_from"] and result["steps"] == 12, (kill_at, result["resumed_from"])
    _assert_bitwise_equal(_weights(tmp_path), _weights(uninterrupted))
    full = json.loads((uninterrupted / "result.json").read_text())
    assert result["train_tokens"] == full["train_tokens"]  # counters travel with the checkpoint


def test_sigint_saves_a_checkpoint_and_exits_130_then_resume_finishes(tmp_path, uninterrupted):
    proc = _start(tmp_path, *LONG)
    _wait_for_step(tmp_path, 2, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    out = proc.stdout.read()
    assert "stopped by SIGINT" in out and "--resume" in out
    ckpts = sorted((tmp_path / "checkpoints").glob("checkpoint-*/tunewright.json"))
    assert ckpts and json.loads(ckpts[-1].read_text())["reason"] == "SIGINT"
    resumed = _start(tmp_path, *LONG, "--resume")
    assert resumed.wait(timeout=300) == 0
    _assert_bitwise_equal(_weights(tmp_path), _weights(uninterrupted))


def test_a_checkpoint_cut_short_is_never_resumed_from(tmp_path):
    from tunewright.training.checkpoints import latest_checkpoint

    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-3" / "tunewright.json").write_text("{}")
    (tmp_path / "checkpoint-6").mkdir()  # killed while saving: no completion mark
    assert latest_checkpoint(tmp_path).name == "checkpoint-3"


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    proc = _start(tmp_path, "training.learning_rate=1e6", "training.save_steps=1", "training.lora_dropout=0")
    assert proc.wait(timeout=120) == 1
    out = proc.stdout.read()
    assert "became non-finite at step" in out and "Lower training.learning_rate" in out
    assert not (tmp_path / "model").exists()
    for ck in (tmp_path / "checkpoints").glob("checkpoint-*"):
        for t in load_file(ck / "adapter_model.safetensors").values():
            assert torch.isfinite(t).all()  # nothing non-finite reached a checkpoint


def test_resume_without_a_checkpoint_says_so(tmp_path):
    from tunewright.training.checkpoints import TrainingStopped

    with pytest.raises(TrainingStopped, match="no complete checkpoint"):
        train_tiny(tmp_path, resume=True)


@pytest.mark.parametrize("method", ["dora", "full"])
def test_dora_and_full_train_and_save_loadable_weights(tmp_path, method):
    res = train_tiny(tmp_path, [f"training.method={method}", "training.max_steps=3"])
    model_dir = tmp_path / "model"
    if method == "dora":
        assert json.loads((model_dir / "adapter_config.json").read_text())["use_dora"] is True
        assert 0 < res.trainable_params < res.total_params
    else:
        assert (model_dir / "model.safetensors").is_file() and res.trainable_params == res.total_params
        from transformers import AutoModelForCausalLM

        m = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True)
        assert sum(p.numel() for p in m.parameters()) == res.total_params
    assert not list(model_dir.glob("*.bin")) and not list(model_dir.glob("*.pt"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without a CUDA GPU")
def test_qlora_without_a_gpu_is_a_clear_message(tmp_path):
    from tunewright.training.methods import MethodUnavailable

    with pytest.raises(MethodUnavailable, match="needs a CUDA GPU"):
        train_tiny(tmp_path, ["training.method=qlora"])


def test_overlong_examples_are_dropped_or_cut_and_counted(tmp_path):
    cut = train_tiny(tmp_path / "cut", ["training.max_seq_tokens=80", "training.max_steps=1"])
    drop = train_tiny(tmp_path / "drop", ["training.max_seq_tokens=80", "training.max_steps=1",
                                          "training.overlong=drop"])
    assert cut.truncated_examples > 0 and drop.truncated_examples == 0
    assert drop.dropped_examples >= cut.truncated_examples
    assert drop.train_examples + drop.dropped_examples == cut.train_examples + cut.dropped_examples == 48


def test_penalties_are_zero_at_the_anchor_and_grow_with_distance(smol_tokenizer):
    from tunewright.pipeline import load_demo_config
    from tunewright.training.methods import apply_method
    from tunewright.training.mitigation import ewc_penalty, l2sp_penalty

    cfg = load_demo_config(overrides=["training.ewc_lambda=1.0", "training.ewc_samples=4", "training.method=full"])
    model = apply_method(tiny_llama(len(smol_tokenizer)), cfg.training)
    ewc, l2 = ewc_penalty(model, cfg, smol_tokenizer), l2sp_penalty(model, 1.0)
    assert float(ewc()) == 0.0 and float(l2()) == 0.0
    fisher = torch.cat([w.flatten() for w in ewc.weights.values()])
    assert fisher.min() >= 0 and abs(float(fisher.mean()) - 1) < 1e-4  # normalised to mean 1
    direction = {n: torch.randn_like(p) for n, p in ewc.params.items()}
    values = []
    for eps in (0.01, 0.02, 0.04):
        with torch.no_grad():
            for n, p in ewc.params.items():
                p.copy_(ewc.anchors[n] + eps * direction[n])
        values.append((float(ewc()), float(l2())))
    for (e1, l1), (e2, l2_) in zip(values, values[1:]):
        assert e2 == pytest.approx(4 * e1, rel=1e-3) and l2_ == pytest.approx(4 * l1, rel=1e-3)  # quadratic


def test_l2sp_and_ewc_keep_the_weights_nearer_their_start(tmp_path, smol_tokenizer):
    start = dict(tiny_llama(len(smol_tokenizer), seed=42).named_parameters())  # train_tiny's init (seed 42)

    def distance(name, overrides):
        train_tiny(tmp_path / name, ["training.method=full", "training.learning_rate=0.003", *overrides])
        w = _weights(tmp_path / name)
        return sum(float((w[n] - start[n].detach()).pow(2).sum()) for n in w)

    plain = distance("plain", [])
    l2sp = distance("l2sp", ["training.l2sp_lambda=50"])
    ewc = distance("ewc", ["training.ewc_lambda=50", "training.ewc_samples=8"])
    assert l2sp < 0.8 * plain and ewc < 0.8 * plain, (plain, l2sp, ewc)
