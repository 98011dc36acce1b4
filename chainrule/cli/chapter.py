"""The ``chainrule chapter`` command (wired in by :mod:`chainrule.cli.main`).

``chainrule chapter [--hidden H] [--weight-decay LAMBDA] [--seed S]`` backpropagates the
chapter's network on one seeded example and prints each gradient beside its equation
(:func:`chainrule.viz.chapter.chapter_report`).
"""

from __future__ import annotations

import argparse

from .args import check_fits, non_negative_float, positive_int, seed

__all__ = ["add_chapter_parser", "chapter_command"]


def add_chapter_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``chapter`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "chapter", help="backpropagate the chapter's network and print each gradient beside "
                        "its equation")
    parser.add_argument("--hidden", type=positive_int, default=256, help="hidden units")
    parser.add_argument("--weight-decay", type=non_negative_float, default=1e-4, help="lambda")
    parser.add_argument("--seed", type=seed, default=0, help="random seed (0)")
    parser.set_defaults(func=chapter_command)
    return parser


def chapter_command(args: argparse.Namespace) -> int:
    """Print the chapter's report as ``args`` asks; returns the exit status."""
    from ..viz.chapter import chapter_report

    check_fits({"--hidden": args.hidden}, 784, args.hidden, 1, 10, 8, 1)    # float64
    print(chapter_report(hidden=args.hidden, weight_decay=args.weight_decay, seed=args.seed))
    return 0
