"""Grad modes: the switches every operator call reads, and the helpers of the graph walks.

``mode`` holds, per thread, whether operators are recorded (``no_grad`` / ``enable_grad``), anomaly
detection, the forward-mode levels in flight, whether a first-order backward is running its
rules on plain arrays (``raw``), and the tape of a trace (:mod:`chainrule.replay`).
"""

from __future__ import annotations

import functools
import gc
import os
import threading
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from ..errors import DTypeError, ReplayError

__all__ = ["mode", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "detect_anomaly", "gc_paused", "user_frames", "refuse_in_trace"]


class _Mode(threading.local):
    """The switches read on every operator call, one set per thread (as in PyTorch).

    A ``threading.local``: each thread starts with grad mode on, no anomaly detection, no
    forward-mode levels, no raw backward and no tape, whatever another thread is doing, so a
    ``no_grad()`` block in one thread never drops nodes from a graph another thread records.
    An attribute of a thread-local costs more to read than a slot, so the usual call reads
    two: ``grad_enabled`` and ``special``, which is true when forward mode, anomaly detection,
    a raw backward or a trace is on (kept up to date on every write).
    """

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.fwd_levels: list[int] = []
        self.raw = False            # inside a first-order backward: operators return arrays
        self.tape = None            # chainrule.replay is tracing: every operator call is kept

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if name in _SPECIAL and hasattr(self, "tape"):
            # one flag for the rare cases, so the usual call reads two attributes, not five
            super().__setattr__("special", bool(self.fwd_levels or self.anomaly or self.raw
                                                or self.tape is not None))


    def switch(self, grad_enabled: bool, anomaly: bool, raw: bool) -> tuple[bool, bool, bool]:
        """Set grad mode, anomaly detection and ``raw`` at once (one update of ``special``, for
        the backward walk, which sets all three and then puts them back); return the old ones."""
        own = self.__dict__         # this thread's attributes: one lookup, then a dict's speed
        old = (own["grad_enabled"], own["anomaly"], own["raw"])
        own["grad_enabled"] = grad_enabled
        own["anomaly"] = anomaly
        own["raw"] = raw
        own["special"] = bool(own["fwd_levels"] or anomaly or raw or own["tape"] is not None)
        return old


_SPECIAL = frozenset({"anomaly", "fwd_levels", "raw", "tape"})
mode = _Mode()


def is_grad_enabled() -> bool:
    """Return whether operators are being recorded."""
    return mode.grad_enabled


class _GradMode:
    """Grad mode ``enabled`` inside a ``with`` block, restored after it; also a decorator
    (``@cr.no_grad()`` runs the whole function in that mode), as in PyTorch.

    A small class rather than a generator: a ``with no_grad():`` costs two attribute writes,
    which matters in the loops that wrap every update in one.
    """

    __slots__ = ("enabled", "previous")

    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        self.previous = True

    def __enter__(self) -> None:
        own = mode.__dict__          # this thread's switches (grad mode is not in `special`)
        self.previous = own["grad_enabled"]
        own["grad_enabled"] = self.enabled

    def __exit__(self, *exc) -> bool:
        mode.__dict__["grad_enabled"] = self.previous
        return False

    def __call__(self, fn: Callable) -> Callable:
        enabled = self.enabled

        @functools.wraps(fn)
        def in_mode(*args, **kwargs):
            with _GradMode(enabled):
                return fn(*args, **kwargs)
        return in_mode


class set_grad_enabled(_GradMode):  # noqa: N801  (PyTorch's name)
    """Switch recording on or off: at once when called (``cr.set_grad_enabled(False)`` turns
    it off until it is turned on again), and back to the previous state at the end of a
    ``with`` block, as PyTorch's ``torch.set_grad_enabled`` does.

    >>> import chainrule as cr
    >>> with cr.set_grad_enabled(False):
    ...     cr.is_grad_enabled()
    False
    >>> cr.is_grad_enabled()
    True
    """

    __slots__ = ()

    def __init__(self, enabled: bool) -> None:
        if not isinstance(enabled, (bool, int, np.bool_)):     # "no" would read as True
            raise DTypeError(f"set_grad_enabled({enabled!r}): pass True or False")
        super().__init__(enabled)
        self.previous = mode.grad_enabled
        mode.grad_enabled = self.enabled

    def __enter__(self) -> None:
        pass                # the switch happened when the object was made

    def __call__(self, fn: Callable) -> Callable:
        mode.grad_enabled = self.previous       # as a decorator: only inside the function
        return super().__call__(fn)


def no_grad() -> _GradMode:
    """Record nothing and save no intermediates inside the block (prediction mode).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = (w * w).sum()
    >>> y.requires_grad
    False
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Record operators inside the block, even within ``no_grad()``."""
    return _GradMode(True)


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise :class:`AnomalyError` at the first operator whose forward or backward gives NaN/inf.

    The error names the operator, its input shapes and the line of user code that created it.
    When the mode is off, operators pay one attribute read for it.
    """
    previous = mode.anomaly
    mode.anomaly = True
    try:
        yield
    finally:
        mode.anomaly = previous


class gc_paused:  # noqa: N801  (used like a function: ``with gc_paused():``)
    """Pause the cyclic garbage collector inside a graph walk.

    The walks allocate a little per node while a large graph is alive, and every full
    collection would rescan that whole graph (measured: 3.3 us per node with it on, 0.8 off,
    for a 300,000-node graph).  Graphs hold no reference cycles, so reference counting frees
    everything as usual meanwhile; the collector is switched back on at the end.
    """

    __slots__ = ("was_enabled",)

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> bool:
        if self.was_enabled:
            gc.enable()
        return False


# the chainrule package (this file is in chainrule/core/)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_frames(stack: traceback.StackSummary) -> str:
    """The innermost frames of ``stack`` outside chainrule itself, formatted."""
    frames = [f for f in stack if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
    return "".join(traceback.format_list(frames[-2:]))


def refuse_in_trace(t, what: str) -> None:
    """Refuse turning tensor ``t`` into a Python value inside a trace (``mode.tape`` is set):
    a replay would keep the traced call's value, or branch, for every later input."""
    where = user_frames(traceback.extract_stack()).strip() or "(unknown)"
    raise ReplayError(
        f"{what} on a tensor (shape {t.shape}) inside a function traced by "
        f"cr.compile/cr.trace: the plan would replay this call's value for every input.\n"
        f"{where}\nKeep the value a tensor (cr.where(c, a, b) for a branch), or compute it "
        "outside the traced function and pass it in as an argument")
