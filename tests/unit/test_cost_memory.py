"""Activation memory: the estimate against the bytes autograd really saves (saved_tensors_hooks), plus the
memory breakdown, fits and the smallest change."""

import itertools

import pytest
import torch

from tunewright.cost.hardware import GIB, load_hardware
from tunewright.cost.measure import compare_activations, measure_saved_bytes, tiny_model
from tunewright.cost.memory import Setup, estimate_memory, largest_micro_batch, smallest_change
from tunewright.cost.model_shape import load_shape

CASES = [(arch, method, seq, ckpt, "sdpa") for arch, method, seq, ckpt
         in itertools.product(("llama", "qwen3"), ("full", "lora"), (64, 256), (False, True))]
CASES += [("llama", "full", 128, False, "eager"), ("qwen2", "lora", 128, False, "eager"),
          ("qwen2", "full", 64, True, "sdpa"), ("qwen3", "lora", 128, False, "eager")]
# bf16 as GPU runs use it: under autocast (Trainer bf16=True) and as a plain bf16 model (peft's fp32 adapters)
BF16 = [("full", False, True), ("lora", False, True), ("lora", False, False), ("lora", True, True)]


@pytest.mark.parametrize("arch,method,seq,ckpt,attn", CASES, ids=lambda v: str(v))
def test_activation_estimate_within_10_percent_of_saved_tensors(arch, method, seq, ckpt, attn):
    r = compare_activations(arch, method, seq, ckpt, attn)
    assert abs(r["error"]) < 0.10, r


@pytest.mark.parametrize("method,ckpt,autocast", BF16, ids=lambda v: str(v))
def test_activation_estimate_in_bf16(method, ckpt, autocast):
    r = compare_activations("llama", method, 64, ckpt, "sdpa", dtype="bf16", autocast=autocast)
    assert abs(r["error"]) < 0.10, r


def test_counter_excludes_parameters_and_counts_shared_storage_once():
    _, model = tiny_model("llama", "sdpa", layers=1)
    ids = torch.randint(0, 512, (1, 16))
    saved = measure_saved_bytes(model, {"input_ids": ids, "labels": ids})
    params = sum(p.numel() * 4 for p in model.parameters())
    assert 0 < saved.activations < params  # a 16-token batch saves far less than the weights
    assert saved.tensors > 10  # many ops saved tensors; several share one storage


def test_activations_grow_linearly_with_tokens_and_checkpointing_saves_most():
    a = compare_activations("llama", "full", 64, False)
    b = compare_activations("llama", "full", 64, False, micro_batch=4)
    c = compare_activations("llama", "full", 64, True, micro_batch=4)
    assert 1.9 < b["measured_bytes"] / a["measured_bytes"] < 2.1
    assert c["measured_bytes"] < 0.3 * b["measured_bytes"]


@pytest.fixture(scope="module")
def llama7b():
    return load_shape("llama-2-7b")


def test_breakdown_by_method(llama7b):
    full = estimate_memory(llama7b, Setup("full", micro_batch=1, seq=512))
    lora = estimate_memory(llama7b, Setup("lora", micro_batch=1, seq=512))
    qlora = estimate_memory(llama7b, Setup("qlora", micro_batch=1, seq=512))
    # bf16 weights 2 B, grads 2 B, AdamW 4 B per parameter
    assert full.lines["weights"] == llama7b.n_params * 2 and full.lines["optimizer states"] == llama7b.n_params * 4
    assert lora.lines["gradients"] == llama7b.lora_params(16) * 4 < full.lines["gradients"] / 50
    assert qlora.lines["weights"] < lora.lines["weights"] / 3
    int8 = estimate_memory(llama7b, Setup("lora", micro_batch=1, seq=512, quantization="int8"))
    assert qlora.lines["weights"] < int8.lines["weights"] < 0.6 * lora.lines["weights"]
    fp32 = estimate_memory(llama7b, Setup("full", dtype="fp32", micro_batch=1, seq=512))
    assert fp32.lines["weights"] == 2 * full.lines["weights"]
    assert fp32.lines["optimizer states"] == 2 * full.lines["optimizer states"]
    a8 = estimate_memory(llama7b, Setup("full", optimizer="adamw_8bit", micro_batch=1, seq=512))
    assert a8.lines["optimizer states"] == full.lines["optimizer states"] // 2
    assert full.total > full.allocated > lora.allocated > qlora.allocated


def test_fsdp_and_ddp_per_gpu(llama7b):
    one = estimate_memory(llama7b, Setup("full", micro_batch=1, seq=512))
    fsdp = estimate_memory(llama7b, Setup("full", micro_batch=1, seq=512, strategy="fsdp", n_gpus=4))
    ddp = estimate_memory(llama7b, Setup("full", micro_batch=1, seq=512, strategy="ddp", n_gpus=4))
    assert fsdp.lines["optimizer states"] == -(-one.lines["optimizer states"] // 4)
    assert fsdp.lines["activations"] == one.lines["activations"]
    assert ddp.allocated == one.allocated + one.lines["gradients"]


def test_largest_micro_batch_is_the_boundary(llama7b):
    gpu = load_hardware().lookup("H100")
    s = Setup("lora", seq=2048)
    mb = largest_micro_batch(llama7b, s, gpu)
    assert mb >= 1
    assert estimate_memory(llama7b, Setup("lora", seq=2048, micro_batch=mb)).fits(gpu)
    assert not estimate_memory(llama7b, Setup("lora", seq=2048, micro_batch=mb + 1)).fits(gpu)


def test_no_fit_names_the_smallest_change(llama7b):
    table = load_hardware()
    gpu = table.lookup("A10G")
    s = Setup("full", micro_batch=8, seq=2048)
    change = smallest_change(llama7b, s, gpu, table)
    assert change.startswith("LoRA instead of full")  # 7B bf16 weights (12.6 GiB) fit 22 GiB, AdamW states do not
    big = load_shape("llama-2-13b")  # 13B bf16 weights alone are 24.2 GiB: only a 4-bit base fits
    assert smallest_change(big, s, gpu, table).startswith("QLoRA")
    assert smallest_change(llama7b, Setup("qlora", micro_batch=1, seq=512), table.lookup("H100"), table) is None
    s = Setup("lora", micro_batch=16, seq=2048)
    assert "checkpointing" in smallest_change(llama7b, s, table.lookup("H100"), table)
    assert estimate_memory(llama7b, s).total > 80 * GIB


def test_bad_setup_names_the_field():
    with pytest.raises(ValueError, match="method"):
        Setup("lora-ish")
    with pytest.raises(ValueError, match="quantization"):
        Setup("full", quantization="nf4")
