"""The ``chainrule memory`` command (wired in by :mod:`chainrule.cli.main`).

``chainrule memory --batch-size N [N ...] --hidden H --layers K [--measure [--device D]]`` prints,
for each batch size, the predicted footprint of one training step and of one prediction of an
MLP with K hidden layers of H units (``--layers 1`` is the chapter's network: 784-H-10, no bias,
weight decay 1e-4); with ``--measure`` it also runs them once at that size, under tracemalloc
on the CPU or in CuPy's memory pool with ``--device cuda`` (:func:`chainrule.memory.measure`).
``--table`` adds the per-operator table of what the graph saves.  ``--model lenet``,
``lenet-relu`` or ``vgg`` sizes a CNN instead (:data:`chainrule.models.CNNS`; ``vgg`` is two
VGG blocks of 3x3 convolutions, which ``chainrule train`` does not train).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..memory import MemoryReport, format_bytes, measure, predict
from ..models import CNNS, build_cnn
from ..train.config import MODELS, build_network
from .args import UsageError, check_device, check_fits, non_negative_float, positive_int

__all__ = ["add_memory_parser", "memory_command", "CHOICES"]

CHOICES = (*MODELS, *(m for m in CNNS if m not in MODELS))    # train's models, and vgg


def add_memory_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``memory`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "memory", help="predict (and with --measure, measure) the memory of a training step "
                       "and of a prediction")
    parser.add_argument("--batch-size", type=positive_int, nargs="+", default=[256],
                        metavar="N", help="one or more batch sizes (256)")
    parser.add_argument("--model", choices=CHOICES, default="mlp",
                        help="mlp: the chapter's network (--hidden, --layers); lenet, "
                             "lenet-relu: the next chapter's LeNet; vgg: two VGG blocks "
                             "(mlp)")
    parser.add_argument("--hidden", type=positive_int, default=256, help="hidden units (256)")
    parser.add_argument("--layers", type=positive_int, default=1,
                        help="hidden layers; 1 is the chapter's network (1)")
    parser.add_argument("--inputs", type=positive_int, default=784, help="input width (784)")
    parser.add_argument("--classes", type=positive_int, default=10, help="output width (10)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=1e-4,
                        help="lambda of the penalty s (1e-4)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="parameter and activation dtype (float32)")
    parser.add_argument("--device", default="cpu",
                        help="where --measure runs the step: cpu (tracemalloc) or cuda "
                             "(CuPy's memory pool); the prediction is the same (cpu)")
    parser.add_argument("--measure", action="store_true",
                        help="also run one step and one prediction at each size under "
                             "tracemalloc")
    parser.add_argument("--table", action="store_true",
                        help="print the per-operator table of what the graph saves")
    parser.set_defaults(func=memory_command)
    return parser


def _cell(n: int | None) -> str:
    return f"{format_bytes(n):>10} {n:>13,} B" if n is not None else " " * 26


def _block(n: int, predicted: MemoryReport, measured: dict | None) -> list[str]:
    lines = [f"batch {n:<10}{'predicted':>26}" + (f"  {'measured':>26}  difference"
                                                    if measured else "")]
    rows = [("training step", predicted.training_bytes, "training_bytes"),
            ("prediction", predicted.prediction_bytes, "prediction_bytes"),
            ("  saved for backward", predicted.saved_bytes, None),
            ("  made by forward", predicted.activation_bytes, None),
            ("  gradients", predicted.gradient_bytes, None)]
    for label, value, key in rows:
        line = f"  {label:<20}{_cell(value)}"
        if measured and key:
            got = measured[key]
            line += f"  {_cell(got)}  {(value - got) / got:+.1%}"
        lines.append(line)
    return lines


def memory_command(args: argparse.Namespace) -> int:
    """Print the predicted (and measured) footprints as ``args`` asks; returns the status."""
    check_device(args.device)
    if args.device != "cpu" and not args.measure:
        raise UsageError(f"--device {args.device} chooses where --measure runs the step; the "
                         "prediction needs no device: add --measure, or drop --device")
    if args.model == "mlp":
        flags: dict[str, object] = {"--hidden": args.hidden, "--layers": args.layers,
                                    "--inputs": args.inputs, "--classes": args.classes}
        if args.measure:                    # then each batch is run, not only predicted
            flags["--batch-size"] = max(args.batch_size)
        check_fits(flags, args.inputs, args.hidden, args.layers, args.classes,
                   np.dtype(args.dtype).itemsize, max(args.batch_size) if args.measure else 0)
    if args.model in CNNS:
        model = build_cnn(args.model, args.inputs, args.classes,
                          weight_decay=args.weight_decay, dtype=np.dtype(args.dtype))
    else:
        model = build_network(args.hidden, args.layers, args.inputs, args.classes,
                              weight_decay=args.weight_decay, dtype=args.dtype, model=args.model)
    if args.model == "mlp":
        sizes = [args.inputs] + [args.hidden] * args.layers + [args.classes]
        kind = ("the chapter's network" if args.layers == 1
                else f"an MLP of {args.layers} layers")
        kind += ", " + "-".join(str(w) for w in sizes) + ", no bias"
    else:
        name = f"VGG {model.blocks}" if args.model == "vgg" else f"LeNet ({args.model})"
        kind = f"{name}, {args.inputs} inputs, {args.classes} classes"
    params = sum(p.data.nbytes for p in model.parameters())
    predictions = [predict(model, n) for n in args.batch_size]     # traced on the CPU
    if args.measure and args.device != "cpu":
        model.to(args.device)
        kind += f", measured on {args.device}"
    print(f"chainrule memory: {kind}, {args.dtype}, weight decay {args.weight_decay:g}")
    print(f"parameters {format_bytes(params)} ({params:,} B), and their gradients as much "
          "again; peaks are beyond the parameters and the input batch")
    for n, predicted in zip(args.batch_size, predictions):
        measured = measure(model, n) if args.measure else None
        print()
        if args.table:
            print(predicted)
            print()
        print("\n".join(_block(n, predicted, measured)))
    return 0
