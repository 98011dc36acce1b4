"""Ranges: ``arange`` (equal to ``torch.arange`` bit for bit) and ``linspace``."""

from __future__ import annotations

import math
import sys
from numbers import Real

import numpy as np

from ..errors import DTypeError, ShapeError
from ..core.dtypes import default_float
from ..core.tensor import Tensor
from .tensors import _dtype, _make, _moved, _shape


def arange(start, stop=None, step=1, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Evenly spaced values ``start + i * step``, ``i < ceil((stop - start) / step)``.

    As ``torch.arange``: int64 when every argument is an integer, else the default dtype
    (float32); no error accumulates, and the values are PyTorch's bit for bit (see
    :func:`_float_range`).  ``start``, ``stop`` and
    ``step`` must be finite real numbers and ``step`` non-zero (:class:`ShapeError`).

    >>> import chainrule as cr
    >>> cr.arange(4).dtype, cr.arange(4.0).dtype, cr.arange(1, 2, 0.25).tolist()
    (dtype('int64'), dtype('float32'), [1.0, 1.25, 1.5, 1.75])
    """
    values = []
    for label, value in (("start", start), ("stop", stop), ("step", step)):
        if value is None and label == "stop":
            continue
        if isinstance(value, (Tensor, np.generic)) and np.ndim(value) == 0:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, Real):
            raise DTypeError(f"arange(): {label}={value!r} ({type(value).__name__}) is not a "
                             "real number; pass ints or floats")
        if not math.isfinite(value):
            raise ShapeError(f"arange(): {label}={value!r} is not finite; pass finite bounds")
        values.append(value)
    if step == 0:
        raise ShapeError(f"arange(): step=0 would never reach stop={stop!r}; pass a non-zero "
                         "step, e.g. 1")
    integral = all(isinstance(v, int) for v in values)
    if dtype is None:
        dtype = np.dtype(np.int64) if integral else default_float()
    else:
        dtype = _dtype("arange", dtype)
    low, high = (0, values[0]) if stop is None else (values[0], values[1])
    step = values[-1] if len(values) == 3 else 1
    count = max(0, math.ceil((high - low) / step))
    if count * dtype.itemsize > sys.maxsize:
        raise ShapeError(f"arange(): {count} values of {dtype.itemsize} bytes are more than an "
                         "array can hold; narrow the range or enlarge the step")
    if integral:
        data = np.arange(low, high, step, dtype=np.int64).astype(dtype, copy=False)
    else:
        data = _float_range(low, step, count, dtype)
    return Tensor(_moved(data, device), requires_grad=requires_grad)


def _fma(a, b, c) -> np.ndarray:
    """``a * b + c`` rounded once to float64 (a fused multiply-add; exact for ``b < 2**11``)."""
    wide = np.longdouble
    return (wide(a) * np.asarray(b, dtype=wide) + np.asarray(c, dtype=wide)).astype(np.float64)


def _float_range(start, step, count: int, dtype: np.dtype) -> np.ndarray:
    """PyTorch's CPU arange (AVX2 kernels): ``start + step * i`` in float64 with a fused
    multiply-add, rounded to ``dtype``; except that whole pairs of 32-byte vectors are filled as
    ``base + k * step`` from ``base``, the value at the vector's first index rounded to
    ``dtype``.  Following it bit for bit makes the book's ``arange`` data equal PyTorch's."""
    width = max(1, 32 // dtype.itemsize)
    i = np.arange(count)
    out = _fma(step, i, start).astype(dtype)
    vectors = count // (2 * width) * (2 * width)
    first = i[:vectors] // width * width
    base = _fma(step, first, start).astype(dtype).astype(np.float64)
    out[:vectors] = _fma(step, i[:vectors] - first, base).astype(dtype)
    return out


def linspace(start, end, steps: int, *, dtype=None, requires_grad=False, device=None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    dtype = _dtype("linspace", default_float() if dtype is None else dtype)
    (count,) = _shape((steps,), "linspace", dtype)
    data = np.linspace(float(start), float(end), count).astype(dtype)
    return _make(_moved(data, device), requires_grad, None)
