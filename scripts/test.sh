#!/usr/bin/env bash
# Install chainrule with its test tools and MPI into .venv, lint, and run every test (and
# doctest). The [dist] extra brings mpi4py and the mpich wheel: .venv/bin/mpiexec runs the
# data-parallel tests (tests/distributed/), 2 and 4 ranks on any number of cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,dist
# PyTorch is optional: the tests compare optimizers with torch.optim when it is installed. We
# install it only from a CPU wheel already on this machine (a folder in pip's find-links);
# asking the registry would fetch the multi-GB CUDA build. Without one, those tests skip.
links="${PIP_FIND_LINKS:-$(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true)}"
wheel=""
for folder in $links; do
  for candidate in "${folder#file://}"/torch-*+cpu-*.whl; do
    [ -e "$candidate" ] && wheel="$candidate"
  done
done
if [ -n "$wheel" ] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "test: installing PyTorch from $wheel for the comparison tests"
  .venv/bin/python -m pip install --quiet "$wheel" 2>&1 | grep -v "is ignored" || true
fi
# The page tests (tests/viz/test_page.py) drive Debian's chromium with Playwright (from PyPI,
# in the dev extra); never a downloaded browser build. Without chromium they skip, saying why.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing Debian's chromium for the page tests"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null \
      || echo "test: could not install chromium; the page tests will skip"
  else
    echo "test: chromium not found and apt-get is not ours to run; the page tests will skip"
  fi
fi
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
