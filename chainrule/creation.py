"""Making tensors: ``tensor`` from data, constructors, and the seedable ``random`` generator.

Every constructor checks what it is given before NumPy sees it: sizes must be integers >= 0
(Python or NumPy integers; not floats, bools or strings), ``dtype`` must name a numeric NumPy
dtype, and a fill value must be a number the dtype can hold.  A bad argument raises
:class:`~chainrule.errors.ShapeError` or :class:`~chainrule.errors.DTypeError` naming the
function and the argument, never a bare NumPy error.
"""

from __future__ import annotations

import math
import operator
import sys
from numbers import Real

import numpy as np

from . import backend as B
from .errors import DTypeError, ShapeError
from .core.dtypes import default_float
from .core.methods import provide
from .core.tensor import Tensor

__all__ = ["tensor", "zeros", "ones", "full", "arange", "randn", "rand", "random",
           "zeros_like", "ones_like", "normal", "eye", "linspace", "manual_seed", "randint",
           "rand_like", "randn_like", "full_like", "empty"]

DEFAULT_FLOAT = np.float32     # the default of the default: see cr.set_default_dtype
_MAX_DIMS = 64          # NumPy's limit on the number of dimensions
_NUMERIC = "fiub"       # float, signed and unsigned integer, bool


def tensor(data, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

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
    try:
        array = B.xp.array(data, dtype=dtype, copy=True)
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
    return Tensor(array, requires_grad=requires_grad, name=name)


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


def zeros(*shape, dtype=None, requires_grad=False, name=None, size=None) -> Tensor:
    """A tensor of zeros (``zeros(2, 3)`` or ``zeros((2, 3))``)."""
    dtype = _dtype("zeros", default_float() if dtype is None else dtype)
    shape = _shape(shape if size is None else (size,), "zeros", dtype)
    return _make(B.xp.zeros(shape, dtype=dtype), requires_grad, name)


def ones(*shape, dtype=None, requires_grad=False, name=None, size=None) -> Tensor:
    """A tensor of ones."""
    dtype = _dtype("ones", default_float() if dtype is None else dtype)
    shape = _shape(shape if size is None else (size,), "ones", dtype)
    return _make(B.xp.ones(shape, dtype=dtype), requires_grad, name)


def full(shape, value, dtype=None, requires_grad=False, name=None) -> Tensor:
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
    return _make(B.xp.full(size, value, dtype=dtype), requires_grad, name)


def _fits(value, dtype: np.dtype) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    info = np.iinfo(dtype)
    return info.min <= int(value) <= info.max


def zeros_like(x, requires_grad=False) -> Tensor:
    """Zeros of the shape and dtype of ``x``."""
    return _make(B.xp.zeros_like(_like_data("zeros_like", x)), requires_grad, None)


def ones_like(x, requires_grad=False) -> Tensor:
    """Ones of the shape and dtype of ``x``."""
    return _make(B.xp.ones_like(_like_data("ones_like", x)), requires_grad, None)


def _like_data(where: str, x):
    if isinstance(x, Tensor):
        return x._data
    try:
        data = B.xp.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"{where}(): cannot read x as an array ({exc}); pass a Tensor or a "
                         "NumPy array") from exc
    if data.dtype.kind not in _NUMERIC:
        raise DTypeError(f"{where}(): x has dtype {data.dtype} (shape {data.shape}), not a "
                         "number type; pass a Tensor or a NumPy array of numbers")
    return data


def arange(start, stop=None, step=1, dtype=None, requires_grad=False) -> Tensor:
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
    return Tensor(B.xp.asarray(data), requires_grad=requires_grad)


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


