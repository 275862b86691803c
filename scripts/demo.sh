#!/usr/bin/env bash
# The whole demo on a fresh machine: set up .venv, install tunewright + offline assets, run `tunewright demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec tunewright demo "$@"
