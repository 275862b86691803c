import pytest


class ToyTokenizer:
    """A whitespace tokenizer with a ChatML-like template: enough for audit and split unit tests."""

    pad_token_id = 0
    eos_token_id = 1

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        text = "".join(f"<{m['role']}> {m['content']} </s> " for m in messages)
        return text + ("<assistant> " if add_generation_prompt else "")

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [hash(w) % 1000 + 2 for w in text.split()]}


@pytest.fixture
def toy_tokenizer():
    return ToyTokenizer()


@pytest.fixture(scope="session")
def smol_ref():
    """The real SmolLM2-135M-Instruct, converted once from GGUF to safetensors."""
    from tunewright.config import ModelSection
    from tunewright.models import resolve_model

    return resolve_model(ModelSection())


@pytest.fixture(scope="session")
def smol_tokenizer(smol_ref):
    from tunewright.config import ModelSection
    from tunewright.models import load_tokenizer

    return load_tokenizer(smol_ref, ModelSection())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smol_tokenizer):
    """A random-init two-layer Llama with the real SmolLM2 tokenizer, saved as a local safetensors model: the
    whole pipeline runs on it in seconds (studies, selection, export tests)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_train import tiny_llama

    d = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(len(smol_tokenizer)).save_pretrained(d, safe_serialization=True)
    smol_tokenizer.save_pretrained(d)
    return d
