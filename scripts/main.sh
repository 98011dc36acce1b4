#!/usr/bin/env bash
# The main job: install chainrule into .venv (with matplotlib and tqdm, and graphviz-pure to
# lay out graph.svg and backprop.html), fetch Fashion-MNIST from Debian where we can, and train
# the chapter's network. Arguments go to `chainrule train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh train,viz
data=/usr/share/datasets/fashion-mnist
if [ ! -e "$data/train-images-idx3-ubyte.gz" ] && [ -z "${CHAINRULE_DATA:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "main: installing Debian's dataset-fashion-mnist (Fashion-MNIST, about 30 MB)"
    if ! { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; then
      echo "main: could not install it; training on the embedded digits instead"
    fi
  else
    echo "main: Fashion-MNIST not found and apt-get is not ours to run; training on the" \
         "embedded digits (set CHAINRULE_DATA or pass --data-dir to use your copy)"
  fi
fi
exec .venv/bin/chainrule train "$@"
