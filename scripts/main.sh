#!/usr/bin/env bash
# Install chainrule into .venv and run the main job: the chapter's network, forward and
# backward, with every gradient beside the chapter's equation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/chainrule chapter "$@"
