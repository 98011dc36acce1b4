"""In-place changes of a tensor: ``x += y`` and friends, ``add_``, ``copy_``, ``x[i] = v``.

Every change goes through :func:`mutated` first: it refuses inside a trace (a replay could not
repeat it) and on a leaf that requires grad while recording (as PyTorch does), then bumps the
version counter that views share with their base, so a backward pass through a node that saved
the old values raises instead of using the new ones.

``x op= y`` (``+ - * / **``) follows PyTorch:

- nothing to record (``no_grad()``, or no tensor involved requires grad): the array is
  written in place, so every name and view of ``x`` sees the result, as the book's
  ``p -= lr * p.grad`` needs;
- recording, ``x`` not a leaf (or ``y`` requires grad): the operator is recorded on a copy of
  ``x``'s old value and ``x`` takes the result's node, in place;
- the result must keep ``x``'s shape (no broadcasting ``x`` itself) and cast to its dtype
  within the same kind (``int += 0.5`` is refused, as in PyTorch); ``@=`` is refused, as in
  PyTorch (write ``a = a @ b``).
"""

from __future__ import annotations

import operator

import numpy as np

from .. import backend
from ..errors import ChainruleError, DTypeError, GraphError, ReplayError, ShapeError
from . import modes

__all__ = ["mutated", "arith", "apply", "assign", "SYMBOLS"]

#: operator name -> (its symbol, the Python operator, the array function's name, NumPy's own
#: in-place operator: the same ``same_kind`` casting as the ufunc with ``out=``, a third of
#: its cost)
SYMBOLS = {
    "add": ("+=", operator.add, "add", operator.iadd),
    "sub": ("-=", operator.sub, "subtract", operator.isub),
    "mul": ("*=", operator.mul, "multiply", operator.imul),
    "div": ("/=", operator.truediv, "true_divide", operator.itruediv),
    "pow": ("**=", operator.pow, "power", operator.ipow),
}


def mutated(t) -> None:
    """Refuse or record an in-place change of ``t`` (see the module's docstring)."""
    m = modes.mode
    if m.tape is not None:
        raise ReplayError(
            f"in-place change of a tensor (shape {t.shape}) inside a function being "
            "traced by cr.compile/cr.trace: a replay cannot repeat it; return the values "
            "and change the tensor outside the traced function")
    if m.grad_enabled and t._rg:
        raise GraphError(
            f"in-place change of a tensor that requires grad (shape {t.shape}) while "
            "recording: do it inside `with cr.no_grad():` (as optimizers do)"
        )
    _bump(t)


def _bump(t) -> None:
    root = t if t._base is None else t._base
    root._version += 1          # views share their base's counter: one memory, one count
    for x in (t, root):
        node = x._node
        if node is not None and node.op._ans_at >= 0 and node.saved is not None:
            # its saved output is stale now: a later backward through it says so
            node.versions = {**(node.versions or {}), "ans": root._version}


def arith(t, other, name: str):
    """``t <op>= other`` in place; returns ``t`` (Python rebinds the name to it)."""
    symbol, python_op, _, _ = SYMBOLS[name]
    data = t._data
    value = getattr(other, "_data", other)
    _check(t, value, symbol)
    m = modes.mode
    recording = m.grad_enabled and (t._rg or bool(getattr(other, "_rg", False)))
    if not recording:
        mutated(t)
        _write(data, name, value)
        return t
    if m.tape is not None:
        mutated(t)                            # raises: a trace cannot replay it
    if t._node is None and t._rg:
        mutated(t)                            # raises: a leaf that requires grad
    if t._base is not None:
        raise GraphError(
            f"x {symbol} y on a view (shape {t.shape}) while recording: the tensor it views "
            "would keep its old graph; write x = x " + symbol[:-1] + " y, or change it inside "
            "`with cr.no_grad():`")
    old = type(t)._wrap(data.copy(), t._node)           # the value the recorded op reads
    out = python_op(old, other)
    _bump(t)                                  # nodes that saved the old value now refuse
    data[...] = out._data
    t._node = out._node
    t._rg = out._rg
    return t


