"""FLOPs: hand-computed values and torch's own FlopCounterMode on a tiny model; the hardware table."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tunewright.cost.flops import forward_flops_per_token, model_flops_utilization, training_flops_per_token
from tunewright.cost.hardware import load_hardware
from tunewright.cost.measure import tiny_model
from tunewright.cost.model_shape import load_shape, shape_from_hf_config


def test_presets_have_the_published_parameter_counts():
    assert load_shape("llama-2-7b").n_params == 6_738_415_616
    assert load_shape("tinyllama-1.1b").n_params == 1_100_048_384
    assert load_shape("qwen2.5-7b").n_params == 7_615_616_512 and load_shape("qwen3-8b").qk_norm
    with pytest.raises(ValueError, match="llama-2-7b"):
        load_shape("no-such-model-anywhere")


def test_unsupported_architecture_is_named(tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=2, n_embd=64, n_head=4).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'gpt2' is not supported.*llama"):
        load_shape(str(tmp_path))


def test_hand_computed_7b():
    s = load_shape("llama-2-7b")
    # projections per layer: 4 x 4096^2 (attention) + 3 x 4096 x 11008 (MLP) = 202,375,168; x 32 layers
    assert s.n_layer_linear == 32 * (4 * 4096**2 + 3 * 4096 * 11008)
    fwd = 2 * (s.n_layer_linear + 4096 * 32000) + 4 * 32 * 2048 * 4096
    assert forward_flops_per_token(s, 2048) == fwd
    assert training_flops_per_token(s, 2048, "full").train == 3 * fwd
    assert training_flops_per_token(s, 2048, "full", checkpointing=True).train == 4 * fwd
    lora = training_flops_per_token(s, 2048, "lora", lora_r=16).train
    assert 0.6 < lora / (3 * fwd) < 0.75  # ~4N of 6N, the attention share keeps it above 2/3


@pytest.mark.parametrize("method", ["full", "lora"])
def test_matches_flop_counter_mode(method):
    # eager attention: FlopCounterMode does not count the CPU flash kernel that sdpa dispatches to
    config, model = tiny_model("llama", "eager")
    model.train()
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear"))
    ids = torch.randint(0, 512, (2, 128))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, labels=ids).loss.backward()
    est = training_flops_per_token(shape_from_hf_config(config, "tiny"), 128, method, lora_r=8).train * ids.numel()
    assert abs(est / counter.get_total_flops() - 1) < 0.02


def test_mfu():
    assert model_flops_utilization(1000, 6e9, 1e13) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        model_flops_utilization(1, 1, 0)


def test_hardware_table_and_unknown_gpu(tmp_path):
    t = load_hardware()
    for name in ["A10G", "L4", "L40S", "A100-40GB", "A100-80GB", "H100", "H200", "B200", "RTX-3090", "RTX-4090"]:
        g = t.lookup(name)
        assert g.bf16_tflops > 0 and g.memory_gib > 0 and 0 < g.price_low <= g.price_high
    assert t.lookup("nvidia h100 80gb hbm3").name == "H100" and t.prices_as_of
    with pytest.raises(ValueError, match="known GPUs: .*H200"):
        t.lookup("V100")
    f = tmp_path / "hw.yaml"
    f.write_text("prices_as_of: '2026-11'\ngpus:\n  V100:\n    bf16_tflops: 125\n    memory_gib: 31.7\n"
                 "    bandwidth_gbs: 900\n    price_usd_per_hour: [0.3, 2.5]\n")
    t2 = load_hardware(f)
    assert t2.lookup("v100").memory_gib == 31.7 and t2.prices_as_of == "2026-11" and "H100" in t2.gpus
    f.write_text("gpus:\n  X:\n    bf16_tflops: 1\n    memory_gib: 1\n    bandwidth_gbs: 1\n    price_usd_per_hour: [3, 1]\n")
    with pytest.raises(ValueError, match=r"gpus.X.price_usd_per_hour"):
        load_hardware(f)
