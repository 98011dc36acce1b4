"""Reductions PyTorch users call: ``prod``, ``cumsum``/``cumprod``, ``norm``, ``std``/``var``,
``argmax``/``argmin``, ``all``/``any``.

``dim`` is PyTorch's name for NumPy's ``axis``; a 0-d tensor takes ``dim=0`` or ``-1``.  ``std``
and ``var`` divide by ``n - 1`` by default (Bessel's correction), as PyTorch does and NumPy
does not.

>>> import chainrule as cr
>>> x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
>>> cr.prod(x).item(), cr.cumsum(x, dim=1).tolist(), round(cr.std(x).item(), 4)
(24.0, [[1.0, 3.0], [3.0, 7.0]], 1.291)
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import backend as B
from ..core.methods import check_dim, provide
from ..core.op import OPS
from ..core.tensor import Tensor
from ..errors import ShapeError
from ..ops import scan
from . import _axes, abs, arg_extreme, mean, power, sqrt, sum, sumsq  # noqa: A004

__all__ = ["prod", "cumsum", "cumprod", "norm", "std", "var", "argmax", "argmin", "all",
           "any", "count_nonzero"]


def _data(x):
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def prod(x, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False) -> Tensor:
    """Product over ``dim`` (every element by default); its gradient assumes no zeros."""
    d = axis if dim is None else dim
    return scan.prod(x, axis=_axes(x, d, "prod"), keepdims=keepdim or keepdims)


def _scan_axis(x, dim, where):
    if dim is None:
        raise ShapeError(f"{where}: pass dim=, the axis to run along (PyTorch needs it too)")
    return check_dim(_data(x), dim, where) if _data(x).ndim else None


def cumsum(x, dim=None, *, axis=None) -> Tensor:
    """Running sum along ``dim``."""
    d = _scan_axis(x, axis if dim is None else dim, "cumsum")
    return x if d is None else scan.cumsum(x, axis=d, reverse=False)


def cumprod(x, dim=None, *, axis=None) -> Tensor:
    """Running product along ``dim`` (its gradient assumes no zeros)."""
    d = _scan_axis(x, axis if dim is None else dim, "cumprod")
    return x if d is None else scan.cumprod(x, axis=d)


def norm(x, p=2, dim=None, keepdim: bool = False) -> Tensor:
    """The ``p``-norm over ``dim``: ``p=2`` (Frobenius for a matrix), 1, ``inf`` or any
    ``p > 0``; ``"fro"`` is 2."""
    if p == "fro":
        p = 2
    if isinstance(p, str) or not isinstance(p, (int, float)) or p <= 0:
        raise ShapeError(f"norm: p={p!r} is not supported; use 2, 1, float('inf') or a "
                         "number > 0")
    if p == 2 and dim is None and not keepdim:
        return sqrt(sumsq(x))
    axes = _axes(x, dim, "norm")
    if p == float("inf"):
        return OPS["max"](abs(x), axis=axes, keepdims=keepdim)
    if p == 1:
        return sum(abs(x), axis=axes, keepdims=keepdim)
    if p == 2:
        return sqrt(sum(x * x, axis=axes, keepdims=keepdim))
    return power(sum(power(abs(x), float(p)), axis=axes, keepdims=keepdim), 1.0 / p)


def var(x, dim=None, unbiased: bool = True, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Variance over ``dim``, dividing by ``n - correction`` (1 unless ``unbiased=False``)."""
    if correction is None:
        correction = 1 if unbiased else 0
    axes = _axes(x, dim, "var")
    shape = _data(x).shape
    n = int(np.prod([shape[a] for a in axes] if axes is not None else shape))
    centred = x - mean(x, axis=axes, keepdims=True)
    return sum(centred * centred, axis=axes, keepdims=keepdim) / builtins.max(n - correction,
                                                                             0)


def std(x, dim=None, unbiased: bool = True, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Standard deviation over ``dim`` (``sqrt`` of :func:`var`)."""
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction))


def argmax(x, dim=None, keepdim: bool = False, *, axis=None) -> Tensor:
    """Index of the maximum along ``dim`` (in the flattened tensor when None), int64."""
    return arg_extreme(x, axis if dim is None else dim, keepdim, "max")


def argmin(x, dim=None, keepdim: bool = False, *, axis=None) -> Tensor:
    """Index of the minimum along ``dim`` (in the flattened tensor when None), int64."""
    return arg_extreme(x, axis if dim is None else dim, keepdim, "min")


def all(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Whether every element (along ``dim``) is true (non-zero)."""
    return Tensor(np.all(_data(x), axis=_axes(x, dim, "all"), keepdims=keepdim))


def any(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Whether some element (along ``dim``) is true (non-zero)."""
    return Tensor(np.any(_data(x), axis=_axes(x, dim, "any"), keepdims=keepdim))


def count_nonzero(x, dim=None) -> Tensor:
    """How many elements (along ``dim``) are non-zero."""
    counted = B.xp.count_nonzero(_data(x), axis=_axes(x, dim, "count_nonzero"))
    return Tensor(B.xp.asarray(counted, dtype=np.int64))


provide(**{name: globals()[name] for name in __all__})
