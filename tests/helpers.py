"""Small builders shared by the tests."""

import json
from pathlib import Path


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


def nonempty_judge(prompt, output, reference) -> float:
    """A stand-in judge for the hook's test: 1 when the answer is not empty."""
    assert isinstance(prompt, list) and prompt[-1]["role"] == "user"
    return float(bool(output.strip()))
