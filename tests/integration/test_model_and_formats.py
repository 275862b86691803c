"""Real SmolLM2 tokenizer and weights: GGUF cache, completion-only labels, safetensors only."""

import json
import time
from pathlib import Path

import pytest

from tunewright.config import ModelSection
from tunewright.models import load_model, resolve_model
from tunewright.training.formats import IGNORE_INDEX, encode_chat, encode_examples

pytestmark = pytest.mark.slow

CHAT = [
    {"role": "system", "content": "List entities."},
    {"role": "user", "content": "Silicon Valley Bank lends to Acme."},
    {"role": "assistant", "content": "[Silicon Valley Bank - ORGANIZATION, Acme - ORGANIZATION]"},
]


def test_gguf_is_converted_once_to_clean_safetensors(smol_ref):
    folder = Path(smol_ref.path)
    assert (folder / "model.safetensors").exists() and not list(folder.glob("*.bin"))
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    t0 = time.perf_counter()
    again = resolve_model(ModelSection())
    assert again.path == smol_ref.path and time.perf_counter() - t0 < 10  # cached: a hash, no conversion
    model = load_model(again, ModelSection())
    assert sum(p.numel() for p in model.parameters()) > 100_000_000


def test_label_mask_decodes_to_the_answer_only(smol_tokenizer):
    ids, labels = encode_chat(smol_tokenizer, CHAT)
    assert len(ids) == len(labels)
    trained = [t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX]
    assert smol_tokenizer.decode(trained) == CHAT[-1]["content"] + "<|im_end|>\n"
    prompt = [t for t, lab in zip(ids, labels) if lab == IGNORE_INDEX]
    decoded_prompt = smol_tokenizer.decode(prompt)
    assert "Silicon Valley Bank lends" in decoded_prompt and decoded_prompt.endswith("<|im_start|>assistant\n")
    full = smol_tokenizer.apply_chat_template(CHAT, tokenize=False)
    assert smol_tokenizer.decode(ids) == full


def test_multi_turn_trains_every_assistant_turn(smol_tokenizer):
    msgs = CHAT[:2] + [{"role": "assistant", "content": "first"}, {"role": "user", "content": "again"},
                       {"role": "assistant", "content": "second"}]
    ids, labels = encode_chat(smol_tokenizer, msgs)
    trained = smol_tokenizer.decode([t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX])
    assert trained == "first<|im_end|>\nsecond<|im_end|>\n"


def test_truncation_is_counted(smol_tokenizer):
    ids, labels = encode_chat(smol_tokenizer, CHAT)
    prompt_len = next(i for i, lab in enumerate(labels) if lab != IGNORE_INDEX)
    enc = encode_examples(smol_tokenizer, [CHAT, CHAT], max_seq_tokens=prompt_len)
    assert enc.truncated == 2 and enc.dropped == 2 and not enc.rows  # every answer token was cut off
    enc = encode_examples(smol_tokenizer, [CHAT], max_seq_tokens=prompt_len + 2)
    assert enc.truncated == 1 and enc.dropped == 0 and enc.trained_tokens == 2
    enc = encode_examples(smol_tokenizer, [CHAT], max_seq_tokens=512)
    assert enc.truncated == 0 and enc.rows and enc.trained_tokens < enc.tokens
