#!/usr/bin/env bash
# Install chainrule with its test tools into .venv, lint, and run every test (and doctest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
