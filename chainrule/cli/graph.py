"""The ``chainrule graph`` command (wired in by :mod:`chainrule.cli.main`).

``chainrule graph [--backward] [--expand] [--out PATH] [--batch-size N] [--hidden H] [--bias]``
draws the chapter's network (``--model lenet``, ``lenet-relu``, ``vgg``: a CNN) to PATH
(``.svg``, ``.png`` or ``.dot``; default ``chapter-graph.svg``), making PATH's folder when it
is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ChainruleError
from .memory import CHOICES
from .args import UsageError, add_network_options, check_network_fits, output_file

__all__ = ["add_graph_parser", "graph_command", "MODEL_HELP", "model_graph"]

MODEL_HELP = ("mlp: the chapter's network (--hidden, --bias); lenet, lenet-relu: the next "
              "chapter's LeNet; vgg: two VGG blocks (mlp)")


def add_graph_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``graph`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "graph", help="draw the chapter's network: its computational graph, or with "
                      "--backward the graph backpropagation runs")
    parser.add_argument("--model", choices=CHOICES, default="mlp", help=MODEL_HELP)
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


def model_graph(model: str, batch_size: int | None) -> dict:
    """The objective of ``model`` (a CNN) on a batch of zeros, with its tensors by name."""
    import numpy as np

    from ..core.tensor import Tensor
    from ..models import build_cnn

    net = build_cnn(model, weight_decay=1e-4)
    batch_size = batch_size or 1
    x = Tensor(np.zeros((batch_size, net.inputs), dtype=np.float32), name="x")
    y = Tensor(np.zeros(batch_size, dtype=np.int64), name="y")
    J = net.objective(x, y)
    return {"x": x, "y": y, **dict(net.named_parameters()), **net.intermediates,
            **net.last_objective, "J": J}


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
    g = (build_chapter_graph(batch_size=args.batch_size, hidden=args.hidden, bias=args.bias)
         if args.model == "mlp" else model_graph(args.model, args.batch_size))
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
