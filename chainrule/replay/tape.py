"""The tape of :func:`chainrule.replay.trace`: every operator call, as a step over slots.

While a traced function runs, ``graph.mode.tape`` is a :class:`Tape`, and every operator call
(``Op._apply``) and every residual an operator keeps (a ReLU mask) is appended to it as
``(name, function, input slots, parameters, output slot, to_array, dynamic parameters)``.
A *slot* is a numbered place for one array: made by an earlier step, an input of the traced
function, a tensor read from outside (bound live: its current data is read at every replay),
or a constant kept as it was traced.  :class:`chainrule.replay.Plan` turns the tape into the
plan it replays.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from .. import backend
from ..core.saves import NO_PARAMS
from ..core.tensor import Tensor

__all__ = ["Tape", "dynamic_slots"]

_PLAIN = (int, float, bool, complex, str)      # their repr names the value exactly


class Tape:
    """What :func:`trace` records while ``fn`` runs: instructions over numbered slots."""

    def __init__(self) -> None:
        self.slots: dict[int, int] = {}     # id(array) -> slot
        self.keep: list = []                # every traced array, alive so ids stay unique
        self.initial: list = []             # slot -> value before the first instruction
        self.live: list[tuple[int, Tensor]] = []   # (slot, tensor): read its data per call
        self.steps: list[tuple] = []        # (name, fn, inputs, params, output, to_array,
        #                                      parameters made from traced arrays)
        self.tensors: dict[int, int] = {}   # id(outside tensor) -> its slot
        self.meta: dict[int, tuple] = {}    # slot -> its traced array's owner, shape, ...
        self.produced: set[int] = set()     # the slots steps produce
        self.literals: dict[tuple, int] = {}  # (type, repr) of a number or string -> its slot

    def new_slot(self, value: Any) -> int:
        self.initial.append(value)
        return len(self.initial) - 1

    def bind(self, array, slot: int) -> None:
        self.slots[id(array)] = slot
        self.keep.append(array)
        self.describe(array, slot)

    def describe(self, array, slot: int) -> None:
        """What :mod:`chainrule.replay.reuse` needs: who owns the memory, shape, dtype..."""
        if isinstance(array, backend.ndarray_types):
            owner = array.base if array.base is not None else array
            self.meta[slot] = (id(owner), array.shape, array.dtype, array.flags.writeable,
                               array.strides)

    def slot_of(self, a: Any) -> int:
        """The slot holding ``a``: made by an earlier step, an input, a tensor read from
        outside (bound live), or a constant."""
        if isinstance(a, Tensor):
            data = a._data
            slot = self.slots.get(id(data))
            if slot is not None:
                return slot
            slot = self.tensors.get(id(a))
            if slot is None:
                slot = self.new_slot(None)
                self.tensors[id(a)] = slot
                self.live.append((slot, a))
                self.keep.append(a)
                self.describe(data, slot)
            return slot
        if isinstance(a, backend.ndarray_types):
            slot = self.slots.get(id(a))
            if slot is None:
                slot = self.new_slot(a)
                self.bind(a, slot)
            return slot
        if type(a) in _PLAIN:                 # one slot per distinct number (y * 1.0 a
            key = (type(a), repr(a))          # million times is one constant, not a million)
            slot = self.literals.get(key)
            if slot is None:
                slot = self.literals[key] = self.new_slot(a)
            return slot
        return self.new_slot(a)               # None, a tuple, anything else: a literal

    def record(self, op, args, params, ans) -> None:
        """One operator call; a 0-d result is replayed through ``asarray`` (NumPy reductions
        return scalars, which the operator turned into arrays)."""
        ins = tuple(self.slot_of(a) for a in args)
        params, dynamic = self.split(params)
        out = self.new_slot(None)
        self.steps.append((op.name, op.forward, ins, params, out, ans.ndim == 0, dynamic))
        self.produced.add(out)
        self.bind(ans, out)

    def made(self, value) -> int | None:
        """The slot of an array (or a tensor's) made or bound during the trace, if any."""
        if isinstance(value, Tensor):
            value = value._data
        return self.slots.get(id(value)) if isinstance(value, backend.ndarray_types) else None

    def split(self, params: dict) -> tuple[dict, tuple]:
        """Parameters fixed at trace time, and those that hold traced arrays (``where``'s
        condition, an index made of the labels): ``(name, slot)`` or ``(name, parts)`` with
        ``parts`` a tuple of ``(slot, None)`` and ``(None, constant)``."""
        dynamic = []
        for name, value in params.items():
            slot = self.made(value)
            if slot is not None:
                dynamic.append((name, slot))
            elif isinstance(value, tuple) and any(self.made(v) is not None for v in value):
                dynamic.append((name, tuple((self.made(v), None) if self.made(v) is not None
                                            else (None, v) for v in value)))
        if not dynamic:
            return params or NO_PARAMS, ()     # one empty dict for every step without any
        static = {k: v for k, v in params.items() if k not in dict(dynamic)}
        return static, tuple(dynamic)

    def record_residuals(self, op, ans, args, params, values) -> None:
        """The small arrays an operator keeps for its VJP (a ReLU mask), computed by NumPy
        beside the operator: one step makes them all, one step per array picks it out."""
        ins = tuple(self.slot_of(a) for a in (ans, *args))
        params, dynamic = self.split(params)
        held = self.new_slot(None)
        self.steps.append((f"{op.name} residuals", _residuals(op), ins, params, held, False,
                           dynamic))
        for i, value in enumerate(values):
            out = self.new_slot(None)
            self.steps.append(("residual", operator.itemgetter(i), (held,), {}, out, False, ()))
            self.bind(value, out)


def _residuals(op) -> Callable:
    rule = op.residuals

    def residuals(*arrays, **params):
        return tuple(rule(*[a._data if isinstance(a, Tensor) else a for a in arrays], **params))
    return residuals


def dynamic_slots(dynamic) -> list[int]:
    """The slots that a step's dynamic parameters (see :meth:`Tape.split`) are made from."""
    slots = []
    for _, spec in dynamic:
        if isinstance(spec, int):
            slots.append(spec)
        else:
            slots.extend(slot for slot, _ in spec if slot is not None)
    return slots
