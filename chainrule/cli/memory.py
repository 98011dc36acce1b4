"""The ``chainrule memory`` command (wired in by :mod:`chainrule.cli`).

``chainrule memory --batch-size N [N ...] --hidden H --layers K [--measure]`` prints, for each
batch size, the predicted footprint of one training step and of one prediction of an MLP with
K hidden layers of H units (``--layers 1`` is the chapter's network: 784-H-10, no bias,
weight decay 1e-4); with ``--measure`` it also runs them once at that size under tracemalloc.
``--table`` adds the per-operator table of what the graph saves.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

import numpy as np

from ..core.modes import no_grad, set_grad_enabled
from ..memory.report import MemoryReport, format_bytes, model_io, predict
from ..models import MLP, ChapterMLP
from ..core.tensor import Tensor

__all__ = ["add_memory_parser", "memory_command", "build_model", "measure"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def add_memory_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``memory`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "memory", help="predict (and with --measure, measure) the memory of a training step "
                       "and of a prediction")
    parser.add_argument("--batch-size", type=_positive, nargs="+", default=[256], metavar="N",
                        help="one or more batch sizes (256)")
    parser.add_argument("--hidden", type=_positive, default=256, help="hidden units (256)")
    parser.add_argument("--layers", type=_positive, default=1,
                        help="hidden layers; 1 is the chapter's network (1)")
    parser.add_argument("--inputs", type=_positive, default=784, help="input width (784)")
    parser.add_argument("--classes", type=_positive, default=10, help="output width (10)")
    parser.add_argument("--weight-decay", type=_non_negative, default=1e-4,
                        help="lambda of the penalty s (1e-4)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="parameter and activation dtype (float32)")
    parser.add_argument("--measure", action="store_true",
                        help="also run one step and one prediction at each size under "
                             "tracemalloc")
    parser.add_argument("--table", action="store_true",
                        help="print the per-operator table of what the graph saves")
    parser.set_defaults(func=memory_command)
    return parser


def build_model(hidden: int = 256, layers: int = 1, inputs: int = 784, classes: int = 10,
                weight_decay: float = 1e-4, dtype: str = "float32"):
    """The chapter's network for ``layers=1``, else an MLP with ``layers`` hidden layers.

    Both without bias and with the chapter's penalty, so depth is the only difference.
    """
    if layers == 1:
        return ChapterMLP(inputs, hidden, classes, weight_decay=weight_decay,
                          dtype=np.dtype(dtype), seed=0)
    return MLP([inputs] + [hidden] * layers + [classes], bias=False,
               weight_decay=weight_decay, dtype=np.dtype(dtype), seed=0)


def measure(model, batch_size: int, *, seed: int = 0) -> dict[str, int]:
    """Run one training step and one prediction at ``batch_size`` under :mod:`tracemalloc`.

    Returns ``{"training_bytes": ..., "prediction_bytes": ...}``, each the traced peak beyond
    what existed before (the parameters and the input batch, made first): the step is
    ``J = model.objective(x, y); J.backward()``, the prediction ``model(x)`` under
    ``no_grad()``.  Each runs twice and the second counts (the first warms caches up).  The
    parameters' ``.grad`` are put back as they were.
    """
    inputs, classes, dtype = model_io(model)
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((batch_size, inputs)).astype(dtype), name="x")
    y = rng.integers(0, classes, batch_size)
    params = model.parameters()
    grads = [p.grad for p in params]
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()

    def peak(fn) -> int:
        for p in params:
            p.grad = None
        model.clear_intermediates()
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base

    def step() -> None:
        with set_grad_enabled(True):
            model.objective(x, y).backward()

    def prediction() -> None:
        with no_grad():
            model(x)

    try:
        result = {}
        for _ in range(2):
            result = {"training_bytes": peak(step), "prediction_bytes": peak(prediction)}
        return result
    finally:
        if started:
            tracemalloc.stop()
        model.clear_intermediates()
        for p, g in zip(params, grads):
            p.grad = g


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
    model = build_model(args.hidden, args.layers, args.inputs, args.classes,
                        args.weight_decay, args.dtype)
    widths = "-".join(str(w) for w in [args.inputs] + [args.hidden] * args.layers
                      + [args.classes])
    kind = "the chapter's network" if args.layers == 1 else f"an MLP of {args.layers} layers"
    params = sum(p.data.nbytes for p in model.parameters())
    print(f"chainrule memory: {kind}, {widths}, no bias, {args.dtype}, weight decay "
          f"{args.weight_decay:g}")
    print(f"parameters {format_bytes(params)} ({params:,} B), and their gradients as much "
          "again; peaks are beyond the parameters and the input batch")
    for n in args.batch_size:
        predicted = predict(model, n)
        measured = measure(model, n) if args.measure else None
        print()
        if args.table:
            print(predicted)
            print()
        print("\n".join(_block(n, predicted, measured)))
    return 0
