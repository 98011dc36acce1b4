"""What every subcommand shares about its arguments: value types, checks, the usage error.

Each refusal is one line that names the flag and says what to pass instead.  A type's
:class:`argparse.ArgumentTypeError` is printed by argparse as ``chainrule CMD: error: argument
--flag: ...``; a check that needs several flags, or the machine, raises :class:`UsageError`,
which :func:`chainrule.cli.main` prints as ``chainrule CMD: error: ...`` (exit status 2).

>>> positive_int("3"), positive_float("0.5"), non_negative_float("0"), seed("7")
(3, 0.5, 0.0, 7)
>>> parse_size("1.5GiB"), parse_size("300MB"), parse_size("4096")
(1610612736, 300000000, 4096)
>>> positive_float("inf")
Traceback (most recent call last):
argparse.ArgumentTypeError: must be a finite number, got 'inf'
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

__all__ = ["UsageError", "positive_int", "positive_float", "non_negative_float", "seed",
           "parse_size", "output_folder", "output_file", "add_network_options",
           "check_network_fits", "check_fits", "memory_limit", "MAX_INT"]

MAX_INT = 2**31 - 1              # counts and sizes: far beyond any run, well inside int64
_FALLBACK_MEMORY = 16 * 2**30    # where the machine's memory cannot be read
_LAYER_BYTES = 4096              # a layer's Python objects and graph nodes (about 1.5 KiB built)


class UsageError(Exception):
    """Arguments that are each valid but cannot run together, or here (one line)."""


def _number(text: str, kind: type, what: str):
    try:
        return kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _whole(text: str, low: int) -> int:
    value = _number(text, int, "a whole number")
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    if value > MAX_INT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_INT:,}, got {value:,}")
    return value


def _finite(text: str) -> float:
    value = _number(text, float, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number from 1 to :data:`MAX_INT`."""
    return _whole(text, 1)


def seed(text: str) -> int:
    """A random seed: a whole number from 0 to :data:`MAX_INT`."""
    return _whole(text, 0)


def positive_float(text: str) -> float:
    """A finite number greater than 0."""
    value = _finite(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0."""
    value = _finite(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*")


def parse_size(text: str) -> int:
    """Bytes from ``"512MiB"``, ``"1GiB"``, ``"300MB"``, ``"1.5GiB"`` or ``"4096"``; an
    :class:`argparse.ArgumentTypeError` (one line) for anything else."""
    found = _SIZE.fullmatch(text)
    unit = found.group(2).lower() if found else None
    if unit not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 512MiB, 1GiB, 300MB, 1.5GiB or a number of bytes, "
            f"got {text!r}")
    number = float(found.group(1)) * _UNITS[unit]
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite size, got {text[:40]!r}...")
    value = int(number)
    if value < 1:
        raise argparse.ArgumentTypeError(f"a size must be at least 1 byte, got {text!r}")
    return value


def _writable_ancestor(path: Path) -> None:
    """Refuse ``path`` when a part of it is a file, or its nearest existing folder is read-only."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{parent} is a file, so nothing can be made "
                                                 "under it; pass another path")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise argparse.ArgumentTypeError(f"cannot write in {parent}; pass a folder you "
                                                 "can write to")
            return


def output_folder(text: str) -> str:
    """A folder to write a run into: an existing folder, or one that can be made."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty path")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; pass a folder (it "
                                         "is made if missing)")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write in {text}; pass a folder you can "
                                         "write to")
    _writable_ancestor(path)
    return text


def output_file(text: str) -> str:
    """A file to write: not a folder, and under a folder that exists or can be made."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file name, got an empty path")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; pass a file name in it, such "
                                         f"as {path / 'graph.svg'}")
    _writable_ancestor(path)
    return text


def check_device(name: str) -> None:
    """Refuse a ``--device`` chainrule cannot compute on here, saying what to install."""
    from ..core.device import device
    from ..errors import DeviceError

    try:
        device(name)
    except DeviceError as exc:
        raise UsageError(f"--device {name}: {exc}") from None


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """``--batch-size``, ``--hidden`` and ``--bias``: the chapter's network as ``graph`` and
    ``explain`` record it (:func:`chainrule.viz.build_chapter_graph`)."""
    parser.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                        help="a minibatch of N examples (default: one example, as the chapter)")
    parser.add_argument("--hidden", type=positive_int, default=None,
                        help="hidden units (256)")
    parser.add_argument("--bias", action="store_true",
                        help="add the hidden bias b1 of exercise 2 (not regularised)")


def check_network_fits(args: argparse.Namespace) -> None:
    """Refuse a chapter network (``--hidden``, ``--batch-size``: float64, as ``graph`` and
    ``explain`` record it) too big for this machine, and the chapter network's flags with
    ``--model`` a CNN (which has layers of its own); fills in ``--hidden``'s default."""
    model = getattr(args, "model", "mlp")
    if model != "mlp":
        for flag, given in (("--hidden", args.hidden is not None), ("--bias", args.bias)):
            if given:
                raise UsageError(f"{flag} shapes the chapter's network (--model mlp); "
                                 f"--model {model} has layers of its own: drop {flag}")
        return
    if args.hidden is None:
        args.hidden = 256
    flags: dict[str, object] = {"--hidden": args.hidden}
    if args.batch_size is not None:
        flags["--batch-size"] = args.batch_size
    check_fits(flags, 784, args.hidden, 1, 10, 8, args.batch_size or 1)


def memory_limit() -> int:
    """This machine's memory in bytes (16 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_MEMORY


def check_fits(flags: dict[str, object], inputs: int, hidden: int, layers: int, outputs: int,
               itemsize: int, batch: int = 0, *, gradients: bool = True,
               limit: int | None = None) -> int:
    """Refuse an MLP (``inputs``, ``layers`` hidden layers of ``hidden`` units, ``outputs``)
    too big for this machine; returns the estimate in bytes.

    The estimate is a lower bound of a step's memory: the parameters, their gradients, one
    batch's activations and each layer's Python objects; it is refused above ``limit`` (the
    machine's memory).  ``flags`` are the sizes' flags and values, named in the refusal;
    ``gradients=False`` counts the parameters alone (a model built, never run).  Arithmetic
    only: nothing is allocated.

    >>> check_fits({"--hidden": 8}, 784, 8, 1, 10, 4)     # 2 x 6,352 float32, 2 layers
    59008
    >>> check_fits({"--hidden": 10**9}, 784, 10**9, 1, 10, 4, limit=2**30)
    Traceback (most recent call last):
    chainrule.cli.args.UsageError: --hidden 1000000000: about 5,915.8 GiB for the parameters, \
their gradients and the activations, more than this machine's 1.0 GiB; pass smaller sizes
    """
    parameters = inputs * hidden + (layers - 1) * hidden * hidden + hidden * outputs
    activations = batch * (inputs + layers * hidden + outputs)
    estimate = ((2 if gradients else 1) * parameters + 3 * activations) * itemsize \
        + (layers + 1) * _LAYER_BYTES
    limit = memory_limit() if limit is None else limit
    if estimate > limit:
        said = " ".join(f"{flag} {value}" for flag, value in flags.items())
        what = ("the parameters, their gradients and the activations" if gradients
                else "the parameters")
        raise UsageError(f"{said}: about {estimate / 2**30:,.1f} GiB for {what}, more than "
                         f"this machine's {limit / 2**30:,.1f} GiB; pass smaller sizes")
    return estimate
