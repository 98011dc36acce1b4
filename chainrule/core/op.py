"""``Op``: one record per operator, and the call that runs and records it.

An operator is declared once, with

- ``forward(*arrays, **params) -> array``, on the backend's arrays;
- ``vjp``: one rule per input, ``rule(g, *saved, **params) -> Tensor``, written in chainrule's
  own operators so the backward pass is itself differentiable (``None`` for an input that takes
  no gradient);
- ``jvp``: ``ELEMENTWISE`` (the Jacobian is diagonal: the tangent is the VJP rules applied to
  the tangents), ``LINEAR`` (the op applied to the tangents), ``MULTILINEAR`` (the sum over
  inputs of the op with one input replaced by its tangent), or a rule
  ``rule(tangents, *saved, **params)`` with ``None`` for absent tangents;
- ``saves``: the names of what backward keeps: inputs by name, ``"ans"`` for the output, and
  ``"x.shape"``/``"x.dtype"`` for metadata only; plus ``residuals(ans, *arrays, **params)``
  for small non-differentiable arrays (a ReLU mask); a recorded node keeps only what the
  rules of its inputs that take a gradient read (:mod:`chainrule.core.saves`);
- ``samples`` and ``bad_inputs``: the test inputs (with their domain) and the inputs that must
  raise, which the generated tests consume;
- ``view``, ``book`` and ``memory``: whether its output shares its input's memory, how the
  chapter writes it, and what the memory model replays (:mod:`chainrule.core.fields`), read by
  the drawings, the derivation and :mod:`chainrule.memory` instead of its name.

A rule uses only chainrule's functions and the arithmetic operators, never tensor-only methods:
the same rule runs on tensors when the backward pass is recorded (``create_graph=True`` or
forward mode), and on plain arrays in a first-order backward, where every operator returns an
array and NumPy does the work without dispatch.

Elementwise operators broadcast explicitly: an input that needs a gradient and has a smaller
shape than the output is first passed through the recorded ``broadcast_to``, whose VJP is
``sum_to``, so no elementwise rule ever un-broadcasts by hand.
"""

from __future__ import annotations

import traceback
from typing import Callable

import numpy as np

from .. import backend
from ..errors import AnomalyError, ChainruleError, DeviceError, DTypeError, ShapeError
from .device import device_of
from .graph import Node
from .modes import mode, user_frames
from . import dtypes
from .cases import BadInput, Sample
from . import saves as node_saves
from .dtypes import F64
from .fields import Book, Memory
from .saves import dtype_of as _dtype
from .saves import shape_of as _shape
from .tangents import ELEMENTWISE, LINEAR, MULTILINEAR, push_tangents
from .tensor import Tensor

__all__ = ["Op", "OPS", "ELEMENTWISE", "LINEAR", "MULTILINEAR", "Sample", "BadInput"]


OPS: dict[str, Op] = {}

#: The array type of the active placement (``backend.array_type``), kept here for the hot path.
_ARRAY: type = backend.array_type
#: What is never an array of some device: numbers, NumPy's scalars, ``None``.
PLAIN = frozenset({int, float, bool, complex, type(None), np.float64, np.float32, np.float16,
                   np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_})


