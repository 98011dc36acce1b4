"""The ``chainrule graph`` command (wired in by :mod:`chainrule.cli.main`).

``chainrule graph [--backward] [--expand] [--out PATH] [--batch-size N] [--hidden H] [--bias]``
draws the chapter's network to PATH (``.svg``, ``.png`` or ``.dot``; default
``chapter-graph.svg``), making PATH's folder when it is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ChainruleError
from .args import UsageError, add_network_options, check_network_fits, output_file

__all__ = ["add_graph_parser", "graph_command"]


def add_graph_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``graph`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "graph", help="draw the chapter's network: its computational graph, or with "
                      "--backward the graph backpropagation runs")
    parser.add_argument("--backward", action="store_true",
                        help="draw the backward graph: gradients, VJPs and the saved values "
                             "each reads")
    parser.add_argument("--out", type=output_file, default="chapter-graph.svg", metavar="PATH",
                        help="where to draw: .svg, .png or .dot (chapter-graph.svg); its "
                             "folder is made if missing")
    parser.add_argument("--expand", action="store_true",
                        help="draw every recorded operator (reshapes and transposes too)")
    add_network_options(parser)
    parser.set_defaults(func=graph_command)
    return parser


def graph_command(args: argparse.Namespace) -> int:
    """Draw the chapter's network as ``args`` asks; returns the exit status."""
    from ..viz import build_chapter_graph, draw

    check_network_fits(args)
    folder = Path(args.out).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot make the folder {folder} "
                         f"({exc.strerror or exc}); pass a path in a folder you can write "
                         "to") from None
    g = build_chapter_graph(batch_size=args.batch_size, hidden=args.hidden, bias=args.bias)
    try:
        path = draw(g["J"], args.out, backward=args.backward, collapse=not args.expand,
                    names=g)
    except ChainruleError as exc:
        print(f"chainrule graph: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot write it ({exc.strerror or exc}); pass a "
                         "path you can write to") from None
    print(f"chainrule graph: wrote {path}")
    return 0
