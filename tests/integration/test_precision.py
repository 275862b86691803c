"""bf16 on a real (tiny, random-init) Llama with the real SmolLM2 tokenizer: the self-check's parity numbers, the
fall back to exact fp32 weights when the check fails, the hardware gate of 'auto', bf16 LoRA training (frozen
base in bf16, adapters in fp32) and the warmup schedule."""

import pytest
import torch

from tiny_train import tiny_examples, tiny_llama, train_tiny
from tunewright import precision as P
from tunewright.config import load_config
from tunewright.training.formats import encode_examples


@pytest.fixture
def rows(smol_tokenizer):
    cfg = load_config(None)
    chats = [ex.to_chat(cfg.data.system_prompt) for ex in tiny_examples(4)]
    return encode_examples(smol_tokenizer, chats, 256).rows


@pytest.fixture
def fast_cpu(monkeypatch):
    """Run 'auto' as on a CPU with AMX (the test machine may have none); the check itself runs for real."""
    monkeypatch.setattr(P, "cpu_flags", lambda: {"amx_bf16", "avx512f"})


def test_bf16_logits_and_loss_match_fp32_within_tolerance(rows, smol_tokenizer):
    model = tiny_llama(len(smol_tokenizer))
    check = P.bf16_check(model, rows, tolerance=0.05)
    assert check["passed"] and check["examples"] == 4 and check["positions"] > 20
    assert check["loss_rel_diff"] < 0.01 and check["logits_rel_rms"] < 0.05
    assert check["top1_agreement"] > 0.9
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())  # left in bf16 once it passed


def test_auto_falls_back_to_the_exact_fp32_weights_when_the_check_fails(rows, smol_tokenizer, fast_cpu):
    model = tiny_llama(len(smol_tokenizer))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d = P.choose_precision("auto", model, rows, tolerance=1e-9)  # no bf16 model is this close
    assert d.used == "fp32" and "self-check failed" in d.reason and d.check["passed"] is False
    after = model.state_dict()
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], v) for k, v in before.items())


def test_auto_uses_bf16_only_with_fast_units_and_a_passing_check(rows, smol_tokenizer, fast_cpu, monkeypatch):
    model = tiny_llama(len(smol_tokenizer))
    d = P.choose_precision("auto", model, rows, tolerance=0.05)
    assert d.used == "bf16" and "amx_bf16" in d.reason and d.check["passed"]
    monkeypatch.setattr(P, "cpu_flags", lambda: {"avx2"})
    model = tiny_llama(len(smol_tokenizer))
    d = P.choose_precision("auto", model, rows, tolerance=0.05)
    assert d.used == "fp32" and "no fast bf16" in d.reason and d.check is None
    assert next(model.parameters()).dtype == torch.float32


def test_cpu_flags_are_read_from_cpuinfo(tmp_path, monkeypatch):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    monkeypatch.setattr(P, "CPUINFO", f)
    assert P.fast_bf16(torch.device("cpu")) == (True, "CPU flags avx512_bf16")
    f.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert P.fast_bf16(torch.device("cpu"))[0] is False


def test_bf16_lora_training_keeps_adapters_fp32_and_tracks_fp32(tmp_path, fast_cpu):
    over = ["training.max_steps=3", "training.lora_dropout=0.0"]
    fp32 = train_tiny(tmp_path / "fp32", [*over, "training.precision=fp32"])
    bf16 = train_tiny(tmp_path / "bf16", [*over, "training.precision=auto"])
    assert fp32.precision["used"] == "fp32" and bf16.precision["used"] == "bf16"
    assert bf16.precision["check"]["passed"]
    for a, b in zip(fp32.loss_curve, bf16.loss_curve):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.02)
    from safetensors.torch import load_file

    adapter = load_file(tmp_path / "bf16" / "model" / "adapter_model.safetensors")
    assert adapter and all(t.dtype == torch.float32 for t in adapter.values())


def test_warmup_ratio_becomes_whole_warmup_steps(tmp_path):
    """10 steps, warmup_ratio 0.3: the LR of update i (0-based) rises as i / 3 over ceil(0.3 * 10) = 3 steps, then
    decays linearly to 0 at step 10. The Trainer logs at step s the LR that update s - 1 used."""
    res = train_tiny(tmp_path, ["training.max_steps=10", "training.warmup_ratio=0.3", "training.logging_steps=1",
                                "training.precision=fp32", "training.save_steps=100"])
    lr = 0.01  # tiny_train's learning rate
    used = {r["step"] - 1: r["learning_rate"] for r in res.loss_curve}
    expected = {i: lr * (i / 3 if i < 3 else (10 - i) / 7) for i in range(10)}
    assert used.keys() == expected.keys()
    for i, v in expected.items():
        assert used[i] == pytest.approx(v, abs=1e-9), i
