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
  for small non-differentiable arrays (a ReLU mask);
- ``samples`` and ``bad_inputs``: the test inputs (with their domain) and the inputs that must
  raise, which the generated tests consume.

Elementwise operators broadcast explicitly: an input that needs a gradient and has a smaller
shape than the output is first passed through the recorded ``broadcast_to``, whose VJP is
``sum_to``, so no elementwise rule ever un-broadcasts by hand.
"""

from __future__ import annotations

import traceback
from typing import Callable, NamedTuple

from .. import backend
from ..errors import AnomalyError, ChainruleError, DTypeError, GraphError, ShapeError
from ..graph import Node, mode, user_frames
from ..tensor import Tensor

__all__ = ["Op", "OPS", "ELEMENTWISE", "LINEAR", "MULTILINEAR", "Sample", "BadInput"]

ELEMENTWISE = "elementwise"
LINEAR = "linear"
MULTILINEAR = "multilinear"

OPS: dict[str, Op] = {}


class Sample(NamedTuple):
    """Arguments for one call of an operator in the generated tests."""

    args: tuple
    params: dict = {}


class BadInput(NamedTuple):
    """Arguments that must make an operator raise ``error`` with ``match`` in its message."""

    args: tuple
    params: dict
    error: type
    match: str


class Op:
    """A primitive operator: forward, VJP and JVP rules, saves, samples and bad inputs."""

    def __init__(self, name: str, forward: Callable, *, inputs: tuple[str, ...] | str,
                 vjp=None, jvp=None, saves: tuple[str, ...] = (), residuals=None,
                 elementwise: bool = False, samples=None, bad_inputs=None, hint: str = "",
                 doc: str = ""):
        if name in OPS:
            raise ValueError(f"operator {name!r} is declared twice")
        self.name = name
        self.forward = forward
        self.variadic = isinstance(inputs, str)
        self.inputs = (inputs,) if self.variadic else tuple(inputs)
        self.vjp = vjp
        self.jvp = jvp
        self.saves = tuple(saves)
        self.residuals = residuals
        self.elementwise = elementwise
        self.samples = samples
        self.bad_inputs = bad_inputs
        self.hint = hint
        self.__doc__ = doc or f"The '{name}' operator."
        self._plan = self._compile_saves()
        self._ans_at = self.saves.index("ans") if "ans" in self.saves else -1
        OPS[name] = self

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def _compile_saves(self) -> tuple:
        plan = []
        for entry in self.saves:
            base, _, attr = entry.partition(".")
            if entry == "ans":
                plan.append((1, 0))
            elif entry == "*":
                plan.append((4, 0))
            elif base in self.inputs and attr in ("", "shape", "dtype"):
                plan.append(({"": 0, "shape": 2, "dtype": 3}[attr], self.inputs.index(base)))
            else:
                raise ValueError(f"{self.name}: cannot save {entry!r}")
        return tuple(plan)

    def vjp_at(self, i: int) -> Callable:
        """The VJP rule for input ``i``."""
        if self.variadic:
            rule = self.vjp
            return lambda g, *saved, **params: rule(i, g, *saved, **params)
        return self.vjp[i]

    def __repr__(self) -> str:
        return f"<Op {self.name}>"

    # ------------------------------------------------------------ the hot path
    def __call__(self, *args, **params):
        arrays = [a._data if isinstance(a, Tensor) else a for a in args]
        try:
            ans = self.forward(*arrays, **params)
        except ChainruleError:
            raise
        except (ValueError, TypeError, IndexError) as exc:
            raise self._error(args, params, exc) from None
        if not isinstance(ans, backend.ndarray_types):
            ans = backend.xp.asarray(ans)
        m = mode
        rec = fwd = False
        if ans.dtype.kind == "f":
            if m.grad_enabled and self.vjp is not None:
                for a in args:
                    if isinstance(a, Tensor) and a._rg:
                        rec = True
                        break
            if m.fwd_levels:
                for a in args:
                    if isinstance(a, Tensor) and a._tangents:
                        fwd = True
                        break
        if not (rec or fwd):
            out = Tensor._wrap(ans)
            if m.anomaly:
                self._check_finite(args, ans)
            return out
        if self.elementwise:
            args, arrays = self._broadcast(args, arrays, ans.shape)
        node = self._record(args, arrays, params, ans) if rec else None
        out = Tensor._wrap(ans, node)
        if fwd:
            self._push_tangents(args, arrays, params, out, node)
        if m.anomaly:
            self._check_finite(args, ans)
            if node is not None:
                node.trace = traceback.extract_stack()
        return out

    def _broadcast(self, args, arrays, shape):
        """Route each active input of a smaller shape through the recorded ``broadcast_to``."""
        changed = False
        args = list(args)
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and (a._rg or a._tangents) and a._data.shape != shape:
                args[i] = OPS["broadcast_to"](a, shape=shape)
                arrays[i] = args[i]._data
                changed = True
        return (args, arrays) if changed else (args, arrays)

    def _saved_values(self, args, arrays, params, ans_value):
        saved = []
        versions = None
        for kind, i in self._plan:
            if kind == 0:
                value = args[i]
                if isinstance(value, Tensor):
                    versions = (versions or ()) + ((len(saved), value, value._version),)
                saved.append(value)
            elif kind == 1:
                saved.append(ans_value)
            elif kind == 2:
                saved.append(_shape(arrays[i]))
            elif kind == 3:
                saved.append(_dtype(arrays[i]))
            else:
                saved.extend(args)
                for a in args:
                    if isinstance(a, Tensor):
                        versions = (versions or ()) + ((len(saved), a, a._version),)
        if self.residuals is not None:
            saved.extend(self.residuals(_data(ans_value), *arrays, **params))
        return tuple(saved), versions

    def _record(self, args, arrays, params, ans) -> Node:
        vjp = self.vjp
        edges = tuple(
            (a._node if a._node is not None else a)
            if isinstance(a, Tensor) and a._rg and (self.variadic or vjp[i] is not None)
            else None
            for i, a in enumerate(args)
        )
        saved, versions = self._saved_values(args, arrays, params, ans)
        return Node(self, edges, saved, params, versions, ans.shape, ans.dtype)

    # ------------------------------------------------------------ forward mode
    def _push_tangents(self, args, arrays, params, out, node) -> None:
        m = mode
        levels = sorted({
            level for a in args if isinstance(a, Tensor) and a._tangents
            for level in a._tangents if level in m.fwd_levels
        })
        saved, _ = self._saved_values(args, arrays, params, out)
        every = m.fwd_levels
        for level in levels:
            m.fwd_levels = [k for k in every if k < level]   # inner levels see nothing
            try:
                t = self._tangent(level, args, params, saved)
            finally:
                m.fwd_levels = every
            if t is None:
                continue
            if t._data.shape != out._data.shape:
                raise GraphError(
                    f"jvp of '{self.name}' returned a tangent of shape {t.shape} for an output "
                    f"of shape {out.shape}; this is a bug in the operator's rule"
                )
            if t._data.dtype != out._data.dtype:
                t = t.astype(out._data.dtype)
            out._tangents = {**(out._tangents or {}), level: t}
        if node is not None and self._ans_at >= 0:
            node.ans_tangents = out._tangents

    def _tangent(self, level, args, params, saved):
        tangents = [a._tangents.get(level) if isinstance(a, Tensor) and a._tangents else None
                    for a in args]
        jvp = self.jvp
        if jvp == LINEAR:
            return self(*[
                t if t is not None else _zeros_like(a) for t, a in zip(tangents, args)
            ], **params)
        total = None
        if jvp == ELEMENTWISE:
            for i, t in enumerate(tangents):
                if t is not None:
                    term = self.vjp_at(i)(t, *saved, **params)
                    total = term if total is None else total + term
            return total
        if jvp == MULTILINEAR:
            for i, t in enumerate(tangents):
                if t is not None:
                    term = self(*args[:i], t, *args[i + 1:], **params)
                    total = term if total is None else total + term
            return total
        return jvp(tangents, *saved, **params)

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

    def _check_finite(self, args, ans) -> None:
        if ans.dtype.kind == "f" and not bool(backend.xp.isfinite(ans).all()):
            where = user_frames(traceback.extract_stack())
            raise AnomalyError(
                f"forward of '{self.name}' ({self._describe(args)}) produced a NaN or an "
                f"infinity; it was called at:\n{where}"
            )


def _data(a):
    return a._data if isinstance(a, Tensor) else a


def _is_array(v) -> bool:
    return isinstance(v, backend.ndarray_types)


def _shape(a) -> tuple:
    return tuple(getattr(a, "shape", ()))


def _dtype(a):
    dtype = getattr(a, "dtype", None)
    return dtype if dtype is not None else type(a).__name__


def _zeros_like(a) -> Tensor:
    data = _data(a)
    return Tensor._wrap(backend.xp.zeros(_shape(data), dtype=_dtype(data)))