def apply(t, name: str, value, what: str):
    """``t.add_(value)`` and friends: in place, never recorded (``mutated`` refuses first)."""
    mutated(t)
    _check(t, value, what, fix=False)
    _write(t._data, name, value)
    return t


def _write(data, name: str, value) -> None:
    """``data <op>= value`` in place, casting within the same kind (checked before)."""
    _, _, ufunc, in_place = SYMBOLS[name]
    if type(data) is np.ndarray:         # the usual update, p -= lr * p.grad
        in_place(data, value)
    else:
        getattr(backend.module_of(data), ufunc)(data, value, out=data, casting="same_kind")


def assign(t, index, value, what: str) -> None:
    """``t[index] = value`` and ``t.copy_(value)``, checked before anything is written."""
    mutated(t)
    value = getattr(value, "_data", value)
    data = t._data
    try:
        kind = np.result_type(_meta(value))
    except TypeError as exc:
        raise DTypeError(f"{what}: x.dtype={data.dtype} (shape {data.shape}) cannot store "
                         f"{value!r:.40}: {exc}; pass numbers") from None
    try:
        target = data[index]
        shape = np.broadcast_shapes(_shape(target), _shape(value))
    except (ValueError, TypeError, IndexError) as exc:
        raise ShapeError(f"{what}: x.shape={data.shape} x.dtype={data.dtype}, value.shape="
                         f"{_shape(value)}: {exc}") from None
    if shape != _shape(target):
        raise ShapeError(f"{what}: a value of shape {_shape(value)} does not fit the "
                         f"{_shape(target)} elements it would replace (x.shape={data.shape})")
    if kind.kind not in "biufc" or not np.can_cast(kind, data.dtype, casting="same_kind"):
        raise DTypeError(f"{what}: a value of dtype {kind} cannot be stored in x.dtype="
                         f"{data.dtype} (shape {data.shape}); convert it first")
    data[index] = value


def _check(t, value, symbol: str, fix: bool = True) -> None:
    """The result keeps ``t``'s shape and casts to its dtype within the same kind."""
    data = t._data
    if (getattr(value, "shape", None) == data.shape and getattr(value, "dtype", None)
            == data.dtype) or (type(value) is float and data.dtype.kind in "fc"):
        return          # the usual update, p -= lr * p.grad, or a float: nothing to check
    try:
        shape = np.broadcast_shapes(data.shape, _shape(value))
        kind = np.result_type(data.dtype, _meta(value))
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"{_what(symbol, fix)}: x.shape={data.shape} x.dtype={data.dtype}, "
                         f"y.shape={_shape(value)}: {exc}") from None
    if shape != data.shape:
        raise ShapeError(
            f"{_what(symbol, fix)}: x.shape={data.shape} and y.shape={_shape(value)} "
            f"broadcast to {shape}, which x cannot hold in place"
            + (f"; write x = x {symbol[:-1]} y" if fix else ""))
    if not np.can_cast(kind, data.dtype, casting="same_kind"):
        raise DTypeError(
            f"{_what(symbol, fix)}: the result is {kind} and x is {data.dtype} (shape "
            f"{data.shape}); an in-place result cannot change kind: convert x first "
            f"(x = x.astype({kind}))")


def _shape(value) -> tuple:
    """The shape of an array of any module, or of a number or nested list, without asking
    NumPy about a device array."""
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else np.shape(value)


def _meta(value):
    """What ``np.result_type`` needs of ``value``: an array's dtype (read, not computed from a
    device array), a number or a list as it is."""
    return value.dtype if isinstance(value, backend.ndarray_types) else value


def _what(symbol: str, operator_form: bool) -> str:
    return f"x {symbol} y" if operator_form else symbol


def refuse_matmul(t, other):
    """``a @= b``: refused, as in PyTorch."""
    raise ChainruleError(
        f"a @= b (a.shape={t.shape}) is not supported in place, as in PyTorch; write a = a @ b")