class Op:
    """A primitive operator: forward, VJP and JVP rules, saves, samples and bad inputs."""

    def __init__(self, name: str, forward: Callable, *, inputs: tuple[str, ...] | str,
                 vjp=None, jvp=None, saves: tuple[str, ...] = (), residuals=None,
                 elementwise: bool = False, view: bool | Callable = False, samples=None,
                 bad_inputs=None, hint: str = "", doc: str = "", book: Book | None = None,
                 memory: Memory | None = None, promotes: str | None = None):
        if name in OPS:
            raise ValueError(f"operator {name!r} is declared twice")
        self.name = name
        self._forward = forward
        self.forward = _resolve(forward)
        self.variadic = isinstance(inputs, str)
        self.inputs = (inputs,) if self.variadic else tuple(inputs)
        self.vjp = vjp
        self.jvp = jvp
        self.saves = tuple(saves)
        self.residuals = residuals
        self.elementwise = elementwise
        # PyTorch's dtype of a mixed call (core/dtypes.py): "same" keeps the inputs' kind,
        # "float" always gives a float (exp, true division); None: NumPy's dtype as it is
        self.promotes = promotes
        self.view = view            # the output shares its first input's memory (see is_view)
        self.book = book or Book()
        self.memory = memory or Memory()
        self.samples = samples
        self.bad_inputs = bad_inputs
        self.hint = hint
        self.__doc__ = doc or f"The '{name}' operator."
        self._plan = node_saves.compile_plan(name, self.saves, self.inputs)
        self._ans_at = self.saves.index("ans") if "ans" in self.saves else -1
        self._saver = node_saves.compile_saver(self._plan)
        self._reads = node_saves.compile_reads(self)
        self._all = (1 << len(self.inputs)) - 1 if self._reads is not None else -1
        self._input_saves = (None if "*" in self.saves else    # None: any position may be
                             tuple(p for p, (kind, _) in enumerate(self._plan) if kind == 0))
        self._drops: dict[int, tuple[int, ...]] = {}    # active inputs (bits) -> unread saves
        OPS[name] = self

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def vjp_at(self, i: int) -> Callable:
        """The VJP rule for input ``i``."""
        if self.variadic:
            rule = self.vjp
            return lambda g, *saved, **params: rule(i, g, *saved, **params)
        return self.vjp[i]

    def is_view(self, params, in_shapes, shape) -> bool:
        """Whether the output, of ``shape``, shares its first input's memory in this call."""
        view = self.view
        return bool(view(params, in_shapes, shape) if callable(view) else view)

    def __repr__(self) -> str:
        return f"<Op {self.name}>"

    # ------------------------------------------------------------ the hot path
    def __call__(self, *args, **params):
        # the array module is the one of the inputs' arrays: one type compare per input, and
        # only an input off the active placement looks further (_place); a number is on none
        try:
            if len(args) == 2:
                a, b = args
                x = a._data if isinstance(a, Tensor) else a
                y = b._data if isinstance(b, Tensor) else b
                if type(x) is _ARRAY:
                    if type(y) is not _ARRAY and type(y) not in PLAIN:
                        self._place(args, (x, y))
                elif type(y) is not _ARRAY or type(x) not in PLAIN:    # not `2.0 * w`
                    self._place(args, (x, y))
                ans = self.forward(x, y, **params)
            elif len(args) == 1:
                a = args[0]
                x = a._data if isinstance(a, Tensor) else a
                if type(x) is not _ARRAY:
                    self._place(args, (x,))
                ans = self.forward(x, **params)
            else:
                xs = [a._data if isinstance(a, Tensor) else a for a in args]
                for x in xs:
                    if type(x) is not _ARRAY and type(x) not in PLAIN:
                        self._place(args, xs)
                        break
                ans = self.forward(*xs, **params)
        except ChainruleError:
            raise
        except (ValueError, TypeError, IndexError) as exc:
            raise self._error(args, params, exc) from None
        if not isinstance(ans, backend.ndarray_types):
            ans = backend.xp.asarray(ans)
        if ans.dtype is F64 and self.promotes is not None:     # NumPy widened; PyTorch may not
            ans = dtypes.promote(ans, args, self.promotes == "float")
        m = mode
        if m.grad_enabled and self.vjp is not None:
            for a in args:
                if isinstance(a, Tensor) and a._rg:
                    if ans.dtype.kind != "f":
                        if ans.dtype.kind not in "biu":     # complex, object, text
                            raise self._cut(args, ans)
                        break                               # a mask or an index: no gradient
                    if m.special:
                        return self._apply(args, params, ans, True)
                    if self.elementwise:         # an input smaller than the output broadcasts
                        shape = ans.shape
                        for t in args:
                            if isinstance(t, Tensor) and t._rg and t._data.shape != shape:
                                return self._apply(args, params, ans, True)
                    out = Tensor._wrap(ans, node_saves.record(self, args, params, ans))  # usual
                    if self.view:
                        self._view(out, args, params, ans)
                    return out
        if m.special:
            if m.raw:           # a first-order backward's rules work on arrays
                return ans
            return self._apply(args, params, ans, False)
        out = Tensor._wrap(ans)
        if self.view:
            self._view(out, args, params, ans)
        return out

    def _view(self, out, args, params, ans) -> None:
        """Make ``out`` share the version counter of ``args[0]`` where it views its memory
        (the array ``ans`` is, or shares memory with, the array of ``args[0]``)."""
        view = self.view
        source = args[0]
        if not isinstance(source, Tensor) or (
                view is not True and not view(params, [_shape(_data(a)) for a in args],
                                              ans.shape)):
            return
        data = source._data
        base = getattr(ans, "base", None)       # NumPy and CuPy: the array owning the memory
        if (ans is data or (base is not None and (base is data or base is data.base))
                or backend.xp.may_share_memory(ans, data)):
            out._base = source if source._base is None else source._base

    def _place(self, args, arrays) -> None:
        """Refuse inputs on two devices; activate the placement of the first array input."""
        first = at = None
        for i, x in enumerate(arrays):
            if type(x) in PLAIN:
                continue
            found = backend.placement_of(x)
            if found is None:
                continue
            if first is None:
                first, at = found, i
            elif found is not first:
                names = self.inputs if not self.variadic else [f"x{k}" for k in range(len(args))]
                raise DeviceError(
                    f"{self.name}: {names[at]} is on {device_of(arrays[at])} but {names[i]} "
                    f"is on {device_of(x)}; move one first, e.g. {names[i]}.to("
                    f"'{device_of(arrays[at])}')")
        if first is not None and first.array_type is not _ARRAY:
            backend.activate(first)

    def _apply(self, args, params, ans, rec: bool):
        """Record a node (``rec``), carry forward-mode tangents and check for anomalies."""
        m = mode
        fwd = False
        if m.fwd_levels and ans.dtype.kind == "f":
            for a in args:
                if isinstance(a, Tensor) and a._tangents:
                    fwd = True
                    break
        node = None
        if (rec or fwd) and self.elementwise:
            shape = ans.shape
            for a in args:
                if isinstance(a, Tensor) and a._data.shape != shape and (a._rg or a._tangents):
                    args = self._broadcast(args, shape)
                    break
        if m.tape is not None:
            m.tape.record(self, args, params, ans)      # chainrule.replay is tracing
        if rec:
            node = node_saves.record(self, args, params, ans)
        if m.raw:
            return ans
        out = Tensor._wrap(ans, node)
        if self.view:
            self._view(out, args, params, ans)
        if fwd:
            self._push_tangents(args, params, out, node)
        if m.anomaly:
            self._check_finite(args, ans)
            if node is not None:
                node.trace = traceback.extract_stack()
        return out

    def _broadcast(self, args, shape):
        """Route each active input of a smaller shape through the recorded ``broadcast_to``."""
        out = list(args)
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and a._data.shape != shape and (a._rg or a._tangents):
                out[i] = OPS["broadcast_to"](a, shape=shape)
        return out

    def _saved_values(self, args, params, ans_value, active: int = -1, extra=None):
        """What backward keeps, and the versions of the saved tensors
        (:func:`chainrule.core.saves.saved_values`; forward mode reaches it from here)."""
        return node_saves.saved_values(self, args, params, ans_value, active, extra)

    # ------------------------------------------------------------ forward mode
    def _push_tangents(self, args, params, out, node) -> None:
        push_tangents(self, args, params, out, node)

    # ------------------------------------------------------------ errors
    def _describe(self, args) -> str:
        names = self.inputs if not self.variadic else [f"x{i}" for i in range(len(args))]
        parts = []
        for name, a in zip(names, args):
            parts.append(f"{name}.shape={_shape(_data(a))} {name}.dtype={_dtype(_data(a))}")
        return ", ".join(parts)

    def _error(self, args, params, exc) -> ChainruleError:
        cls = DTypeError if isinstance(exc, TypeError) else ShapeError
        extra = ", ".join(f"{k}={v!r}" for k, v in params.items() if not _is_array(v))
        where = self._describe(args) + (f", {extra}" if extra else "")
        hint = f"; {self.hint}" if self.hint else ""
        return cls(f"{self.name}: {where}: {exc}{hint}")

    def _cut(self, args, ans) -> DTypeError:
        """A result of a dtype that carries no gradient, made from a tensor that wants one."""
        return DTypeError(
            f"{self.name}: {self._describe(args)}: the result has dtype {ans.dtype}, which "
            "chainrule cannot differentiate, so the gradient of the input that requires grad "
            "would silently be cut; keep the graph in real floating point (take abs() or .real "
            "on the data first, or .detach() the input)")

    def _check_finite(self, args, ans) -> None:
        if ans.dtype.kind == "f" and not bool(backend.xp.isfinite(ans).all()):
            where = user_frames(traceback.extract_stack())
            raise AnomalyError(
                f"forward of '{self.name}' ({self._describe(args)}) produced a NaN or an "
                f"infinity; it was called at:\n{where}"
            )


