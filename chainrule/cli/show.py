"""The ``chainrule show`` command (wired in by :mod:`chainrule.cli.main`).

``chainrule show [--lang en|pt|fr] [--hidden H] [--bias] [--out PATH] [--dataset NAME]
[--data-dir DIR] [--steps N]`` writes ``backprop.html``: the chapter's network on one real
example (Fashion-MNIST when found, else the embedded digits), stepped through forward and
backward, with its first SGD steps (:func:`chainrule.viz.page.chapter_page`).  It prints the
path and opens nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..viz.derivation import WORDS
from .args import (UsageError, check_fits, output_file, positive_float, positive_int,
                   seed)

__all__ = ["add_show_parser", "show_command"]


def add_show_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``show`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "show", help="write backprop.html: one page that steps through forward and backward "
                     "propagation of the chapter's network, node by node")
    parser.add_argument("--lang", choices=sorted(WORDS), default="en",
                        help="language of the page and its chain-rule lines: en, pt or fr (en)")
    parser.add_argument("--hidden", type=positive_int, default=256, help="hidden units (256)")
    parser.add_argument("--bias", action="store_true",
                        help="add the hidden bias b1 of exercise 2 (not regularised)")
    parser.add_argument("--out", type=output_file, default="backprop.html", metavar="PATH",
                        help="the page to write, ending in .html (backprop.html); its folder "
                             "is made if missing")
    parser.add_argument("--dataset", choices=["fashion-mnist", "digits"], default=None,
                        help="Fashion-MNIST when its files are found, else the embedded digits")
    parser.add_argument("--data-dir", default=None,
                        help="folder with the Fashion-MNIST IDX files (then $CHAINRULE_DATA, "
                             "then /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--steps", type=positive_int, default=50,
                        help="SGD steps recorded for the training view (50)")
    parser.add_argument("--lr", type=positive_float, default=0.1,
                        help="learning rate of those steps (0.1)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed (0)")
    parser.set_defaults(func=show_command)
    return parser


def show_command(args: argparse.Namespace) -> int:
    """Write the page as ``args`` asks and print its path; returns the exit status."""
    from ..data import load_dataset
    from ..train.config import DEFAULT_BATCH, Config, choose_dataset
    from ..viz.page import chapter_page

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {args.out}: the page is HTML; pass a file name ending in "
                         ".html, such as backprop.html")
    if args.steps > 10_000:
        raise UsageError(f"--steps {args.steps}: the training view keeps every step; pass "
                         "10000 or fewer")
    check_fits({"--hidden": args.hidden}, 784, args.hidden, 1, 10, 4, 256)
    dataset = choose_dataset(Config(dataset=args.dataset, data_dir=args.data_dir))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot make the folder {out.parent} "
                         f"({exc.strerror or exc}); pass a path in a folder you can write "
                         "to") from None
    x_train, y_train, x_test, y_test = load_dataset(dataset, args.data_dir)
    try:
        path = chapter_page(x_train, y_train, x_test, y_test, out, hidden=args.hidden,
                            bias=args.bias, lang=args.lang, seed=args.seed, steps=args.steps,
                            lr=args.lr, batch_size=DEFAULT_BATCH[dataset], dataset=dataset)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot write it ({exc.strerror or exc}); pass a "
                         "path you can write to") from None
    print(f"chainrule show: wrote {path} ({dataset}); open it in a browser")
    return 0
