"""The methods a PyTorch user calls on a tensor, as a mixin :class:`Tensor` inherits.

Each method calls the public function of the same name (``x.exp()`` is ``cr.exp(x)``).  Those
functions live above the core, so this module never imports them: each function module
registers its functions with :func:`provide` when it is imported (``import chainrule`` imports
them all), as :data:`chainrule.core.tensor.DISPLAY` is filled by the drawings.

Arguments follow PyTorch: ``dim`` and ``keepdim`` (NumPy's ``axis`` and ``keepdims`` are
accepted too).  ``x.max(dim)`` gives ``(values, indices)`` as in PyTorch, while ``x.max(axis=d)``
gives the values only, as it always did in chainrule; ``x.max(y)`` with a tensor ``y`` is the
elementwise maximum.  A 0-d tensor takes ``dim=0`` or ``-1`` as PyTorch does.

``x.data`` is the tensor's memory as a NumPy array with PyTorch's in-place idioms
(:mod:`chainrule.core.arraydata`).

>>> import chainrule as cr
>>> x = cr.tensor([[1.0, -2.0], [3.0, 4.0]])
>>> x.abs().sum(dim=1).tolist(), x.argmax(dim=1).tolist(), x.max(1).indices.tolist()
([3.0, 7.0], [0, 1], [0, 1])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ShapeError
from .arraydata import ArrayData, array_data
from .conversions import Conversions
from .registry import FUNCTIONS, provide

__all__ = ["Methods", "ArrayData", "provide", "FUNCTIONS", "MinMax", "Size", "array_data",
           "check_dim"]

class Size(int):
    """``x.size``: the number of elements, an ``int`` as NumPy's ``x.size``; called, the shape
    as PyTorch's ``x.size()`` (a tuple), or one dimension, ``x.size(dim)``.

    >>> import chainrule as cr
    >>> x = cr.zeros((2, 3))
    >>> x.size, x.size(), x.size(-1)
    (6, (2, 3), 3)
    """

    def __new__(cls, shape: tuple) -> Size:
        count = 1
        for n in shape:
            count *= n
        size = super().__new__(cls, count)
        size.shape = tuple(shape)
        return size

    def __call__(self, dim: int | None = None):
        if dim is None:
            return self.shape
        ndim = len(self.shape)
        if (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))
                or not -ndim <= dim < ndim):
            raise ShapeError(f"size: dim={dim!r} is out of range for a tensor of shape "
                             f"{self.shape}" + (f"; use a dim in range({-ndim}, {ndim})" if ndim
                                                else " (it has no dimensions)"))
        return self.shape[dim]

    def __repr__(self) -> str:
        return int.__repr__(self)


class MinMax(NamedTuple):
    """``x.max(dim)`` and ``x.min(dim)``: the values and where they are, as in PyTorch."""

    values: object
    indices: object


def _dim(dim, axis):
    """PyTorch's ``dim`` or NumPy's ``axis`` (one of them)."""
    return axis if dim is None else dim


def _call(name):
    def method(self, *args, **kwargs):
        return FUNCTIONS[name](self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"``cr.{name}(self, ...)``."
    return method


class Methods(Conversions):
    """PyTorch's tensor methods (see the module doc); :class:`Tensor` inherits them."""

    __slots__ = ()

    # ------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
        """Sum over ``dim`` (every axis by default)."""
        return FUNCTIONS["sum"](self, axis=_dim(dim, axis), keepdims=keepdim or keepdims)

    def mean(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
        """Mean over ``dim`` (every axis by default)."""
        return FUNCTIONS["mean"](self, axis=_dim(dim, axis), keepdims=keepdim or keepdims)

    def max(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
        """Maximum: over every axis, ``(values, indices)`` over ``dim``, or ``max(self, other)``."""
        return _extreme(self, "max", dim, keepdim, axis, keepdims)

    def min(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
        """Minimum: over every axis, ``(values, indices)`` over ``dim``, or ``min(self, other)``."""
        return _extreme(self, "min", dim, keepdim, axis, keepdims)

    def argmax(self, dim=None, keepdim: bool = False, *, axis=None):
        """Where the maximum is, over ``dim`` (in the flattened tensor by default)."""
        return FUNCTIONS["argmax"](self, _dim(dim, axis), keepdim)

    def argmin(self, dim=None, keepdim: bool = False, *, axis=None):
        """Where the minimum is, over ``dim`` (in the flattened tensor by default)."""
        return FUNCTIONS["argmin"](self, _dim(dim, axis), keepdim)

    def std(self, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None,
            axis=None):
        """Standard deviation over ``dim`` (Bessel's correction by default, as PyTorch)."""
        return FUNCTIONS["std"](self, _dim(dim, axis), unbiased, keepdim, correction=correction)

    def var(self, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None,
            axis=None):
        """Variance over ``dim`` (Bessel's correction by default, as PyTorch)."""
        return FUNCTIONS["var"](self, _dim(dim, axis), unbiased, keepdim, correction=correction)

    def norm(self, p=2, dim=None, keepdim: bool = False):
        """The ``p``-norm over ``dim`` (of every element by default)."""
        return FUNCTIONS["norm"](self, p, dim, keepdim)

    prod = _call("prod")
    cumsum = _call("cumsum")
    cumprod = _call("cumprod")
    all = _call("all")
    any = _call("any")
    logsumexp = _call("logsumexp")
    softmax = _call("softmax")
    log_softmax = _call("log_softmax")

    # ------------------------------------------------------------- elementwise
    exp, log, sqrt, abs = _call("exp"), _call("log"), _call("sqrt"), _call("abs")
    sin, cos, tanh, sigmoid = _call("sin"), _call("cos"), _call("tanh"), _call("sigmoid")
    relu, neg, softplus = _call("relu"), _call("neg"), _call("softplus")
    erf, log2, rsqrt, square = _call("erf"), _call("log2"), _call("rsqrt"), _call("square")
    sign, floor, ceil, round = _call("sign"), _call("floor"), _call("ceil"), _call("round")
    clamp, clip, pow, maximum = _call("clamp"), _call("clamp"), _call("power"), _call("maximum")
    minimum, fmod, remainder = _call("minimum"), _call("fmod"), _call("remainder")
    isclose, allclose, where = _call("isclose"), _call("allclose"), _call("where_self")
    matmul, mm, dot, div = _call("matmul"), _call("matmul"), _call("dot"), _call("div")
    sort, argsort, roll, flip = _call("sort"), _call("argsort"), _call("roll"), _call("flip")
    tril, triu = _call("tril"), _call("triu")

    def __abs__(self):
        return FUNCTIONS["abs"](self)

    def __mod__(self, other):
        return FUNCTIONS["remainder"](self, other)

    def __rmod__(self, other):
        return FUNCTIONS["remainder"](other, self)

    def __floordiv__(self, other):
        return FUNCTIONS["div"](self, other, rounding_mode="floor")

    def __rfloordiv__(self, other):
        return FUNCTIONS["div"](other, self, rounding_mode="floor")

    def __and__(self, other):
        return FUNCTIONS["logical"]("and", self, other)

    __rand__ = __and__

    def __or__(self, other):
        return FUNCTIONS["logical"]("or", self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return FUNCTIONS["logical"]("xor", self, other)

    __rxor__ = __xor__

    def __invert__(self):
        return FUNCTIONS["logical"]("not", self)

    # ------------------------------------------------------------- shapes
    def reshape(self, *shape):
        """The same elements in a new shape (``-1`` infers one dimension)."""
        return FUNCTIONS["reshape"](self, shape[0] if len(shape) == 1 else shape)

    view = reshape

    def view_as(self, other):
        """``self.reshape(other.shape)``."""
        return FUNCTIONS["reshape"](self, other.shape)

    def transpose(self, *axes):
        """Swap two axes (PyTorch's ``x.transpose(0, 2)``); with none or all, permute them."""
        if len(axes) == 2 and self.ndim != 2:
            order = list(range(self.ndim))
            a, b = (int(i) % self.ndim if self.ndim else 0 for i in axes)
            order[a], order[b] = order[b], order[a]
            axes = (tuple(order),)
        return FUNCTIONS["transpose"](self, axes[0] if len(axes) == 1 else (axes or None))

    def permute(self, *dims):
        """Reorder the axes: ``x.permute(2, 0, 1)``."""
        return FUNCTIONS["transpose"](self, dims[0] if len(dims) == 1 else dims)

    def t(self):
        """The transpose of a matrix (a vector as it is)."""
        return self if self.ndim < 2 else FUNCTIONS["transpose"](self, None)

    flatten, squeeze, unsqueeze = _call("flatten"), _call("squeeze"), _call("unsqueeze")
    expand, repeat = _call("expand"), _call("repeat")

    def numel(self) -> int:
        """The number of elements."""
        return int(self._data.size)

    def dim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    ndimension = dim

    @property
    def mT(self):  # noqa: N802  (PyTorch's name)
        """The last two axes swapped (the batched transpose)."""
        n = self._data.ndim
        if n < 2:
            raise ShapeError(f"mT: x.shape={self.shape}; it needs at least 2 dimensions")
        return FUNCTIONS["transpose"](self, tuple(range(n - 2)) + (n - 1, n - 2))

    def expand_as(self, other):
        """Broadcast to ``other``'s shape, without copying."""
        return FUNCTIONS["expand"](self, tuple(other.shape))

    def masked_fill(self, mask, value):
        """``value`` where ``mask`` is true, else this tensor (no gradient through ``mask``)."""
        filled = FUNCTIONS["full"]((), value, dtype=self._data.dtype, device=self.device)
        return FUNCTIONS["where"](mask, filled, self)

    def eq(self, other):
        """``self == other``, elementwise (bool)."""
        return FUNCTIONS["equal"](self, other)

    def ne(self, other):
        """``self != other``, elementwise (bool)."""
        return FUNCTIONS["not_equal"](self, other)

    def lt(self, other):
        """``self < other``, elementwise (bool)."""
        return FUNCTIONS["less"](self, other)

    def le(self, other):
        """``self <= other``, elementwise (bool)."""
        return FUNCTIONS["less_equal"](self, other)

    def gt(self, other):
        """``self > other``, elementwise (bool)."""
        return FUNCTIONS["greater"](self, other)

    def ge(self, other):
        """``self >= other``, elementwise (bool)."""
        return FUNCTIONS["greater_equal"](self, other)

    def _new(self, fill, size, dtype):
        """``cr.full`` (which checks the size and the value) with this dtype and device."""
        shape = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        return FUNCTIONS["full"](tuple(shape), fill, device=self.device,
                                 dtype=self._data.dtype if dtype is None else dtype)

    def new_zeros(self, *size, dtype=None):
        """Zeros of ``size``, with this tensor's dtype (or ``dtype``) and device."""
        return self._new(0, size, dtype)

    def new_ones(self, *size, dtype=None):
        """Ones of ``size``, with this tensor's dtype (or ``dtype``) and device."""
        return self._new(1, size, dtype)

    def new_full(self, size, fill_value, *, dtype=None):
        """``fill_value`` everywhere in ``size``, with this tensor's dtype and device."""
        return self._new(fill_value, (size,), dtype)

    def clone(self):
        """A copy that stays in the graph (its gradient flows back to ``self``)."""
        return FUNCTIONS["clone"](self)

    # ------------------------------------------------------------- in place
    def requires_grad_(self, requires_grad: bool = True):
        """Set ``requires_grad`` in place and return ``self``."""
        self.requires_grad = requires_grad
        return self

    def fill_(self, value):
        """Set every element to ``value``, in place."""
        return self.copy_(value)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None):
        """Fill with samples of N(mean, std^2) from ``cr.random``, in place."""
        draw = FUNCTIONS["random_generator"](generator)
        return self.copy_(draw.normal(mean, std, self.shape).astype(self.dtype))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None):
        """Fill with samples of U(a, b) from ``cr.random``, in place."""
        draw = FUNCTIONS["random_generator"](generator)
        return self.copy_(draw.uniform(a, b, self.shape).astype(self.dtype))


def _extreme(x, name, dim, keepdim, axis, keepdims):
    if dim is not None and hasattr(dim, "shape"):         # max(x, y): elementwise
        return FUNCTIONS["maximum" if name == "max" else "minimum"](x, dim)
    if dim is None:
        return FUNCTIONS[name](x, axis=axis, keepdims=keepdims)
    values = FUNCTIONS[name](x, axis=dim, keepdims=keepdim)
    where = FUNCTIONS["argmax" if name == "max" else "argmin"](x, dim, keepdim)
    return MinMax(values, where)


def check_dim(x, dim, where: str) -> int:
    """``dim`` as a non-negative axis of ``x``; a 0-d tensor takes 0 and -1, as PyTorch."""
    ndim = max(x.ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise ShapeError(f"{where}: dim={dim!r} is out of range for a tensor of shape "
                         f"{tuple(x.shape)}; use a dim in range({-ndim}, {ndim})")
    return int(dim) % ndim