_AXES_NONE = {"axes": None}      # the parameters of every node of ``x.T`` (nothing writes them)


def matrix_transpose(t: Tensor) -> Tensor:
    """``t.T`` of a matrix: the ``transpose`` operator's node (the same record, parameters and
    saves as ``transpose(t, axes=None)``), built without the general call.

    ``x @ W.T`` is written in every step of every model, right after the update wrote ``W``;
    a lean path costs a third of the general one there (4.6 against 12.5 us per call, and
    about half of it when the interpreter's memory was just evicted by the update).  The rare
    cases (forward mode, anomaly detection, a trace, a raw backward) take the general call.
    """
    data = t._data
    ans = data.T
    node = None
    if t._rg and mode.grad_enabled:
        op = OPS["transpose"]
        shape = node_saves.SHAPES.get(ans.shape)
        if shape is None:
            shape = node_saves.intern(ans.shape)
        node = Node(op, (t if t._node is None else t._node,), (data.shape,), _AXES_NONE, None,
                    shape, ans.dtype)
    out = Tensor._wrap(ans, node)
    out._base = t if t._base is None else t._base       # a view: one version counter
    return out


def _resolve(forward) -> Callable:
    """A forward given by name is that function of the current array module."""
    return getattr(backend.xp, forward) if isinstance(forward, str) else forward


def rebind() -> None:
    """Re-resolve every forward given by name (after :func:`chainrule.backend.activate`)."""
    global _ARRAY
    node_saves.DROPPABLE = (Tensor, *backend.ndarray_types)
    if _ARRAY is not backend.array_type:
        _ARRAY = backend.array_type
        for op in OPS.values():
            if isinstance(op._forward, str):
                op.forward = _resolve(op._forward)


backend.on_change.append(rebind)


def _data(a):
    return a._data if isinstance(a, Tensor) else a


def _is_array(v) -> bool:
    return isinstance(v, backend.ndarray_types)

