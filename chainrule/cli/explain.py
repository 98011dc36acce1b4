"""The ``chainrule explain`` command (wired in by :mod:`chainrule.cli.main`).

``chainrule explain [--lang en|pt|fr] [--latex] [--batch-size N] [--hidden H] [--bias]`` prints
the chapter network's forward and backward equations, generated from its recorded graph
(:func:`chainrule.viz.derivation.explain`); ``--model lenet``, ``lenet-relu`` or ``vgg`` a CNN's,
where a convolution's gradients read as a correlation with the output gradient (the kernel's)
and a transposed convolution (the input's).
"""

from __future__ import annotations

import argparse

from ..viz.derivation import WORDS
from .args import add_network_options, check_network_fits
from .graph import MODEL_HELP, model_graph
from .memory import CHOICES

__all__ = ["add_explain_parser", "explain_command"]


def add_explain_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``explain`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "explain", help="print the chapter network's forward and backpropagation equations, "
                        "generated from its recorded graph")
    parser.add_argument("--lang", choices=sorted(WORDS), default="en",
                        help="language of the text: en, pt or fr (en)")
    parser.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
    parser.add_argument("--model", choices=CHOICES, default="mlp", help=MODEL_HELP)
    add_network_options(parser)
    parser.set_defaults(func=explain_command)
    return parser


def explain_command(args: argparse.Namespace) -> int:
    """Print the chapter network's equations as ``args`` asks; returns the exit status."""
    from ..viz import build_chapter_graph
    from ..viz.derivation import explain

    check_network_fits(args)
    if args.model == "mlp":
        g = build_chapter_graph(batch_size=args.batch_size, hidden=args.hidden, bias=args.bias)
    else:
        g = model_graph(args.model, args.batch_size)
    print(explain(g["J"], lang=args.lang, format="latex" if args.latex else "text", names=g))
    return 0
