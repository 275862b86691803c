"""docs/tutorial.md stays true: its commands run here, in order, and print what the tutorial shows.

``init`` and ``data audit`` must print exactly the tutorial's lines (run paths aside): they read the same file
with the same tokenizer. ``run`` trains at a small size here (a tiny random-init Llama with SmolLM2's
tokenizer instead of SmolLM2 itself), so its numbers differ; its lines must have the tutorial's shape (numbers,
verdicts and significance masked)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_train import tiny_model_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = re.compile(r"\S*runs/\d{8}-\d{6}-[\w-]+?-[0-9a-f]{6}")
NUMBER = re.compile(r"[-+]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?%?")


def tutorial_blocks() -> list[tuple[str, list[str]]]:
    """(command, expected stdout lines) of every ```console block, in order."""
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        lines = block.rstrip("\n").split("\n")
        assert lines[0].startswith("$ "), lines[0]
        out.append((lines[0][2:], lines[1:]))
    return out


def _norm(lines: list[str]) -> list[str]:
    return [RUN_ID.sub("runs/RUN", x).rstrip() for x in lines]


def _shape(lines: list[str]) -> list[str]:
    masked = []
    for x in _norm(lines):
        x = re.sub(r"\b(PASS|WARN|FAIL)\b", "VERDICT", x)
        x = re.sub(r"\b(not significant|significant)\b", "SIG", x)
        masked.append(NUMBER.sub("#", x))
    return masked


def test_tutorial_commands_print_what_it_shows(tmp_path, smol_tokenizer):
    blocks = tutorial_blocks()
    assert [c.split()[:2] for c, _ in blocks][1:] == [["tunewright", "init"], ["tunewright", "data"],
                                                     ["tunewright", "run"]]
    tiny = tiny_model_dir(tmp_path / "model", smol_tokenizer)
    env = {**os.environ, "COLUMNS": "200", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    run_dir = None
    for command, expected in blocks:
        if command.startswith("tunewright "):
            args = shlex.split(command)[1:]
            if run_dir is not None:
                args = [run_dir if RUN_ID.fullmatch(a) else a for a in args]
            if args[0] == "run":  # the small size: a tiny model in place of SmolLM2
                args += ["--set", f"model.name_or_path={tiny}", "--set", "model.gguf_file=null",
                         # a tiny random model's gate verdict is arbitrary; auto-mitigation's lines are tested in
                         # test_demo_quick and test_auto_mitigation
                         "--set", "training.mitigation=off"]
            p = subprocess.run([sys.executable, "-m", "tunewright", *args], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=900)
        else:
            p = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=60)
        assert p.returncode in ((0, 1) if command.startswith("tunewright run") else (0,)), p.stderr[-3000:]
        got = p.stdout.rstrip("\n").split("\n") if p.stdout.strip() else []
        if command.startswith("tunewright run"):
            assert _shape(got) == _shape(expected), "\n".join(got)
        else:
            assert _norm(got) == _norm(expected), "\n".join(got)
        if m := re.search(r"^run: (\S+)$", p.stdout, flags=re.M):
            run_dir = m.group(1)
    assert (Path(run_dir) / "report.html").exists()
