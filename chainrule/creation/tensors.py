"""Tensors from data and the deterministic constructors, and the checks every constructor
makes of sizes, dtypes and fill values (:func:`_shape`, :func:`_dtype`)."""

from __future__ import annotations

import math
import operator
import sys
from numbers import Real

import numpy as np

from .. import backend as B
from ..errors import DTypeError, ShapeError
from ..core.device import device as _device
from ..core.device import placement, transfer
from ..core.registry import provide
from ..core.dtypes import default_float
from ..core.tensor import Tensor

DEFAULT_FLOAT = np.float32     # the default of the default: see cr.set_default_dtype
_MAX_DIMS = 64          # NumPy's limit on the number of dimensions
_NUMERIC = "fiub"       # float, signed and unsigned integer, bool



def tensor(data, requires_grad: bool = False, dtype=None, name: str | None = None, *,
           device=None) -> Tensor:
    """A new leaf tensor holding a copy of ``data``, on ``device`` (the CPU by default, or
    the device of a tensor or device array given as ``data``).

    A NumPy array keeps its dtype (float64 stays float64); Python floats and lists of floats
    become the default dtype (float32; :func:`~chainrule.set_default_dtype`); integer and
    bool data stay integer and bool (and cannot require grad).
    Ragged nested lists raise :class:`ShapeError`; non-numeric data, an unknown ``dtype`` or a
    value ``dtype`` cannot hold raise :class:`DTypeError`.

    >>> import chainrule as cr, numpy as np
    >>> cr.tensor([1.0, 2.0]).dtype, cr.tensor(np.zeros(2)).dtype, cr.tensor([1, 2]).dtype
    (dtype('float32'), dtype('float64'), dtype('int64'))
    """
    if isinstance(data, Tensor):
        data = data._data
    if dtype is not None:
        dtype = _dtype("tensor", dtype)
    keeps_dtype = isinstance(data, B.ndarray_types) or isinstance(data, np.generic)
    xp = B.module_of(data)
    try:
        array = xp.array(data, dtype=dtype, copy=True)
    except OverflowError as exc:
        raise DTypeError(f"tensor(): a value does not fit dtype={dtype} ({exc}); pass a wider "
                         "dtype such as int64 or float32") from exc
    except (ValueError, TypeError) as exc:
        ragged = _ragged(data)
        if ragged:
            raise ShapeError(f"tensor(): the nested lists are ragged ({ragged}); every row of "
                             "one level must have the same length, so pad the short rows or "
                             "make one tensor per row") from exc
        raise DTypeError(f"tensor(): cannot make an array of {type(data).__name__} data "
                         f"with dtype={dtype} ({exc}); pass numbers, nested lists of equal "
                         "length, or a NumPy array of numbers") from exc
    if array.dtype.kind not in _NUMERIC:
        raise DTypeError(
            f"tensor(): data of dtype {array.dtype} (shape {array.shape}) is not numeric; "
            "pass numbers, or a NumPy array of numbers"
        )
    if dtype is None and not keeps_dtype and array.dtype == np.float64:
        array = array.astype(default_float())
    if device is not None:
        array = transfer(array, _as_device(device))
    return Tensor(array, requires_grad=requires_grad, name=name)


def _as_device(device) -> _device:
    return device if isinstance(device, _device) else _device(device)


def _xp(device):
    """The array module of ``device`` (NumPy for ``None``, the CPU)."""
    return np if device is None else placement(_as_device(device).type).xp


def _moved(array, device):
    """A NumPy ``array`` made on the host, on ``device``."""
    return array if device is None else transfer(array, _as_device(device))


