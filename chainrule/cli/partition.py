"""The ``chainrule partition`` command (wired in by :mod:`chainrule.cli.main`).

``chainrule partition --layers K --hidden H --batch-size B --devices k --memory-per-device M``
prints the pipeline plan of an MLP of K hidden layers of H units (784 inputs, 10 classes, no
bias): where to cut it into k stages so each fits in M bytes, what each stage holds and
computes, and the bytes that cross each cut per step (:mod:`chainrule.distributed.planner`).
``--schedule 1f1b|gpipe`` and ``--micro-batches m`` fix the pipeline's order and
micro-batches; left out, the planner chooses them too (the fastest step that fits, then the
smallest peak).  With ``--compare`` it also measures, with k ranks on this machine, the k-way
pipeline (GPipe and 1F1B) against one process with a batch k times smaller and against
k-rank data-parallel training (:mod:`chainrule.distributed.compare`).

``--model lenet``, ``lenet-relu`` or ``vgg`` plans a CNN instead (on 1x28x28 images; the
layer flags then do not apply): stages are whole units, a convolution with its activation
and pool, and each cut names the map that crosses it, e.g. ``(256, 6, 14, 14) float32``
(:func:`chainrule.distributed.planner.plan_cnn`).  The pipeline sends rows, not maps, so
``--compare`` runs MLPs only and refuses a CNN in one line.

Sizes are bytes, or a number with a unit: ``512MiB``, ``1GiB``, ``1.5GiB`` (powers of 1024),
``300MB``, ``2GB`` (powers of 1000), ``4096B`` (:func:`chainrule.cli.args.parse_size`).
"""

from __future__ import annotations

import argparse

from .args import UsageError, check_fits, parse_size, positive_float, positive_int
from ..errors import ChainruleError
from ..memory import format_bytes
from ..models import CNNS

__all__ = ["add_partition_parser", "partition_command", "parse_size", "comparison_table"]

