"""PyTorch's dtype rules: the default floating dtype, and the dtype of a mixed operation.

NumPy and PyTorch agree on most results; where they differ, chainrule follows PyTorch, so the
book's PyTorch code gives the same dtypes here.  The rules, with float32 the default dtype
(:func:`set_default_dtype` changes it):

=========================================  ==================  ===============  =========
operation                                  example             NumPy            chainrule
=========================================  ==================  ===============  =========
a Python float, no dtype given             ``tensor([1.0])``   float64          default
``arange`` with a float argument           ``arange(4.0)``     float64          default
``randn``, ``rand``, ``zeros``, ``ones``   ``randn(2)``        float64          default
int tensor with a Python float             ``i * 0.5``         float64          default
true division of integers                  ``i / 2``           float64          default
a float function of integers               ``exp(i)``          float64          default
float32 tensor with a 0-d float64 tensor   ``x * s``           float64          float32
int tensor with a 0-d float64 tensor       ``i * s``           float64          float64
float32 tensor with a float64 tensor       ``x * w``           float64          float64
a NumPy float64 array, kept                ``tensor(a)``       float64          float64
=========================================  ==================  ===============  =========

The operands are ranked in three tiers, as PyTorch does: tensors with dimensions, 0-d tensors,
and Python numbers.  A lower tier changes the result only when it is of a higher category
(bool < integer < floating); a Python float then gives the default dtype, a Python int int64.
NumPy arrays count as tensors and NumPy scalars as Python numbers.

The rule is applied once, in :class:`chainrule.core.op.Op`'s call, for every operator
declared with ``promotes=True`` (the elementwise family): NumPy computes, and a result that
NumPy widened to float64 is cast to the dtype PyTorch would give.

>>> import chainrule as cr
>>> (cr.arange(3) / 2).dtype, cr.exp(cr.tensor([1, 2])).dtype, cr.get_default_dtype()
(dtype('float32'), dtype('float32'), dtype('float32'))
"""

from __future__ import annotations

from numbers import Number

import numpy as np

from .. import backend
from ..errors import DTypeError

__all__ = ["get_default_dtype", "set_default_dtype", "default_float", "result_dtype", "promote",
           "NAMES"]

F64 = np.dtype(np.float64)
_state = {"float": np.dtype(np.float32)}


def get_default_dtype() -> np.dtype:
    """The dtype Python floats, ``randn`` and float ``arange`` get (float32 unless changed)."""
    return _state["float"]


def default_float() -> np.dtype:
    """The default floating dtype (the hot-path name for :func:`get_default_dtype`)."""
    return _state["float"]


def set_default_dtype(dtype) -> None:
    """Make ``dtype`` (float16, float32 or float64) the default floating dtype, as PyTorch.

    >>> import chainrule as cr, numpy as np
    >>> cr.set_default_dtype(np.float64); cr.tensor([1.0]).dtype
    dtype('float64')
    >>> cr.set_default_dtype(np.float32); cr.tensor([1.0]).dtype
    dtype('float32')
    """
    try:
        checked = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    except (TypeError, ValueError):
        checked = None
    if checked is None or checked.kind != "f":
        raise DTypeError(f"set_default_dtype: dtype={dtype!r} is not a floating dtype; pass "
                         "np.float32 or np.float64")
    _state["float"] = checked


def _category(dtype: np.dtype) -> int:
    return {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}.get(dtype.kind, 4)


def _promote(a, b) -> np.dtype:
    """PyTorch's promotion of two dtypes: across categories the higher one's dtype wins
    (int64 with float32 is float32, where NumPy gives float64); within one, NumPy's."""
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """PyTorch's combine_categories: ``lower`` (a lower tier) wins only by category."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if _category(higher) >= 2:
        return higher
    if higher.kind == "b" or _category(lower) > _category(higher):
        return _promote(higher, lower)
    return higher


def result_dtype(args) -> np.dtype | None:
    """The dtype PyTorch gives an elementwise operation of ``args`` (tensors, arrays, numbers)."""
    dim = zero = scalar = None
    for a in args:
        data = getattr(a, "_data", a)
        if isinstance(data, backend.ndarray_types):
            dtype = data.dtype
            if data.ndim:
                dim = dtype if dim is None else _promote(dim, dtype)
            else:
                zero = dtype if zero is None else _promote(zero, dtype)
            continue
        if isinstance(data, (bool, np.bool_)):
            dtype = np.dtype(bool)
        elif isinstance(data, (int, np.integer)):
            dtype = np.dtype(np.int64)
        elif isinstance(data, (float, np.floating)):
            dtype = _state["float"]
        elif isinstance(data, Number):
            dtype = np.dtype(np.complex128)
        else:
            continue
        scalar = dtype if scalar is None else _promote(scalar, dtype)
    return _combine(dim, _combine(zero, scalar))


def promote(ans, args, floating: bool):
    """``ans`` cast to PyTorch's dtype where NumPy gave float64 and PyTorch would not.

    ``floating``: the operator always gives a float (``exp``, true division), so integer
    inputs give the default dtype.
    """
    expected = result_dtype(args)
    if expected is None:
        return ans
    if floating and expected.kind in "biu":
        expected = _state["float"]
    if expected != ans.dtype and expected.kind == "f":
        return ans.astype(expected)
    return ans


# PyTorch's dtype names (``torch.float32`` is ``cr.float32``), as NumPy dtypes
float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8, uint8, int16 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
#: the names as ``chainrule`` exports them (``cr.float``, ``cr.long``, ``cr.bool`` ...)
NAMES = {"float16": float16, "half": half, "float32": float32, "float": float32,
         "float64": float64, "double": double, "int8": int8, "uint8": uint8, "int16": int16,
         "int32": int32, "int": int32, "int64": int64, "long": long, "bool": bool_}
