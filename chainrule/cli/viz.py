"""The ``chainrule graph`` and ``chainrule explain`` commands (wired in by :mod:`chainrule.cli`).

``chainrule graph [--backward] [--out PATH] [--batch-size N]`` draws the chapter's network to
PATH (``.svg``, ``.png`` or ``.dot``; default ``chapter-graph.svg``); ``chainrule explain
[--lang en|pt|fr] [--latex]`` prints its forward and backward equations.  Both take
``--hidden`` and ``--bias`` (exercise 2's hidden bias) too.
"""

from __future__ import annotations

import argparse
import sys

from .args import positive_int
from ..errors import ChainruleError
from ..viz.derivation import WORDS, explain
from ..viz import build_chapter_graph, draw

__all__ = ["add_graph_parser", "add_explain_parser", "graph_command", "explain_command"]


def _network_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                        help="a minibatch of N examples (default: one example, as the chapter)")
    parser.add_argument("--hidden", type=positive_int, default=256, help="hidden units (256)")
    parser.add_argument("--bias", action="store_true",
                        help="add the hidden bias b1 of exercise 2 (not regularised)")


def add_graph_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``graph`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "graph", help="draw the chapter's network: its computational graph, or with "
                      "--backward the graph backpropagation runs")
    parser.add_argument("--backward", action="store_true",
                        help="draw the backward graph: gradients, VJPs and the saved values "
                             "each reads")
    parser.add_argument("--out", default="chapter-graph.svg", metavar="PATH",
                        help="where to draw: .svg, .png or .dot (chapter-graph.svg)")
    parser.add_argument("--expand", action="store_true",
                        help="draw every recorded operator (reshapes and transposes too)")
    _network_options(parser)
    parser.set_defaults(func=graph_command)
    return parser


def add_explain_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``explain`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "explain", help="print the chapter network's forward and backpropagation equations, "
                        "generated from its recorded graph")
    parser.add_argument("--lang", choices=sorted(WORDS), default="en",
                        help="language of the text: en, pt or fr (en)")
    parser.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
    _network_options(parser)
    parser.set_defaults(func=explain_command)
    return parser


def graph_command(args: argparse.Namespace) -> int:
    """Draw the chapter's network as ``args`` asks; returns the exit status."""
    g = build_chapter_graph(batch_size=args.batch_size, hidden=args.hidden, bias=args.bias)
    try:
        path = draw(g["J"], args.out, backward=args.backward, collapse=not args.expand,
                    names=g)
    except ChainruleError as exc:
        print(f"chainrule graph: {exc}", file=sys.stderr)
        return 1
    print(f"chainrule graph: wrote {path}")
    return 0


def explain_command(args: argparse.Namespace) -> int:
    """Print the chapter network's equations as ``args`` asks; returns the exit status."""
    g = build_chapter_graph(batch_size=args.batch_size, hidden=args.hidden, bias=args.bias)
    print(explain(g["J"], lang=args.lang, format="latex" if args.latex else "text", names=g))
    return 0
