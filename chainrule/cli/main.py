"""The ``chainrule`` command line (also ``python -m chainrule``).

A bad flag, a missing file or an interrupted run ends with one clear line on stderr and a
non-zero status, never a traceback.  Under ``mpiexec`` every rank parses the same flags and
meets the same bad input, so rank 0 alone says it, and every rank exits with that status; an
error on one rank alone aborts the whole job (see :func:`chainrule.distributed.fail`).
"""

from __future__ import annotations

import argparse
import sys

from .args import non_negative_float, positive_float, positive_int
from ..distributed import fail, is_root_process
from ..errors import ChainruleError
from .memory import add_memory_parser
from .partition import add_partition_parser
from .viz import add_explain_parser, add_graph_parser

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n" if is_root_process() else None)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chainrule",
        description="Forward propagation, backpropagation and computational graphs, for real.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train the chapter's network by minibatch SGD (the main job)")
    train.add_argument("--dataset", choices=["fashion-mnist", "digits"], default=None,
                       help="Fashion-MNIST when its files are found, else the embedded digits")
    train.add_argument("--data-dir", default=None,
                       help="folder with the Fashion-MNIST IDX files (then $CHAINRULE_DATA, "
                            "then /usr/share/datasets/fashion-mnist)")
    train.add_argument("--epochs", type=positive_int, default=10, help="epochs (10)")
    train.add_argument("--batch-size", type=positive_int, default=None,
                       help="minibatch size (256 on Fashion-MNIST, 32 on the digits)")
    train.add_argument("--lr", type=positive_float, default=0.1, help="learning rate (0.1)")
    train.add_argument("--hidden", type=positive_int, default=256, help="hidden units (256)")
    train.add_argument("--weight-decay", type=non_negative_float, default=1e-4,
                       help="lambda in s = lambda/2 (|W1|^2 + |W2|^2) (1e-4)")
    train.add_argument("--seed", type=int, default=0, help="random seed (0)")
    train.add_argument("--out", default=None, help="output folder (runs/<timestamp>)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its checkpoint up to --epochs")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--distributed", action="store_true", default=None,
                       help="data-parallel over MPI even on one rank (detected under mpiexec "
                            "with 2 or more ranks); --batch-size stays the global batch")
    train.add_argument("--pipeline", action="store_true",
                       help="cut the network into one stage per rank (mpiexec -n k) instead "
                            "of data-parallel; with --resume, continue pipelined")
    train.add_argument("--micro-batches", type=positive_int, default=None,
                       help="micro-batches per batch with --pipeline (4; on --resume, the "
                            "checkpoint's)")
    train.add_argument("--layers", type=positive_int, default=1,
                       help="hidden layers of --hidden units: 1 is the chapter's network; K > 1 "
                            "an MLP without biases, lambda on every weight (1)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="parameters and arithmetic (float32)")
    train.add_argument("--compile", action="store_true",
                       help="capture each step once and replay it (cr.compile): the same "
                            "numbers bit for bit, less Python per step; not with --pipeline")

    chapter = commands.add_parser(
        "chapter", help="backpropagate the chapter's network and print each gradient beside "
                        "its equation")
    chapter.add_argument("--hidden", type=positive_int, default=256, help="hidden units")
    chapter.add_argument("--weight-decay", type=non_negative_float, default=1e-4, help="lambda")
    chapter.add_argument("--seed", type=int, default=0, help="random seed (0)")
    add_graph_parser(commands)
    add_explain_parser(commands)
    add_memory_parser(commands)
    add_partition_parser(commands)
    return parser


def _train(args) -> int:
    from ..train import Config, TrainingInterrupted, exit_status, train

    refusal = None
    if args.resume and args.out is None:
        refusal = "--resume needs --out, the folder of the run to continue"
    elif args.pipeline and args.distributed:
        refusal = ("--pipeline and --distributed are two ways to use the ranks; pass one of "
                   "them")
    elif args.micro_batches is not None and not args.pipeline:
        refusal = "--micro-batches needs --pipeline (data-parallel runs take whole batches)"
    elif args.compile and args.pipeline:
        refusal = ("--compile replays whole steps on one rank's network; a pipeline's stages "
                   "send and receive between operators: drop one of them")
    if refusal is not None:
        if is_root_process():
            print(f"chainrule train: error: {refusal}", file=sys.stderr)
        return 2
    config = Config(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
                    batch_size=args.batch_size, lr=args.lr, hidden=args.hidden,
                    weight_decay=args.weight_decay, seed=args.seed, out=args.out,
                    resume=args.resume, progress=not args.no_progress,
                    distributed=args.distributed, pipeline=args.pipeline,
                    micro_batches=args.micro_batches, layers=args.layers, dtype=args.dtype,
                    compile=args.compile)
    try:
        train(config)
    except TrainingInterrupted as stop:         # every rank agreed to stop
        if is_root_process():
            print(f"chainrule train: {stop}", file=sys.stderr)
        return exit_status(stop.signum)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "train":
            return _train(args)
        if args.command in ("graph", "explain", "memory", "partition"):
            return args.func(args)
        if args.command == "chapter":
            from ..viz.chapter import chapter_report

            print(chapter_report(hidden=args.hidden, weight_decay=args.weight_decay,
                                 seed=args.seed))
            return 0
    except ChainruleError as error:
        return fail(f"chainrule {args.command}", error)
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
