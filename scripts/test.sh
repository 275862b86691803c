#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv, install tunewright + offline assets, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec python -m pytest "$@"