def _ragged(data, limit: int = 10_000) -> str:
    """Describe where nested lists or tuples first differ in length, or '' if they do not."""
    level, depth = [data], 0
    while level and sum(len(x) for x in level if isinstance(x, (list, tuple))) <= limit:
        sequences = [x for x in level if isinstance(x, (list, tuple))]
        if not sequences:
            return ""
        if len(sequences) != len(level):
            return f"at depth {depth}, lists are mixed with numbers"
        lengths = sorted({len(x) for x in sequences})
        if len(lengths) > 1:
            return f"at depth {depth}, lists of lengths {lengths}"
        level, depth = [item for x in sequences for item in x], depth + 1
    return ""


def _make(array, requires_grad, name) -> Tensor:
    return Tensor(array, requires_grad=requires_grad, name=name)


def zeros(*shape, dtype=None, requires_grad=False, name=None, size=None, device=None) -> Tensor:
    """A tensor of zeros (``zeros(2, 3)`` or ``zeros((2, 3))``), on ``device``."""
    dtype = _dtype("zeros", default_float() if dtype is None else dtype)
    shape = _shape(shape if size is None else (size,), "zeros", dtype)
    return _make(_xp(device).zeros(shape, dtype=dtype), requires_grad, name)


def ones(*shape, dtype=None, requires_grad=False, name=None, size=None, device=None) -> Tensor:
    """A tensor of ones, on ``device``."""
    dtype = _dtype("ones", default_float() if dtype is None else dtype)
    shape = _shape(shape if size is None else (size,), "ones", dtype)
    return _make(_xp(device).ones(shape, dtype=dtype), requires_grad, name)


def full(shape, value, dtype=None, requires_grad=False, name=None, device=None) -> Tensor:
    """A tensor of ``shape`` filled with ``value``, a real number (as ``torch.full``).

    ``value`` must be a number ``dtype`` holds exactly in kind: a fractional value for an integer
    dtype, a value out of the dtype's range, or a non-number raise :class:`DTypeError`.
    """
    if dtype is None:       # as torch.full: the fill value's kind decides
        plain = value.item() if isinstance(value, (Tensor, np.generic)) else value
        dtype = (np.bool_ if isinstance(plain, bool) else np.int64
                 if isinstance(plain, int) else default_float())
    dtype = _dtype("full", dtype)
    size = _shape((shape,), "full", dtype)
    if isinstance(value, Tensor):
        value = value._data
    if isinstance(value, B.ndarray_types) and value.ndim == 0:
        value = value.item()
    if not isinstance(value, (Real, np.bool_)) or isinstance(value, np.timedelta64):
        raise DTypeError(f"full(): value={value!r} ({type(value).__name__}) is not a real "
                         "number; pass one number, e.g. full((2, 3), 0.5)")
    if dtype.kind in "iub" and not math.isnan(value) and not float(value).is_integer():
        raise DTypeError(f"full(): value={value!r} is not a whole number but dtype={dtype}; "
                         "pass dtype=np.float32 or a whole-number value")
    if dtype.kind in "iu" and not _fits(value, dtype):
        info = np.iinfo(dtype)
        raise DTypeError(f"full(): value={value!r} is out of the range {info.min}..{info.max} "
                         f"of dtype={dtype}; pass a wider dtype")
    if dtype.kind == "f" and math.isfinite(value) and abs(value) > float(np.finfo(dtype).max):
        raise DTypeError(f"full(): value={value!r} overflows dtype={dtype} (largest "
                         f"{np.finfo(dtype).max}); pass dtype=np.float64")
    return _make(_xp(device).full(size, value, dtype=dtype), requires_grad, name)


def _fits(value, dtype: np.dtype) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    info = np.iinfo(dtype)
    return info.min <= int(value) <= info.max


def zeros_like(x, requires_grad=False, *, dtype=None, device=None) -> Tensor:
    """Zeros of the shape, dtype and device of ``x`` (unless given)."""
    data = _like_data("zeros_like", x)
    return zeros(data.shape, dtype=dtype or data.dtype, requires_grad=requires_grad,
                 device=_like_device(data, device))


