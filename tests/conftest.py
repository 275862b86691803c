import json
from pathlib import Path

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


def write_lines(path: Path, lines: list) -> Path:
    out = []
    for line in lines:
        out.append(line if isinstance(line, (str, bytes)) else json.dumps(line))
    data = b"\n".join(x if isinstance(x, bytes) else x.encode("utf-8") for x in out) + b"\n"
    path.write_bytes(data)
    return path


def chat(user: str, answer: str, system: str | None = None) -> dict:
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return {"messages": msgs + [{"role": "assistant", "content": answer}]}
