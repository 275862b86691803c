"""Small pieces of the serving package that need no model: vLLM LoRA flags, q8_0 tolerance, Q/K permutation."""

import numpy as np

from tunewright.serving.gguf_file import permute_qk
from tunewright.serving.verify import allowed_band
from tunewright.serving.vllm import adapter_warnings, lora_rank


def test_vllm_rank_rounds_up_to_a_rank_vllm_accepts_and_warns_for_dora_and_modules_to_save():
    assert lora_rank({"r": 4}) == 8 and lora_rank({"r": 16}) == 16 and lora_rank({"r": 8, "rank_pattern": {"q": 40}}) == 64
    assert adapter_warnings({"r": 8}) == []
    w = adapter_warnings({"use_dora": True, "modules_to_save": ["lm_head"]})
    assert len(w) == 2 and "6983" in w[0] and "9280" in w[1]


def test_q8_band_is_the_wider_of_half_a_point_and_the_interval():
    assert allowed_band("f16", 0.5, 0.49, 0.51) == (0.49, 0.51)
    assert allowed_band("q8_0", 0.5, 0.499, 0.501) == (0.495, 0.505)
    assert allowed_band("q8_0", 0.5, 0.40, 0.60) == (0.40, 0.60)


def test_qk_permutation_matches_transformers_inverse():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    w = np.arange(8 * 16 * 3, dtype=np.float32).reshape(8 * 16, 3)  # 8 heads of 16 rows
    back = LlamaTensorProcessor(config={"num_attention_heads": 8, "num_key_value_heads": 2})
    assert np.array_equal(back._reverse_permute_weights(permute_qk(w, 8, 8), 8, 8), w)
    k = w[: 2 * 16]
    assert np.array_equal(back._reverse_permute_weights(permute_qk(k, 8, 2), 8, 2), k)
