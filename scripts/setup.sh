#!/usr/bin/env bash
# Make .venv (once) and install chainrule into it with the extras named in $1 (e.g. "dev").
# Sourced by scripts/main.sh and scripts/test.sh; safe to run again (it only tops up).
set -euo pipefail
extras="${1:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

as_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

if [ ! -x .venv/bin/python ]; then
  rm -rf .venv
  if ! python3 -m venv .venv >/dev/null 2>&1; then
    if as_root; then
      echo "setup: installing python3-venv with apt-get"
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      rm -rf .venv && python3 -m venv .venv
    else
      echo "setup: 'python3 -m venv' failed; install your distribution's python3-venv" >&2
      exit 1
    fi
  fi
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
