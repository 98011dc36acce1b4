"""A strict test device: NumPy behind a wall, so an operator that reaches around its array
module fails on the CPU as it would on a GPU.

:func:`register` adds the device type ``"strict"``.  Its array module, :data:`xp`, has NumPy's
API, and its arrays, :class:`StrictArray`, are NumPy arrays that refuse every NumPy function and
ufunc not called through :data:`xp`, their own operators or their own methods: ``np.shape(x)``,
``np.result_type(x, y)`` or ``np.add.at(x, i, g)`` on one raises :class:`StrictError`, as would
``np.add.at`` on a CuPy array.  Like CuPy, :data:`xp` takes no NumPy array where it expects its
own (only :func:`asarray` and :func:`array` convert), and its reductions give 0-d arrays.

The operator-table tests run on this device in CI (``tests/ops/test_strict_backend.py``), so
the table is known to run on any module with NumPy's API before a GPU is at hand.

>>> import numpy as np
>>> from chainrule.testing import strict
>>> x = strict.xp.asarray([1.0, 2.0])
>>> float((x * x).sum())
5.0
>>> try:
...     np.shape(x)
... except strict.StrictError as exc:
...     print(str(exc)[:50])
numpy.shape was called on a strict array outside i
"""

from __future__ import annotations

import types

import numpy as np

from .. import backend
from ..errors import ChainruleError

__all__ = ["StrictArray", "StrictError", "xp", "register", "NAME"]

NAME = "strict"
_inside = [0]       # > 0 while a call made through the strict module runs


class StrictError(ChainruleError, TypeError):
    """NumPy was called on a strict array without going through its array module."""


class StrictArray(np.ndarray):
    """A NumPy array that refuses NumPy calls made around its array module."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if not _inside[0] and not _scalar_operator(method, inputs):
            where = ufunc.__name__ + ("" if method == "__call__" else f".{method}")
            raise _refusal(where)
        return _run(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if not _inside[0]:
            raise _refusal(func.__name__)
        return _run(func, args, kwargs)


def _refusal(name: str) -> StrictError:
    return StrictError(f"numpy.{name} was called on a strict array outside its array module "
                       "(chainrule.testing.strict.xp); call it through backend.xp")


def _scalar_operator(method, inputs) -> bool:
    """``np.float64(2) * x``: a NumPy scalar's operator, which CuPy's arrays accept too."""
    return (method == "__call__" and len(inputs) == 2
            and any(isinstance(i, np.generic) for i in inputs))


def _plain(value, where: str):
    """``value`` with strict arrays as NumPy views; a NumPy array of its own is refused."""
    if isinstance(value, StrictArray):
        return value.view(np.ndarray)
    if isinstance(value, np.ndarray):
        raise StrictError(f"{where}: got a NumPy array of shape {value.shape} where a strict "
                          "array belongs (CuPy refuses host arrays too); convert it with "
                          "backend.xp.asarray first")
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, where) for v in value)
    return value


def _strict(value):
    """Results back as strict arrays (NumPy scalars as 0-d arrays, as CuPy gives)."""
    if isinstance(value, np.ndarray):
        return value if isinstance(value, StrictArray) else value.view(StrictArray)
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return np.asarray(value).view(StrictArray)
    if isinstance(value, tuple):
        return tuple(_strict(v) for v in value)
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return value


def _run(fn, args, kwargs):
    where = getattr(fn, "__name__", repr(fn))
    args = _plain(args, where)
    kwargs = {k: _plain(v, where) for k, v in kwargs.items()}
    _inside[0] += 1
    try:
        return _strict(fn(*args, **kwargs))
    finally:
        _inside[0] -= 1


def _through(name: str):
    """StrictArray's method ``name``, run as NumPy's inside the wall."""
    base = getattr(np.ndarray, name)

    def method(self, *args, **kwargs):
        _inside[0] += 1
        try:
            return _strict(base(self, *args, **kwargs))
        finally:
            _inside[0] -= 1
    method.__name__ = name
    return method


# the methods and operators that call NumPy's ufuncs or functions inside
_METHODS = (
    "__add__ __radd__ __iadd__ __sub__ __rsub__ __isub__ __mul__ __rmul__ __imul__ "
    "__truediv__ __rtruediv__ __itruediv__ __floordiv__ __rfloordiv__ __ifloordiv__ __mod__ "
    "__rmod__ __imod__ __pow__ __rpow__ __ipow__ __matmul__ __rmatmul__ __neg__ __pos__ "
    "__abs__ __invert__ __and__ __rand__ __iand__ __or__ __ror__ __ior__ __xor__ __rxor__ "
    "__ixor__ __lt__ __le__ __gt__ __ge__ __eq__ __ne__ __divmod__ __contains__ __repr__ "
    "__str__ __format__ sum prod mean std var max min all any cumsum cumprod clip round dot "
    "argmax argmin trace"
).split()
for _name in _METHODS:
    setattr(StrictArray, _name, _through(_name))
StrictArray.__hash__ = None


class _Ufunc:
    """A NumPy ufunc called through the strict module (``xp.add``, ``xp.add.at``...)."""

    def __init__(self, ufunc):
        self.ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _run(self.ufunc, args, kwargs)

    def __getattr__(self, method):
        found = getattr(self.ufunc, method)
        if not callable(found):
            return found
        return lambda *args, **kwargs: _run(found, args, kwargs)


_CONVERT = {"asarray", "array", "asanyarray"}


class _Namespace(types.SimpleNamespace):
    """NumPy (or one of its submodules) seen through the wall."""

    def __init__(self, inner, name: str):
        super().__init__()
        self.__dict__["_inner"] = inner
        self.__dict__["__name__"] = name

    def __getattr__(self, attr):
        found = getattr(self._inner, attr)
        if attr == "ndarray":
            value = StrictArray
        elif isinstance(found, np.ufunc):
            value = _Ufunc(found)
        elif isinstance(found, types.ModuleType):
            value = _Namespace(found, f"{self.__name__}.{attr}")
        elif isinstance(found, type) or not callable(found):
            value = found
        elif attr in _CONVERT:
            value = _converter(found)
        else:
            value = _wrapped(found)
        self.__dict__[attr] = value
        return value


def _wrapped(fn):
    def call(*args, **kwargs):
        return _run(fn, args, kwargs)
    call.__name__ = fn.__name__
    return call


def _converter(fn):
    def convert(value, *args, **kwargs):
        if isinstance(value, StrictArray) and not args and kwargs.get("dtype") in (
                None, value.dtype) and fn is not np.array:
            return value
        if isinstance(value, StrictArray):
            value = value.view(np.ndarray)
        _inside[0] += 1
        try:
            return _strict(fn(value, *args, **kwargs))
        finally:
            _inside[0] -= 1
    convert.__name__ = fn.__name__
    return convert


#: The strict array module: NumPy's API, strict arrays in and out.
xp = _Namespace(np, "chainrule.testing.strict.xp")


def _to_host(array) -> np.ndarray:
    return np.array(array.view(np.ndarray), copy=True)


def _from_host(array) -> StrictArray:
    return np.array(array, copy=True).view(StrictArray)


def register() -> backend.Placement:
    """Add the ``"strict"`` device type (once); ``cr.device("strict")`` then works."""
    found = backend.PLACEMENTS.get(NAME)
    if found is not None:
        return found
    return backend.register(backend.Placement(NAME, xp, StrictArray, _to_host, _from_host))