def ones_like(x, requires_grad=False, *, dtype=None, device=None) -> Tensor:
    """Ones of the shape, dtype and device of ``x`` (unless given)."""
    data = _like_data("ones_like", x)
    return ones(data.shape, dtype=dtype or data.dtype, requires_grad=requires_grad,
                device=_like_device(data, device))


def _like_device(data, device):
    found = B.placement_of(data)
    return device if device is not None or found is None else found.name


def _like_data(where: str, x):
    if isinstance(x, Tensor):
        return x._data
    try:
        data = x if isinstance(x, B.ndarray_types) else np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"{where}(): cannot read x as an array ({exc}); pass a Tensor or a "
                         "NumPy array") from exc
    if data.dtype.kind not in _NUMERIC:
        raise DTypeError(f"{where}(): x has dtype {data.dtype} (shape {data.shape}), not a "
                         "number type; pass a Tensor or a NumPy array of numbers")
    return data


def _dtype(where: str, dtype, floating: bool = False) -> np.dtype:
    """``dtype`` as a numeric NumPy dtype (a float one if ``floating``), or DTypeError."""
    try:
        checked = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"{where}(): dtype={dtype!r} is not a NumPy dtype; pass e.g. "
                         "np.float32, 'float64' or np.int64") from exc
    allowed = "f" if floating else _NUMERIC
    if checked.kind not in allowed:
        wanted = "a floating-point dtype" if floating else "a number dtype (float, int, bool)"
        raise DTypeError(f"{where}(): dtype={checked} is not {wanted}; pass e.g. np.float32")
    return checked


def _shape(shape: tuple, where: str = "shape", dtype=None) -> tuple[int, ...]:
    """The sizes in ``shape`` (``(2, 3)`` or ``((2, 3),)``) as ints >= 0, or ShapeError."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    sizes = []
    for k, size in enumerate(shape):
        if isinstance(size, (bool, np.bool_)):
            number = None
        else:
            try:
                number = operator.index(size)
            except TypeError:
                number = None
        if number is None:
            raise ShapeError(f"{where}(): size {k} of shape {shape!r} is {size!r} "
                             f"({type(size).__name__}); sizes must be integers, e.g. "
                             f"{where}(2, 3) or {where}((2, 3))")
        if number < 0:
            raise ShapeError(f"{where}(): size {k} of shape {shape!r} is negative ({number}); "
                             "sizes must be >= 0")
        sizes.append(number)
    if len(sizes) > _MAX_DIMS:
        raise ShapeError(f"{where}(): shape has {len(sizes)} dimensions; at most {_MAX_DIMS} "
                         "are possible")
    itemsize = np.dtype(dtype).itemsize if dtype is not None else 8
    if math.prod(sizes) * itemsize > sys.maxsize:
        raise ShapeError(f"{where}(): shape {tuple(sizes)} of {itemsize}-byte values is more "
                         "than an array can hold; pass smaller sizes")
    return tuple(sizes)


def eye(n, m=None, *, dtype=None, requires_grad=False, device=None) -> Tensor:
    """The ``n x m`` identity matrix (square by default), on ``device``."""
    dtype = _dtype("eye", default_float() if dtype is None else dtype)
    rows, cols = _shape((n, n if m is None else m), "eye", dtype)
    return _make(_xp(device).eye(rows, cols, dtype=dtype), requires_grad, None)


def empty(*shape, dtype=None, requires_grad=False, size=None, device=None) -> Tensor:
    """A new tensor (of zeros: chainrule never hands out uninitialised memory)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad, size=size, device=device)


def full_like(x, value, *, dtype=None, device=None) -> Tensor:
    """``value`` in the shape of ``x`` (and its dtype and device unless given)."""
    data = _like_data("full_like", x)
    return full(data.shape, value, dtype=data.dtype if dtype is None else dtype,
                device=_like_device(data, device))


provide(full=full)     # for the tensor methods new_zeros, new_full, masked_fill