def add_partition_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``partition`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "partition", help="plan a pipeline: cut an MLP into stages that fit each device, "
                          "and (--compare) measure it against a smaller batch and "
                          "data-parallel")
    parser.add_argument("--model", choices=("mlp", *CNNS), default="mlp",
                        help="mlp: an MLP of --layers x --hidden; lenet, lenet-relu, vgg: a "
                             "CNN on 28x28 images, cut between its convolution units (mlp)")
    parser.add_argument("--layers", type=positive_int, default=None,
                        help="hidden layers of the MLP (4)")
    parser.add_argument("--hidden", type=positive_int, default=None,
                        help="units per hidden layer of the MLP (1024)")
    parser.add_argument("--batch-size", type=positive_int, default=256,
                        help="examples per step, all micro-batches together (256)")
    parser.add_argument("--devices", type=positive_int, default=2,
                        help="devices (pipeline stages, MPI ranks) (2)")
    parser.add_argument("--memory-per-device", type=parse_size, required=True, metavar="SIZE",
                        help="memory of each device, e.g. 512MiB, 1GiB, 300MB")
    parser.add_argument("--micro-batches", type=positive_int, default=None,
                        help="micro-batches per step (default: the planner chooses among "
                             "1, 2, 4, 8, 16)")
    parser.add_argument("--schedule", choices=["1f1b", "gpipe"], default=None,
                        help="the pipeline's order (default: the planner chooses; 1f1b holds "
                             "at most k - r micro-batches on stage r, gpipe all of them)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="parameter and activation dtype (float32)")
    parser.add_argument("--inputs", type=positive_int, default=None,
                        help="the MLP's input width (784; with --compare, the dataset's: 784 "
                             "or 64)")
    parser.add_argument("--classes", type=positive_int, default=10, help="classes (10)")
    parser.add_argument("--bias", action="store_true", help="the MLP's Linear layers with bias")
    parser.add_argument("--momentum", action="store_true",
                        help="count SGD momentum buffers (one per parameter)")
    parser.add_argument("--compare", action="store_true",
                        help="also measure pipeline, one process with batch B/k, and "
                             "data-parallel on k ranks here")
    parser.add_argument("--epochs", type=positive_int, default=1,
                        help="epochs of each --compare run (1)")
    parser.add_argument("--examples", type=positive_int, default=None,
                        help="train --compare runs on the first N training examples")
    parser.add_argument("--dataset", choices=["fashion-mnist", "digits"], default=None,
                        help="--compare data: Fashion-MNIST when found, else the digits")
    parser.add_argument("--data-dir", default=None, help="folder with Fashion-MNIST")
    parser.add_argument("--lr", type=positive_float, default=0.1,
                        help="SGD learning rate of the --compare runs (0.1)")
    parser.set_defaults(func=partition_command)
    return parser


def comparison_table(results: list[dict], devices: int) -> str:
    """The measured comparison as a table, one row per mode, columns two spaces apart."""
    names = {"pipeline": f"{devices}-stage pipeline", "single": "1 process, batch / k",
             "data-parallel": f"{devices}-rank data-parallel"}
    shown = {"1f1b": "1F1B", "gpipe": "GPipe"}
    widths = (28, 5, 22, 8, 15, 8)
    rows = [("", "batch", "peak per rank", "epoch", "MPI bytes/epoch", "test acc")]
    for r in results:
        name = names.get(r["mode"], r["mode"])
        if r.get("schedule"):
            name = f"{name}, {shown.get(r['schedule'], r['schedule'])}"
        rows.append((name, str(r["batch_size"]),
                     " / ".join(format_bytes(p) for p in r["peak_bytes"]),
                     f"{r['epoch_seconds']:.3g} s", format_bytes(r["bytes"]),
                     f"{r['accuracy']:.4f}"))
    return "\n".join(row[0].ljust(widths[0]) + "".join(
        "  " + cell.rjust(width) for cell, width in zip(row[1:], widths[1:])) for row in rows)


def partition_command(args: argparse.Namespace) -> int:
    """Print the plan (and with ``--compare`` the measured comparison); returns the status."""
    from ..distributed.planner import plan_cnn, plan_mlp

    if args.model != "mlp":
        return _plan_cnn(args, plan_cnn)
    args.layers = 4 if args.layers is None else args.layers
    args.hidden = 1024 if args.hidden is None else args.hidden
    dataset, inputs = None, args.inputs or 784
    if args.compare:
        from ..data import find_fashion_mnist

        dataset = args.dataset or ("fashion-mnist" if find_fashion_mnist(args.data_dir)
                                   else "digits")
        inputs = args.inputs or (784 if dataset == "fashion-mnist" else 64)
        if inputs != (784 if dataset == "fashion-mnist" else 64):
            raise ChainruleError(f"partition --compare: --inputs {inputs} does not match "
                                 f"{dataset}; leave --inputs out to use the dataset's width")
    itemsize = 4 if args.dtype == "float32" else 8
    flags = {"--hidden": args.hidden, "--layers": args.layers, "--inputs": inputs,
             "--classes": args.classes}
    if args.compare:                    # then it trains too
        flags["--batch-size"] = args.batch_size
    check_fits(flags, inputs, args.hidden, args.layers, args.classes, itemsize,
               args.batch_size if args.compare else 0, gradients=args.compare)
    plan = plan_mlp(args.layers, args.hidden, args.batch_size, args.devices,
                    args.memory_per_device, args.micro_batches, inputs=inputs,
                    classes=args.classes, dtype=args.dtype, bias=args.bias,
                    momentum=args.momentum, schedule=args.schedule)
    print(plan.format())
    if not args.compare:
        return 0
    from ..distributed import compare

    print(f"\nmeasured on this machine: {dataset}"
          f"{f' (first {args.examples} examples)' if args.examples else ''}, "
          f"{args.epochs} epoch(s) each, the same examples in the same order, SGD lr "
          f"{args.lr:g}, each rank (and the one process) on 1/{args.devices} of the cores")
    results = compare.run(args.devices, layers=args.layers, hidden=args.hidden,
                          batch_size=args.batch_size, micro_batches=plan.micro_batches,
                          bounds=plan.bounds, dtype=args.dtype, epochs=args.epochs,
                          examples=args.examples or 0, dataset=dataset,
                          data_dir=args.data_dir, lr=args.lr)
    print(comparison_table(results, args.devices))
    return 0


def _plan_cnn(args: argparse.Namespace, plan_cnn) -> int:
    """Print the plan of the CNN ``args.model``, refusing the flags that are the MLP's."""
    given = [flag for flag, value in (("--layers", args.layers), ("--hidden", args.hidden),
                                      ("--inputs", args.inputs), ("--bias", args.bias or None))
             if value is not None]
    if given:
        raise UsageError(f"{given[0]} sizes the MLP; --model {args.model} has fixed layers on "
                         "1x28x28 images: drop it, or pass --model mlp")
    if args.compare:
        raise UsageError(f"--compare with --model {args.model}: the pipeline sends (rows, "
                         "width) arrays between ranks, not a CNN's (N, C, H, W) maps, so a "
                         "CNN's plan is printed but not run; drop --compare, or pass --model "
                         "mlp")
    plan = plan_cnn(args.model, args.batch_size, args.devices, args.memory_per_device,
                    args.micro_batches, classes=args.classes, dtype=args.dtype,
                    momentum=args.momentum, schedule=args.schedule)
    print(plan.format())
    return 0
