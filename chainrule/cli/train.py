"""The ``chainrule train`` command (wired in by :mod:`chainrule.cli.main`): the main job.

``chainrule train [--epochs N] [--hidden H] [--layers K] [--out DIR] [--resume] ...`` trains
the chapter's network (or an MLP of K hidden layers) by minibatch SGD with
:func:`chainrule.train.train`; see ``chainrule train --help`` for every flag.  Flags that
cannot run together, and sizes that would not fit in this machine's memory, are refused here,
before the data is read.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

from ..distributed import is_root_process
from .args import (UsageError, check_device, check_fits, non_negative_float, output_folder,
                   positive_float, positive_int, seed)

__all__ = ["add_train_parser", "train_command"]


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``train`` command to an ``add_subparsers()`` object; returns its parser."""
    train = subparsers.add_parser(
        "train", help="train the chapter's network by minibatch SGD (the main job)")
    train.add_argument("--dataset", choices=["fashion-mnist", "digits"], default=None,
                       help="Fashion-MNIST when its files are found, else the embedded digits")
    train.add_argument("--data-dir", default=None,
                       help="folder with the Fashion-MNIST IDX files (then $CHAINRULE_DATA, "
                            "then /usr/share/datasets/fashion-mnist)")
    train.add_argument("--epochs", type=positive_int, default=10, help="epochs (10)")
    train.add_argument("--batch-size", type=positive_int, default=None,
                       help="minibatch size (256 on Fashion-MNIST, 32 on the digits; 64 for "
                            "lenet-relu)")
    train.add_argument("--lr", type=positive_float, default=None,
                       help="learning rate (0.1; 0.9 for lenet, the book's; 0.1 for lenet-relu)")
    train.add_argument("--model", choices=["mlp", "lenet", "lenet-relu"], default="mlp",
                       help="mlp: the chapter's network (--hidden, --layers); lenet: the next "
                            "chapter's LeNet (sigmoid, average pooling); lenet-relu: ReLU and "
                            "max pooling (mlp)")
    train.add_argument("--hidden", type=positive_int, default=None, help="hidden units (256)")
    train.add_argument("--weight-decay", type=non_negative_float, default=None,
                       help="lambda in s = lambda/2 (|W1|^2 + |W2|^2) (1e-4)")
    train.add_argument("--seed", type=seed, default=None, help="random seed (0)")
    train.add_argument("--out", type=output_folder, default=None,
                       help="output folder (runs/<timestamp>)")
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
    train.add_argument("--schedule", choices=["1f1b", "gpipe"], default=None,
                       help="the pipeline's order with --pipeline: 1f1b keeps at most as many "
                            "micro-batches in flight as there are stages, gpipe all of them "
                            "(1f1b)")
    train.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="N",
                       help="also write the checkpoint every N steps, not only at epoch ends "
                            "(what `chainrule launch --max-restarts` restarts from)")
    train.add_argument("--layers", type=positive_int, default=None,
                       help="hidden layers of --hidden units: 1 is the chapter's network; K > 1 "
                            "an MLP without biases, lambda on every weight (1)")
    train.add_argument("--dtype", choices=["float32", "float64"], default=None,
                       help="parameters and arithmetic (float32)")
    train.add_argument("--compile", action="store_true",
                       help="capture each step once and replay it (cr.compile): the same "
                            "numbers bit for bit, less Python per step; not with --pipeline")
    train.add_argument("--device", default="cpu",
                       help="where the model computes: cpu, or cuda (a GPU through CuPy: pip "
                            "install 'chainrule[cuda]') (cpu)")
    train.set_defaults(func=train_command)
    return train


def check_train_args(args: argparse.Namespace) -> None:
    """Refuse flags that cannot run together, and a network too big for this machine."""
    if args.resume and args.out is None:
        raise UsageError("--resume needs --out, the folder of the run to continue")
    if args.pipeline and args.distributed:
        raise UsageError("--pipeline and --distributed are two ways to use the ranks; pass "
                         "one of them")
    if args.micro_batches is not None and not args.pipeline:
        raise UsageError("--micro-batches needs --pipeline (data-parallel runs take whole "
                         "batches)")
    if args.schedule is not None and not args.pipeline:
        raise UsageError("--schedule orders a pipeline's micro-batches; it needs --pipeline")
    if args.pipeline and args.model != "mlp":
        raise UsageError(f"--pipeline cuts an MLP's layers into stages; --model {args.model} "
                         "trains in one process or data-parallel: drop --pipeline")
    check_device(args.device)
    if args.device != "cpu" and args.pipeline:
        raise UsageError(f"--device {args.device}: a pipeline's stages run on the CPU for now; "
                         "drop --pipeline, or train on the CPU")
    if args.compile and args.pipeline:
        raise UsageError("--compile replays whole steps on one rank's network; a pipeline's "
                         "stages send and receive between operators: drop one of them")
    if not args.resume:     # a resumed run's sizes are its checkpoint's
        flags = {"--hidden": args.hidden, "--layers": args.layers}
        if args.batch_size is not None:
            flags["--batch-size"] = args.batch_size
        check_fits(flags, 784, args.hidden, args.layers, 10, np.dtype(args.dtype).itemsize,
                   args.batch_size or 256)


def _given(args: argparse.Namespace) -> frozenset:
    """The settings a checkpoint fixes that the command line names, so that ``--resume`` can
    refuse any that differ from the checkpoint's, even one equal to the default; the others
    take :class:`~chainrule.train.Config`'s defaults here."""
    from ..train import Config
    from ..train.config import FIXED_BY_CHECKPOINT

    given = frozenset(name for name in FIXED_BY_CHECKPOINT if getattr(args, name) is not None)
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    for name in FIXED_BY_CHECKPOINT.keys() - {"lr", "batch_size"}:   # None: the model's, the
        if getattr(args, name) is None:                              # dataset's
            setattr(args, name, defaults[name])
    return given


def train_command(args: argparse.Namespace) -> int:
    """Train as ``args`` asks; returns the exit status (``128 + signal`` when stopped)."""
    from ..train import Config, TrainingInterrupted, exit_status, train

    given = _given(args)
    if args.batch_size is None and not args.resume:      # the model's own, where it has one
        from ..train.config import MODEL_BATCH
        args.batch_size = MODEL_BATCH.get(args.model)
    check_train_args(args)
    config = Config(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
                    batch_size=args.batch_size, lr=args.lr, hidden=args.hidden,
                    weight_decay=args.weight_decay, seed=args.seed, out=args.out,
                    resume=args.resume, progress=not args.no_progress,
                    distributed=args.distributed, pipeline=args.pipeline,
                    micro_batches=args.micro_batches, layers=args.layers, dtype=args.dtype,
                    compile=args.compile, schedule=args.schedule or "1f1b",
                    checkpoint_every=args.checkpoint_every, model=args.model,
                    device=args.device)
    try:
        train(config, given)
    except TrainingInterrupted as stop:         # every rank agreed to stop
        if is_root_process():
            print(f"chainrule train: {stop}", file=sys.stderr)
        return exit_status(stop.signum)
    return 0