class Random:
    """chainrule's random source: ``cr.random.seed(0)`` makes ``randn``/``rand`` repeatable."""

    def __init__(self, seed: int | None = None):
        self.generator = np.random.default_rng(seed)

    def seed(self, seed: int | None) -> None:
        """Restart the sequence from ``seed``."""
        self.generator = np.random.default_rng(seed)

    def get_state(self) -> dict:
        """The generator's state (a dict of ints, JSON-serialisable)."""
        return self.generator.bit_generator.state

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state`."""
        self.generator.bit_generator.state = state


random = Random()


def randn(*shape, dtype=None, requires_grad=False, name=None, size=None) -> Tensor:
    """Standard normal samples from ``cr.random``; ``dtype`` must be a float type."""
    dtype = _dtype("randn", default_float() if dtype is None else dtype, floating=True)
    shape = _shape(shape if size is None else (size,), "randn", dtype)
    data = random.generator.standard_normal(shape).astype(dtype)
    return _make(B.xp.asarray(data), requires_grad, name)


def rand(*shape, dtype=None, requires_grad=False, name=None, size=None) -> Tensor:
    """Uniform samples in [0, 1) from ``cr.random``; ``dtype`` must be a float type."""
    dtype = _dtype("rand", default_float() if dtype is None else dtype, floating=True)
    shape = _shape(shape if size is None else (size,), "rand", dtype)
    data = random.generator.random(shape).astype(dtype)
    return _make(B.xp.asarray(data), requires_grad, name)


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


def normal(mean=0.0, std=1.0, size=None, *, dtype=None, requires_grad=False,
           name=None) -> Tensor:
    """Samples of N(mean, std^2) from ``cr.random``: ``normal(0, 0.01, size=(2, 1))``.

    As ``torch.normal``: ``mean`` and ``std`` may be tensors (then the shape is theirs).

    >>> import chainrule as cr
    >>> cr.random.seed(0); cr.normal(0, 0.01, (2, 3)).shape
    (2, 3)
    """
    mean_data = mean._data if isinstance(mean, Tensor) else mean
    std_data = std._data if isinstance(std, Tensor) else std
    if size is None:
        size = np.broadcast_shapes(np.shape(mean_data), np.shape(std_data))
    like = next((t.dtype for t in (mean, std) if isinstance(t, Tensor)), None)
    dtype = _dtype("normal", dtype or like or default_float(), floating=True)
    shape = _shape((size,) if not isinstance(size, int) else (size,), "normal", dtype)
    data = random.generator.normal(mean_data, std_data, shape).astype(dtype)
    return _make(B.xp.asarray(data), requires_grad, name)


def eye(n, m=None, *, dtype=None, requires_grad=False) -> Tensor:
    """The ``n x m`` identity matrix (square by default)."""
    dtype = _dtype("eye", default_float() if dtype is None else dtype)
    rows, cols = _shape((n, n if m is None else m), "eye", dtype)
    return _make(B.xp.eye(rows, cols, dtype=dtype), requires_grad, None)


def linspace(start, end, steps: int, *, dtype=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    dtype = _dtype("linspace", default_float() if dtype is None else dtype)
    (count,) = _shape((steps,), "linspace", dtype)
    data = np.linspace(float(start), float(end), count).astype(dtype)
    return _make(B.xp.asarray(data), requires_grad, None)


def randint(low, high=None, size=(), *, dtype=np.int64) -> Tensor:
    """Integers drawn uniformly from ``[low, high)`` (``[0, low)`` with one bound)."""
    low, high = (0, low) if high is None else (low, high)
    dtype = _dtype("randint", dtype)
    shape = _shape((size,) if not isinstance(size, int) else (size,), "randint", dtype)
    return Tensor(B.xp.asarray(random.generator.integers(low, high, shape).astype(dtype)))


def empty(*shape, dtype=None, requires_grad=False, size=None) -> Tensor:
    """A new tensor (of zeros: chainrule never hands out uninitialised memory)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad, size=size)


def full_like(x, value, *, dtype=None) -> Tensor:
    """``value`` in the shape of ``x`` (and its dtype unless given)."""
    data = _like_data("full_like", x)
    return full(data.shape, value, dtype=data.dtype if dtype is None else dtype)


def rand_like(x) -> Tensor:
    """Uniform samples in [0, 1) in the shape and dtype of ``x``."""
    data = _like_data("rand_like", x)
    return rand(data.shape, dtype=data.dtype)


def randn_like(x) -> Tensor:
    """Standard normal samples in the shape and dtype of ``x``."""
    data = _like_data("randn_like", x)
    return randn(data.shape, dtype=data.dtype)


def manual_seed(seed: int) -> Random:
    """``torch.manual_seed``: restart ``cr.random`` from ``seed``."""
    random.seed(seed)
    return random


def _generator(generator=None) -> np.random.Generator:
    """A NumPy generator: ``cr.random``'s, one given, or a new one from an int seed."""
    if generator is None:
        return random.generator
    if isinstance(generator, Random):
        return generator.generator
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(generator)


provide(random_generator=_generator)
